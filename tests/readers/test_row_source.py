"""The readers' values are an array or a RowSource, and a RowSource's rows are a RowReader or an array:
each lazy form checked against the array NumPy saved."""

import numpy as np
import pytest

from xentcli.readers import read_matrix
from xentcli.readers.source import RowReader, RowSource

Z = np.arange(60, dtype=np.float32).reshape(3, 4, 5) / 7


def _npy(tmp_path):
    np.save(tmp_path / "z.npy", Z)
    return str(tmp_path / "z.npy")


def _shards(tmp_path):
    np.save(tmp_path / "s1.npy", Z[:1])
    np.save(tmp_path / "s2.npy", Z[1:])
    return f"{tmp_path}/s*.npy"


def _parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = Z.reshape(-1, 5)
    pq.write_table(pa.table({f"c{j}": rows[:, j] for j in range(5)}), tmp_path / "z.parquet")
    return str(tmp_path / "z.parquet")


@pytest.mark.parametrize("write", [_npy, _shards, _parquet])
def test_lazy_values_are_row_sources_read_as_numpy_saved_them(tmp_path, write):
    values = read_matrix(write(tmp_path), "--logits").values
    assert isinstance(values, RowSource) and not isinstance(values, np.ndarray)
    rows = values.as_rows()
    assert isinstance(rows, RowReader) and rows.shape == (12, 5) and len(rows) == 12
    np.testing.assert_array_equal(rows.rows(2, 9), Z.reshape(-1, 5)[2:9])
    np.testing.assert_array_equal(rows[[0, 11, 5]], Z.reshape(-1, 5)[[0, 11, 5]])
    np.testing.assert_array_equal(np.asarray(values).reshape(-1, 5), Z.reshape(-1, 5))


def test_an_array_is_no_row_source_nor_reader():
    values = read_matrix("4,2,1;0,5,1", "--logits").values
    assert isinstance(values, np.ndarray)
    assert not isinstance(values, RowSource) and not isinstance(values, RowReader)
