"""Regenerate torch_reference.json: PyTorch's and SciPy's own numbers for every command.

Not run by the test suite (torch is not a dependency). Run it by hand with
PyTorch installed to refresh the reference:

    python tests/data/make_torch_reference.py > tests/data/torch_reference.json

Inputs are drawn with a fixed seed and stored in the JSON beside the
outputs, so the tests need neither torch nor this script.
"""

import itertools
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def case(rng, n, c, index, weights, ignore, smoothing, temperature, reduction):
    z = rng.normal(scale=3.0, size=(n, c))
    if index:
        y = rng.integers(0, c, size=n)
        if ignore is not None:
            y[rng.random(n) < 0.3] = ignore
        target = torch.tensor(y)
        labels = y.tolist()
    else:
        y = rng.dirichlet(np.ones(c) * 0.5, size=n)
        target = torch.tensor(y)
        labels = y.tolist()
    w = rng.uniform(0.2, 3.0, size=c) if weights else None
    zt = torch.tensor(z, requires_grad=True)
    kwargs = dict(
        weight=None if w is None else torch.tensor(w),
        label_smoothing=smoothing,
        reduction=reduction,
    )
    if ignore is not None:
        kwargs["ignore_index"] = ignore
    loss = F.cross_entropy(zt / temperature, target, **kwargs)
    if reduction == "none":
        loss.sum().backward()
    else:
        loss.backward()
    return {
        "logits": z.tolist(),
        "labels": labels,
        "index": index,
        "weights": None if w is None else w.tolist(),
        "ignore_index": ignore,
        "label_smoothing": smoothing,
        "temperature": temperature,
        "reduction": reduction,
        "loss": loss.detach().tolist(),
        "grad": zt.grad.tolist(),
    }


def bce_case(rng, n, c, pos_weight, class_mean, reduction, extreme):
    z = rng.normal(scale=4.0, size=(n, c))
    if extreme:
        z[0, 0], z[-1, -1] = 1e4, -1e4
    y = rng.random((n, c))
    y = np.where(rng.random((n, c)) < 0.5, np.round(y), y)
    pw = rng.uniform(0.3, 4.0, size=c) if pos_weight else None
    zt = torch.tensor(z, requires_grad=True)
    el = F.binary_cross_entropy_with_logits(zt, torch.tensor(y), pos_weight=None if pw is None else torch.tensor(pw), reduction="none")
    per = el.mean(-1) if class_mean else el.sum(-1)
    loss = {"none": per, "mean": per.mean(), "sum": per.sum()}[reduction]
    (loss.sum() if reduction == "none" else loss).backward()
    return {"logits": z.tolist(), "targets": y.tolist(), "pos_weight": None if pw is None else pw.tolist(),
            "class_mean": class_mean, "reduction": reduction, "loss": loss.detach().tolist(), "grad": zt.grad.tolist()}


def divergence_cases(rng):
    from scipy import special, stats

    out = []
    for n, c in ((1, 3), (4, 5), (3, 2)):
        p = rng.dirichlet(np.ones(c) * 0.7, size=n)
        q = rng.dirichlet(np.ones(c) * 0.7, size=n)
        p[0, 0] = 0.0
        p[0] /= p[0].sum()
        a, b = rng.normal(scale=2, size=(n, c)), rng.normal(scale=2, size=(n, c))
        out.append({
            "p": p.tolist(), "q": q.tolist(), "p_logits": a.tolist(), "q_logits": b.tolist(),
            "kl_probs": special.rel_entr(p, q).sum(axis=1).tolist(),
            "kl_logits": F.kl_div(F.log_softmax(torch.tensor(b), -1), F.log_softmax(torch.tensor(a), -1),
                                  log_target=True, reduction="none").sum(-1).tolist(),
            "entropy_probs": stats.entropy(p, axis=1).tolist(),
            "entropy_logits": stats.entropy(special.softmax(a, axis=1), axis=1).tolist(),
        })
    return out


def ppl_case(rng, ignore):
    z = rng.normal(scale=2.0, size=(3, 7, 11)).astype(np.float32)
    t = rng.integers(0, 11, size=(3, 7))
    if ignore is not None:
        t[:, -2:] = ignore
    kw = {} if ignore is None else {"ignore_index": ignore}
    mean = F.cross_entropy(torch.tensor(z, dtype=torch.float64).reshape(-1, 11), torch.tensor(t).reshape(-1), **kw)
    return {"logits": z.tolist(), "targets": t.tolist(), "ignore_index": ignore, "mean": mean.item(),
            "perplexity": torch.exp(mean).item(), "n": int((t != ignore).sum()) if ignore is not None else t.size}


