"""N-gram language models: the document's smoothing, built and scored as KenLM and SRILM do.

* :mod:`.corpus`: text as lmplz reads it (files, stdin, globs, folders, .gz/.bz2/.xz);
* :mod:`.counts`: every n-gram's count, streamed in bounded memory;
* :mod:`.smoothing`: one module per method, each ``Counts -> Model`` (:data:`~.smoothing.METHODS`);
* :mod:`.model`: a back-off model in memory and how its n-grams are found;
* :mod:`.arpa`: ARPA files written and read;
* :mod:`.score`: text scored as KenLM's ``query`` scores it.

Example::

    >>> from xentcli.ngram.counts import count_lines
    >>> from xentcli.ngram.smoothing import estimate
    >>> from xentcli.ngram.score import score_sentences
    >>> counts = count_lines([b"a b", b"a b a", b"b a b"], 2)
    >>> model = estimate(counts, "wb").model
    >>> scores = score_sentences(model, [[counts.index[b"a"], counts.index[b"b"]]])
    >>> len(scores.logprob)  # a, b and </s>
    3
"""
