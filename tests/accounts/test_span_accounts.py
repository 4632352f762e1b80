"""Accounts margined with SPAN spreads: every account path equals margining the book from scratch.

The spreads form from the groups' deltas, which add up (a held book plus an order's legs) while
the spreads formed from them do not; so the what-if, the check, the per-leg increments and the
tick are each checked against ``compute_margin`` of the combined book or the moved market.
"""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import Book, MarketData, compute_margin
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.accounts.liquidation import best_hedge, liquidate, minimise_margin
from greeksmargin.accounts.sensitivity import attribution, margin_greeks
from greeksmargin.errors import MethodologyError
from greeksmargin.methodology import (
    DeliveryCharge,
    InterSpread,
    IntraSpread,
    SpanSpreads,
    SpanTier,
    span,
)

MARKET = MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.25, 0.2])
MARCH, MAY = np.datetime64("2025-03-14"), np.datetime64("2025-05-14")
SPREADS = SpanSpreads(
    tiers={"C": (SpanTier(1, "2025-03", "2025-03"), SpanTier(2, "2025-05", "2025-07"))},
    intra={"C": (IntraSpread(150, ((1, 1), (2, -1))),)}, delivery={"C": DeliveryCharge(2, 10, 20)},
    inter=(InterSpread(0.5, (("C", 2), ("S", -1))),))
METHOD = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=150,
              spreads=SPREADS)
CASH = Collateral.of({"USD": 50_000.0}, {"USD": 1.0})


def _book() -> Book:
    return Book(["f1", "f2", "c1", "p1", "s1"], ["C", "C", "C", "C", "S"], [0, 0, 1, 2, 0],
                [np.nan, np.nan, 4.5, 4.0, np.nan], [MARCH, MAY, MARCH, MAY, MARCH],
                [7.0, -2.0, -5.0, 4.0, -2.0], [5000.0] * 5)


def _legs(rows: list[tuple[str, str, int, float, np.datetime64, float]]) -> Book:
    return Book([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows], [r[4] for r in rows], [r[5] for r in rows],
                [5000.0] * len(rows))


ORDERS = {
    "new calendar": [("o1", "C", 0, np.nan, MAY, -2.0), ("o2", "C", 0, np.nan, MARCH, 2.0)],
    "held call and beans": [("o1", "C", 1, 4.5, MARCH, 3.0), ("o2", "S", 0, np.nan, MARCH, -1.0)],
    "new put": [("o1", "S", 2, 9.5, MAY, -2.0)],
}


def test_evaluation_equals_the_book_margined_alone() -> None:
    state = Account("a", _book(), CASH, METHOD).evaluate(MARKET)
    direct = compute_margin(_book(), MARKET, METHOD)
    assert direct.addons["inter_credit"].sum() < 0 and direct.addons["intra_spread"].sum() > 0
    assert float(state.initial) == pytest.approx(float(direct.initial_quote), rel=1e-12)
    np.testing.assert_allclose(state.margin.addons["inter_credit"],
                               direct.addons["inter_credit"], rtol=1e-12)


