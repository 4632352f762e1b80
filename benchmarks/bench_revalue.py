"""Grid revaluation benchmark: greeksmargin.revalue against a straightforward Numba loop and
NumPy + scipy.special.ndtr, in one run, on the case issue 7 measures (100,000 European options x
105 scenarios: 21 spot x 5 vol shocks), P&L per scenario summed over the book.

Each peer's P&L is checked against greeksmargin's before timing. Appends a "Revaluation" section
to ``docs/benchmarks.md`` (replacing an earlier one). Run: ``python benchmarks/bench_revalue.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from bench_pricing import best_time, replace_section  # same folder: the scripts run as benchmarks/<name>.py
from scipy.special import ndtr

from greeksmargin import Book, MarketData, ScenarioGrid, ShiftType, revalue

N_POSITIONS = 100_000


def make_book(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    valuation = np.datetime64("2025-01-02T15:00:00", "s")
    days = rng.integers(2, 730, n)
    expiry = valuation + (days * 86400).astype("timedelta64[s]")
    vol = rng.uniform(0.1, 0.6, n)
    strike = 100.0 * np.exp(rng.normal(size=n) * vol * np.sqrt(days / 365))
    kind = rng.integers(1, 3, n).astype(np.int8)
    quantity = rng.integers(-10, 11, n).astype(float)
    ids = [f"p{i}" for i in range(n)]
    book = Book(ids, ["U"] * n, kind, strike, expiry, quantity, np.full(n, 100.0))
    market = MarketData(valuation, ["U"], [100.0], [0.04], [0.03],
                        position_vol=dict(zip(ids, vol.tolist(), strict=True)))
    return book, market


@numba.njit(parallel=True)
def straightforward_numba(spot, strike, t, vol, rate, carry, sign, notional, spot_shift,
                          vol_shift):
    # the textbook loop: prange over positions, each thread its own row of partial sums
    n, m = strike.size, spot_shift.size
    partial = np.zeros((numba.get_num_threads(), m))
    for i in numba.prange(n):
        row = partial[numba.get_thread_id()]
        for j in range(m):
            s = spot * (1 + spot_shift[j])
            v = vol[i] * (1 + vol_shift[j])
            sd = v * math.sqrt(t[i])
            d1 = (math.log(s / strike[i]) + (carry + 0.5 * v * v) * t[i]) / sd
            n1 = 0.5 * math.erfc(-sign[i] * d1 / math.sqrt(2.0))
            n2 = 0.5 * math.erfc(-sign[i] * (d1 - sd) / math.sqrt(2.0))
            row[j] += notional[i] * sign[i] * (s * math.exp((carry - rate) * t[i]) * n1
                                               - strike[i] * math.exp(-rate * t[i]) * n2)
    return partial.sum(axis=0)


def numpy_pnl(spot, strike, t, vol, rate, carry, sign, notional, spot_shift, vol_shift,
              chunk=20_000):
    total = np.zeros(spot_shift.size)
    for start in range(0, strike.size, chunk):
        sl = slice(start, start + chunk)
        s = spot * (1 + spot_shift)[None, :]
        v = vol[sl, None] * (1 + vol_shift)[None, :]
        tt = t[sl, None]
        sd = v * np.sqrt(tt)
        d1 = (np.log(s / strike[sl, None]) + (carry + 0.5 * v * v) * tt) / sd
        sg = sign[sl, None]
        value = sg * (s * np.exp((carry - rate) * tt) * ndtr(sg * d1)
                      - strike[sl, None] * np.exp(-rate * tt) * ndtr(sg * (d1 - sd)))
        total += (notional[sl, None] * value).sum(axis=0)
    return total


def main() -> None:
    book, market = make_book(N_POSITIONS)
    grid = ScenarioGrid.product(np.linspace(-0.15, 0.15, 21), [-0.3, -0.15, 0.0, 0.15, 0.3],
                                vol_shift_type=ShiftType.RELATIVE)
    resolved = book.resolve(market)
    t = resolved.expiry_years
    sign = np.where(resolved.kind == 1, 1.0, -1.0)
    args = (100.0, resolved.strike, t, resolved.vol, 0.04, 0.03, sign, resolved.notional,
            grid.spot_shift, grid.vol_shift)
    ours = revalue(resolved, grid)
    value_now = ours.base_value.sum()
    plain = straightforward_numba(*args) - value_now
    assert np.allclose(plain, ours.values[0], rtol=1e-9, atol=1e-6 * abs(value_now))
    assert np.allclose(numpy_pnl(*args) - value_now, ours.values[0], rtol=1e-9,
                       atol=1e-6 * abs(value_now))
    cells = N_POSITIONS * grid.n_scenarios
    rows = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        rows.append((f"greeksmargin.revalue ({threads} thr)", best_time(lambda: revalue(resolved, grid), 3)))
        rows.append((f"straightforward Numba loop ({threads} thr)",
                     best_time(lambda: straightforward_numba(*args), 3)))
    rows.append(("NumPy + scipy.special.ndtr, chunked", best_time(lambda: numpy_pnl(*args), 2)))
    lines = ["## Revaluation (`python benchmarks/bench_revalue.py`)", "",
             f"{N_POSITIONS:,} European options x {grid.n_scenarios} scenarios (21 spot x 5 relative"
             " vol shocks), P&L per scenario summed over the book; peers checked against"
             " greeksmargin (1e-9) before timing; best of 3.", "",
             "| implementation | seconds | M position-scenarios/s |", "|---|---:|---:|"]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds:.3f} | {cells / seconds / 1e6:.1f} |")
        print(f"{name:45s} {seconds:8.3f} s {cells / seconds / 1e6:8.1f} M/s")
    replace_section(lines)


if __name__ == "__main__":
    main()
