"""N-gram models (SPEC §11): ``xent ngram`` beside KenLM's ``lmplz`` and ``query``, in one run.

    python benchmarks/bench_ngram.py [--tokens 1000000] [--order 5] [--lmplz PATH] [--query PATH] [--repeat 3]

Generates (in a temp folder, deleted afterwards) a deterministic Zipfian text of ``--tokens``
words (50,000 word types, exponent 1.1; 1 + Poisson(2.5) words a line, a few hundred thousand
lines) and a test text a tenth its size, then times whole processes, in turns:

    xent ngram build --text train.txt --order 5 -o x.arpa      vs  lmplz -o 5 -S 100M < train.txt > k.arpa
    xent ngram ppl --model k.arpa --text test.txt              vs  query k.arpa < test.txt
    xent ngram build --smoothing S  for S in kn katz wb jm add-k   (tokens/s; goal ≥ 2×10⁵)

and prints the best wall time of each, peak RSS (the process's own, by ``wait4``), and the ratios
against the goals (build ≤ 2× lmplz's wall time, peak RSS ≤ max(2× lmplz's, 512 MB); ppl ≤ 1.5×
query's, the ARPA's loading included). Both score lmplz's own ARPA. ``lmplz``/``query`` are taken
from ``--lmplz``/``--query``, else PATH; without them their rows are left out, with a note. A
smoothing method that fails (not built yet, say) is reported as such.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_shards import machine  # noqa: E402

XENT = [sys.executable, "-m", "xentcli"]
SMOOTHINGS = ("kn", "katz", "wb", "jm", "add-k")


def write_text(path: str, tokens: int, seed: int) -> int:
    """``tokens`` Zipf(1.1) words over 50,000 types, 1 + Poisson(2.5) a line; the number of lines."""
    rng = np.random.default_rng(seed)
    types = 50_000
    p = 1.0 / np.arange(1, types + 1) ** 1.1
    words = rng.choice(types, size=tokens, p=p / p.sum())
    cuts = np.cumsum(1 + rng.poisson(2.5, tokens))
    cuts = cuts[cuts < tokens]
    names = np.array([f"w{i}" for i in range(types)], dtype=object)
    with open(path, "w") as f:
        for line in np.split(words, cuts):
            f.write(" ".join(names[line]) + "\n")
    return len(cuts) + 1


def run_measured(cmd: list[str], stdin: str | None = None, stdout: str | None = None) -> tuple[float, int, int, bytes]:
    """(wall s, peak RSS bytes, exit code, stderr) of one process: its own rusage, by ``wait4``."""
    with open(stdin or os.devnull, "rb") as fin, open(stdout or os.devnull, "wb") as fout, \
            tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        err.seek(0)
        return wall, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), err.read()


def best(cmd, repeat, **kw) -> tuple[float, int] | str:
    """Best wall time and the largest peak RSS of ``repeat`` runs, or the failure's last stderr line."""
    walls, rss = [], 0
    for _ in range(repeat):
        wall, peak, code, err = run_measured(cmd, **kw)
        if code:
            lines = err.decode(errors="replace").strip().splitlines() or [f"exit {code}"]
            return f"failed (exit {code}): {lines[-1][:100]}"
        walls.append(wall)
        rss = max(rss, peak)
    return min(walls), rss


def tool(given: str | None, name: str) -> str | None:
    path = given or shutil.which(name)
    return path if path and os.access(path, os.X_OK) else None


def row(name: str, result, tokens: int) -> str:
    if isinstance(result, str):
        return f"  {name:<44} {result}"
    wall, rss = result
    return f"  {name:<44} {wall:7.2f} s  {rss / 2**20:7.0f} MB  {tokens / wall / 1e3:8.0f} k tokens/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--lmplz", help="lmplz binary (default: on PATH)")
    ap.add_argument("--query", help="query binary (default: on PATH)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lmplz, query = tool(args.lmplz, "lmplz"), tool(args.query, "query")

    print(machine())
    folder = tempfile.mkdtemp(prefix="xent-bench-ngram-")
    try:
        train, test = os.path.join(folder, "train.txt"), os.path.join(folder, "test.txt")
        lines = write_text(train, args.tokens, 0)
        test_tokens = args.tokens // 10
        write_text(test, test_tokens, 1)
        order = str(args.order)
        print(f"train: {args.tokens:,} tokens, {lines:,} lines, {os.path.getsize(train) / 2**20:.1f} MB; "
              f"test: {test_tokens:,} tokens; order {order}; best of {args.repeat}\n")

        xa, ka = os.path.join(folder, "x.arpa"), os.path.join(folder, "k.arpa")
        print("build (wall, peak RSS, train tokens/s)")
        xent_build = best([*XENT, "ngram", "build", "--text", train, "--order", order, "-o", xa], args.repeat)
        print(row(f"xent ngram build --order {order}", xent_build, args.tokens))
        if lmplz:
            kenlm_build = best([lmplz, "-o", order, "-S", "100M"], args.repeat, stdin=train, stdout=ka)
            print(row(f"lmplz -o {order} -S 100M", kenlm_build, args.tokens))
            if not isinstance(xent_build, str) and not isinstance(kenlm_build, str):
                time_ratio = xent_build[0] / kenlm_build[0]
                rss_goal = max(2 * kenlm_build[1], 512 * 2**20)
                print(f"  xent / lmplz: wall {time_ratio:.2f}× (goal ≤ 2×: {'met' if time_ratio <= 2 else 'not met'}), "
                      f"peak RSS {xent_build[1] / 2**20:.0f} MB (goal ≤ {rss_goal / 2**20:.0f} MB: "
                      f"{'met' if xent_build[1] <= rss_goal else 'not met'})")
        else:
            print("  lmplz: not found (give --lmplz PATH): xent's build is scored against nothing")
            ka = xa

        print(f"\nscore the test text with {'lmplz' if lmplz else 'xent'}'s ARPA (loading included)")
        xent_ppl = best([*XENT, "ngram", "ppl", "--model", ka, "--text", test, "--format", "json"], args.repeat)
        print(row("xent ngram ppl", xent_ppl, test_tokens))
        if query:
            kenlm_ppl = best([query, ka], args.repeat, stdin=test)
            print(row("query", kenlm_ppl, test_tokens))
            if not isinstance(xent_ppl, str) and not isinstance(kenlm_ppl, str):
                ratio = xent_ppl[0] / kenlm_ppl[0]
                print(f"  xent / query: wall {ratio:.2f}× (goal ≤ 1.5×: {'met' if ratio <= 1.5 else 'not met'})")
            out = subprocess.run([*XENT, "ngram", "ppl", "--model", ka, "--text", test, "--format", "json"],
                                 capture_output=True)
            if not out.returncode:
                print(f"  xent's ppl: {json.loads(out.stdout)['ppl']:.6g} (query's 'Perplexity including OOVs' "
                      "is the same figure)")
        else:
            print("  query: not found (give --query PATH)")

        print("\nother smoothings (build; goal ≥ 200 k tokens/s)")
        for smoothing in SMOOTHINGS:
            result = best([*XENT, "ngram", "build", "--text", train, "--order", order, "--smoothing", smoothing,
                           "-o", os.path.join(folder, f"{smoothing}.arpa")], args.repeat)
            print(row(f"xent ngram build --smoothing {smoothing}", result, args.tokens))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
