"""Compiler options for every kernel, in one place.

- ``cache=True``: compile once per machine and Python/Numba version, then load from disk.
- ``error_model="numpy"``: division by zero gives inf/NaN like NumPy instead of raising, so NaN
  inputs propagate to NaN outputs and the kernels need no Python-level error paths.
- no ``fastmath``: strict IEEE semantics; ``fastmath=True`` changes NaN/inf arithmetic
  (``(0 - inf) + inf`` becomes 0.0), which would hide bad input.
- ``nogil=True``: the array kernels release the GIL so threads (and Dask) can overlap them.
"""

from __future__ import annotations

from numba import njit

SCALAR_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
PARALLEL_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True, "parallel": True}

scalar_jit = njit(**SCALAR_OPTIONS)


def array_jit(signature: str):  # type: ignore[no-untyped-def]
    """Serial array kernel with an explicit signature (compiled or cache-loaded at import)."""
    return njit(signature, **SCALAR_OPTIONS)


def parallel_jit(signature: str):  # type: ignore[no-untyped-def]
    """Parallel (``prange``) array kernel with an explicit signature."""
    return njit(signature, **PARALLEL_OPTIONS)
