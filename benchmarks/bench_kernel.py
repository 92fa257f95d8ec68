"""The issue-21 figures in one run: xent's compiled kernel and its NumPy path against the script a user would write.

    python benchmarks/bench_kernel.py [--repeat 3] [--mb 400] [--big-gb 4] [--only ce,compare-json,...]
                                      [--threads 2] [--isa generic|avx2] [--numpy-avx2]

Generates float32 logits (``--mb`` MB, 1000 classes, N(0, 3)), a noisy copy and int64 targets in a
temp folder (removed at the end, also on Ctrl-C), then runs whole processes, taking turns, best of
``--repeat``: the installed ``xent`` with the compiled kernel (``XENT_KERNEL=compiled``), the same with
``XENT_KERNEL=numpy``, and the alternative. Figures (``--only`` names):

- ``ce``: ``xent ce`` against a torch float32 script (``np.load``, ``from_numpy``, ``F.cross_entropy``);
- ``big``: ``xent ce`` on a ``--big-gb`` GB ``.npy``: GB/s and peak RSS (0 skips);
- ``compare-json``, ``compare-csv``: ``xent compare`` against bench_compare.py's torch float64 script;
- ``softmax``: ``xent softmax -o probs.npy`` (float64) against torch softmax + ``np.save`` (float32);
- ``startup``: bench_startup.py's tiny call against ``python -c "import numpy"``.

work = user + system CPU time of the child, wall = its elapsed time, from ``getrusage(RUSAGE_CHILDREN)``
of a fresh probe (bench_compare.measured), so peak RSS is the child's own. "load + compute" leaves
out start-up: for xent, the whole process less its tiny call in the same environment (which imports
less than a big run, so this leans against xent); for torch, the script's own span after
``import numpy, torch, torch.nn.functional`` (``perf_counter``, ``process_time``; its exit is left
out, again leaning against xent). Both use ``--threads`` threads (``XENT_THREADS``,
``torch.set_num_threads``).

To emulate an AVX2 machine on an AVX-512 one: ``--isa avx2`` caps the compiled kernel
(``XENT_KERNEL_ISA``) and torch (``ATEN_CPU_CAPABILITY``); ``--numpy-avx2`` turns off NumPy's AVX-512
loops in every child (``NPY_DISABLE_CPU_FEATURES``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from bench_ce import write_big_npy
from bench_compare import TORCH_SCRIPT as COMPARE_SCRIPT
from bench_compare import measured, write_dumps
from bench_startup import TINY

CE_SCRIPT = """
import os, sys, numpy as np, torch, torch.nn.functional as F
torch.set_num_threads(int(os.environ["XENT_THREADS"]))
print(F.cross_entropy(torch.from_numpy(np.load(sys.argv[1])), torch.from_numpy(np.load(sys.argv[2]))).item())
"""
SOFTMAX_SCRIPT = """
import os, sys, numpy as np, torch
torch.set_num_threads(int(os.environ["XENT_THREADS"]))
np.save(sys.argv[2], torch.softmax(torch.from_numpy(np.load(sys.argv[1])), -1).numpy())
"""
# Runs a torch script (argv[1]) after the imports and prints its own span: "load + compute" of torch.
SPAN = ("import sys, time, numpy, torch, torch.nn.functional; w, c = time.perf_counter(), time.process_time();"
        "exec(compile(sys.argv.pop(1), '<script>', 'exec'), {'__name__': '__main__'});"
        "print(time.perf_counter() - w, time.process_time() - c)")
FIGURES = ("startup", "ce", "compare-json", "compare-csv", "softmax", "big")
GOALS = {"ce": "≥ 3× on AVX2 (moonshot 4×)", "compare-json": "≥ 5× (8×)", "compare-csv": "≥ 8× (12×)",
         "softmax": "≥ 2× (3×)", "startup": "≤ 1.3× (1.15×)", "big": "≥ 3.5 GB/s, ≤ 256 MB (5 GB/s)"}
SIDES = ("compiled", "numpy", "alt")


def numpy_simd() -> list[str]:
    """The SIMD targets NumPy dispatches to on this CPU, after ``NPY_DISABLE_CPU_FEATURES``."""
    umath = (getattr(np, "_core", None) or np.core)._multiarray_umath
    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]


def numpy_avx512() -> list[str]:
    """Of those, the AVX-512 ones (their names differ across NumPy versions)."""
    return [f for f in numpy_simd() if f.startswith("AVX512") or f == "X86_V4"]


def environments(args) -> dict[str, dict]:
    base = dict(os.environ, XENT_THREADS=str(args.threads))
    # As installed (pip byte-compiles): a source tree that may not write bytecode compiles every module each run.
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.numpy_avx2 and numpy_avx512():
        base["NPY_DISABLE_CPU_FEATURES"] = " ".join(numpy_avx512())
    compiled = dict(base, XENT_KERNEL="compiled")
    alt = dict(base)
    if args.isa:
        compiled["XENT_KERNEL_ISA"] = args.isa
        alt["ATEN_CPU_CAPABILITY"] = {"avx2": "avx2", "generic": "default"}[args.isa]
    return {"compiled": compiled, "numpy": dict(base, XENT_KERNEL="numpy"), "alt": alt}


def child(code: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def describe(envs: dict, have_torch: bool) -> None:
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    simd = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
            "from bench_kernel import numpy_simd; print(' '.join(numpy_simd()) or 'baseline only')")
    kernel = "from xentcli import kernels; print(kernels.name())"
    torch = importlib.metadata.version("torch") if have_torch else "not installed"
    print(f"- CPU: {info.get('model name', platform.processor() or platform.machine())}; flags: "
          f"{', '.join(f for f in ('avx2', 'fma', 'avx512f') if f in flags) or 'none of avx2, fma, avx512f'}; "
          f"{os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable; threads {envs['alt']['XENT_THREADS']}")
    print(f"- Python {platform.python_version()}, NumPy {np.__version__}, torch {torch}")
    for side in ("compiled", "numpy"):
        print(f"- xent {side} runs: kernel {child(kernel, envs[side])}; NumPy SIMD {child(simd, envs[side])}")
    if have_torch:
        cap = "import torch; print(torch.backends.cpu.get_cpu_capability())"
        print(f"- torch runs: ATen CPU capability {child(cap, envs['alt'])}")
    caps = [f"{k}={envs[s][k]}" for s, k in (("compiled", "XENT_KERNEL_ISA"), ("alt", "ATEN_CPU_CAPABILITY"),
                                             ("numpy", "NPY_DISABLE_CPU_FEATURES")) if k in envs[s]]
    if caps:
        print(f"- emulating a smaller CPU: {'; '.join(caps)}")


def race(runs: dict[str, tuple[list[str], dict]], repeat: int) -> dict[str, dict]:
    """Each side's best wall, work and peak RSS (and its first output), the sides taking turns."""
    for cmd, env in runs.values():
        measured(cmd, env)  # page cache, byte code
    got = {side: [] for side in runs}
    for _ in range(repeat):
        for side, (cmd, env) in runs.items():
            got[side].append(measured(cmd, env))
    best = {side: {"wall": min(r[0] for r in rs), "work": min(r[1] for r in rs), "rss": min(r[2] for r in rs),
                   "out": rs[0][3].decode()} for side, rs in got.items()}
    if "alt" in runs and SPAN in runs["alt"][0]:
        spans = [[float(v) for v in r[3].decode().split()[-2:]] for r in got["alt"]]
        best["alt"]["span"] = (min(w for w, _ in spans), min(c for _, c in spans))
    return best


