"""Text columns, compiled: UTF-8 strings (Arrow's layout) to NumPy's fixed-width text, and hashes.

A file's id column arrives as Arrow strings (pandas' ``str`` dtype): one byte buffer, offsets and
a validity mask. NumPy's fixed-width text (``<U n``: n UTF-32 code units a row, zero-padded) is
what the model holds; pandas converts one Python string at a time (~0.2 s for 10^6 ids), these
kernels decode the buffer in one pass (~20 ms). Hashes of fixed-width rows (FNV-1a over the code
units) let the model prove ids distinct without a hash table of Python strings.
"""

from __future__ import annotations

import numpy as np

from ._jit import array_jit

FNV_OFFSET = np.uint64(14695981039346656037)
FNV_PRIME = np.uint64(1099511628211)


@array_jit("i8(i8[::1], u1[::1], b1[::1], u4[:, ::1])")
def utf8_to_utf32(offsets, data, valid, out):  # type: ignore[no-untyped-def]
    """Decode row ``i`` (bytes ``offsets[i]:offsets[i + 1]`` of ``data``) into ``out[i]``.

    With ``out`` of zero columns, only count: returns the most code points of any row. A row
    not ``valid`` (missing) is empty; unused columns are 0. Returns ``-2 - i`` for the first row
    ``i`` that is not well-formed UTF-8 (or wider than ``out``), else the widest row's code
    points.
    """
    widest = 0
    width = out.shape[1]
    for i in range(offsets.shape[0] - 1):
        k = 0
        if valid[i]:
            p = offsets[i]
            stop = offsets[i + 1]
            while p < stop:
                b = np.uint32(data[p])
                if b < 0x80:
                    n, code = 0, b
                elif b >= 0xC2 and b < 0xE0:
                    n, code = 1, b & 0x1F
                elif b >= 0xE0 and b < 0xF0:
                    n, code = 2, b & 0x0F
                elif b >= 0xF0 and b < 0xF5:
                    n, code = 3, b & 0x07
                else:
                    return -2 - i
                if n > 0 and p + n >= stop:  # cut short
                    return -2 - i
                for q in range(1, n + 1):
                    c = np.uint32(data[p + q])
                    if c & 0xC0 != 0x80:
                        return -2 - i
                    code = (code << 6) | (c & 0x3F)
                if (n == 2 and (code < 0x800 or (code >= 0xD800 and code < 0xE000))) or \
                        (n == 3 and (code < 0x10000 or code > 0x10FFFF)):
                    return -2 - i
                if width:
                    if k >= width:
                        return -2 - i
                    out[i, k] = code
                k += 1
                p += n + 1
        if width:
            for q in range(k, width):
                out[i, q] = 0
        if k > widest:
            widest = k
    return widest


@array_jit("u8[::1](u4[:, ::1])")
def fnv_rows(units):  # type: ignore[no-untyped-def]
    """FNV-1a hash (64 bits) of each row's code units, trailing zeros included."""
    n, width = units.shape
    out = np.empty(n, np.uint64)
    for i in range(n):
        h = FNV_OFFSET
        for k in range(width):
            h = (h ^ np.uint64(units[i, k])) * FNV_PRIME
        out[i] = h
    return out
