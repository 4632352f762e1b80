"""Attribution, margin Greeks and distance to liquidation, each checked against full evaluations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from greeksmargin import Book, MarketData, methodology
from greeksmargin.accounts.account import Account, Collateral, State
from greeksmargin.accounts.sensitivity import attribution, distance_to_liquidation, margin_greeks
from greeksmargin.errors import InputError
from tests.conftest import random_book

EXP = np.datetime64("2025-06-20T20:00:00", "s")
NAT = np.datetime64("NaT")
MARKET = MarketData("2025-03-03T15:00:00", ["XYZ", "ABC"], [100.0, 50.0], 0.04, 0.01, [0.3, 0.4])
PRESETS = {
    "occ": methodology.occ_tims(),
    "span": methodology.span(0.07, short_option_minimum=50.0),
    "deribit": methodology.deribit({u: dict(methodology.load_parameters("deribit", "2024.6")
                                            ["currencies"]["BTC"]) for u in ("U0", "U1")}),
}


def _cash(amount):
    return Collateral.of({"USD": amount}, {"USD": 1.0})


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_attribution_sums_to_the_initial_margin_and_a_hedge_contributes_negatively(preset):
    for seed in range(8):
        book, market = random_book(8, 100 + seed, n_underlyings=2, linear_share=0.25)
        state = Account("a", book, _cash(1e7), PRESETS[preset], im_over_mm=1.2).evaluate(market)
        parts = attribution(state)
        # one share per net position (rows of one contract merged, ids joined by "+")
        assert list(parts.index) == list(state.account.book.position_id)
        assert sorted("+".join(parts.index).split("+")) == sorted(book.position_id)
        assert parts.sum() == pytest.approx(float(state.initial), rel=1e-10)
    # a short put hedged by short stock: the stock lowers the margin, its share is negative
    book = Book(["put", "stock"], ["XYZ", "XYZ"], [2, 0], [100.0, np.nan], [EXP, NAT],
                [-10.0, -300.0], [100.0, 1.0])
    state = Account("h", book, _cash(1e6), methodology.occ_tims()).evaluate(MARKET)
    parts = attribution(state)
    assert parts["stock"] < 0 < parts["put"]
    assert parts.sum() == pytest.approx(float(state.initial), rel=1e-12)


def test_margin_greeks_equal_differences_of_full_evaluations():
    book = Book(["put", "call", "stock"], ["XYZ", "ABC", "XYZ"], [2, 1, 0],
                [95.0, 55.0, np.nan], [EXP, EXP, NAT], [-10.0, -20.0, 100.0], [100.0, 100.0, 1.0])
    account = Account("g", book, _cash(1e6), methodology.occ_tims())
    state = account.evaluate(MARKET)
    greeks = margin_greeks(state)
    for k in range(2):
        h = 1e-4 * MARKET.spot[k]
        up, down = MARKET.spot.copy(), MARKET.spot.copy()
        up[k] += h
        down[k] -= h
        fd = (float(account.evaluate(dataclasses.replace(MARKET, spot=up)).initial)
              - float(account.evaluate(dataclasses.replace(MARKET, spot=down)).initial)) / (2 * h)
        assert greeks.delta[k] == pytest.approx(fd, rel=1e-8, abs=1e-8)
        vu, vd = MARKET.vol.copy(), MARKET.vol.copy()
        vu[k] += 1e-4
        vd[k] -= 1e-4
        fv = (float(account.evaluate(dataclasses.replace(MARKET, vol=vu)).initial)
              - float(account.evaluate(dataclasses.replace(MARKET, vol=vd)).initial)) / 2e-4
        assert greeks.vega[k] == pytest.approx(fv, rel=1e-8, abs=1e-8)
    assert greeks.delta[0] != 0 and greeks.vega[1] > 0  # short options: vol raises the margin
    with pytest.raises(InputError, match="bump"):
        margin_greeks(state, bump=0.5)


def _settled(account, moved, state):
    """The account at ``moved`` with its collateral holding the linear P&L since ``state``."""
    book = account.book
    linear = book.kind == 0
    und = [state.market.underlyings.index(u) for u in book.underlying[linear]]
    variation = float((book.quantity[linear] * book.multiplier[linear]
                       * (moved.spot[und] - state.market.spot[und])).sum())
    cash = float(account.collateral.value) + variation
    return Account(account.account_id, book, _cash(cash), account.method).evaluate(moved)


def test_distance_to_liquidation_lands_the_account_on_its_maintenance_margin():
    book = Book(["put", "call", "stock"], ["XYZ", "ABC", "XYZ"], [2, 1, 0],
                [95.0, 55.0, np.nan], [EXP, EXP, NAT], [-10.0, -20.0, 50.0], [100.0, 100.0, 1.0])
    account = Account("d", book, _cash(60_000.0), methodology.occ_tims())
    state = account.evaluate(MARKET)
    assert state.state == State.HEALTHY
    d = distance_to_liquidation(state)
    assert d.down["XYZ"] < 0 < d.up["ABC"]
    checks = [(MARKET.spot * np.array([1 + d.down["XYZ"], 1.0]), MARKET.vol),
              (MARKET.spot * np.array([1.0, 1 + d.up["ABC"]]), MARKET.vol),
              (MARKET.spot * (1 + d.down["joint"]), MARKET.vol),
              (MARKET.spot, MARKET.vol * (1 + d.vol_up))]
    for spot, vol in checks:
        moved = dataclasses.replace(MARKET, spot=spot, vol=vol)
        full = _settled(account, moved, state)
        assert float(full.equity) == pytest.approx(float(full.maintenance), rel=1e-8)
    # a smaller move keeps it out of liquidation
    nearer = dataclasses.replace(MARKET, spot=MARKET.spot * np.array([1 + 0.99 * d.down["XYZ"],
                                                                      1.0]))
    assert _settled(account, nearer, state).state != State.LIQUIDATION
    # already in liquidation: distance 0; out of reach: NaN
    poor = Account("p", book, _cash(0.0), methodology.occ_tims()).evaluate(MARKET)
    assert distance_to_liquidation(poor).down["XYZ"] == 0.0
    rich = Account("r", book, _cash(1e9), methodology.occ_tims()).evaluate(MARKET)
    far = distance_to_liquidation(rich.ticker(), max_rise=0.5)
    assert np.isnan(far.up["ABC"])
    with pytest.raises(InputError, match="max_fall"):
        distance_to_liquidation(state, max_fall=1.5)