def load_and_compute(best: dict, startup: dict) -> None:
    """Adds net wall and work: xent's less its tiny call's, torch's own span (printed by SPAN)."""
    for side, b in best.items():
        if side == "alt":
            b["net wall"], b["net work"] = b["span"]
        else:
            b["net wall"], b["net work"] = b["wall"] - startup[side]["wall"], b["work"] - startup[side]["work"]


def cells(best: dict, key: str, lower_wins: bool = False) -> list[str]:
    """Table cells of each side for one measure; xent's with the ratio against the alternative."""
    def value(side):
        return best[side][key] if side in best else None
    alt = value("alt")
    out = []
    for side in SIDES:
        v = value(side)
        if v is None:
            out.append("torch not installed")
        elif side == "alt" or alt is None:
            out.append(f"{v:.3f} s")
        else:
            out.append(f"{v:.3f} s, **{(v / alt if lower_wins else alt / v):.2f}×**")
    return out


def table_rows(name: str, what: str, best: dict) -> list[list[str]]:
    if name == "startup":
        return [[what, "wall", *cells(best, "wall", lower_wins=True), GOALS[name]]]
    rows = [[what, "work, load + compute", *cells(best, "net work"), GOALS[name]],
            [what, "wall, load + compute", *cells(best, "net wall"), ""],
            [what, "work, whole process", *cells(best, "work"), ""],
            [what, "wall, whole process", *cells(best, "wall"), ""]]
    rss = [f"{best[s]['rss'] / 1e6:.0f} MB" if s in best else "torch not installed" for s in SIDES]
    return rows + [[what, "peak RSS", *rss, ""]]


