"""Every command test runs twice: on the compiled kernel and on the NumPy reference (``XENT_KERNEL=numpy``).

The two must give the same outputs within the tests' own tolerances, so the whole command suite
is the check that the compiled kernel changes no behaviour. Tests that never reach a per-row
kernel's numbers (signals, the Dask engine) run once, on the default kernel. Without a compiled
kernel (installed without a C compiler) the ``compiled`` runs are skipped.
"""

from __future__ import annotations

import pytest

from xentcli import kernels

#: Modules whose tests exercise signals, processes and engines rather than numbers: run once.
ONCE = frozenset({"test_signals", "test_scheduler_engine"})


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.rsplit(".", 1)[-1] not in ONCE:
        metafunc.parametrize("kernel", ["compiled", "numpy"], indirect=True)


@pytest.fixture(autouse=True)
def kernel(request, monkeypatch):
    """The kernel this test runs on; set through the environment, so subprocesses get it too."""
    choice = getattr(request, "param", "default")
    if choice == "numpy":
        monkeypatch.setenv("XENT_KERNEL", "numpy")
    elif choice == "compiled":
        monkeypatch.delenv("XENT_KERNEL", raising=False)
        if kernels.compiled() is None:
            pytest.skip("xent was installed without its compiled kernel")
    return choice
