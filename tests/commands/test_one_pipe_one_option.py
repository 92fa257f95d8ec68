"""A FIFO can be read once: two options naming it would wait for ever, so the call is refused."""

import math
import os

import pytest

from tests.conftest import xent


@pytest.mark.timeout(30)
def test_gh_one_fifo_given_to_two_options_is_a_wrong_call(tmp_path):
    # The hostile trial's case: `mkfifo fi; cat z.csv > fi & xent ce --logits fi --labels fi` hung.
    fifo = tmp_path / "fi"
    os.mkfifo(fifo)
    result = xent("ce", "--logits", fifo, "--labels", f"{fifo}:label")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --logits and --labels both read ") and "read only once" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.timeout(30)
def test_one_fifo_per_option_is_read(tmp_path):
    fifo = tmp_path / "fi"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer, as `cat z.csv > fi &` is
        with open(fifo, "w") as f:
            f.write("4,2,1\n0,5,1\n")
        os._exit(0)
    try:
        result = xent("ce", "--logits", fifo, "--labels", "0,1")
    finally:
        os.waitpid(pid, 0)
    by_hand = (math.log(math.exp(4) + math.exp(2) + math.exp(1)) - 4
               + math.log(math.exp(0) + math.exp(5) + math.exp(1)) - 5) / 2
    assert result.exit_code == 0 and float(result.stdout) == pytest.approx(by_hand, rel=1e-14)