def agreement(name: str, best: dict) -> str:
    """The result of each side, so a fast wrong answer shows."""
    def first(side):
        text = best[side]["out"]
        if side == "alt":
            return float(text.split()[0])
        if name in ("ce", "big"):
            return json.loads(text)["mean"]
        if name == "compare-json":
            return json.loads(text)["tests"]["t"]["kl"]["mean"]
        return float(text.splitlines()[-1].split(",")[1])  # compare-csv: mean KL is the second column
    return ", ".join(f"{s} {first(s)!r}" for s in best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mb", type=float, default=400.0, help="size of each float32 logits file")
    ap.add_argument("--big-gb", type=float, default=4.0, help="size of the big .npy (0 skips)")
    ap.add_argument("--only", default=",".join(FIGURES), help=f"comma-separated, of: {', '.join(FIGURES)}")
    ap.add_argument("--threads", type=int, default=2, help="threads of xent and of torch")
    ap.add_argument("--isa", choices=("generic", "avx2"), help="cap the compiled kernel's and torch's ISA")
    ap.add_argument("--numpy-avx2", action="store_true", help="turn off NumPy's AVX-512 loops")
    args = ap.parse_args()
    only = [f for f in FIGURES if f in args.only.split(",")]
    if unknown := set(args.only.split(",")) - set(FIGURES):
        ap.error(f"--only: unknown {', '.join(sorted(unknown))}")
    have_torch = importlib.util.find_spec("torch") is not None
    envs = environments(args)
    found = shutil.which("xent", path=os.path.dirname(sys.executable))
    xent = [found] if found else [sys.executable, "-m", "xentcli"]
    tmp = tempfile.mkdtemp(prefix="bench_kernel_")
    try:
        describe(envs, have_torch)
        print(f"- best of {args.repeat} (start-up: of {3 * args.repeat}), whole processes taking turns; "
              "× = torch ÷ xent (start-up: xent ÷ import numpy)\n")
        p = lambda name: os.path.join(tmp, name)  # noqa: E731
        rows = int(args.mb * 1e6 / 4000)
        torch = lambda script, *paths: [sys.executable, "-c", SPAN, script, *map(p, paths)]  # noqa: E731

        def sides(cmd, alt):
            runs = {"compiled": (cmd, envs["compiled"]), "numpy": (cmd, envs["numpy"])}
            if alt is not None:
                runs["alt"] = (alt, envs["alt"])
            return runs

        startup = race(sides(xent + TINY, [sys.executable, "-c", "import numpy"]), 3 * args.repeat)
        table, notes = [], []
        if "startup" in only:
            table += table_rows("startup", "start-up, tiny call vs `import numpy`", startup)
            notes.append(f"- start-up: the tiny call is `xent {' '.join(TINY)}`")
        if {"ce", "compare-json", "compare-csv", "softmax"} & set(only):
            write_dumps(tmp, rows, 1000)
            os.sync()  # the inputs' write-back would otherwise land on the first runs
        size = f"{os.path.getsize(p('b.npy')) / 1e6:.0f} MB" if os.path.exists(p("b.npy")) else ""
        jobs = {
            "ce": (f"`ce`, {size} f32 vs torch f32", ["ce", "--logits", p("b.npy"), "--labels", p("y.npy"),
                                                       "--format", "json"], (CE_SCRIPT, "b.npy", "y.npy")),
            "compare-json": (f"`compare --format json`, 2 × {size} vs torch f64",
                             ["compare", "--base", p("b.npy"), "--test", p("t.npy"), "--targets", p("y.npy"),
                              "--format", "json"], (COMPARE_SCRIPT, "b.npy", "t.npy", "y.npy")),
            "softmax": (f"`softmax -o probs.npy` (f64), {size} vs torch softmax + np.save (f32)",
                        ["softmax", "--logits", p("b.npy"), "-o", p("probs.npy")],
                        (SOFTMAX_SCRIPT, "b.npy", "torch_probs.npy")),
        }
        jobs["compare-csv"] = (jobs["compare-json"][0].replace("json", "csv"),
                               jobs["compare-json"][1][:-1] + ["csv"], jobs["compare-json"][2])
        for name in [f for f in FIGURES if f in only and f in jobs]:
            what, args_, script = jobs[name]
            best = race(sides(xent + args_, torch(*script) if have_torch else None), args.repeat)
            load_and_compute(best, startup)
            table += table_rows(name, what, best)
            if name != "softmax":
                notes.append(f"- {name} results: {agreement(name, best)}")
        for name in ("probs.npy", "torch_probs.npy", "b.npy", "t.npy"):
            if os.path.exists(p(name)):
                os.remove(p(name))
        if "big" in only and args.big_gb > 0:
            need = args.big_gb * 1e9 + 1e9
            if shutil.disk_usage(tmp).free < need:
                notes.append(f"- big: skipped, {tmp} has under {need / 1e9:.1f} GB free")
            else:
                big_rows = int(args.big_gb * 1e9 / 4000)
                write_big_npy(p("big.npy"), big_rows, 1000)
                np.save(p("big_y.npy"), np.random.default_rng(2).integers(0, 1000, big_rows))
                os.sync()
                gb = os.path.getsize(p("big.npy")) / 1e9
                cmd = xent + ["ce", "--logits", p("big.npy"), "--labels", p("big_y.npy"), "--format", "json"]
                best = race(sides(cmd, None), args.repeat)
                row = [f"`ce`, {gb:.1f} GB f32 .npy", "GB/s (whole process; load + compute), peak RSS"]
                for side in SIDES:
                    if side not in best:
                        row.append("—")
                        continue
                    wall = best[side]["wall"]
                    row.append(f"{gb / wall:.2f} GB/s ({gb / (wall - startup[side]['wall']):.2f}), "
                               f"{best[side]['rss'] / 1e6:.0f} MB")
                table.append(row + [GOALS["big"]])
                notes.append(f"- big results: {agreement('big', best)}")
        print("| figure | measure | xent, compiled kernel | xent, NumPy path | alternative | goal |")
        print("|---|---|---|---|---|---|")
        for i, r in enumerate(table):
            print("| " + " | ".join([r[0] if i == 0 or table[i - 1][0] != r[0] else "", *r[1:]]) + " |")
        print("\n" + "\n".join(notes))
    except KeyboardInterrupt:
        sys.exit("interrupted")
    except subprocess.CalledProcessError as e:
        sys.exit(f"failed: {' '.join(map(str, e.cmd))[:300]}\n{(e.stderr or b'').decode()[-2000:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
