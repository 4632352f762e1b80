"""Cross-margin: offsets, correlation aggregation, factor grids, estimation, Taylor margin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greeksmargin import (
    Book,
    MarketData,
    PnLMatrix,
    ScenarioGrid,
    ShiftType,
    compute_margin,
    revalue,
)
from greeksmargin.analysis import estimate
from greeksmargin.errors import InputError
from greeksmargin.margin import crossmargin as cm
from greeksmargin.margin.taylor import taylor_margin
from greeksmargin.measures.taylor import taylor_pnl
from tests.conftest import assert_close, random_book

GRID = ScenarioGrid.product(np.linspace(-0.1, 0.1, 9))


def _pnl(values, labels=None, currency="USD"):
    values = np.asarray(values, dtype=float)
    grid = ScenarioGrid.product(np.linspace(-0.1, 0.1, values.shape[1]))
    labels = labels or tuple(f"G{k}" for k in range(values.shape[0]))
    return PnLMatrix(values, labels, np.zeros(len(labels)), (currency,) * len(labels),
                     (grid,) * len(labels))


def _pnl_on(values, grids, labels, currency=("USD",)):
    values = np.asarray(values, dtype=float)
    currency = currency * len(labels) if len(currency) == 1 else currency
    return PnLMatrix(values, tuple(labels), np.zeros(len(labels)), tuple(currency), tuple(grids))


THREE_GROUPS = [[-100, -50, 0, 30, 60],   # G0 loses when the market falls
                [80, 40, 0, -20, -70],    # G1 when it rises
                [-10, 20, -5, 10, 40]]    # G2 a bit of both


def test_tims_gains_credit_on_a_three_class_group_product_group_by_hand():
    pnl = _pnl(THREE_GROUPS)
    product = {"G0": "P", "G1": "P", "G2": "P"}
    # theta = 0.5, point by point: losses + 0.5 x gains
    #   j=0: -110 + 0.5*80 = -70; j=1: -50 + 0.5*60 = -20; j=2: -5; j=3: -20 + 0.5*40 = 0;
    #   j=4: -70 + 0.5*100 = -20  -> requirement 70 at point 0
    half = cm.offset_margin(pnl, product, 0.5)
    assert half.total == 70.0 and half.worst_point[0] == 0
    assert half.standalone[0] == 100 + 70 + 10 and half.netted[0] == 30.0
    # theta = 0: the losses at one point (110 at j=0), not the standalone sum (180)
    assert cm.offset_margin(pnl, product, 0.0).total == 110.0
    # theta = 1: full netting, sums -30, 10, -5, 20, 30 -> 30
    assert cm.offset_margin(pnl, product, 1.0).total == 30.0
    # G2 in its own product group: P = {G0, G1} at 0.5 (-100 + 40 = -60 at j=0 ...) plus G2's 10
    two = cm.offset_margin(pnl, {"G0": "P", "G1": "P"}, {"P": 0.5})
    assert two.product_groups == ("G2", "P")
    assert list(two.requirement) == [10.0, 60.0] and two.total == 70.0
    # no product group: each class group alone
    assert cm.offset_margin(pnl, {}, 1.0).total == 180.0
    # order of groups does not matter
    swapped = _pnl(THREE_GROUPS[::-1], labels=("G2", "G1", "G0"))
    assert cm.offset_margin(swapped, product, 0.5).total == 70.0


def test_tims_gains_credit_aligns_points_by_index_and_applies_weights():
    # G0's range +-10%, G1's +-20%: point j of each is the same event; the outer points of
    # G1's grid carry weight 0.5 (a TIMS-style extreme-move weighting)
    g0 = ScenarioGrid.product(np.linspace(-0.1, 0.1, 5))
    g1 = ScenarioGrid(np.linspace(-0.2, 0.2, 5), np.zeros(5), np.zeros(5, np.int8), np.zeros(5),
                      np.array([0.5, 1, 1, 1, 0.5]), tuple("abcde"))
    pnl = _pnl_on(THREE_GROUPS[:2], (g0, g1), ("G0", "G1"))
    # weighted G1: [40, 40, 0, -20, -35]; theta 0.5: -100+20, -50+20, 0, -20+15, -35+30
    assert cm.offset_margin(pnl, {"G0": "P", "G1": "P"}, 0.5).total == 80.0


def test_offsets_never_exceed_the_standalone_sum_and_grow_as_the_credit_falls():
    rng = np.random.default_rng(3)
    for _ in range(50):
        pnl = _pnl(rng.normal(size=(4, 7)) * 100)
        product = {"G0": "A", "G1": "A", "G2": "B", "G3": "B"}
        alone = cm.offset_margin(pnl, {}, 0.0).total
        previous = np.inf
        for theta in (0.0, 0.3, 1.0):
            result = cm.offset_margin(pnl, product, theta)
            assert result.total <= alone + 1e-9
            assert result.total <= previous + 1e-9
            assert np.all(result.requirement >= 0)
            previous = result.total


def test_offsets_across_currencies_convert_at_spot():
    three = ScenarioGrid.product([-0.1, 0.0, 0.1])
    mixed = PnLMatrix(np.array([[-30000.0, 0, 20000], [0.5, 0, -0.2]]), ("SPX", "BTC"),
                      np.zeros(2), ("USD", "BTC"), (three,) * 2)
    with pytest.raises(InputError, match="different currencies.*pass market="):
        cm.offset_margin(mixed, {"SPX": "P", "BTC": "P"}, 0.5)
    market = MarketData("2025-01-02", ["BTC"], [50000.0], 0.0, 0.0, [0.6])
    got = cm.offset_margin(mixed, {"SPX": "P", "BTC": "P"}, 0.5, market=market)
    # BTC row in USD: [25000, 0, -10000]; j=0: -30000 + 12500; j=2: -10000 + 10000
    assert got.currency == "USD" and got.total == 17500.0


def test_offset_errors():
    pnl = _pnl([[-1, 0, 1]])
    with pytest.raises(InputError, match="unknown class group 'X'"):
        cm.offset_margin(pnl, {"X": "P"}, 0.5)
    with pytest.raises(InputError, match=r"offset must be in \[0, 1\]; got 1.5"):
        cm.offset_margin(pnl, {"G0": "P"}, 1.5)


LINE = ScenarioGrid.product(np.linspace(-0.1, 0.1, 5))


def _axis(*rows, currency=("USD",)):
    return _pnl_on(rows, (LINE,) * len(rows), tuple(f"U{k}" for k in range(len(rows))), currency)


def test_correlation_nets_a_hedged_pair_and_adds_a_same_direction_pair_by_hand():
    long_ = [-100, -50, 0, 50, 100]   # loses 100 when its underlying falls to the range's bottom
    short = [90, 45, 0, -45, -90]     # loses 90 when its underlying rises to the top
    c = np.array([[1.0, 0.9], [0.9, 1.0]])
    hedge = cm.correlation_margin(_axis(long_, short), c)
    # delta = (-100, +90): sqrt(100^2 + 90^2 - 2 x 0.9 x 100 x 90) = sqrt(1900)
    assert_close(hedge.delta, [-100.0, 90.0], 0) and hedge.curvature == 0.0
    assert_close(hedge.total, np.sqrt(1900.0), 1e-15)
    # perfectly correlated: full netting at aligned edges, |100 - 90|
    assert_close(cm.correlation_margin(_axis(long_, short), np.ones((2, 2))).total, 10.0, 1e-12)
    same = cm.correlation_margin(_axis(long_, [-90, -45, 0, 45, 90]), c)
    assert_close(same.total, np.sqrt(100.0**2 + 90.0**2 + 2 * 0.9 * 100 * 90), 1e-15)
    # the old aggregate of requirements could not tell the two apart; this one does
    assert hedge.total < 0.25 * same.total
    assert same.standalone == hedge.standalone == 190.0


def test_correlation_of_two_short_straddles_is_sign_free():
    a = [-100, -25, 0, -25, -100]     # loses 100 either way
    b = [-50, -12, 0, -12, -50]
    for rho in (-0.6, 0.0, 0.6):
        got = cm.correlation_margin(_axis(a, b), np.array([[1.0, rho], [rho, 1.0]]))
        assert got.directional == 0.0
        # kappa = (100, 50), aggregated with rho^2
        assert_close(got.total, np.sqrt(100.0**2 + 50.0**2 + 2 * rho**2 * 100 * 50), 1e-15)
    # at rho = +-1 both straddles lose together: the sum
    for rho in (-1.0, 1.0):
        got = cm.correlation_margin(_axis(a, b), np.array([[1.0, rho], [rho, 1.0]]))
        assert_close(got.total, 150.0, 1e-12)


def test_correlation_margin_is_the_standalone_for_one_group_and_keeps_inner_losses():
    rng = np.random.default_rng(11)
    for _ in range(200):
        row = rng.normal(size=5) * 100
        got = cm.correlation_margin(_axis(row), np.eye(1))
        assert_close(got.total, max(0.0, -row.min()), 1e-12)
    # a long straddle decaying: gains at both edges, loses 20 at an unchanged spot
    straddle = [80, 10, -20, 10, 80]
    got = cm.correlation_margin(_axis(straddle, [-30, -15, 0, 15, 30]), np.eye(2))
    assert_close(got.epsilon, [20.0, 0.0], 0)
    # the straddle's convexity cannot credit more than its own directional size (0 here)
    assert_close(got.total, 30.0 + 20.0, 1e-12)


def test_correlation_margin_never_exceeds_the_standalone_sum_and_breakdown_never_below_base():
    from greeksmargin.analysis.estimate import nearest_correlation
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 5))
        pnl = _axis(*(rng.normal(size=5) * rng.uniform(1, 200) for _ in range(n)))
        c = nearest_correlation(np.clip(rng.normal(size=(n, n)) * 0.6, -1, 1) + np.eye(n))
        c = 0.5 * (c + c.T)
        np.fill_diagonal(c, 1.0)
        base = cm.correlation_margin(pnl, c)
        standalone = float(np.maximum(-pnl.values.min(axis=1), 0).sum())
        assert base.total <= standalone + 1e-9
        worst = cm.correlation_breakdown(pnl, c)
        assert worst.total >= base.total - 1e-12
        assert worst.margins["base"] == base.total
        assert worst.total <= standalone + 1e-9


def test_breakdown_finds_the_sign_that_breaks_each_book():
    long_, short = [-100, -50, 0, 50, 100], [90, 45, 0, -45, -90]
    c = np.array([[1.0, 0.9], [0.9, 1.0]])
    hedge = cm.correlation_breakdown(_axis(long_, short), c)
    # a hedge breaks when the two move apart: rho = -1, the standalone sum
    assert hedge.worst == "hedges fail" and and_close(hedge.total, 190.0)
    assert_close(hedge.matrices["hedges fail"], [[1, -1], [-1, 1]], 0)
    same = cm.correlation_breakdown(_axis(long_, [-90, -45, 0, 45, 90]), np.eye(2))
    assert same.worst in ("all +1", "hedges fail") and and_close(same.total, 190.0)
    # a stressed window's matrix is a candidate too
    window = np.array([[1.0, 0.2], [0.2, 1.0]])
    got = cm.correlation_breakdown(_axis(long_, short), c, stressed={"2008": window},
                                   weights=(0.5,))
    assert "2008" in got.margins and got.margins["2008"] > got.margins["base"]
    with pytest.raises(InputError, match="weights must be in"):
        cm.correlation_breakdown(_axis(long_, short), c, weights=(2.0,))


def and_close(a, b):
    return bool(np.isclose(a, b, rtol=1e-12, atol=1e-9))


def test_correlation_errors_name_the_problem():
    pnl = _axis([-1, 0, 0, 0, 1], [1, 0, 0, 0, -1])
    with pytest.raises(InputError, match="not positive semi-definite"):
        cm.correlation_margin(_axis([-1, 0, 0, 0, 1], [1, 0, 0, 0, -1], [0, 0, 0, 0, 1]),
                              np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]))
    with pytest.raises(InputError, match="unit diagonal"):
        cm.correlation_margin(pnl, 2 * np.eye(2))
    with pytest.raises(InputError, match="must have shape"):
        cm.correlation_margin(pnl, np.eye(3))
    with pytest.raises(InputError, match="not finite"):
        cm.correlation_margin(pnl, np.array([[1.0, np.nan], [np.nan, 1.0]]))
    one_way = _pnl_on([[0, 1, 2]], (ScenarioGrid.product([0.0, 0.05, 0.1]),), ("UP",))
    with pytest.raises(InputError, match="must move spot both ways"):
        cm.correlation_margin(one_way, np.eye(1))
    mixed = _axis([-1, 0, 0, 0, 1], [1, 0, 0, 0, -1], currency=("USD", "BTC"))
    with pytest.raises(InputError, match="different currencies"):
        cm.correlation_margin(mixed, np.eye(2))


def _prices(seed=0, n=400):
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, n)
    cols = {"IDX": market}
    for name, beta in (("A", 1.3), ("B", 0.7), ("C", -0.4)):
        cols[name] = beta * market + rng.normal(0, 0.008, n)
    returns = pd.DataFrame(cols, index=pd.date_range("2020-01-01", periods=n, freq="B"))
    return 100 * np.exp(returns.cumsum()), returns


def test_estimates_from_history_match_numpy_and_the_generating_betas():
    prices, true_returns = _prices()
    r = estimate.log_returns(prices)
    assert_close(r.to_numpy(), true_returns.to_numpy()[1:], 1e-10)
    vol = estimate.volatility(r)
    assert_close(vol.to_numpy(), r.std(ddof=1).to_numpy() * np.sqrt(252), 1e-12)
    corr = estimate.correlation(r)
    assert_close(corr.to_numpy(), np.corrcoef(r.to_numpy().T), 1e-12)
    b = estimate.betas(r, "IDX")
    assert_close(b[["A", "B", "C"]].to_numpy(), [1.3, 0.7, -0.4], 0, atol=0.1)
    # EWMA by hand, newest observation weighted most
    x = r.to_numpy()
    w = 0.06 * 0.94 ** np.arange(len(x) - 1, -1, -1)
    w /= w.sum()
    assert_close(estimate.volatility(r, "ewma").to_numpy(),
                 np.sqrt((w[:, None] * x**2).sum(axis=0) * 252), 1e-12)
    with pytest.raises(InputError, match="prices must be > 0 and finite; got -1.0 for 'A'"):
        estimate.log_returns(prices.assign(A=np.r_[prices["A"].iloc[:-1], -1.0]))
    with pytest.raises(InputError, match="index column 'SPX' not in the returns"):
        estimate.betas(r, "SPX")
    with pytest.raises(InputError, match="method must be 'sample' or 'ewma'"):
        estimate.volatility(r, "garch")


def test_nearest_correlation_and_stress():
    bad = np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]])
    fixed = estimate.nearest_correlation(bad)
    assert np.linalg.eigvalsh(fixed).min() >= -1e-10
    assert_close(np.diag(fixed), 1.0, 1e-12)
    good = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert_close(estimate.nearest_correlation(good), good, 0)
    to_one = estimate.stress_correlation(good, 1.0)
    assert_close(to_one, np.ones((2, 2)), 1e-9)
    half = estimate.stress_correlation(good, 0.5)
    assert_close(half[0, 1], 0.65, 1e-12)
    assert_close(estimate.stress_correlation(good, 1.0, -1.0)[0, 1], -1.0, 1e-9)
    with pytest.raises(InputError, match="correlation_breakdown"):
        estimate.stress_correlation(good, 0.5, "worst")
    with pytest.raises(InputError, match=r"weight must be in \[0, 1\]"):
        estimate.stress_correlation(good, 2.0)


def test_factor_grids_move_each_group_by_beta_and_net_as_a_joint_stress():
    market = MarketData("2025-01-02", ["IDX", "A"], [5000.0, 100.0], 0.04, 0.03, [0.18, 0.3])
    expiry = np.datetime64("2025-06-20T20:00:00", "s")
    # long index puts against short stock puts: a partial hedge through beta
    book = Book(["index-put", "stock-put"], ["IDX", "A"], [2, 2], [4800.0, 95.0], [expiry, expiry],
                [2.0, -30.0], [100.0, 100.0])
    resolved = book.resolve(market, by="underlying")
    grids = cm.factor_grids(resolved.group_labels, [-0.1, -0.05, 0.0, 0.05, 0.1],
                            {"IDX": 1.0, "A": 1.5}, own_shocks={"A": 0.02})
    a = resolved.group_labels.index("A")
    assert_close(grids[a].spot_shift, [-0.17, -0.095, 0.0, 0.095, 0.17], 1e-15)
    assert_close(grids[1 - a].spot_shift, [-0.1, -0.05, 0.0, 0.05, 0.1], 1e-15)
    pnl = revalue(resolved, grids)
    joint = cm.offset_margin(pnl, {"IDX": "P", "A": "P"}, 1.0)
    alone = cm.offset_margin(pnl, {}, 0.0)
    assert joint.total < alone.total
    with pytest.raises(InputError, match="no beta for group 'A'"):
        cm.factor_grids(resolved.group_labels, [0.1], {"IDX": 1.0})
    with pytest.raises(InputError, match="<= -100%"):
        cm.factor_grids(("IDX",), [-0.5], {"IDX": 2.5})


def test_own_shocks_one_group_at_a_time_break_a_hedge_between_groups():
    market = MarketData("2025-01-02", ["A", "B"], [100.0, 100.0], 0.04, 0.04, [0.2, 0.2])
    hedge = Book(["a", "b"], ["A", "B"], [0, 0], [np.nan] * 2, [np.datetime64("NaT")] * 2,
                 [100.0, -100.0], [1.0, 1.0])
    resolved = hedge.resolve(market, by="underlying")
    together = cm.factor_grids(resolved.group_labels, [-0.1, 0.0, 0.1], {"A": 1.0, "B": 1.0},
                               own_shocks={"A": 0.05, "B": 0.03})
    each = cm.factor_grids(resolved.group_labels, [-0.1, 0.0, 0.1], {"A": 1.0, "B": 1.0},
                           own_shocks={"A": 0.05, "B": 0.03}, own="each")
    assert each[0].n_scenarios == 3 * (1 + 2 * 2)
    product = {"A": "P", "B": "P"}
    # moving together the hedge never loses more than the two own shocks' difference
    assert cm.offset_margin(revalue(resolved, together), product, 1.0).total == pytest.approx(
        100.0 * 100.0 * (0.05 - 0.03), rel=1e-12)
    # one leg's own shock alone: A falls 5% more than B -> 500 lost (by hand)
    assert cm.offset_margin(revalue(resolved, each), product, 1.0).total == pytest.approx(
        100.0 * 100.0 * 0.05, rel=1e-12)
    assert each[0].labels[1] == "index-0.1|A-0.05"
    with pytest.raises(InputError, match="own must be"):
        cm.factor_grids(("A",), [0.1], {"A": 1.0}, own="both")


def test_compare_rows_are_ordered_from_isolated_to_cross():
    market = MarketData("2025-01-02", ["SPX", "SPY"], [5900.0, 590.0], 0.04, 0.03, [0.16, 0.15],
                        group_of={"SPX": "basket", "SPY": "basket"})
    expiry = np.datetime64("2025-03-21T20:00:00", "s")
    book = Book(["spx-put", "spy-put", "spy-stock"], ["SPX", "SPY", "SPY"], [2, 2, 0],
                [5800.0, 585.0, np.nan], [expiry, expiry, np.datetime64("NaT")],
                [-1.0, 10.0, 100.0], [100.0, 100.0, 1.0])
    grid = ScenarioGrid.product(np.linspace(-0.1, 0.1, 11), [-0.2, 0.0, 0.2],
                                vol_shift_type=ShiftType.RELATIVE)
    rows = cm.compare(book, market, grid, strategy_of={"spx-put": "a", "spy-put": "a",
                                                       "spy-stock": "b"},
                      correlation=np.array([[1.0, 0.99], [0.99, 1.0]]))
    names = [r.method for r in rows]
    assert names[0] == "each position alone" and "each class group alone" in names
    margins = {r.method: r.margin for r in rows}
    assert margins["each class group alone"] <= margins["each underlying alone"] + 1e-9
    assert margins["each underlying alone"] <= margins["each position alone"] + 1e-9
    assert all(r.saving <= 1.0 for r in rows)
    frame = cm.compare_frame(rows)
    assert list(frame.columns) == ["method", "margin", "saving_vs_isolated", "saving_vs_reg_t",
                                   "detail", "backtested_coverage", "flag"]
    with pytest.raises(InputError, match="no strategy for positions"):
        cm.compare(book, market, grid, strategy_of={"spx-put": "a"})


def test_taylor_converges_with_the_order_of_the_expansion():
    book, market = random_book(120, 31, linear_share=0.1)
    # options a week or more from expiry: the expansion is local in time too
    days = (book.expiry - market.valuation).astype("timedelta64[s]").astype(float) / 86400
    book = book.take(np.isnan(days) | (days > 7))
    resolved = book.resolve(market)
    errors = []
    for h in (0.02, 0.01, 0.005):
        grid = ScenarioGrid.product([-h, h], [-h, h], vol_shift_type=ShiftType.RELATIVE)
        result = taylor_margin(resolved, grid)
        errors.append(result.max_abs_error)
    # second-order expansion: the error is third order, so halving the shocks divides it by ~8
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5
    # and theta: a pure clock advance of one hour matches theta dt to second order
    grid = ScenarioGrid.product([0.0], time_shift_years=1 / 8760)
    hour = taylor_margin(resolved, grid)
    full = np.abs(hour.full.values).max()
    assert hour.max_abs_error < 1e-2 * full


def test_taylor_reports_its_error_and_refuses_inverse_books():
    book, market = random_book(40, 32)
    resolved = book.resolve(market)
    grid = ScenarioGrid.product([-0.15, 0.15], [0.3], vol_shift_type=ShiftType.RELATIVE)
    result = taylor_margin(resolved, grid)
    assert result.error.shape == (resolved.n_groups, 2)
    assert_close(result.error, result.taylor.values - result.full.values, 0)
    inverse, m2 = random_book(10, 33, inverse=True)
    with pytest.raises(InputError, match="linear \\(quote-settled\\) books only"):
        taylor_pnl(inverse.resolve(m2), grid)


def test_compute_margin_is_unchanged_by_cross_module():
    book, market = random_book(30, 34)
    assert compute_margin(book, market, GRID).total >= 0


def test_compare_adds_historical_simulation_coverage_and_flags_disagreement():
    from greeksmargin.margin.historical import historical_margin
    from greeksmargin.methodology.historical import historical

    market = MarketData("2025-01-02", ["SPX", "NDX"], [5900.0, 21000.0], 0.04, 0.03, [0.16, 0.2])
    book = Book(["spx", "ndx"], ["SPX", "NDX"], [0, 0], [np.nan] * 2, [np.datetime64("NaT")] * 2,
                [100.0, -28.0], [1.0, 1.0])
    rng = np.random.default_rng(2)
    common = rng.normal(0, 0.01, 400)
    prices = pd.DataFrame(np.exp(np.cumsum(np.column_stack(
        [common, common + rng.normal(0, 0.002, 400)]), axis=0)) * [5900.0, 21000.0],
        index=pd.bdate_range("2020-01-01", periods=400), columns=["SPX", "NDX"])
    model = historical(prices, lookback_days=300)
    grid = ScenarioGrid.product(np.linspace(-0.1, 0.1, 11))
    rows = cm.compare(book, market, grid, historical=model,
                      coverage={"each underlying alone": 1.0}, disagreement=3.0)
    by_name = {r.method: r for r in rows}
    hist = by_name["historical simulation (ES 99%, 2-day)"]
    assert hist.margin == historical_margin(book, market, model).total
    assert by_name["each underlying alone"].coverage == 1.0 and hist.coverage is None
    # a tight hedge: joint historical ES is far below isolating the two legs
    cross = [r for r in rows if r.method not in ("each position alone", cm.STRATEGY_BASED)]
    assert by_name[cm.STRATEGY_BASED].flag == ""  # a baseline, never flagged
    median = np.median([float(r.margin) for r in cross])
    for r in cross:
        ratio = float(r.margin) / median
        assert bool(r.flag) == (ratio > 3.0 or ratio < 1 / 3.0)
    assert any(r.flag for r in rows)
    with pytest.raises(InputError, match="disagreement must be a factor > 1"):
        cm.compare(book, market, grid, disagreement=1.0)
