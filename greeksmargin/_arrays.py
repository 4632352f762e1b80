"""Defensive copies for the frozen dataclasses of the model layer (docs/architecture.md), and grouping helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import InputError

T = TypeVar("T")
SMALL_ROWS = 256  # distinct_rows: up to this many rows, one dict of row tuples


def small_table(bound: int, n_rows: int) -> bool:
    """Whether a table of ``bound`` entries is cheap beside ``n_rows`` rows (one pass, no hash).

    At most four entries a row, plus 1,024: the table is then filled and read faster than the
    rows' codes could be hashed or sorted.
    """
    return bound <= 4 * n_rows + 1024


def kernel_array(value: object, dtype: npt.DTypeLike) -> np.ndarray:
    """Return ``value`` as a writeable C-contiguous array of ``dtype``, copied only if need be.

    What a compiled kernel declared for that type takes without compiling another
    specialization (Numba types read-only and strided arrays apart); the kernel only reads it.
    """
    arr = np.ascontiguousarray(value, dtype=dtype)
    return arr if arr.flags.writeable else arr.copy()


def frozen_array(value: object, dtype: npt.DTypeLike, name: str, copy: bool = True
                 ) -> np.ndarray:
    """Return ``value`` as a read-only C-contiguous ``dtype`` copy; an InputError names ``name``.

    The copy matters: freezing the caller's own array would be a hidden side effect. With
    ``copy=False`` the caller hands the array over (one it built for this): an array of the
    right dtype and layout is frozen in place, not copied.
    """
    try:
        arr: np.ndarray = (np.array(value, dtype=dtype, order="C", copy=True) if copy else
                           np.asarray(value, dtype=np.dtype(dtype), order="C"))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be convertible to {np.dtype(dtype).name}: {exc}") from None
    arr.flags.writeable = False
    return arr


def distinct_objects(items: Sequence[T]) -> tuple[list[T], np.ndarray]:
    """Return the distinct objects of ``items`` (by identity) and each item's index into them.

    Distinct objects come in order of first appearance. Many groups share a few grid objects
    (one per class group, repeated by a batch's accounts): hashing their ids as one integer
    array costs about 40 ns an item, a dict walk several times that.
    """
    n = len(items)
    if n == 0:
        return [], np.zeros(0, np.intp)
    if n <= SMALL_ROWS:
        code, first = _first_codes([id(x) for x in items])
        return [items[i] for i in first.tolist()], code
    last = _LAST_DISTINCT[0]  # one read: another thread may replace the entry, not change it
    if last is not None and last[0] is items:  # the same tuple again (a batch asks 4 times)
        return list(last[1]), last[2].copy()
    ids = np.fromiter(map(id, items), np.int64, n)
    if ids.min() == ids.max():
        distinct, code = [items[0]], np.zeros(n, np.intp)
    else:
        import pandas as pd

        code = pd.factorize(ids)[0].astype(np.intp)
        distinct = [items[int(i)] for i in _first_rows(code)]
    if type(items) is tuple:  # immutable: its identity names its content while it is held
        _LAST_DISTINCT[0] = (items, list(distinct), code.copy())
    return distinct, code


# distinct_objects' last large tuple and its answer (a tuple cannot be weakly referenced: the
# one entry holds it until the next large call)
_LAST_DISTINCT: list[tuple[Any, list[Any], np.ndarray] | None] = [None]


def distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of the distinct rows of ``columns``, in order of first appearance.

    ``(code, first_row)``: ``code[i]`` numbers row ``i``'s combination of values (NaN equals
    NaN), ``first_row[c]`` is the first row holding combination ``c``. Each column is hashed
    (``pandas.factorize``) and the per-column codes combined in mixed radix, re-numbered only
    when the radix product would leave exact int64 range. A few rows (a pre-trade order and
    its account) go through a dict of row tuples instead: hashing a column costs ~10 us.
    """
    n = columns[0].size if columns else 0
    arrays = [np.asarray(c) for c in columns]
    if 0 < n <= SMALL_ROWS and all(a.dtype.kind in "biuf" for a in arrays):
        # numbers: each row's float64 bits as one bytes key (ints here are codes, far below
        # 2^53; NaN made one NaN, -0.0 made 0.0, so equal values give equal keys)
        table = np.empty((n, len(arrays)))
        for k, a in enumerate(arrays):
            table[:, k] = a
        table[np.isnan(table)] = np.nan
        table += 0.0
        return _first_codes(table.view(f"V{8 * len(arrays)}").ravel().tolist())
    if n <= SMALL_ROWS:
        def plain(column: np.ndarray) -> list[object]:
            values = column.tolist()
            if column.dtype.kind == "f":  # NaN equals NaN here
                return [None if x != x else x for x in values]
            return values

        return _first_codes(list(zip(*map(plain, arrays), strict=True)))
    import pandas as pd

    code = np.zeros(n, np.int64)
    width = 1  # code < width
    for column in arrays:
        values, uniques = pd.factorize(column, use_na_sentinel=False)
        if uniques.size <= 1:
            continue
        if width * uniques.size >= 2**62:
            code, kept = pd.factorize(code)
            width = kept.size
        code = code * uniques.size + values
        width *= uniques.size
    code = pd.factorize(code)[0].astype(np.intp)
    return code, _first_rows(code)


def _first_rows(code: np.ndarray) -> np.ndarray:
    # codes numbering first appearances 0, 1, 2...: a row is a first one where the running max rises
    return np.flatnonzero(np.diff(np.maximum.accumulate(code), prepend=-1) > 0).astype(np.intp)


def _first_codes(keys: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    # codes of hashable keys in order of first appearance, and each code's first position
    seen: dict[Any, int] = {}
    code = np.empty(len(keys), np.intp)
    first: list[int] = []
    for i, key in enumerate(keys):
        c = seen.get(key)
        if c is None:
            c = seen[key] = len(first)
            first.append(i)
        code[i] = c
    return code, np.array(first, np.intp)
