"""American pricing against QuantLib (Leisen-Reimer tree, Barone-Adesi-Whaley, finite
differences), no-early-exercise identities, Greeks against QuantLib's FD engine and bumped
QuantLib prices, and implied vols from American prices."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from greeksmargin import IVStatus, OptionKind
from greeksmargin.pricing import american, black_scholes_merton
from tests.conftest import assert_close

TREE_RTOL = 1e-9  # same tree construction as QuantLib: agreement to rounding
FD_RTOL = 2e-3  # LR tree (801 steps) against QuantLib's fine-grid FD engine
BAW_PUT_RTOL = 1e-6  # QuantLib stops its critical-price Newton at a looser tolerance
BAW_CALL_RTOL = 2e-3  # QuantLib's BAW call stops its critical-price iteration earlier


def _ql_american(s, k, t_days, vol, r, q, kind, engine):
    today = ql.Date(15, 6, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(s)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if kind == OptionKind.CALL else ql.Option.Put, k),
        ql.AmericanExercise(today, today + t_days))
    option.setPricingEngine(engine(process))
    return option


def _cases(n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (100.0, float(100 * np.exp(rng.normal() * 0.25)), int(rng.integers(10, 1500)),
               float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.0, 0.1)),
               float(rng.uniform(0.0, 0.08)), OptionKind(int(rng.integers(1, 3))))


# QuantLib's LR engine at 101 steps departs from its own 2001-step and FD values on long-dated
# deep puts (13.885 vs 14.038); at 2001 steps it agrees with ours to 1e-10.
@pytest.mark.parametrize("steps", [2001])
def test_tree_matches_quantlib_leisen_reimer(steps):
    for s, k, days, vol, r, q, kind in _cases(60, steps):
        option = _ql_american(s, k, days, vol, r, q, kind,
                              lambda p: ql.BinomialVanillaEngine(p, "lr", steps))
        ours = american.price(s, k, expiry_years=days / 365, vol=vol, rate=r, dividend_yield=q,
                              kind=kind, n_steps=steps)
        assert_close(ours, option.NPV(), TREE_RTOL, atol=1e-10,
                     context=f"S={s} K={k} days={days} vol={vol} r={r} q={q} {kind.name}")


def test_tree_and_greeks_match_quantlib_finite_differences():
    for s, k, days, vol, r, q, kind in _cases(25, 7):
        option = _ql_american(s, k, days, vol, r, q, kind,
                              lambda p: ql.FdBlackScholesVanillaEngine(p, 800, 800))
        g = american.greeks(s, k, expiry_years=days / 365, vol=vol, rate=r, dividend_yield=q,
                            kind=kind, n_steps=801)
        ctx = f"S={s} K={k} days={days} vol={vol} r={r} q={q} {kind.name}"
        assert_close(g.price, option.NPV(), FD_RTOL, atol=2e-3, context=ctx)
        assert_close(g.delta, option.delta(), FD_RTOL, atol=2e-3, context=ctx)
        assert_close(g.gamma, option.gamma(), 2e-2, atol=2e-4, context=ctx)
        assert_close(g.theta, option.theta(), 2e-2, atol=2e-2, context=ctx)


def test_vega_and_rho_match_bumped_quantlib_prices():
    s, k, days, vol, r, q = 100.0, 105.0, 365, 0.3, 0.06, 0.01
    g = american.greeks(s, k, expiry_years=days / 365, vol=vol, rate=r, dividend_yield=q,
                        kind=OptionKind.PUT, n_steps=1001)

    def npv(vol=vol, r=r, q=q):
        return _ql_american(s, k, days, vol, r, q, OptionKind.PUT,
                            lambda p: ql.FdBlackScholesVanillaEngine(p, 1000, 1000)).NPV()

    assert_close(g.vega, (npv(vol=vol + 1e-3) - npv(vol=vol - 1e-3)) / 2e-3, 5e-3)
    assert_close(g.rho, (npv(r=r + 1e-4) - npv(r=r - 1e-4)) / 2e-4, 5e-3)
    assert_close(g.yield_rho, (npv(q=q + 1e-4) - npv(q=q - 1e-4)) / 2e-4, 5e-3)


def test_baw_matches_quantlib():
    for s, k, days, vol, r, q, kind in _cases(60, 9):
        option = _ql_american(s, k, days, vol, r, q, kind,
                              ql.BaroneAdesiWhaleyApproximationEngine)
        ours = american.price(s, k, expiry_years=days / 365, vol=vol, rate=r, dividend_yield=q,
                              kind=kind, method="baw")
        rtol = BAW_PUT_RTOL if kind == OptionKind.PUT else BAW_CALL_RTOL
        assert_close(ours, option.NPV(), rtol, atol=1e-8, context=f"{kind.name} K={k} q={q}")


def test_no_early_exercise_cases_equal_european():
    kw = dict(expiry_years=1.0, vol=0.25)
    euro = black_scholes_merton.price(100.0, [90.0, 100.0, 110.0], rate=0.05, dividend_yield=0.0,
                                      kind=OptionKind.CALL, **kw)
    for method in ("baw", "alo"):
        got = american.price(100.0, [90.0, 100.0, 110.0], rate=0.05, dividend_yield=0.0,
                             kind=OptionKind.CALL, method=method, **kw)
        assert_close(got, euro, 1e-14)
    tree = american.price(100.0, [90.0, 100.0, 110.0], rate=0.05, dividend_yield=0.0,
                          kind=OptionKind.CALL, n_steps=2001, **kw)
    assert_close(tree, euro, 2e-5)
    # a put with a negative rate is never exercised early either
    for method in ("baw", "alo"):
        put = american.price(100.0, 100.0, rate=-0.01, dividend_yield=0.0, kind=OptionKind.PUT,
                             method=method, **kw)
        assert_close(put, black_scholes_merton.price(100.0, 100.0, rate=-0.01, dividend_yield=0.0,
                                                     kind=OptionKind.PUT, **kw), 1e-14)


def test_american_at_least_european_and_intrinsic():
    strikes = np.linspace(60, 140, 9)
    am = american.price(100.0, strikes, expiry_years=0.75, vol=0.3, rate=0.08,
                        dividend_yield=0.02, kind=OptionKind.PUT)
    eu = black_scholes_merton.price(100.0, strikes, expiry_years=0.75, vol=0.3, rate=0.08,
                                    dividend_yield=0.02, kind=OptionKind.PUT)
    assert np.all(am >= eu - 1e-12)
    assert np.all(am >= np.maximum(strikes - 100.0, 0) - 1e-12)


def test_expiry_and_zero_vol():
    g = american.greeks([90.0, 110.0], 100.0, expiry_years=0.0, vol=0.2, rate=0.05,
                        kind=OptionKind.PUT)
    assert g.price.tolist() == [10.0, 0.0]
    assert_close(g.delta, [-1.0, 0.0], 1e-9, atol=1e-9)
    # zero vol, deep put with positive rate: exercise now
    assert float(american.price(50.0, 100.0, expiry_years=1.0, vol=0.0, rate=0.05,
                                kind=OptionKind.PUT)) == 50.0


def test_implied_vol_from_american_prices():
    strikes = np.array([80.0, 100.0, 120.0])
    for method in ("tree", "alo", "baw"):
        p = american.price(100.0, strikes, expiry_years=0.5, vol=0.35, rate=0.05,
                           dividend_yield=0.01, kind=OptionKind.PUT, method=method, n_steps=301)
        iv = american.implied_vol(p, 100.0, strikes, expiry_years=0.5, rate=0.05,
                                  dividend_yield=0.01, kind=OptionKind.PUT, method=method,
                                  n_steps=301)
        assert_close(iv.vol, [0.35] * 3, 1e-10, context=method)
    bad = american.implied_vol([1.0, 150.0, 20.0], 100.0, [120.0, 100.0, 100.0],
                               expiry_years=0.5, rate=0.05, kind=OptionKind.PUT, on_error="nan")
    assert bad.status.tolist() == [IVStatus.BELOW_INTRINSIC, IVStatus.ABOVE_MAXIMUM, IVStatus.OK]
    assert np.isnan(bad.vol[0]) and np.isnan(bad.vol[1])
    at_expiry = american.implied_vol(5.0, 95.0, 100.0, expiry_years=0.0, rate=0.05,
                                     kind=OptionKind.PUT, on_error="nan")
    assert at_expiry.status == IVStatus.UNDETERMINED


ALO_RTOL = 1e-3  # the fixed point's stated error: 0.1% of the option value (measured <= 0.08%)


def _ql_days(days):
    return max(1, int(round(days)))


def test_fixed_point_matches_quantlib_qdfp_over_the_term_grid():
    # rates incl. 0, yields 0-10%, vols 5-100%, one day to five years, calls and puts, ITM/ATM/OTM:
    # the revaluation's American pricer within 0.1% of QuantLib's high-precision QdFp engine
    import itertools

    worst = 0.0
    for r, q, vol, days, kind, m in itertools.product(
            [0.0, 0.02, 0.1], [0.0, 0.03, 0.1], [0.05, 0.3, 1.0], [1, 182, 1825],
            [OptionKind.CALL, OptionKind.PUT], [0.8, 1.0, 1.2]):
        s = 100.0 * m
        ref = _ql_american(s, 100.0, days, vol, r, q, kind,
                           lambda p: ql.QdFpAmericanEngine(
                               p, ql.QdFpAmericanEngine.highPrecisionScheme())).NPV()
        got = float(american.price(s, 100.0, expiry_years=days / 365, vol=vol, rate=r,
                                   dividend_yield=q, kind=kind, method="alo"))
        assert np.isfinite(got)
        ctx = f"S={s} days={days} vol={vol} r={r} q={q} {kind.name}"
        assert_close(got, ref, ALO_RTOL, atol=1e-6, context=ctx)
        worst = max(worst, abs(got - ref) / max(ref, 1e-6))
    assert worst > 0.0  # the comparison ran on non-trivial values


def test_fixed_point_matches_quantlib_finite_differences():
    # an independent method: QuantLib's Crank-Nicolson FD engine on a fine grid (its own error
    # is ~1e-4 of the value here)
    for s, k, days, vol, r, q, kind in _cases(20, 11):
        ref = _ql_american(s, k, days, vol, r, q, kind,
                           lambda p: ql.FdBlackScholesVanillaEngine(p, 1000, 1000)).NPV()
        got = american.price(s, k, expiry_years=days / 365, vol=vol, rate=r, dividend_yield=q,
                             kind=kind, method="alo")
        assert_close(got, ref, 2e-3, atol=1e-4,
                     context=f"S={s} K={k} days={days} vol={vol} r={r} q={q} {kind.name}")


def test_baw_is_finite_at_zero_rate():
    # BAW's exponent 2r / (vol^2 (1 - e^{-rT})) is 0/0 at r = 0; its limit 2 / (vol^2 T) is used
    baw = float(american.price(100, 100, expiry_years=0.5, vol=0.25, rate=0.0,
                               dividend_yield=0.02, kind=OptionKind.CALL, method="baw"))
    tree = float(american.price(100, 100, expiry_years=0.5, vol=0.25, rate=0.0,
                                dividend_yield=0.02, kind=OptionKind.CALL, n_steps=2001))
    alo = float(american.price(100, 100, expiry_years=0.5, vol=0.25, rate=0.0,
                               dividend_yield=0.02, kind=OptionKind.CALL, method="alo"))
    assert abs(baw - tree) < 0.02 * tree and abs(alo - tree) < 1e-3 * tree


def test_double_boundary_regime_prices_by_the_tree():
    # a put with q < r < 0 can have two exercise boundaries: the fixed point does not apply and
    # the tree prices it (the same tree as method="tree" at 801 steps)
    kw = dict(expiry_years=1.0, vol=0.1, rate=-0.01, dividend_yield=-0.03, kind=OptionKind.PUT)
    got = float(american.price(100.0, 100.0, method="alo", **kw))
    assert got == float(american.price(100.0, 100.0, n_steps=801, **kw))
    assert got > float(black_scholes_merton.price(100.0, 100.0, **{k: v for k, v in kw.items()}))


def test_long_dated_american_put_margin_within_half_a_percent_of_quantlib_fd():
    # the OCC margin of one long 3-year American put: the scenario revaluation against the same
    # scenarios priced by QuantLib's FD engine (BAW was 1-3% off here)
    from greeksmargin import Book, MarketData, compute_margin, methodology

    valuation = np.datetime64("2025-06-15")
    days = 3 * 365
    expiry = valuation + np.timedelta64(days, "D")
    for strike in (100.0, 120.0):
        book = Book(["p"], ["XYZ"], [OptionKind.PUT], [strike], [expiry], [1.0], [100.0],
                    exercise=[1])
        market = MarketData(str(valuation), ["XYZ"], [100.0], 0.05, 0.05, [0.3],
                            product_class={"XYZ": "equity"})
        result = compute_margin(book, market, methodology.occ_tims())
        grid = result.pnl.grids[0]
        now = _ql_american(100.0, strike, days, 0.3, 0.05, 0.0, OptionKind.PUT,
                           lambda p: ql.FdBlackScholesVanillaEngine(p, 1000, 1000)).NPV()
        losses = []
        for j in range(grid.n_scenarios):
            s1 = 100.0 * (1 + grid.spot_shift[j])
            later = _ql_american(s1, strike, days, 0.3, 0.05, 0.0, OptionKind.PUT,
                                 lambda p: ql.FdBlackScholesVanillaEngine(p, 1000, 1000)).NPV()
            losses.append(100.0 * (now - later))
        assert_close(float(result.total), max(losses), 5e-3)
