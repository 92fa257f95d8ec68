"""The optional compiled kernel; everything else about the package is in pyproject.toml.

``pip install .`` compiles ``xentcli/kernels/_rowkernel.c`` where a C compiler works. Where it
does not (no compiler, ``CC=false``, a compiler that rejects the flags), ``optional=True`` turns
the failure into a warning and the install succeeds without it: xent then computes with NumPy, and
``xent --version`` says which kernel is in use.

``xentcli/ngram/_arpa.c``, the ARPA writer's and reader's inner loops, is optional the same way: without
it ``xent ngram`` writes and reads ARPA files with its Python code, the same bytes and values, slower.

Flags, and why (the kernel's header comment says more):

* ``-O3``: the row loops are written with GCC vector extensions; -O3 inlines the vector ``exp``
  into them.
* ``-ffp-contract=off``: no implicit fused multiply-add, so plain ``a*b + c`` rounds twice as in
  NumPy; FMAs appear only where the source writes them (the ``exp`` polynomial and the KL series).
* ``-fno-fast-math``, and none of its parts: reassociation would fold the maximum's exact 1 back
  into the sum that ``log1p`` takes (a CE of 1e-15 would come out 100 % off), and finite-math
  would drop the handling of ``-inf`` (masked classes) and NaN.

The AVX2 and AVX-512 builds need no ``-m`` flags: each is compiled from the same source under
``#pragma GCC target`` and chosen when the module loads, by what the CPU supports.
"""

from setuptools import Extension, setup

KERNEL_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(
    ext_modules=[
        Extension(
            "xentcli.kernels._rowkernel",
            sources=["xentcli/kernels/_rowkernel.c"],
            depends=["xentcli/kernels/_rowkernel_body.h", "xentcli/kernels/_rowkernel_rows.h",
                     "xentcli/kernels/_rowkernel_compare.h", "xentcli/kernels/_rowkernel_compare_rows.h",
                     "xentcli/kernels/_rowkernel_compare_py.h"],
            extra_compile_args=KERNEL_FLAGS,
            optional=True,
        ),
        Extension(
            "xentcli.ngram._arpa",
            sources=["xentcli/ngram/_arpa.c"],
            extra_compile_args=KERNEL_FLAGS,
            optional=True,
        ),
    ],
)
