"""Netting backtests across underlyings and the maintenance calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greeksmargin import methodology
from greeksmargin.analysis.netting import (
    CROSS_BOOKS,
    CrossBook,
    CrossLeg,
    maintenance_ratio,
    netting_backtest,
)
from greeksmargin.errors import InputError


def _prices(n=700, seed=4):
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, n)
    r = np.column_stack([common + rng.normal(0, 0.003, n), 1.3 * common + rng.normal(0, 0.006, n)])
    return pd.DataFrame(np.array([2000.0, 5000.0]) * np.exp(np.cumsum(r, axis=0)),
                        index=pd.bdate_range("2005-01-03", periods=n), columns=["SP500", "NASDAQ"])


OCC = methodology.occ_tims({"SP500": "high_cap_index", "NASDAQ": "broad_index"})


def test_maintenance_ratio_is_the_order_statistic_with_a_binomial_interval_by_hand():
    im = np.ones(100)
    loss = np.arange(1.0, 101.0)[::-1]
    # u sorted 1..100; the 95% quantile is the 95th; binomial(100, 0.95): P(X <= 89) = 0.0115,
    # P(X <= 90) = 0.0282 -> rank 90; P(X <= 98) = 0.963, P(X <= 99) = 0.994 -> rank 99 + 1
    assert maintenance_ratio(im, loss, target=0.95) == (95.0, 90.0, 100.0)
    k, low, high = maintenance_ratio(2.0 * im, loss, target=0.95)
    assert (k, low, high) == (47.5, 45.0, 50.0)
    assert np.mean(loss / (2.0 * im) <= k) >= 0.95
    with pytest.raises(InputError, match="same length"):
        maintenance_ratio(im[:5], loss[:5])
    with pytest.raises(InputError, match="finite and > 0"):
        maintenance_ratio(np.zeros(100), loss)
    with pytest.raises(InputError, match=r"in \(0, 1\)"):
        maintenance_ratio(im, loss, target=1.0)


def test_netting_backtest_margins_every_method_against_the_realised_loss():
    prices = _prices()
    result = netting_backtest(prices, CROSS_BOOKS["index-pair"], OCC, step_days=40,
                              corr_window=60, min_history=300, historical_lookback=250,
                              stress_windows={"early": ("2005-03-01", "2005-06-30")})
    frame = result.frame
    assert result.methods == ("isolated", "offsets 50%", "offsets 100%", "correlation",
                              "breakdown", "joint grid", "historical ES")
    # a linear pair: the realised loss is the notional-weighted 2-day move, by hand
    p = prices.to_numpy()
    index = prices.index.get_indexer(frame["date"])
    roll = index[0]
    for t, loss in zip(index, frame["loss"], strict=True):
        if t - roll >= 21:
            roll = t
        q = 1_000_000.0 / p[roll]
        assert loss == pytest.approx(-(q[0] * (p[t + 2, 0] - p[t, 0])
                                       - q[1] * (p[t + 2, 1] - p[t, 1])), rel=1e-9, abs=1e-6)
    assert (frame["offsets 100%"] <= frame["offsets 50%"] + 1e-6).all()
    assert (frame["offsets 50%"] <= frame["isolated"] + 1e-6).all()
    assert (frame["breakdown"] >= frame["correlation"] - 1e-6).all()
    summary = result.summary.set_index("method")
    for m in result.methods:
        exceed = int((frame["loss"] > frame[m]).sum())
        assert summary.loc[m, "exceedances"] == exceed
        assert summary.loc[m, "coverage"] == pytest.approx(1 - exceed / len(frame))
        assert 0 <= summary.loc[m, "kupiec_p"] <= 1
    assert summary.loc["isolated", "capital_vs_isolated"] == 1.0


def test_netting_backtest_options_book_runs_and_errors_name_the_input():
    prices = _prices()
    straddles = CrossBook("straddles", (CrossLeg("SP500", "call", 1.0, 30, -1e6),
                                        CrossLeg("SP500", "put", 1.0, 30, -1e6),
                                        CrossLeg("NASDAQ", "call", 1.0, 30, 1e6)))
    result = netting_backtest(prices, straddles, OCC, step_days=60, corr_window=60,
                              min_history=300, historical_lookback=250)
    assert np.isfinite(result.frame[list(result.methods)].to_numpy()).all()
    with pytest.raises(InputError, match=r"trades \['DAX'\]"):
        netting_backtest(prices, CrossBook("x", (CrossLeg("DAX", "call", 1.0, 30, 1e6),)), OCC)
    bad = prices.copy()
    bad.iloc[3, 0] = -1.0
    with pytest.raises(InputError, match="'SP500' on 2005-01-06"):
        netting_backtest(bad, CROSS_BOOKS["index-pair"], OCC)
    with pytest.raises(InputError, match="too short"):
        netting_backtest(prices.iloc[:302], CROSS_BOOKS["index-pair"], OCC, min_history=300,
                         corr_window=60)
    with pytest.raises(InputError, match="leg kind"):
        netting_backtest(prices, CrossBook("x", (CrossLeg("SP500", "swap", 1.0, 30, 1e6),)), OCC,
                         min_history=300, corr_window=60)
    with pytest.raises(InputError, match="start must be a date"):
        netting_backtest(prices, CROSS_BOOKS["index-pair"], OCC, start="someday",
                         min_history=300, corr_window=60)
    window = netting_backtest(prices, CROSS_BOOKS["index-pair"], OCC, start="2006-06-01",
                              end="2006-09-01", step_days=20, min_history=300, corr_window=60,
                              historical_lookback=250)
    assert window.frame["date"].min() >= pd.Timestamp("2006-06-01")
    assert window.frame["date"].max() <= pd.Timestamp("2006-09-01")
    with pytest.raises(InputError, match="not a price column"):
        netting_backtest(prices, CROSS_BOOKS["index-pair"], OCC,
                         implied_vol={"VIX": prices["SP500"] * 0 + 0.2})
