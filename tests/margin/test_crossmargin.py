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


def test_offsets_interpolate_between_standalone_sum_and_full_netting():
    # G0 loses when the market falls, G1 when it rises: a hedge across class groups
    pnl = _pnl([[-100, -50, 0, 30, 60], [80, 40, 0, -20, -70]])
    standalone = 100 + 70
    netted = max(0.0, -min(-100 + 80, -50 + 40, 0, 30 - 20, 60 - 70))  # 20
    product = {"G0": "P", "G1": "P"}
    assert cm.offset_margin(pnl, product, 0.0).total == standalone
    assert cm.offset_margin(pnl, product, 1.0).total == netted
    assert_close(cm.offset_margin(pnl, product, 0.4).total, standalone - 0.4 * (standalone - netted),
                 1e-15)
    # no product group: each class group alone
    assert cm.offset_margin(pnl, {}, 1.0).total == standalone
    # order of groups does not matter
    swapped = _pnl([[80, 40, 0, -20, -70], [-100, -50, 0, 30, 60]], labels=("G1", "G0"))
    assert cm.offset_margin(swapped, product, 0.4).total == cm.offset_margin(pnl, product, 0.4).total


def test_offsets_never_exceed_the_standalone_sum_on_random_books():
    rng = np.random.default_rng(3)
    for _ in range(50):
        pnl = _pnl(rng.normal(size=(4, 7)) * 100)
        product = {"G0": "A", "G1": "A", "G2": "B", "G3": "B"}
        alone = cm.offset_margin(pnl, {}, 0.0).total
        for theta in (0.0, 0.3, 1.0):
            result = cm.offset_margin(pnl, product, theta)
            assert result.total <= alone + 1e-9
            assert np.all(result.requirement >= 0)


def test_offset_errors():
    pnl = _pnl([[-1, 0, 1]])
    with pytest.raises(InputError, match="unknown class group 'X'"):
        cm.offset_margin(pnl, {"X": "P"}, 0.5)
    with pytest.raises(InputError, match=r"offset must be in \[0, 1\]; got 1.5"):
        cm.offset_margin(pnl, {"G0": "P"}, 1.5)
    three = ScenarioGrid.product([-0.1, 0.0, 0.1])
    mixed = PnLMatrix(np.zeros((2, 3)), ("A", "B"), np.zeros(2), ("BTC", "ETH"), (three,) * 2)
    with pytest.raises(InputError, match="different currencies"):
        cm.offset_margin(mixed, {"A": "P", "B": "P"}, 0.5)


def test_correlation_aggregate_bounds_and_errors():
    r = np.array([100.0, 50.0, 20.0])
    assert_close(cm.correlation_margin(r, np.ones((3, 3))), r.sum(), 1e-15)
    assert_close(cm.correlation_margin(r, np.eye(3)), np.sqrt((r**2).sum()), 1e-15)
    c = np.array([[1.0, -0.5, 0.0], [-0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    got = cm.correlation_margin(r, c)
    assert got < np.sqrt((r**2).sum())
    perm = [2, 0, 1]
    assert_close(cm.correlation_margin(r[perm], c[np.ix_(perm, perm)]), got, 1e-14)
    with pytest.raises(InputError, match="not positive semi-definite"):
        cm.correlation_margin(r, np.array([[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]))
    with pytest.raises(InputError, match="unit diagonal"):
        cm.correlation_margin(r, 2 * np.eye(3))
    with pytest.raises(InputError, match="must have shape"):
        cm.correlation_margin(r, np.eye(2))
    with pytest.raises(InputError, match="finite values >= 0"):
        cm.correlation_margin(np.array([-1.0]), np.eye(1))


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
    worst = estimate.stress_correlation(good, 1.0, "worst", exposure=np.array([1.0, -1.0]))
    assert_close(worst[0, 1], -1.0, 1e-9)
    with pytest.raises(InputError, match="needs the signed exposure"):
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
    assert list(frame.columns) == ["method", "margin", "saving_vs_isolated", "detail"]
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
