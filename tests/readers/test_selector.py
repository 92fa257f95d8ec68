"""The column selector shared by table-like formats: names, ``*`` globs, 1-based numbers and ranges."""

import pytest

from xentcli.errors import CallError
from xentcli.readers.selector import Selection, describe_columns, select_columns

COLS = ["id", "p_setosa", "p_versicolor", "p_virginica", "label"]


def sel(selector, columns=COLS, ncols=None):
    return select_columns(selector, columns, len(columns) if columns is not None else ncols, "--logits f.csv")


def test_no_selector_is_every_column():
    assert sel(None) == Selection([0, 1, 2, 3, 4], COLS)
    assert sel(None, None, 3) == Selection([0, 1, 2], None)


def test_names_are_kept_in_file_order():
    assert sel("label,id") == Selection([0, 4], ["id", "label"])
    assert sel("p_virginica") == Selection([3], ["p_virginica"])


def test_a_glob_expands_in_file_order_and_names_classes_by_the_matched_part():
    assert sel("p_*") == Selection([1, 2, 3], ["setosa", "versicolor", "virginica"])
    assert sel("*_v*") == Selection([2, 3], ["p_versicolor", "p_virginica"])  # two stars: the column names
    assert sel("label,p_*") == Selection([1, 2, 3, 4], ["setosa", "versicolor", "virginica", "label"])
    assert sel("p_*,p_setosa").names == ["setosa", "versicolor", "virginica"]  # a column selected twice: once


def test_glob_parts_that_collide_fall_back_to_column_names():
    cols = ["a_x", "b_x"]
    assert sel("*_x", cols) == Selection([0, 1], ["a", "b"])
    assert sel("*", ["p_", "q"]).names == ["p_", "q"]  # an empty match keeps the name
    assert select_columns("*x", ["ax", "x"], 2, "w").names == ["a", "x"]


def test_only_star_is_special():
    cols = ["logit[0]", "logit[1]", "a?"]
    assert sel("logit[0]", cols) == Selection([0], ["logit[0]"])
    assert sel("logit[*]", cols).names == ["0", "1"]
    assert sel("a?", cols).indices == [2]


def test_headerless_files_are_selected_by_1_based_numbers_and_ranges():
    assert sel("2-4", None, 5) == Selection([1, 2, 3], None)
    assert sel("1,3", None, 5) == Selection([0, 2], None)
    assert sel("3,1", None, 5) == Selection([0, 2], None)
    assert sel(" 2 - 3 , 5", None, 5) == Selection([1, 2, 4], None)
    assert sel("1-2,2-3", None, 5).indices == [0, 1, 2]


def test_numbers_select_named_columns_too_but_a_name_wins():
    assert sel("2-3") == Selection([1, 2], ["p_setosa", "p_versicolor"])
    assert sel("2", ["a", "b", "2"]) == Selection([2], ["2"])  # the column named 2, not the 2nd


@pytest.mark.parametrize("selector, needle", [
    ("p_nope", "no column 'p_nope'"),
    ("q_*", "no column 'q_*'"),
    ("id,nope", "no column 'nope'"),
    ("9", "no column '9'"),
])
def test_naming_nothing_is_a_wrong_call_listing_the_columns(selector, needle):
    with pytest.raises(CallError) as e:
        sel(selector)
    msg = str(e.value)
    assert msg.startswith("--logits f.csv: ") and needle in msg
    assert "5 columns: id, p_setosa, p_versicolor, p_virginica, label" in msg


@pytest.mark.parametrize("selector, needle", [
    ("6", "no column 6"), ("4-6", "no column 4-6"), ("0", "numbered from 1"), ("3-2", "runs backwards"),
    ("x", "no column x"), ("p_*", "needs column names"), ("", "empty column selector"), ("1,,2", "empty item"),
])
def test_headerless_errors_say_how_many_columns(selector, needle):
    with pytest.raises(CallError) as e:
        sel(selector, None, 5)
    assert needle in str(e.value)
    if selector not in ("3-2", "1,,2"):
        assert "5 columns (select by number: 1-5)" in str(e.value)


def test_long_listings_are_cut():
    cols = [f"c{i}" for i in range(100)]
    text = describe_columns(cols, 100)
    assert text.startswith("100 columns: c0, c1") and text.endswith("… and 70 more")
    assert describe_columns(None, 1) == "1 column (select by number: 1-1)"
