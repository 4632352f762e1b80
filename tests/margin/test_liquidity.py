"""The liquidity add-on: by hand, and the same number on every path (result, what-if at any
scale, tick, attribution, liquidation, hedge search)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from greeksmargin import Book, MarketData, compute_margin, methodology
from greeksmargin.accounts.account import Account, Collateral, State
from greeksmargin.accounts.liquidation import SpreadCost, best_hedge, liquidate
from greeksmargin.accounts.sensitivity import attribution
from greeksmargin.errors import MethodologyError

EXP = np.datetime64("2025-06-20T20:00:00", "s")
NAT = np.datetime64("NaT")
MARKET = MarketData("2025-03-03T15:00:00", ["XYZ", "ABC"], [100.0, 50.0], 0.04, 0.01, [0.3, 0.4])
BOOK = Book(["put", "call", "stock"], ["XYZ", "ABC", "XYZ"], [2, 1, 0], [95.0, 55.0, np.nan],
            [EXP, EXP, NAT], [-30.0, -10.0, 500.0], [100.0, 100.0, 1.0])
# 1% of the value of the gross size; XYZ trades 2,000 units a day, ABC has no size effect
LIQ = dataclasses.replace(methodology.occ_tims(), liquidity_rate={"XYZ": 0.01, "ABC": 0.01},
                          daily_volume={"XYZ": 2_000.0})


def test_the_add_on_by_hand_and_reported_apart():
    base = compute_margin(BOOK, MARKET, methodology.occ_tims())
    liq = compute_margin(BOOK, MARKET, LIQ)
    xyz, abc = liq.group_labels.index("XYZ"), liq.group_labels.index("ABC")
    # XYZ: 30 puts x 100 + 500 shares = 3,500 units at 100; 1% x 350,000 x 3,500 / 2,000
    assert liq.addons["liquidity"][xyz] == pytest.approx(0.01 * 3_500 * 100.0 * 1.75, rel=1e-12)
    # ABC: 1,000 units at 50, 1%, no volume given: no size effect
    assert liq.addons["liquidity"][abc] == pytest.approx(0.01 * 1_000 * 50.0, rel=1e-12)
    assert liq.initial == pytest.approx(base.initial + liq.addons["liquidity"], rel=1e-12)
    with pytest.raises(MethodologyError, match="liquidity rate"):
        dataclasses.replace(LIQ, liquidity_rate={"XYZ": 1.5})
    with pytest.raises(MethodologyError, match="daily volume"):
        dataclasses.replace(LIQ, daily_volume={"XYZ": 0.0})


def test_every_path_gives_the_same_add_on():
    account = Account("l", BOOK, Collateral.of({"USD": 1e6}, {"USD": 1.0}), LIQ)
    state = account.evaluate(MARKET)
    assert float(state.initial) == pytest.approx(compute_margin(BOOK, MARKET, LIQ).total)
    order = Book(["more"], ["XYZ"], [2], [95.0], [EXP], [-4.0], [100.0])
    for scale in (1.0, 2.5, -3.0):  # the size effect is not linear in the scale
        w = state.whatif(state.prepare_order(order), scale=scale)
        full = compute_margin(BOOK.concat(order.scaled(scale)), MARKET, LIQ)
        assert w.initial == pytest.approx(full.total, rel=1e-12)
    moved = dataclasses.replace(MARKET, spot=np.array([90.0, 52.0]))
    tick = state.ticker().tick(moved.spot)
    assert float(tick.initial) == pytest.approx(compute_margin(BOOK, moved, LIQ).total, rel=1e-12)
    assert attribution(state).sum() == pytest.approx(float(state.initial), rel=1e-12)


def test_liquidation_and_hedges_see_the_add_on():
    probe = Account("l", BOOK, Collateral.of({"USD": 0.0}, {"USD": 1.0}), LIQ).evaluate(MARKET)
    cash = float(probe.maintenance - probe.equity) - 2_000.0
    state = Account("l", BOOK, Collateral.of({"USD": cash}, {"USD": 1.0}), LIQ).evaluate(MARKET)
    assert state.state == State.LIQUIDATION
    result = liquidate(state, SpreadCost())
    assert result.restored and not result.reason
    # the book left, margined from scratch, meets its maintenance margin
    closed = np.array([result.closed.get(p, 0.0) for p in BOOK.position_id.tolist()])
    left = dataclasses.replace(BOOK, quantity=BOOK.quantity * (1 - closed))
    left = left.take(np.flatnonzero(np.abs(left.quantity) > 1e-12))
    assert compute_margin(left, MARKET, LIQ).total == pytest.approx(result.maintenance, rel=1e-9)
    # a hedge that grows the size pays the add-on: the search includes it (brute force)
    rich = Account("r", BOOK, Collateral.of({"USD": 1e6}, {"USD": 1.0}), LIQ).evaluate(MARKET)
    stock = Book(["h"], ["XYZ"], [0], [np.nan], [NAT], [100.0], [1.0])
    hedge = best_hedge(rich, stock, [(-20, 20)], SpreadCost(linear_half_spread=0.0))
    grid = [float(compute_margin(BOOK.concat(stock.scaled(q)), MARKET, LIQ).total)
            if q else float(rich.initial) for q in range(-20, 21)]
    assert hedge.initial_after == pytest.approx(min(grid), rel=1e-9)
