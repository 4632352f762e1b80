"""Scale: revaluation time and peak memory from 10^3 to 10^7 positions and 16 to 1,000 scenarios.

Each book (European calls and puts on ten underlyings, random strikes and expiries) is resolved
once; ``revalue`` then runs under grids of 16, 105 and 1,000 scenarios. Time is the best of 3
(one run at 10^7 positions); memory is the peak of NumPy allocations during the call
(``tracemalloc``; the kernels' own scratch is a few arrays of 256 per thread). The cost should
grow linearly in positions x scenarios and the memory only with positions + items x scenarios,
never with their product. Writes the "Scale" section of ``docs/benchmarks.md``.
Run: ``python benchmarks/bench_scale.py [--max-positions N]``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from common import replace_section  # same folder: run as benchmarks/<name>.py

from greeksmargin import Book, MarketData, ScenarioGrid, ShiftType
from greeksmargin.measures.revalue import revalue

UNDERLYINGS = [f"U{k}" for k in range(10)]


def make_book(n: int, seed: int = 0) -> tuple[Book, MarketData]:
    rng = np.random.default_rng(seed)
    valuation = np.datetime64("2025-01-02T15:00:00", "s")
    days = rng.integers(2, 730, n)
    expiry = valuation + (days * 86400).astype("timedelta64[s]")
    underlying = rng.integers(0, len(UNDERLYINGS), n)
    vol = 0.1 + 0.05 * underlying
    strike = 100.0 * np.exp(rng.normal(size=n) * vol * np.sqrt(days / 365))
    book = Book(np.char.add("p", np.arange(n).astype(str)), np.array(UNDERLYINGS)[underlying],
                rng.integers(1, 3, n).astype(np.int8), strike, expiry,
                rng.integers(-10, 11, n).astype(float), np.full(n, 100.0))
    market = MarketData(valuation, UNDERLYINGS, [100.0] * 10, 0.04, 0.03,
                        (0.1 + 0.05 * np.arange(10)).tolist())
    return book, market


def grid_of(n_scenarios: int) -> ScenarioGrid:
    n_vol = {16: 2, 105: 5, 1000: 10}[n_scenarios]
    return ScenarioGrid.product(np.linspace(-0.2, 0.2, n_scenarios // n_vol),
                                np.linspace(-0.3, 0.3, n_vol), vol_shift_type=ShiftType.RELATIVE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-positions", type=int, default=10_000_000)
    args = parser.parse_args()
    sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000, 10_000_000) if n <= args.max_positions]
    lines = ["## Scale (`python benchmarks/bench_scale.py`)", "",
             "`revalue` of one resolved book (10 underlyings, one group each) under grids of 16,"
             " 105 and 1,000 scenarios, 2 threads. ns/cell = time / (positions x scenarios): flat"
             " means linear cost. Peak memory = NumPy allocations during the call (tracemalloc);"
             " the book's own arrays are about 100 bytes per position.", "",
             "| positions | scenarios | seconds | M cells/s | ns/cell | peak memory MB |"
             " MB per 1k positions |", "|---:|---:|---:|---:|---:|---:|---:|"]
    revalue(*(lambda b, m: (b.resolve(m),))(*make_book(1000)), grid_of(16))  # warm
    for n in sizes:
        started = time.perf_counter()
        book, market = make_book(n)
        resolved = book.resolve(market)
        build = time.perf_counter() - started
        for m in (16, 105, 1000):
            grid = grid_of(m)
            repeat = 1 if n * m >= 1e9 else 3
            best = np.inf
            for _ in range(repeat):
                tracemalloc.start()
                start = time.perf_counter()
                revalue(resolved, grid)
                best = min(best, time.perf_counter() - start)
                peak = tracemalloc.get_traced_memory()[1] / 1e6
                tracemalloc.stop()
            cells = n * m
            lines.append(f"| {n:,} | {m:,} | {best:.4f} | {cells / best / 1e6:.1f} |"
                         f" {best / cells * 1e9:.2f} | {peak:.1f} | {peak / n * 1e3:.2f} |")
            print(lines[-1], flush=True)
        print(f"  (book of {n:,} built and resolved in {build:.1f} s)", flush=True)
    replace_section(lines)


if __name__ == "__main__":
    main()
