"""Leverage and Greek limits in desk units, by hand against vollib's Greeks."""

from __future__ import annotations

import numpy as np
import pytest
from vollib.black_scholes_merton.greeks import analytical as bsm

from greeksmargin import Book, MarketData, methodology
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.accounts.limits import Limits, exposures, limit_breaches
from greeksmargin.errors import InputError

MARKET = MarketData("2025-03-03T15:00:00", ["XYZ"], [100.0], 0.04, 0.01, [0.3])
EXP = np.datetime64("2025-06-20T20:00:00", "s")
NAT = np.datetime64("NaT")
BOOK = Book(["stock", "put"], ["XYZ", "XYZ"], [0, 2], [np.nan, 95.0], [NAT, EXP],
            [100.0, -10.0], [1.0, 100.0])


def _state(cash=50_000.0):
    return Account("l", BOOK, Collateral.of({"USD": cash}, {"USD": 1.0}),
                   methodology.occ_tims()).evaluate(MARKET)


def test_exposures_in_desk_units_by_hand():
    state = _state()
    t = float((EXP - MARKET.valuation).astype("timedelta64[s]").astype(float)) / (365 * 86400)
    q = 0.04 - 0.01  # dividend yield = rate - carry
    delta = bsm.delta("p", 100.0, 95.0, t, 0.04, 0.3, q)
    gamma = bsm.gamma("p", 100.0, 95.0, t, 0.04, 0.3, q)
    vega_point = bsm.vega("p", 100.0, 95.0, t, 0.04, 0.3, q)  # vollib: per 1 vol point
    e = exposures(BOOK, state)
    assert e["delta"]["XYZ"] == pytest.approx(100.0 * 100.0 + (-1000.0) * delta * 100.0, rel=1e-9)
    assert e["gamma"]["XYZ"] == pytest.approx(-1000.0 * gamma * 100.0**2 / 100.0, rel=1e-9)
    assert e["vega"]["XYZ"] == pytest.approx(-1000.0 * vega_point, rel=1e-9)
    assert e["gross_notional"][""] == pytest.approx(100.0 * 100.0 + 1000.0 * 100.0)


def test_breaches_name_the_limit_before_and_after_an_order():
    state = _state()
    e = exposures(BOOK, state)
    assert limit_breaches(state, Limits(max_delta=abs(e["delta"]["XYZ"]) + 1.0)) == []
    (b,) = limit_breaches(state, Limits(max_delta=1_000.0))
    assert b.limit == "delta" and b.underlying == "XYZ" and "exceeds 1,000.00" in str(b)
    # an order that doubles the short puts breaks a vega limit the book alone meets
    order = Book(["more"], ["XYZ"], [2], [95.0], [EXP], [-10.0], [100.0])
    limit = Limits(max_vega=abs(e["vega"]["XYZ"]) * 1.5)
    assert limit_breaches(state, limit) == []
    (after,) = limit_breaches(state, limit, order)
    assert after.limit == "vega" and abs(after.value) == pytest.approx(2 * abs(e["vega"]["XYZ"]))
    # leverage: gross notional / equity
    (lev,) = limit_breaches(state, Limits(max_leverage=1.0))
    assert lev.value == pytest.approx(110_000.0 / float(state.equity))
    assert limit_breaches(state, Limits(max_gamma={"OTHER": 0.0})) == []
    with pytest.raises(InputError, match="Limits.max_delta must be >= 0"):
        Limits(max_delta=-1.0)
