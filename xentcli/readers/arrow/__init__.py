"""``.parquet``, ``.feather`` and ``.arrow`` (Arrow IPC file or stream) tables, read through pyarrow.

:mod:`.files` opens the three kinds of file, :mod:`.table` turns the selected columns of any table
source into a matrix, :mod:`.rows` decodes their rows; :mod:`.common` is what they share.

``FILE:SELECTOR`` picks columns (:mod:`.selector`: names, ``*`` globs, 1-based numbers).
What forms the matrix:

* numeric columns (integers, floats, bools): one matrix column each, named by its column
  (or by the part a glob matched: ``:p_*`` on ``p_setosa`` → ``setosa``);
* one list or fixed-size-list column of numbers (how Hugging Face datasets store logits):
  one matrix row per cell, ``(N, C)``; every cell must hold C values (ragged lists are bad data).
  A list column is selected alone;
* one column of lists of lists of numbers (a whole sequence per row, as ``datasets`` stores
  ``(T, V)`` logits): ``(B, T, C)``, read as ``B·T`` rows; every row must hold T lists of C
  values (ragged sequences are bad data naming the row). Its ``(B, T)`` targets are a list
  column of integers. An extension type (``datasets``' ``Array2D``) is read as its storage.

Without a selector a table is read whole only when its columns (pandas' index columns aside:
``__index_level_0__`` is never data, a named index is read only when selected, and a first column
of integers named like an id, :data:`.selector.ID_NAME`, as ``df.reset_index().to_feather()``
writes the index, is left out, said once on stderr) are all of one kind:
all float, or all integer/boolean, or one column of any kind (a string or categorical column: the
class-name labels; a list column: the rows). A table that mixes kinds (class names and numbers,
integers among floats, ``input_ids`` and ``logits`` list columns) or holds a number column named
like a label, target or id (:func:`.selector.is_label_name`) among others is a wrong call naming the
selector of each part, the option's own first (:func:`.selector.whole_table`): ``--labels
d.parquet: the table mixes class names (label) and numbers (p_setosa, …): select one, e.g.
d.parquet:label for the labels or d.parquet:p_* for the predictions``. A table of no numbers and no
class names is a wrong call listing its columns and their types.

A damaged file (pages, footer, offsets: every record batch is validated before it is
decoded) is bad data naming the file, with the first line of pyarrow's message; so is running
out of memory while decoding rows.

What one read may decode is bounded by what the file declares, checked before anything is
decoded (Parquet decodes at least a whole row, Arrow IPC a whole record batch). A list cell
holds at most :data:`.rows.MAX_ROW_VALUES` (1 Mi) values when it is one row of classes, and at most
:data:`.rows.MAX_SEQUENCE_VALUES` (8 Mi) when it is a whole sequence: Parquet declares each row
group's values per column, so a row group whose rows average more than that, or hold more than
its rows times the first row's values (ragged lists), is bad data naming its rows. An Arrow
IPC record batch may decompress to at most :data:`.files.MAX_BATCH_BYTES` (128 MB), as its message's
buffer lengths declare; a larger one is bad data suggesting smaller batches or Parquet.

A string or categorical column holds class names: selected alone it is read, a batch at a
time, as ``str`` values (labels, mapped to class indices where they are used), at most
:data:`.table.MAX_CLASS_NAME_BYTES` (96 MB) as NumPy strings (rows × 4 bytes × the longest name's
characters) and :data:`.table.MAX_CLASS_NAMES` (1 Mi) distinct names; among other columns it is bad
data. A null in a selected column is bad data naming the column and the 1-based row.

Nothing is read whole: :class:`.rows.ArrowRows` reads a row range from the record batches
(Parquet: ``iter_batches`` from the row group that holds it; IPC files: ``get_batch``;
IPC streams: from the start), keeps the last decoded batches in a small cache, and
serialises pyarrow reads with a lock (the engine reads from several threads).
pyarrow is imported inside functions only.
"""

from .files import MAX_BATCH_BYTES
from .rows import MAX_ROW_VALUES, MAX_SEQUENCE_VALUES, ArrowRows, ArrowSequences
from .table import MAX_CLASS_NAME_BYTES, MAX_CLASS_NAMES

__all__ = [
    "ArrowRows",
    "ArrowSequences",
    "MAX_BATCH_BYTES",
    "MAX_CLASS_NAME_BYTES",
    "MAX_CLASS_NAMES",
    "MAX_ROW_VALUES",
    "MAX_SEQUENCE_VALUES",
]
