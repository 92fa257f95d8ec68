"""Regenerate torch_reference.json: PyTorch's own numbers for cross-entropy cases.

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


def main():
    rng = np.random.default_rng(20261124)
    cases = []
    for index, weights, smoothing, temperature, reduction in itertools.product(
        (True, False), (False, True), (0.0, 0.15), (1.0, 0.7), ("none", "mean", "sum")
    ):
        ignores = (None, -100, 1) if index else (None,)
        for ignore in ignores:
            n, c = int(rng.integers(1, 7)), int(rng.integers(2, 6))
            cases.append(case(rng, n, c, index, weights, ignore, smoothing, temperature, reduction))
    json.dump({"torch": torch.__version__, "cases": cases}, sys.stdout, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
