"""Text columns decoded from Arrow's buffers equal pandas' conversion; bad UTF-8 is refused;
the id hashes are FNV-1a as its definition computes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greeksmargin.io.tables import FEW_CELLS, fixed_width_text
from greeksmargin.kernels._text import fnv_rows, utf8_to_utf32

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), TEXT), max_size=30))
def test_fixed_width_text_is_pandas_conversion_of_any_text_column(cells):
    # repeated up to the size the compiled decoder takes (fewer cells: pandas converts them)
    cells = cells * (-(-FEW_CELLS // len(cells))) if cells else cells
    for dtype in ("str", "string[python]", object):
        column = pd.Series(cells, dtype=dtype)
        got = fixed_width_text(column)
        expected = column.fillna("").to_numpy(dtype=np.str_)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), (dtype, cells)


def test_a_sliced_arrow_column_is_read_from_its_own_rows():
    cells = ["zero", "one", None, "three", "four"] * FEW_CELLS
    column = pd.Series(cells, dtype="str").iloc[1:4 + 5 * (FEW_CELLS - 1)]
    assert fixed_width_text(column).tolist() == (["one", "", "three", "four", "zero"]
                                                 * FEW_CELLS)[:len(column)]


@pytest.mark.parametrize("raw", [b"\x80", b"ab\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                                 b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xf0\x9f\x98"])
def test_malformed_utf8_is_refused_with_its_row(raw):
    data = np.frombuffer(b"ok" + raw, np.uint8).copy()
    offsets = np.array([0, 2, data.size], np.int64)
    valid = np.ones(2, bool)
    assert utf8_to_utf32(offsets, data, valid, np.zeros((0, 0), np.uint32)) == -2 - 1
    # and a row wider than the output is refused too
    assert utf8_to_utf32(offsets[:2], data, valid[:1], np.zeros((1, 1), np.uint32)) == -2


def test_fnv_rows_is_fnv1a_over_the_code_units():
    ids = np.array(["a", "P1", "acct0000001/s0l1", "é€😀"])
    units = ids.view(np.uint32).reshape(ids.size, -1)
    for row, got in zip(units, fnv_rows(units), strict=True):
        h = 14695981039346656037
        for unit in row.tolist():
            h = ((h ^ unit) * 1099511628211) % 2**64
        assert int(got) == h
