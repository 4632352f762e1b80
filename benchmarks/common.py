"""Helpers shared by the benchmark scripts: timing (interleaved, best of N), the CLI's wall time
and peak memory in a fresh process, the measured arithmetic peak of this machine, and writing
one section of ``docs/benchmarks.md``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from greeksmargin.kernels._elementary import fma

ROOT = Path(__file__).resolve().parents[1]


def cli_with_peak_memory(*args: str) -> tuple[float, float]:
    """Run ``greeksmargin ARGS`` in a fresh process: ``(wall seconds, peak resident MB)``.

    The process reports its own ``VmHWM`` (Linux) last; ``getrusage``'s ``ru_maxrss`` of a
    child would keep the pages of the parent it was forked from.
    """
    import subprocess
    import sys

    code = ("import re, sys; from greeksmargin.front.cli import main; s = main(sys.argv[1:]);"
            " print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1));"
            " sys.exit(s)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=True)
    seconds = time.perf_counter() - started
    return seconds, int(done.stdout.split()[-1]) * 1024 / 1e6


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(implementations: dict[str, Callable[[], object]], rounds: int = 5
                ) -> dict[str, float]:
    """Best time of each implementation over ``rounds`` round-robin passes (A B C A B C ...),
    so a drift of the machine (clock, a neighbour's load) hits every implementation alike."""
    best = {name: math.inf for name in implementations}
    for _ in range(rounds):
        for name, fn in implementations.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


@numba.njit(parallel=True, error_model="numpy")
def _fma_blocks(x: np.ndarray, n: int) -> None:
    # one block of 128 independent FMA chains (16 vectors of 8 lanes) per thread, n steps each
    for c in numba.prange(x.shape[0]):
        block = x[c]
        for _ in range(n):
            for j in range(128):
                block[j] = fma(block[j], 0.9999999, 1e-9)


def fma_peak_gflops(threads: int, steps: int = 500_000) -> float:
    """Measured FMA peak, GFLOP/s: 8 blocks per thread of 128 independent FMA chains each (Numba,
    vectorised; 2 flops per FMA), best of 7. The ceiling of any kernel on this machine: with
    AVX-512 on Zen 4 about one 8-lane FMA per cycle per core."""
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        x = np.ones((8 * threads, 128))
        _fma_blocks(x, 10)
        seconds = best_time(lambda: _fma_blocks(x, steps), 7)
    finally:
        numba.set_num_threads(old)
    return 2.0 * x.size * steps / seconds / 1e9


def replace_section(lines: list[str]) -> None:
    """Write a "## ..." section (``lines[0]`` is its heading) into docs/benchmarks.md, replacing
    the section of the same title and keeping every other one."""
    path = ROOT / "docs" / "benchmarks.md"
    title = lines[0].split(" (")[0]
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, *sections = text.split("\n## ")
    kept = ["## " + x for x in sections if not ("## " + x).startswith(title)]
    path.write_text("\n\n".join([head.rstrip(), *[k.rstrip() for k in kept], "\n".join(lines)])
                    + "\n")


def peak_gflops(n: int = 2000) -> float:
    """Measured double-precision arithmetic throughput of this machine, GFLOP/s: the rate of
    NumPy's BLAS matrix product (``2 n^3`` flops; OpenBLAS's DGEMM runs close to the FMA peak,
    on every core BLAS uses). The arithmetic limit the kernels are compared with."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)), rng.random((n, n))
    a @ b
    return 2.0 * n**3 / best_time(lambda: a @ b, 5) / 1e9
