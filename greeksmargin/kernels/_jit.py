"""Compiler options for every kernel, in one place.

- ``cache=True``: compile once per machine and Python/Numba version, then load from disk.
- ``error_model="numpy"``: division by zero gives inf/NaN like NumPy instead of raising, so NaN
  inputs propagate to NaN outputs and the kernels need no Python-level error paths.
- no ``fastmath``: strict IEEE semantics; ``fastmath=True`` changes NaN/inf arithmetic
  (``(0 - inf) + inf`` becomes 0.0), which would hide bad input.
- ``nogil=True``: the array kernels release the GIL so threads (and Dask) can overlap them.

LLVM's loop vectoriser gives up on a loop whose arrays would need more than 8 run-time overlap
checks; the price-and-Greeks loop reads 7 arrays and writes 11, so the limits are raised here,
before anything is compiled (an LLVM command-line option: it only lets more loops vectorise).

Forks: Numba's default threading layer on Linux is GNU OpenMP, which a forked child cannot use
once the parent has started its threads (the child is terminated, or hangs). A process forked
from this one (``multiprocessing`` with the fork start method, Python <= 3.13's default on
Linux) therefore runs the serial kernels only (:func:`parallel_allowed`): the pool's processes
are the parallelism there. Same numbers either way (the parallel kernels run the serial ones on
chunks).
"""

from __future__ import annotations

import os
from typing import Any

import llvmlite.binding as llvm
import numba
from numba import njit

for _option in ("-runtime-memory-check-threshold=1024", "-vectorize-memory-check-threshold=2048"):
    try:
        llvm.set_option("greeksmargin", _option)
    except Exception:  # pragma: no cover - set already (by another library): keep theirs
        pass

SCALAR_OPTIONS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}
PARALLEL_OPTIONS: dict[str, Any] = {**SCALAR_OPTIONS, "parallel": True}

scalar_jit: Any = njit(**SCALAR_OPTIONS)


DECLARED: list[tuple[Any, Any]] = []  # every array kernel and the signature its callers use


def _declared(signature: Any, options: dict[str, Any]) -> Any:
    def wrap(fn: Any) -> Any:
        dispatcher = njit(**options)(fn)
        DECLARED.append((dispatcher, signature))
        return dispatcher
    return wrap


def array_jit(signature: Any) -> Any:
    """Declare a serial array kernel for ``signature``, compiled on its first call.

    Compiled (or loaded from the on-disk cache) on first use rather than at import, so a
    first run compiles only the kernels it calls: ``margin --sample`` needs the serial
    revaluation and the reduction, not implied vols, American pricing arrays or the parallel
    builds. The callers pass exactly these types (tested: compiling the declared signature
    after a run adds no second specialization); :func:`compile_all` compiles every one ahead.
    """
    return _declared(signature, SCALAR_OPTIONS)


def parallel_jit(signature: str) -> Any:
    """Declare a parallel (``prange``) array kernel for ``signature``, compiled on its first call."""
    return _declared(signature, PARALLEL_OPTIONS)


def compile_all() -> int:
    """Compile (or load from the cache) every array kernel now; return how many there are.

    For an image or a deployment step that should leave nothing to compile at the first
    request: ``python -c "import greeksmargin.kernels as k; k.compile_all()"``.
    """
    from . import _american, _bsm, _iv, _margin, _revalue  # noqa: F401  (declares them all)

    for dispatcher, signature in DECLARED:
        dispatcher.compile(signature)
    return len(DECLARED)


def _cache_is_cold() -> bool:
    # Numba caches next to the source (``__pycache__``), or under NUMBA_CACHE_DIR; no index file
    # of the pricing kernels there means this process compiles them
    from pathlib import Path

    cache_dir = getattr(numba.config, "CACHE_DIR", "")
    if cache_dir:
        return next(Path(cache_dir).rglob("_bsm.*.nbi"), None) is None
    return next((Path(__file__).resolve().parent / "__pycache__").glob("_bsm.*.nbi"), None) is None


def announce_first_compile() -> None:
    """Say once, on a terminal, that the kernels are being compiled (the first run only)."""
    import sys

    if sys.stderr is not None and sys.stderr.isatty() and _cache_is_cold():
        print("greeksmargin: compiling the kernels this run needs for this machine (about 20 s,"
              " once; cached afterwards)", file=sys.stderr, flush=True)


_state = {"forked": False}


def _forked_child() -> None:
    _state["forked"] = True


os.register_at_fork(after_in_child=_forked_child)


def parallel_allowed() -> bool:
    """Whether the parallel (``prange``) kernels may run here: not in a forked child process."""
    return not _state["forked"]


def n_chunks() -> int:
    """Return the number of chunks for the parallel kernels: a few per Numba thread, for load balance."""
    return 4 * numba.get_num_threads()
