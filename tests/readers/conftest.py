import os

import pytest


@pytest.fixture
def preads(monkeypatch):
    """Every ``os.preadv`` from now on, as ``(offset, bytes asked)``: what a streamed reader really reads."""
    reads = []
    real = os.preadv

    def spy(fd, buffers, offset):
        reads.append((offset, sum(len(b) for b in buffers)))
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", spy)
    return reads
