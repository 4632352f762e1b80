"""A sorted book's contracts found in one pass equal the hashed rows' codes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from greeksmargin._arrays import distinct_rows
from greeksmargin.kernels._rows import group_contracts


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 400), groups=st.integers(1, 30),
       instruments=st.integers(1, 12))
def test_group_contracts_equals_distinct_rows_on_rows_sorted_by_group(seed, n, groups,
                                                                        instruments):
    rng = np.random.default_rng(seed)
    group = np.sort(rng.integers(0, groups, n))
    instrument = rng.integers(0, instruments, n)
    ok, code, first = group_contracts(group, instrument, instruments)
    expected_code, expected_first = distinct_rows(group, instrument) if n else (
        np.zeros(0, np.intp), np.zeros(0, np.intp))
    assert ok
    assert np.array_equal(code, expected_code) and np.array_equal(first, expected_first)


def test_rows_not_sorted_by_group_are_refused():
    ok, code, first = group_contracts(np.array([0, 2, 1]), np.array([0, 0, 0]), 1)
    assert not ok and code.size == 0 and first.size == 0


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), n_a=st.integers(1, 5),
       n_b=st.integers(1, 40))
def test_pair_codes_equals_distinct_rows(seed, n, n_a, n_b):
    from greeksmargin.kernels._rows import pair_codes

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
    code, first = pair_codes(a, b, n_a, n_b)
    expected_code, expected_first = distinct_rows(a, b)
    assert np.array_equal(code, expected_code) and np.array_equal(first, expected_first)


def test_distinct_objects_answers_a_tuple_asked_again_and_never_a_changed_list():
    from greeksmargin._arrays import SMALL_ROWS, distinct_objects

    a, b, c = object(), object(), object()
    items = tuple([a, b, a, c] * SMALL_ROWS)
    distinct, code = distinct_objects(items)
    assert distinct == [a, b, c] and code[:4].tolist() == [0, 1, 0, 2]
    code[:] = 9  # the caller's copy: the next answer is not changed by it
    distinct.append(b)
    again, code_again = distinct_objects(items)
    assert again == [a, b, c] and code_again[:4].tolist() == [0, 1, 0, 2]
    # an equal tuple, another list: answered afresh
    assert distinct_objects(tuple(items))[0] == [a, b, c]
    listed = list(items)
    distinct_objects(listed)
    listed[0] = c  # a list may change between calls: never answered from memory
    assert distinct_objects(listed)[0] == [c, b, a]
