"""``--explain``: how each number came about, step by step, with the values substituted (docs/explain.md).

An explanation is plain data: an :class:`Explanation` (a title and a list of
:class:`Step`, each a title and lines of text). :mod:`xentcli.render.console`
draws it (:func:`~xentcli.render.console.explanation_renderables`); :func:`~xentcli.output.emit`
decides where it goes. There is one builder per command, in one module per family
(:mod:`.losses`, :mod:`.divergences`, :mod:`.gradients`, :mod:`.lm`; the text they share in
:mod:`.text`); each takes the rows to explain and the command's own results. Intermediate
values (the shift, the exponentials, log p, the terms) come from :mod:`xentcli.core` for the
explained rows only; every per-sample value, reduction and gradient shown as a result is
the command's own, so an explanation can never print a number the command
did not compute. Nothing here changes a number.
"""

from .divergences import entropy
from .divergences import kl
from .gradients import grad
from .lm import example
from .lm import ppl
from .lm import softmax
from .ngram import ngram_ppl
from .losses import bce
from .losses import ce
from .losses import mse
from .text import Explanation
from .text import Step
from .text import explained_rows

__all__ = ["Step", "Explanation", "explained_rows", "softmax", "ce", "entropy", "grad",
           "example", "kl", "bce", "ppl", "mse", "ngram_ppl"]
