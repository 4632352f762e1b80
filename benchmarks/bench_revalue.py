"""Grid revaluation benchmark: greeksmargin.measures.revalue against a straightforward Numba loop and
NumPy + scipy.special.ndtr, in one run, on the case issue 7 measures (100,000 European options x
105 scenarios: 21 spot x 5 vol shocks), P&L per scenario summed over the book.

Each peer's P&L is checked against greeksmargin's, and greeksmargin's per-position prices
against the scalar reference pricer (``price1``, 1e-12 relative or 1e-12 x spot), before timing.
Implementations are timed interleaved (round-robin, best of 5). The arithmetic limit is the
measured FMA peak of this machine (independent FMA chains on 2 threads) divided by 140 flops per
revaluation (the issue's count once loop-invariant work is hoisted); the BLAS rate is reported
beside it. Writes the "Revaluation" section of ``docs/benchmarks.md``.
Run: ``python benchmarks/bench_revalue.py``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from common import (  # same folder: run as benchmarks/<name>.py
    fma_peak_gflops,
    interleaved,
    peak_gflops,
    replace_section,
)
from scipy.special import ndtr

from greeksmargin import Book, MarketData, ScenarioGrid, ShiftType
from greeksmargin.measures.revalue import revalue

N_POSITIONS = 100_000
FLOPS_PER_REVALUATION = 140


def check_prices_against_reference(resolved, grid) -> float:
    """The position x scenario values of revalue for a sample of 2,000 positions, every
    scenario, against ``price1`` called on the same inputs (the reference implementation),
    1e-12 relative or 1e-12 x spot absolute; returns the worst error as a share of that bound."""
    from greeksmargin.kernels._bsm import price1

    pnl = revalue(resolved, grid, keep_positions=True)
    # P&L = notional x (V1 - V0); recover V1 per position and scenario
    rows = np.empty_like(resolved.order)
    rows[resolved.order] = np.arange(resolved.order.size)
    notional = resolved.notional[rows]
    strike, expiry, vol, kind = (a[rows] for a in (resolved.strike, resolved.expiry_years,
                                                   resolved.vol, resolved.kind))
    value_now = np.array([price1(100.0, k, t, v, 0.04, 0.03, kd) for k, t, v, kd in
                          zip(strike, expiry, vol, kind, strict=True)])
    sample = np.random.default_rng(1).choice(resolved.order.size, 2000, replace=False)
    worst = 0.0
    for i in sample:
        if notional[i] == 0:
            continue
        for j in range(grid.n_scenarios):
            got = pnl.position_values[i, j] / notional[i] + value_now[i]
            s1 = 100.0 * (1 + grid.spot_shift[j])
            ref = price1(s1, strike[i], expiry[i], vol[i] * (1 + grid.vol_shift[j]), 0.04, 0.03,
                         kind[i])
            bound = max(1e-12 * abs(ref), 1e-12 * s1)
            worst = max(worst, abs(got - ref) / bound)
    assert worst <= 1.0, worst
    return worst


def make_book(n: int, seed: int = 0, short: bool = False):
    """The benchmark book: expiries 2 days to 2 years, strikes within about one standard
    deviation; ``short``: expiries an hour to a week (a weekly-options desk)."""
    rng = np.random.default_rng(seed)
    valuation = np.datetime64("2025-01-02T15:00:00", "s")
    seconds = rng.integers(3600, 7 * 86400, n) if short else rng.integers(2, 730, n) * 86400
    expiry = valuation + seconds.astype("timedelta64[s]")
    vol = rng.uniform(0.1, 0.6, n)
    strike = 100.0 * np.exp(rng.normal(size=n) * vol * np.sqrt(seconds / 86400 / 365))
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


@numba.njit(parallel=True)
def hoisted_numba(spot, strike, t, vol, rate, carry, sign, notional, spot_shift, vol_shift):
    # the strongest straightforward loop: the same formula, with every per-position quantity
    # (sqrt t, log K, both discount factors, the weight) and every per-scenario one (S, log S)
    # computed once outside the inner loop
    n, m = strike.size, spot_shift.size
    s = spot * (1.0 + spot_shift)
    log_s = np.log(s)
    root_half = math.sqrt(0.5)
    partial = np.zeros((numba.get_num_threads(), m))
    for i in numba.prange(n):
        row = partial[numba.get_thread_id()]
        sqrt_t = math.sqrt(t[i])
        log_k = math.log(strike[i])
        growth = math.exp((carry - rate) * t[i])
        strike_df = strike[i] * math.exp(-rate * t[i])
        carry_t = carry * t[i]
        w = notional[i] * sign[i]
        sg = sign[i] * root_half
        for j in range(m):
            sd = vol[i] * (1.0 + vol_shift[j]) * sqrt_t
            d1 = (log_s[j] - log_k + carry_t) / sd + 0.5 * sd
            row[j] += w * (s[j] * growth * 0.5 * math.erfc(-sg * d1)
                           - strike_df * 0.5 * math.erfc(-sg * (d1 - sd)))
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


def off_plain_share(resolved, grid, n_sample: int = 2000) -> float:
    """Share of the (position, scenario) cells of a sample of positions that the plain formula
    cannot price and the vectorised quadrature form does (the kernels' own predicate)."""
    from greeksmargin.kernels._bsm import quadrature_applies

    rows = np.random.default_rng(2).choice(resolved.strike.size, n_sample, replace=False)
    t = resolved.expiry_years[rows, None]
    s = resolved.vol[rows, None] * (1.0 + grid.vol_shift[None, :]) * np.sqrt(t)
    h = -np.abs(np.log(100.0 * (1.0 + grid.spot_shift[None, :]) / resolved.strike[rows, None])
                + 0.03 * t) / s
    return float(np.mean([quadrature_applies(a, v) for a, v in
                          zip((-h - 0.5 * s).ravel(), s.ravel(), strict=True)]))


def short_book_section(grid) -> list[str]:
    """The same grid on a book expiring within a week (2 threads): many cells are off the
    plain formula and take the gathered, vectorised quadrature form."""
    book, market = make_book(N_POSITIONS, short=True)
    resolved = book.resolve(market)
    args = (100.0, resolved.strike, resolved.expiry_years, resolved.vol, 0.04, 0.03,
            np.where(resolved.kind == 1, 1.0, -1.0), resolved.notional, grid.spot_shift,
            grid.vol_shift)
    ours = revalue(resolved, grid)
    value_now = ours.base_value.sum()
    assert np.allclose(straightforward_numba(*args) - value_now, ours.values[0], rtol=1e-9,
                       atol=1e-6 * abs(value_now))
    worst = check_prices_against_reference(resolved, grid)
    share = off_plain_share(resolved, grid)
    numba.set_num_threads(2)
    times = interleaved({"greeksmargin.measures.revalue (2 thr)": lambda: revalue(resolved, grid),
                         "straightforward Numba loop (2 thr)": lambda: straightforward_numba(*args)})
    cells = N_POSITIONS * grid.n_scenarios
    lines = ["", "### Book expiring within a week", "",
             f"The same grid on {N_POSITIONS:,} options expiring in an hour to a week (checked"
             f" the same way: worst {worst:.1e} of the bound)."
             f" {share:.0%} of the cells (sampled) are off the plain formula; they are gathered"
             " per chunk and priced by the vectorised quadrature form (5 Gauss-Legendre nodes"
             " of the Mills-ratio fit: about 46 cycles per cell, against about 280 for the"
             " scalar careful pricer that priced them before).", "",
             "| implementation | seconds | M position-scenarios/s |", "|---|---:|---:|"]
    for name, seconds in times.items():
        lines.append(f"| {name} | {seconds:.4f} | {cells / seconds / 1e6:.1f} |")
        print(f"short book: {name:40s} {seconds:8.4f} s {cells / seconds / 1e6:8.1f} M/s")
    return lines


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
    assert np.allclose(hoisted_numba(*args) - value_now, ours.values[0], rtol=1e-9,
                       atol=1e-6 * abs(value_now))
    from greeksmargin.measures.revalue import revalue_arrays

    n = resolved.strike.size
    array_args = dict(kind=resolved.kind, spot=np.full(n, 100.0), strike=resolved.strike,
                      expiry_years=resolved.expiry_years, vol=resolved.vol, rate=0.04, carry=0.03,
                      quantity=resolved.quantity, multiplier=resolved.multiplier, grid=grid)
    assert np.allclose(revalue_arrays(**array_args)[0], ours.values[0], rtol=1e-9,
                       atol=1e-6 * abs(value_now))
    worst = check_prices_against_reference(resolved, grid)
    cells = N_POSITIONS * grid.n_scenarios
    flops = fma_peak_gflops(2) * 1e9
    blas = peak_gflops() * 1e9
    limit = flops / FLOPS_PER_REVALUATION
    rows = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        rows.update({f"{name} ({threads} thr)": t for name, t in interleaved({
            "greeksmargin.measures.revalue": lambda: revalue(resolved, grid),
            "greeksmargin revalue_arrays (public API from arrays)":
                lambda: revalue_arrays(**array_args),
            "hoisted straightforward Numba loop": lambda: hoisted_numba(*args),
            "straightforward Numba loop": lambda: straightforward_numba(*args),
        }).items()})
    rows.update(interleaved({"NumPy + scipy.special.ndtr, chunked": lambda: numpy_pnl(*args)}, 2))
    short_lines = short_book_section(grid)
    ours = cells / rows["greeksmargin.measures.revalue (2 thr)"]
    plain = cells / rows["straightforward Numba loop (2 thr)"]
    hoisted = cells / rows["hoisted straightforward Numba loop (2 thr)"]
    api = cells / rows["greeksmargin revalue_arrays (public API from arrays) (2 thr)"]
    numpy_rate = cells / rows["NumPy + scipy.special.ndtr, chunked"]
    lines = ["## Revaluation (`python benchmarks/bench_revalue.py`)", "",
             f"{N_POSITIONS:,} European options x {grid.n_scenarios} scenarios (21 spot x 5 relative"
             " vol shocks), P&L per scenario summed over the book. Before timing: the revalued"
             " prices of 2,000 sampled positions under every scenario against the scalar"
             f" reference pricer (worst {worst:.1e} of the 1e-12 bound), each peer's P&L"
             " against greeksmargin's (1e-9). Interleaved, best of 5.", "",
             "| implementation | seconds | M position-scenarios/s | x hoisted loop (2 thr) |"
             " x straightforward (2 thr) | x NumPy | share of arithmetic limit |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, seconds in rows.items():
        rate = cells / seconds
        lines.append(f"| {name} | {seconds:.4f} | {rate / 1e6:.1f} | {rate / hoisted:.2f} |"
                     f" {rate / plain:.2f} | {rate / numpy_rate:.1f} | {rate / limit:.1%} |")
        print(f"{name:45s} {seconds:8.4f} s {rate / 1e6:8.1f} M/s")
    lines += ["", f"Arithmetic limit: measured FMA peak {flops / 1e9:.0f} GFLOP/s (2 threads,"
              f" independent FMA chains; NumPy's BLAS DGEMM reaches {blas / 1e9:.0f}) /"
              f" {FLOPS_PER_REVALUATION} flops = {limit / 1e6:,.0f} M revaluations/s."
              f" greeksmargin: {ours / 1e6:.0f} M/s = {ours / hoisted:.2f}x the hoisted"
              f" straightforward loop (the baseline: the same formula with per-position and"
              f" per-scenario work out of the inner loop), {api / hoisted:.2f}x through the public"
              f" API from arrays (`revalue_arrays`, which also builds the plan), "
              f"{ours / plain:.1f}x the loop that recomputes them per cell,"
              f" {ours / numpy_rate:.1f}x NumPy. Target of issue 7: 400 M/s. (The issue's 183"
              " GFLOP/s is above this CPU's FMA peak: Zen 4 runs a 512-bit FMA as two 256-bit"
              " halves, one 8-lane FMA per cycle per core, about 56 GFLOP/s a core at 3.5 GHz.)",
              "",
              "What bounds it (one core at about 3.5 GHz, from a dependent chain of FMAs): the"
              " vectorised chunk (`_revalue._price_chunk`, AVX-512) issues 120 multiply or FMA"
              " instructions per 8 revaluations (counted in the compiled loops: 111 in the"
              " pricing loop, whose normal CDF pair is two degree-24 polynomials for the tails at"
              " full double accuracy, one exponential and one division; 9 in the arguments loop),"
              " so at one such instruction per cycle per core no schedule of this arithmetic"
              " exceeds 2 x 3.5 GHz x 8 / 120 = about 470 M revaluations/s, with nothing else"
              " running. The chunk runs at about 23 cycles per revaluation against 15 at that"
              " bound (about 65% of the FMA pipes: each pricing-loop iteration carries a chain of"
              " about 100 cycles of latency, division, mapping, polynomial, and only about 1.5"
              " iterations fit in the out-of-order window); outside it, per revaluation: the"
              " 0.8% of cells the plain formula cannot price accurately (short expiries under"
              " large moves), gathered over up to 16 scenario blocks of a chunk and priced by"
              " the vectorised quadrature form at about 46 cycles a cell (a block's one or two"
              " alone would go to the scalar careful pricer at about 280; gathering them over"
              " blocks took the whole kernel from 32.5 to 28.9 cycles per revaluation, serial,"
              " in-process A/B), the base values (by the vectorised pricing kernel on gathered"
              " market rows: 76 cycles a position against 233 one at a time, 0.7 cycles per"
              " revaluation of this grid)"
              " and the sums. 400 M/s on two cores leaves 18 cycles per revaluation in all."
              " A cheaper CDF at the issue's 1e-12 bound does not close the gap: truncating the"
              " tail fit's Chebyshev series at degree 18 leaves 7e-14 (at 16, 3e-11), so a 1e-13"
              " fit saves 6 of the 24 FMAs per tail; a rational fit of the Mills ratio in the"
              " argument needs type (9, 10) for 1e-16 and its Horner evaluation loses up to"
              " 1e-15 relative (measured), one in the mapped variable type (10, 10) (20 FMAs"
              " and a second division, against 24). Measured and dropped: two half-range"
              " polynomials of degree 16 chosen per lane by blends (13.5 cycles for two against"
              " 9.1 for the degree-24 pair), LLVM interleaving of the loop (no change), AVX2"
              " instead of AVX-512 (20% slower), the pricing loop split in two (reciprocals,"
              " mapping and exponential; then polynomials and value: 26 against 23 cycles),"
              " the polynomial as two Horner chains in t^2 (no change)."]
    lines += short_lines
    replace_section(lines)


if __name__ == "__main__":
    main()
