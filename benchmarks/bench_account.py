"""Pre-trade what-if on a cached account: the compiled check against full recomputation.

One account of 20 positions (calls, puts, stock on two underlyings) under the OCC TIMS preset;
a two-leg order. Times ``AccountState.check`` (the order-path call), ``AccountState.whatif``
(result object, per-leg off) and a full ``Account.evaluate`` of the combined book, after checking
that all three agree to 1e-10. Appends a "Pre-trade what-if" section to ``docs/benchmarks.md``.
Run: ``python benchmarks/bench_account.py``.
"""

from __future__ import annotations

import time

import numpy as np
from common import replace_section  # same folder: run as benchmarks/<name>.py

from greeksmargin import Book, MarketData, methodology
from greeksmargin.account import Account, Collateral


def per_call(fn, n):
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    rng = np.random.default_rng(0)
    market = MarketData("2025-06-02T15:00:00", ["XYZ", "ABC"], [100.0, 50.0], 0.04, 0.03,
                        [0.3, 0.4])
    expiry = np.datetime64("2025-07-18T20:00:00", "s")
    n = 20
    und = rng.choice(["XYZ", "ABC"], n)
    kind = rng.integers(0, 3, n).astype(np.int8)
    spot = np.where(und == "XYZ", 100.0, 50.0)
    strike = np.where(kind == 0, np.nan, spot * rng.uniform(0.85, 1.15, n))
    book = Book([f"p{i}" for i in range(n)], und, kind, strike,
                np.where(kind == 0, np.datetime64("NaT"), expiry), rng.integers(-10, 11, n) + 0.5,
                np.where(kind == 0, 1.0, 100.0))
    account = Account("bench", book, Collateral.of({"USD": 1e6}, {"USD": 1.0}),
                      methodology.occ_tims())
    legs = Book(["o1", "o2"], ["XYZ", "XYZ"], [2, 2], [95.0, 90.0], [expiry, expiry],
                [-5.0, 5.0], [100.0, 100.0])
    state = account.evaluate(market)
    order = state.prepare_order(legs)
    full = Account("bench", book.concat(legs), account.collateral, account.method)
    expected = full.evaluate(market).initial
    assert abs(state.check(order)[1] - expected) <= 1e-10 * expected
    assert abs(state.whatif(order).initial - expected) <= 1e-10 * expected
    rows = [
        ("AccountState.check (compiled, order path)", per_call(lambda: state.check(order), 20000)),
        ("AccountState.whatif (result object)", per_call(lambda: state.whatif(order), 2000)),
        ("AccountState.prepare_order (once per order)",
         per_call(lambda: state.prepare_order(legs), 200)),
        ("Account.evaluate of the combined book (recompute)",
         per_call(lambda: full.evaluate(market), 200)),
    ]
    lines = ["## Pre-trade what-if (`python benchmarks/bench_account.py`)", "",
             f"One account of {n} positions, OCC TIMS preset, a two-leg order; all paths agree"
             " to 1e-10 before timing.", "", "| call | microseconds |", "|---|---:|"]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds * 1e6:.1f} |")
        print(f"{name:52s} {seconds * 1e6:10.1f} us")
    replace_section(lines)


if __name__ == "__main__":
    main()
