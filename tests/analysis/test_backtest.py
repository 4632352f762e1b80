"""Backtests: exceedance counting against a direct count, Kupiec and Christoffersen by hand,
coverage on a synthetic series with known vol, real history through arch, dynamic margin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from greeksmargin import methodology
from greeksmargin.analysis.backtest import (
    STRATEGIES,
    Leg,
    Strategy,
    backtest,
    christoffersen,
    dynamic_range_grid,
    ewma_vol,
    kupiec,
    procyclicality,
    static_grid,
)
from greeksmargin.errors import InputError
from greeksmargin.io import history


def _gbm(n, vol, seed):
    rng = np.random.default_rng(seed)
    r = rng.normal(-0.5 * vol**2 / 252, vol / np.sqrt(252), n)
    return pd.Series(3000 * np.exp(np.cumsum(r)), index=pd.bdate_range("2010-01-04", periods=n))


def test_linear_exceedances_equal_a_direct_count():
    prices = _gbm(400, 0.25, 1)
    x, h = 0.02, 2
    result = backtest(prices, STRATEGIES["long-index"], static_grid(x), mpor_days=h)
    values = prices.to_numpy()
    first = 21
    moves = values[first + h:first + h + result.n] / values[first:first + result.n] - 1
    assert result.exceedances == int(np.sum(moves < -x)) > 0
    assert np.array_equal(result.frame["exceed"].to_numpy(), moves < -x)
    assert np.allclose(result.frame["margin"], 100 * x * values[first:first + result.n], rtol=1e-12)


def test_kupiec_and_christoffersen_by_hand():
    # 250 days, 99% margin, 7 exceedances: LR = -2 ln[(0.99^243 0.01^7) / ((243/250)^243 (7/250)^7)]
    lr, p = kupiec(250, 7, 0.01)
    hand = -2 * (243 * np.log(0.99) + 7 * np.log(0.01)
                 - 243 * np.log(243 / 250) - 7 * np.log(7 / 250))
    assert lr == pytest.approx(hand, rel=1e-12)
    assert p == pytest.approx(stats.chi2.sf(hand, 1), rel=1e-12)
    assert kupiec(250, 0, 0.01)[0] == pytest.approx(-2 * 250 * np.log(0.99), rel=1e-12)
    # transitions of 0 0 1 1 0 0 0 1 0 0: n00=4, n01=2, n10=2, n11=1
    e = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], bool)
    pi, pi0, pi1 = 3 / 9, 2 / 6, 1 / 3
    hand = -2 * ((6 * np.log(1 - pi) + 3 * np.log(pi))
                 - (4 * np.log(1 - pi0) + 2 * np.log(pi0) + 2 * np.log(1 - pi1) + np.log(pi1)))
    assert christoffersen(e)[0] == pytest.approx(max(hand, 0.0), abs=1e-12)
    clustered = np.array([0] * 20 + [1] * 5 + [0] * 20, bool)
    assert christoffersen(clustered)[1] < 0.01  # clustered exceedances reject independence
    with pytest.raises(InputError, match="kupiec needs"):
        kupiec(10, 11, 0.01)
    with pytest.raises(InputError, match="at least two observations"):
        christoffersen([True])


def test_coverage_on_a_known_vol_series_is_within_its_binomial_band():
    vol, h = 0.2, 1
    prices = _gbm(2500, vol, 7)
    x = stats.norm.ppf(0.99) * vol * np.sqrt(h / 252)
    result = backtest(prices, STRATEGIES["long-index"], static_grid(x), mpor_days=h)
    lo, hi = stats.binom.ppf([0.005, 0.995], result.n, 0.01)
    assert lo <= result.exceedances <= hi
    assert result.kupiec[1] > 0.01


def test_procyclicality_and_ewma_by_hand():
    assert procyclicality(np.array([10, 8, 12, 20, 15]), 2) == pytest.approx(20 / 8 - 1)
    assert procyclicality(np.array([10, 8, 12, 20, 15]), 2, absolute=True) == 12.0
    prices = _gbm(60, 0.3, 3)
    r = np.log(prices).diff().to_numpy()
    var = np.var(r[1:21], ddof=1)
    for i in range(1, 60):
        var = 0.94 * var + 0.06 * r[i] ** 2
    assert ewma_vol(prices).iloc[-1] == pytest.approx(np.sqrt(var * 252), rel=1e-12)


def test_dynamic_margin_follows_the_vol_with_floor_and_buffer():
    prices = _gbm(600, 0.2, 11)
    vol = ewma_vol(prices)
    plain = dynamic_range_grid(vol, k=3, mpor_days=2)
    floored = dynamic_range_grid(vol, k=3, mpor_days=2, floor=0.08)
    t = 300
    expected = 3 * vol.iloc[t] * np.sqrt(2 / 252)
    assert plain(t).spot_shift.max() == pytest.approx(expected, rel=1e-12)
    assert floored(t).spot_shift.max() >= 0.08
    static = backtest(prices, STRATEGIES["short-put"], static_grid(0.05), start="2010-03-01")
    dynamic = backtest(prices, STRATEGIES["short-put"],
                       dynamic_range_grid(vol, k=3, mpor_days=2, floor=0.03, buffer=0.25,
                                          stress_lookback=250), start="2010-03-01")
    assert static.n == dynamic.n and np.isfinite(dynamic.frame["margin"]).all()


def test_real_history_backtests_with_vix_where_it_covers_and_ewma_elsewhere():
    sp = history.sp500()
    vix = history.vix()
    assert sp.index[0] == pd.Timestamp("1999-01-04") and sp.index[-1] == pd.Timestamp("2018-12-31")
    occ = methodology.occ_tims({"IDX": "high_cap_index"})
    result = backtest(sp, STRATEGIES["short-strangle"], occ, implied_vol=vix,
                      start="2013-10-01", end="2014-03-31")
    sources = result.frame.set_index("date")["vol_source"]
    assert set(sources.loc[:"2014-01-02"]) == {"ewma"}
    assert set(sources.loc["2014-01-03":]) == {"implied"}
    assert result.frame["margin"].gt(0).all() and 0.9 < result.coverage <= 1.0


def test_backtest_input_errors():
    prices = _gbm(100, 0.2, 5)
    with pytest.raises(InputError, match="DatetimeIndex"):
        backtest(prices.reset_index(drop=True), STRATEGIES["long-index"], static_grid(0.1))
    bad = prices.copy()
    bad.iloc[50] = -1.0
    with pytest.raises(InputError, match="prices must be > 0 and finite; got -1.0"):
        backtest(bad, STRATEGIES["long-index"], static_grid(0.1))
    with pytest.raises(InputError, match="mpor_days must be >= 1"):
        backtest(prices, STRATEGIES["long-index"], static_grid(0.1), mpor_days=0)
    with pytest.raises(InputError, match="too short"):
        backtest(prices.iloc[:22], STRATEGIES["long-index"], static_grid(0.1))
    with pytest.raises(InputError, match="increasing, unique dates"):
        backtest(prices.iloc[::-1], STRATEGIES["long-index"], static_grid(0.1))
    custom = Strategy("call", (Leg("call", 1.0, 30, 1.0),))
    assert backtest(prices, custom, static_grid(0.1)).n > 0