def shift_case(rng, ignore, shape):
    """Hugging Face's causal-LM loss: logits[..., :-1, :] score labels[..., 1:]."""
    z = rng.normal(scale=2.0, size=shape + (13,))
    t = rng.integers(0, 13, size=shape)
    if ignore is not None:
        t[..., -2] = ignore
    kw = {} if ignore is None else {"ignore_index": ignore}
    zt, tt = torch.tensor(z), torch.tensor(t)
    shifted_logits, shifted_labels = zt[..., :-1, :].reshape(-1, 13), tt[..., 1:].reshape(-1)
    mean = F.cross_entropy(shifted_logits, shifted_labels, **kw)
    per = F.cross_entropy(shifted_logits, shifted_labels, reduction="none", **kw)
    return {"logits": z.tolist(), "targets": t.tolist(), "ignore_index": ignore, "mean": mean.item(),
            "per_sample": per.tolist(), "perplexity": torch.exp(mean).item(),
            "n": int((shifted_labels != ignore).sum()) if ignore is not None else shifted_labels.numel()}


def mse_case(rng, through, reduction, half, index):
    """torch.nn.MSELoss of softmax(z), sigmoid(z) or the predictions themselves, and autograd's gradient.

    Class-index labels are compared as their one-hot rows; reduction 'none' is summed over classes
    per sample (xent's per-sample value); half multiplies the loss by 1/2.
    """
    # A single class's index labels would be read as targets (labels of the predictions' shape).
    n, c = int(rng.integers(1, 6)), int(rng.integers(2 if index else 1, 5))
    x = rng.normal(scale=3.0 if through else 1.0, size=(n, c))
    if index:
        k = rng.integers(0, c, size=n)
        labels = k.tolist()
        target = F.one_hot(torch.tensor(k), c).double()
    else:
        y = {"softmax": lambda: rng.dirichlet(np.ones(c) * 0.5, size=n),
             "sigmoid": lambda: np.where(rng.random((n, c)) < 0.5, np.round(rng.random((n, c))), rng.random((n, c))),
             None: lambda: rng.normal(size=(n, c))}[through]()
        labels = y.tolist()
        target = torch.tensor(y)
    xt = torch.tensor(x, requires_grad=True)
    pred = {"softmax": lambda: torch.softmax(xt, -1), "sigmoid": lambda: torch.sigmoid(xt), None: lambda: xt}[through]()
    loss = torch.nn.MSELoss(reduction=reduction)(pred, target)
    if reduction == "none":
        loss = loss.sum(-1)
    if half:
        loss = 0.5 * loss
    (loss.sum() if reduction == "none" else loss).backward()
    return {"x": x.tolist(), "through": through, "labels": labels, "index": index, "reduction": reduction,
            "half": half, "loss": loss.detach().tolist(), "grad": xt.grad.tolist()}


def main():
    rng = np.random.default_rng(20261124)
    shift_rng = np.random.default_rng(20261130)
    mse_rng = np.random.default_rng(20261201)
    cases = []
    for index, weights, smoothing, temperature, reduction in itertools.product(
        (True, False), (False, True), (0.0, 0.15), (1.0, 0.7), ("none", "mean", "sum")
    ):
        ignores = (None, -100, 1) if index else (None,)
        for ignore in ignores:
            n, c = int(rng.integers(1, 7)), int(rng.integers(2, 6))
            cases.append(case(rng, n, c, index, weights, ignore, smoothing, temperature, reduction))
    bce = [
        bce_case(rng, int(rng.integers(1, 6)), int(rng.integers(1, 5)), pw, cm, red, extreme)
        for pw, cm, red, extreme in itertools.product((False, True), (False, True), ("none", "mean", "sum"), (False, True))
    ]
    import scipy

    json.dump({
        "torch": torch.__version__, "scipy": scipy.__version__, "cases": cases, "bce": bce,
        "divergence": divergence_cases(rng), "ppl": [ppl_case(rng, None), ppl_case(rng, -100), ppl_case(rng, 0)],
        # a generator of its own, so that adding these left every value above as it was
        "shift": [shift_case(shift_rng, ignore, shape) for ignore, shape in (
            (None, (2, 6)), (-100, (3, 5)), (None, (7,)), (-100, (9,)))],
        "mse": [mse_case(mse_rng, through, reduction, half, index) for through, reduction, half, index in
                itertools.product(("softmax", "sigmoid", None), ("mean", "sum", "none"), (False, True), (False, True))],
    }, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
