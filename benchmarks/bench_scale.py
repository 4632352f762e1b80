"""Scale: revaluation time and peak memory from 10^3 to 10^7 positions and 16 to 1,000 scenarios.

Each book (European calls and puts on ten underlyings, random strikes and expiries) is resolved
once; ``revalue`` then runs under grids of 16, 105 and 1,000 scenarios. Time is the best of 3
(one run at 10^7 positions); memory is the peak of NumPy allocations during the call
(``tracemalloc``; the kernels' own scratch is a few arrays of 256 per thread). The cost should
grow linearly in positions x scenarios and the memory only with positions + items x scenarios,
never with their product. Then each book is written as Parquet and margined end to end by
the CLI in a fresh process (time and peak resident memory). Writes the "Scale" section of ``docs/benchmarks.md``.
Run: ``python benchmarks/bench_scale.py [--max-positions N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from common import cli_with_peak_memory, replace_section  # same folder: run as benchmarks/<name>.py

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


def end_to_end(folder, sizes: list[int]) -> list[str]:
    """``greeksmargin margin BOOK.parquet --market M --grid G`` in a fresh process per size and
    grid: wall time with interpreter start-up and the process's peak resident memory (VmHWM)."""

    import pandas as pd

    market_path = folder / "market.csv"
    pd.DataFrame({"underlying": UNDERLYINGS, "spot": 100.0, "rate": 0.04, "dividend_yield": 0.01,
                  "vol": 0.1 + 0.05 * np.arange(10), "valuation": "2025-01-02T15:00:00"}
                 ).to_csv(market_path, index=False)
    grids = {}
    for m in (16, 105, 1000):
        g = grid_of(m)
        grids[m] = folder / f"grid{m}.csv"
        pd.DataFrame({"spot_shift": g.spot_shift, "vol_shift": g.vol_shift,
                      "vol_shift_type": "relative", "time_shift_days": 0.0, "weight": 1.0,
                      "label": list(g.labels)}).to_csv(grids[m], index=False)
    lines = ["", "### End to end from a file", "",
             "The same books written as Parquet (explicit columns, kind `call`/`put`), margined"
             " by `greeksmargin margin BOOK.parquet --market M --grid G --format csv` in a fresh"
             " process (warm kernel cache): wall time including interpreter start-up, reading,"
             " parsing, resolving, revaluing and the table; peak resident memory of the process"
             " (`VmHWM`).", "",
             "| positions | scenarios | seconds | peak memory MB | MB per 1k positions |",
             "|---:|---:|---:|---:|---:|"]
    for n in sizes:
        book, _ = make_book(n)
        path = folder / f"book{n}.parquet"
        frame = book.to_frame()
        frame["kind"] = np.where(book.kind == 1, "call", "put")
        frame[["position_id", "underlying", "kind", "strike", "expiry", "quantity",
               "multiplier"]].to_parquet(path, index=False)
        del book, frame
        for m in (16, 105, 1000):
            seconds, peak = cli_with_peak_memory("margin", str(path), "--market", str(market_path),
                                                 "--grid", str(grids[m]), "--format", "csv", "-q")
            lines.append(f"| {n:,} | {m:,} | {seconds:.2f} | {peak:,.0f} | {peak / n * 1e3:.2f} |")
            print(lines[-1], flush=True)
        path.unlink()
    return lines


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
    with tempfile.TemporaryDirectory() as folder:
        lines += end_to_end(Path(folder), sizes)
    replace_section(lines)


if __name__ == "__main__":
    main()
