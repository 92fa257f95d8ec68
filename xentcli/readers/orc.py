"""``.orc`` tables (Apache ORC), read through pyarrow: ``FILE:SELECTOR`` picks columns, and the
columns read, their kinds, class names, nulls and the bounds are as for Parquet (:mod:`.arrow`,
whose table code reads any table source: this module only opens the file).

ORC's stripes hold no row count that pyarrow shows before they are decoded, so rows are read as
from an Arrow IPC stream: from the first stripe on, a stripe at a time (cut to the engine's
batches), and a read behind the last one starts again from the first stripe.
"""

from __future__ import annotations

from ..errors import CallError
from .arrow.common import Reopened, sliced
from .arrow.table import read_table
from .source import Matrix

__all__ = ["read"]


def read(path: str, where: str, selector: str | None = None) -> Matrix:
    """The selected columns of an ORC file (:func:`.arrow.table.read_table`)."""
    try:
        import pyarrow.orc  # noqa: F401  # some pyarrow builds (Windows wheels) leave ORC out
    except ImportError as e:
        raise CallError(f"{where}: this pyarrow ({e}) cannot read ORC files; save the table as .parquet "
                        "or .feather, which any pyarrow reads") from None
    return read_table(lambda: _OrcFile(path), where, selector, "ORC")


class _OrcFile(Reopened):
    """An ORC file as a table source: its schema, its rows, and record batches from the first stripe on."""

    def open(self) -> None:
        import pyarrow.orc as orc

        self.file = orc.ORCFile(self.path)
        self.schema = self.file.schema

    def count(self, positions) -> int:
        return self.file.nrows

    def batches_from(self, row: int, positions, batch_rows: int):
        names = [self.schema.field(i).name for i in positions]
        stripes = (self.file.read_stripe(i, columns=names) for i in range(self.file.nstripes))
        return 0, sliced(stripes, batch_rows)