@pytest.mark.parametrize("name", list(ORDERS))
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.5, -1.0])
def test_whatif_and_check_equal_margining_the_combined_book(name: str, scale: float) -> None:
    state = Account("a", _book(), CASH, METHOD).evaluate(MARKET)
    legs = _legs(ORDERS[name])
    order = state.prepare_order(legs)
    scaled = Book(legs.position_id, legs.underlying, legs.kind, legs.strike, legs.expiry,
                  legs.quantity * scale, legs.multiplier)
    expected = float(compute_margin(_book().concat(scaled), MARKET, METHOD).initial_quote)
    assert state.check(order, scale)[1] == pytest.approx(expected, rel=1e-9)
    assert state.whatif(order, scale).initial == pytest.approx(expected, rel=1e-9)
    # each leg alone
    increments = state.whatif(order, scale, per_leg=True).incremental_initial
    for k in range(legs.n_positions):
        one = scaled.take(np.arange(legs.n_positions) == k)
        alone = float(compute_margin(_book().concat(one), MARKET, METHOD).initial_quote)
        assert increments[k] == pytest.approx(alone - float(state.initial), rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("per_contract", [False, True])
def test_tick_equals_evaluating_the_moved_market(per_contract: bool) -> None:
    # relative scan ranges, or ranges per contract (a relative move of amount / (multiplier x
    # price), so the tick rescales them to its prices)
    relative = METHOD if per_contract else span({"C": 0.08, "S": 0.05},
                                                short_option_minimum=150, spreads=SPREADS)
    account = Account("a", _book(), CASH, relative)
    ticker = account.evaluate(MARKET).ticker()
    for spot, vol in (([4.5, 9.6], [0.3, 0.22]), ([4.1, 10.4], None)):
        moved = MarketData(MARKET.valuation, MARKET.underlyings, spot, 0.0, 0.0,
                           vol if vol is not None else [0.25, 0.2])
        tick = ticker.tick(np.array(spot), None if vol is None else np.array(vol))
        expected = compute_margin(_book(), moved, relative)
        assert expected.addons["inter_credit"].sum() < 0
        assert float(tick.initial) == pytest.approx(float(expected.initial_quote), rel=1e-9)
    greeks = margin_greeks(account.evaluate(MARKET))
    assert np.all(np.isfinite(greeks.delta))


def test_minimise_margin_with_spreads_never_raises_the_margin() -> None:
    state = Account("a", _book(), CASH, METHOD).evaluate(MARKET)
    candidate = _legs([("h", "S", 0, np.nan, MARCH, 1.0)])
    hedge = minimise_margin(state, candidate, [(-6.0, 6.0)])
    assert hedge.initial_after <= hedge.initial_before + 1e-9
    scaled = Book(candidate.position_id, candidate.underlying, candidate.kind, candidate.strike,
                  candidate.expiry, candidate.quantity * hedge.quantity[0], candidate.multiplier)
    assert hedge.initial_after == pytest.approx(
        float(compute_margin(_book().concat(scaled), MARKET, METHOD).initial_quote), rel=1e-9)


def test_linear_programmes_and_attribution_refuse_spreads() -> None:
    state = Account("a", _book(), Collateral.of({"USD": 10.0}, {"USD": 1.0}),
                    METHOD).evaluate(MARKET)
    with pytest.raises(MethodologyError, match="liquidate"):
        liquidate(state)
    with pytest.raises(MethodologyError, match="best_hedge"):
        best_hedge(state, _legs([("h", "S", 0, np.nan, MARCH, 1.0)]), [(-2, 2)])
    with pytest.raises(MethodologyError, match="attribution"):
        attribution(state)


def test_an_order_leg_of_another_contract_size_is_refused_by_name() -> None:
    state = Account("a", _book(), CASH, METHOD).evaluate(MARKET)
    mini = Book(["m1"], ["C"], [0], [np.nan], [MARCH], [1.0], [1000.0])  # a mini contract
    with pytest.raises(MethodologyError, match="'m1'.*contract size"):
        state.prepare_order(mini)


def test_a_group_netted_to_nothing_evaluates_and_takes_orders() -> None:
    # corn bought and sold back: the account holds an empty corn group. It used to fail
    # ("mixes settlement currencies []"); its scan range per contract comes from an order's legs
    book = Book(["a", "b", "s"], ["C", "C", "S"], [0, 0, 0], [np.nan] * 3, [MARCH] * 3,
                [2.0, -2.0, 1.0], [5000.0] * 3)
    for method in (METHOD, span(0.07)):
        state = Account("a", book, CASH, method).evaluate(MARKET)
        assert float(state.initial) == pytest.approx(
            float(compute_margin(book, MARKET, method).initial_quote), rel=1e-12)
        for quantity in (2.0, -3.0):
            leg = _legs([("o", "C", 0, np.nan, MAY, quantity)])
            expected = float(compute_margin(book.concat(leg), MARKET, method).initial_quote)
            assert state.check(state.prepare_order(leg))[1] == pytest.approx(expected, rel=1e-9)
        moved = MarketData(MARKET.valuation, MARKET.underlyings, [4.5, 10.2], 0.0, 0.0,
                           [0.25, 0.2])
        tick = state.ticker().tick(np.array([4.5, 10.2]))
        assert float(tick.initial) == pytest.approx(
            float(compute_margin(book, moved, method).initial_quote), rel=1e-9)


def test_tick_rescales_per_contract_scan_ranges_without_spreads() -> None:
    # the compiled small-book tick (no spreads): ranges given per contract follow the price
    method = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=150)
    ticker = Account("a", _book(), CASH, method).evaluate(MARKET).ticker()
    for spot in ([4.6, 9.4], [4.0, 10.9]):
        moved = MarketData(MARKET.valuation, MARKET.underlyings, spot, 0.0, 0.0, [0.25, 0.2])
        expected = float(compute_margin(_book(), moved, method).initial_quote)
        assert float(ticker.tick(np.array(spot)).initial) == pytest.approx(expected, rel=1e-9)
