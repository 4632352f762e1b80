"""Codes of rows, compiled: the contracts of a book sorted by group; pairs of small codes.

A contract is an instrument held in one group (``model.book.ResolvedBook.contracts``). Rows come
sorted by group, so a group's contracts are found in one pass with a table of the instruments
(the group each was last seen in, and its contract there): no hashing of the row pairs (a
batch's 1.2 million rows: ~0.09 s hashed, a few ms here).
"""

from __future__ import annotations

import numpy as np

from ._jit import array_jit


@array_jit("Tuple((b1, i8[::1], i8[::1]))(i8[::1], i8[::1], i8)")
def group_contracts(group, instrument, n_instruments):  # type: ignore[no-untyped-def]
    """``(sorted, code, first_row)``: each row's contract, numbered by first row, and those rows.

    ``group`` must be non-decreasing (rows sorted by group); ``instrument`` holds codes below
    ``n_instruments``. ``sorted`` is False (and the rest empty) when ``group`` is not sorted.
    """
    n = group.shape[0]
    seen_group = np.full(n_instruments, -1, np.int64)
    seen_code = np.empty(n_instruments, np.int64)
    code = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        g = group[i]
        if i and g < group[i - 1]:
            return False, code[:0], first[:0]
        k = instrument[i]
        if seen_group[k] == g:
            code[i] = seen_code[k]
        else:
            seen_group[k] = g
            seen_code[k] = m
            first[m] = i
            code[i] = m
            m += 1
    return True, code, first[:m].copy()


@array_jit("Tuple((i8[::1], i8[::1]))(i8[::1], i8[::1], i8, i8)")
def pair_codes(a, b, n_a, n_b):  # type: ignore[no-untyped-def]
    """``(code, first_row)`` of the distinct ``(a, b)`` pairs, numbered by first appearance.

    ``distinct_rows(a, b)``'s answer for codes ``0 <= a < n_a``, ``0 <= b < n_b``, by a table
    of the ``n_a x n_b`` pairs (the caller keeps it small): one pass, no hashing.
    """
    n = a.shape[0]
    table = np.full(n_a * n_b, -1, np.int64)
    code = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        k = a[i] * n_b + b[i]
        c = table[k]
        if c < 0:
            c = m
            table[k] = m
            first[m] = i
            m += 1
        code[i] = c
    return code, first[:m].copy()
