"""Historical-simulation margin: joint scenarios, VaR/ES, the stress floor, coins, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greeksmargin import Book, MarketData, Settlement
from greeksmargin.errors import InputError, MethodologyError
from greeksmargin.margin.historical import historical_margin, tail_measures
from greeksmargin.methodology.historical import historical

NAT = np.datetime64("NaT")


def _prices(n=600, seed=1):
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, n)
    returns = np.column_stack([common + rng.normal(0, 0.004, n),
                               1.2 * common + rng.normal(0, 0.006, n)])
    returns[300:320] *= 4  # a stress episode
    dates = pd.bdate_range("2010-01-04", periods=n)
    return pd.DataFrame(100 * np.exp(np.cumsum(returns, axis=0)), index=dates,
                        columns=["IDX", "TECH"])


MARKET = MarketData("2012-06-01T16:00", ["SPX", "NDX"], [4000.0, 15000.0], 0.02, 0.0, [0.2, 0.25])


def test_tail_measures_by_hand():
    losses = np.arange(1.0, 101.0)[::-1]  # 100 .. 1
    var, es, tail = tail_measures(losses, 0.95)  # k = 5: 100, 99, 98, 97, 96
    assert var == 96.0 and es == 98.0 and list(losses[tail]) == [100, 99, 98, 97, 96]
    assert tail_measures(np.array([5.0, -1.0]), 0.99)[:2] == (5.0, 5.0)  # k = 1
    with pytest.raises(InputError, match="confidence"):
        tail_measures(losses, 1.0)
    with pytest.raises(InputError, match="finite"):
        tail_measures(np.array([np.nan]), 0.9)


def test_linear_position_var_and_es_are_the_empirical_quantile_and_es_of_the_returns():
    prices = _prices()
    model = historical(prices, factor_of={"SPX": "IDX", "NDX": "TECH"}, mpor_days=2,
                       lookback_days=500, confidence=0.99, measure="var")
    book = Book(["spx", "ndx"], ["SPX", "NDX"], [0, 0], [np.nan] * 2, [NAT] * 2, [3.0, -1.0],
                [1.0, 1.0])
    result = historical_margin(book, MARKET, model)
    # the same numbers straight from the prices: 2-day overlapping simple returns
    p = prices.to_numpy()
    moves = p[2:] / p[:-2] - 1
    moves = moves[-500:]
    pnl = 3.0 * 4000 * moves[:, 0] - 15000 * moves[:, 1]
    losses = np.sort(-pnl)[::-1]
    k = 5  # ceil(500 x 0.01)
    assert result.var == pytest.approx(losses[k - 1], rel=1e-12)
    assert result.es == pytest.approx(losses[:k].mean(), rel=1e-12)
    assert float(result.market_risk) == pytest.approx(losses[k - 1], rel=1e-12)
    assert result.scenario_pnl.size == 500 and not result.addons
    es_model = historical(prices, factor_of={"SPX": "IDX", "NDX": "TECH"}, lookback_days=500)
    assert float(historical_margin(book, MARKET, es_model).total) == pytest.approx(
        losses[:k].mean(), rel=1e-12)


def test_joint_scenarios_net_a_hedge_that_isolated_scans_would_not():
    prices = _prices()
    model = historical(prices, factor_of={"SPX": "IDX", "NDX": "TECH"}, lookback_days=500)
    hedge = Book(["spx", "ndx"], ["SPX", "NDX"], [0, 0], [np.nan] * 2, [NAT] * 2,
                 [1.2 * 15000 / 4000, -1.0], [1.0, 1.0])
    joint = float(historical_margin(hedge, MARKET, model).total)
    alone = sum(float(historical_margin(hedge.take(np.array([i])), MARKET, model).total)
                for i in range(2))
    assert joint < 0.6 * alone


def test_ewma_filter_scales_each_date_by_todays_vol_over_that_dates():
    prices = _prices()
    lam = 0.97
    model = historical(prices[["IDX"]], mpor_days=1, lookback_days=100, ewma_lambda=lam)
    raw = historical(prices[["IDX"]], mpor_days=1, lookback_days=100)
    r = np.diff(np.log(prices["IDX"].to_numpy()))
    var = [r[0] ** 2, r[0] ** 2]
    for x in r[1:]:
        var.append(lam * var[-1] + (1 - lam) * x**2)
    sigma = np.sqrt(np.array(var))
    start = len(prices) - 1 - 100
    for j in (0, 37, 99):
        expected = np.expm1(np.log1p(raw.spot_moves[j, 0]) * sigma[-1] / sigma[start + j])
        assert model.spot_moves[j, 0] == pytest.approx(expected, rel=1e-12)


def test_stress_period_floors_the_requirement():
    prices = _prices()
    calm = prices.index[400], prices.index[-1]
    stress = (str(prices.index[295].date()), str(prices.index[325].date()))
    model = historical(prices.loc[:calm[1]], factor_of={"SPX": "IDX"}, lookback_days=150,
                       stress_period=stress)
    book = Book(["spx"], ["SPX"], [0], [np.nan], [NAT], [1.0], [1.0])
    result = historical_margin(book, MARKET, model)
    assert result.stress_binding and result.total == result.stress
    losses = -4000 * (prices["IDX"].to_numpy()[2:] / prices["IDX"].to_numpy()[:-2] - 1)
    in_window = (prices.index[:-2] >= stress[0]) & (prices.index[:-2] <= stress[1])
    tail = np.sort(losses[in_window])[::-1]
    assert float(result.stress) == pytest.approx(tail[:1].mean(), rel=1e-12)  # k = ceil(29 x 1%)
    with pytest.raises(InputError, match="holds 0 scenario dates"):
        historical(prices, stress_period=("1990-01-01", "1990-02-01"))


def test_coin_settled_pnl_converts_at_the_coins_scenario_spot_and_liquidity_is_separate():
    prices = _prices().rename(columns={"IDX": "BTC"})
    model = historical(prices, lookback_days=200, measure="var")
    market = MarketData("2012-06-01T16:00", ["BTC"], [60_000.0], 0.0, 0.0, [0.6])
    # an inverse (BTC-settled) linear contract on 1 BTC: P&L in coin Q (1 - 1/(1+m))
    # (docs/conventions.md), worth S0 (1 + m) USD per coin in the same scenario: S0 m in USD;
    # converted at today's spot instead it would be S0 m / (1 + m), short of the loss in a crash
    book = Book(["inv"], ["BTC"], [0], [np.nan], [NAT], [1.0], [1.0],
                settlement=[Settlement.INVERSE])
    result = historical_margin(book, market, model, half_spread=0.001)
    m = model.spot_moves[:, 0]
    usd = (1.0 - 1.0 / (1.0 + m)) * 60_000.0 * (1.0 + m)
    np.testing.assert_allclose(usd, 60_000.0 * m, rtol=1e-9)
    np.testing.assert_allclose(result.scenario_pnl.to_numpy(), usd, rtol=1e-10, atol=1e-8)
    assert result.var == pytest.approx(tail_measures(-usd, 0.99)[0], rel=1e-10)
    assert float(result.addons["liquidity"]) == pytest.approx(60.0, rel=1e-12)
    assert float(result.total) == pytest.approx(result.var + 60.0, rel=1e-12)


def test_model_errors_name_the_input():
    prices = _prices()
    with pytest.raises(InputError, match="no history for underlying 'SPX'"):
        historical_margin(Book(["s"], ["SPX"], [0], [np.nan], [NAT], [1.0], [1.0]), MARKET,
                          historical(prices))
    bad = prices.copy()
    bad.iloc[10, 1] = np.nan
    with pytest.raises(InputError, match=r"'TECH' on 2010-01-18"):
        historical(bad)
    with pytest.raises(InputError, match="DatetimeIndex"):
        historical(prices.reset_index(drop=True))
    with pytest.raises(MethodologyError, match="confidence"):
        historical(prices, confidence=1.5)
    with pytest.raises(MethodologyError, match="measure"):
        historical(prices, measure="cvar")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="ewma_lambda"):
        historical(prices, ewma_lambda=1.0)
    with pytest.raises(InputError, match="vols has columns with no price history"):
        historical(prices, vols=pd.DataFrame({"VIX": [0.2]}, index=prices.index[:1]))
    with pytest.raises(InputError, match="half_spread has no value"):
        historical_margin(Book(["s"], ["SPX"], [0], [np.nan], [NAT], [1.0], [1.0]), MARKET,
                          historical(prices, factor_of={"SPX": "IDX"}), half_spread={"NDX": 0.1})


def test_implied_vol_history_moves_the_books_vols():
    prices = _prices()
    vix = pd.DataFrame({"IDX": np.linspace(0.15, 0.30, len(prices))}, index=prices.index)
    model = historical(prices, vols=vix, factor_of={"SPX": "IDX"}, lookback_days=50)
    v = vix["IDX"].to_numpy()
    assert model.vol_moves[-1, 0] == pytest.approx(v[-1] / v[-3] - 1, rel=1e-12)
    assert np.all(model.vol_moves[:, 1] == 0.0)  # no vol history for TECH: vol fixed
