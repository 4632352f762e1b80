"""Least-cost liquidation in whole lots: the strangle that the greedy walk could not restore, and
properties over random accounts under OCC, SPAN and Deribit, each checked by margining the book
left after the closes from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import Book, MarketData, methodology
from greeksmargin.accounts.account import Account, Collateral, State
from greeksmargin.accounts.liquidation import SpreadCost, liquidate
from greeksmargin.errors import InputError
from greeksmargin.measures.revalue import position_values
from tests.conftest import random_book

EXP = np.datetime64("2025-03-21T20:00:00", "s")
PRESETS = {
    "occ-tims": methodology.occ_tims(),
    "span": methodology.span(0.07, short_option_minimum=50.0),
    "deribit": methodology.deribit({u: dict(methodology.load_parameters("deribit", "2024.6")
                                            ["currencies"]["BTC"]) for u in ("U0", "U1")}),
}


def _account(book, market, method, cash):
    return Account("a", book, Collateral.of({"USD": cash}, {"USD": 1.0}), method).evaluate(market)


def _short_of_maintenance(book, market, method, by):
    """The account ``by`` below its maintenance margin (cash chosen for it)."""
    probe = _account(book, market, method, 0.0)
    cash = float(probe.maintenance - probe.equity) - by
    return _account(book, market, method, cash) if cash >= 0 else None


def _after(state, result, cost):
    """Margin the book left after ``result``'s closes from scratch: closed at mid for cash."""
    book = state.account.book
    closed = np.array([result.closed.get(str(p), 0.0) for p in book.position_id.tolist()])
    value = np.empty(book.n_positions)
    value[state.resolved.order] = position_values(state.resolved)
    cash = float(state.account.collateral.value) + float((closed * value).sum()) \
        - result.total_cost
    left = Book(book.position_id, book.underlying, book.kind, book.strike, book.expiry,
                book.quantity * (1.0 - closed), book.multiplier, book.exercise, book.settlement)
    keep = np.abs(left.quantity) > 1e-12
    left = left.take(np.flatnonzero(keep)) if keep.any() else None
    if left is None:
        return cash, 0.0, 0.0
    after = _account(left, state.market, state.account.method, 0.0)  # cash may be < 0
    return cash + float(after.equity), float(after.initial), float(after.maintenance)


def test_the_strangle_is_restored_by_partial_closes_of_both_legs_in_whole_lots():
    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    book = Book(["p90", "c110"], ["XYZ"] * 2, [2, 1], [90.0, 110.0], [EXP, EXP], [-12.0, -10.0],
                [100.0, 100.0])
    occ = methodology.occ_tims()
    state = _short_of_maintenance(book, market, occ, 500.0)
    assert state.state == State.LIQUIDATION
    result = liquidate(state)
    assert result.restored and result.method == "optimal" and not result.reason
    assert set(result.closed) == {"p90", "c110"}
    for step in result.steps:  # whole contracts, part of each leg
        assert step.quantity == round(step.quantity) and 0 < step.fraction < 1
    equity, _, maintenance = _after(state, result, SpreadCost())
    assert equity == pytest.approx(result.equity, rel=1e-9)
    assert maintenance == pytest.approx(result.maintenance, rel=1e-9)
    assert equity >= maintenance
    greedy = liquidate(state, method="greedy")
    assert result.total_cost <= greedy.total_cost + 1e-9


def _crashed(seed, preset):
    book, market = random_book(6, seed, n_underlyings=2, linear_share=0.2,
                               max_expiry_seconds=200 * 86400.0)
    method = PRESETS[preset]
    rng = np.random.default_rng(seed)
    state = _short_of_maintenance(book, market, method, float(rng.uniform(50, 5_000)))
    return state


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_optimal_never_costs_more_than_greedy_and_restores_what_a_full_close_restores(preset):
    model = SpreadCost(option_half_spread=0.02, linear_half_spread=0.0005, impact=1e-4)
    restored = 0
    for seed in range(150):  # about 100 accounts in liquidation per preset
        state = _crashed(seed, preset)
        if state is None or state.state != State.LIQUIDATION:
            continue
        result = liquidate(state, model)
        book = state.account.book
        # whole lots (1 unit) or the whole position, and the numbers of a fresh margining
        for step in result.steps:
            q = abs(step.quantity)
            full = abs(float(book.quantity[list(book.position_id).index(step.position_id)]))
            assert abs(q - round(q)) < 1e-9 or abs(q - full) < 1e-9
        equity, _, maintenance = _after(state, result, model)
        assert equity == pytest.approx(result.equity, rel=1e-9, abs=1e-6)
        assert maintenance == pytest.approx(result.maintenance, rel=1e-9, abs=1e-6)
        value, notional, contracts = _inputs(state)
        cost_all = sum(model(int(k), c, v, x) for k, c, v, x in
                       zip(book.kind, contracts, value, notional, strict=True))
        if float(state.equity) - cost_all >= 1e-6 * max(1.0, abs(float(state.equity))):
            assert result.restored, (seed, result.reason)
        restored += result.restored
        # the greedy walk, rounded up to whole lots where it restores, never costs less than
        # the optimum over the same positions (both free to close any position)
        free = liquidate(state, model, min_release_share=0.0)
        greedy = liquidate(state, model, method="greedy", min_release_share=0.0)
        if greedy.restored:
            assert free.restored and result.restored
            rounded = {}
            for p, f in greedy.closed.items():
                q = abs(float(book.quantity[list(book.position_id).index(p)]))
                rounded[p] = min(np.ceil(f * q - 1e-9) / q, 1.0)
            cost = sum(model(int(book.kind[i]), rounded[p] * contracts[i], rounded[p] * value[i],
                             rounded[p] * notional[i])
                       for i, p in enumerate(book.position_id.tolist()) if p in rounded)
            if _restores(state, rounded, model):
                assert free.total_cost <= cost + 1e-6 * max(cost, 1.0), seed
        # nothing closed that is not needed: one lot less of any close breaks the target
        if result.restored and not result.reason:
            for step in result.steps:
                i = list(book.position_id).index(step.position_id)
                q = abs(float(book.quantity[i]))
                less = dict(result.closed)
                less[step.position_id] = max(less[step.position_id] - 1.0 / q, 0.0)
                assert not _restores(state, less, model), (seed, step.position_id)
    assert restored > 80


def _inputs(state):
    from greeksmargin.accounts.liquidation import _closing_inputs

    return _closing_inputs(state)


def _restores(state, closed, model):
    book = state.account.book
    value, notional, contracts = _inputs(state)
    f = np.array([closed.get(str(p), 0.0) for p in book.position_id.tolist()])
    cost = sum(model(int(book.kind[i]), f[i] * contracts[i], f[i] * value[i], f[i] * notional[i])
               for i in range(book.n_positions) if f[i] > 0)

    class Fake:
        pass

    fake = Fake()
    fake.closed = dict(closed)
    fake.total_cost = cost
    equity, _, maintenance = _after(state, fake, model)
    return equity >= maintenance - 1e-9 * max(abs(equity), 1.0)


def test_an_account_nothing_can_restore_is_closed_and_says_so():
    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    book = Book(["p90"], ["XYZ"], [2], [90.0], [EXP], [-12.0], [100.0])
    occ = methodology.occ_tims()
    probe = _account(book, market, occ, 0.0)
    state = _account(book, market, occ, -float(probe.equity) - 50.0)  # equity -50: under water
    result = liquidate(state)
    assert not result.restored and result.closed == {"p90": 1.0}
    assert "nothing short of closing every position" in result.reason
    with pytest.raises(InputError, match="method must be"):
        liquidate(state, method="best")
    with pytest.raises(InputError, match="lot sizes must be > 0"):
        liquidate(state, lot=0.0)


def test_lots_larger_than_one_and_an_odd_remainder():
    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    book = Book(["p90"], ["XYZ"], [2], [90.0], [EXP], [-12.5], [100.0])
    state = _short_of_maintenance(book, market, methodology.occ_tims(), 300.0)
    result = liquidate(state, lot={"p90": 5.0})
    (step,) = result.steps
    # closes are 5-contract lots and/or the odd 2.5
    assert any(abs(step.quantity - c) < 1e-9 for c in (2.5, 5.0, 7.5, 10.0, 12.5))
    assert result.restored


def test_best_hedge_in_whole_lots_is_the_brute_force_optimum_net_of_its_cost():
    from greeksmargin.accounts.liquidation import best_hedge

    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    book = Book(["p95", "c105"], ["XYZ"] * 2, [2, 1], [95.0, 105.0], [EXP, EXP], [-20.0, -5.0],
                [100.0, 100.0])
    for method in (methodology.occ_tims(), methodology.span(0.07, short_option_minimum=50.0)):
        state = _account(book, market, method, 1e6)
        candidates = Book(["stock", "put90"], ["XYZ", "XYZ"], [0, 2], [np.nan, 90.0],
                          [np.datetime64("NaT"), EXP], [100.0, 1.0], [1.0, 100.0])
        model = SpreadCost(option_half_spread=0.05, linear_half_spread=0.001, impact=1e-3)
        bounds = [(-10, 10), (-8, 8)]
        hedge = best_hedge(state, candidates, bounds, model)
        orders = [state.prepare_order(candidates.take(np.array([k]))) for k in range(2)]
        value, notional, contracts = [], [], []
        for k in range(2):
            value.append(orders[k].value)
            notional.append(float(candidates.quantity[k] * candidates.multiplier[k] * 100.0))
            contracts.append(float(abs(candidates.quantity[k]) * candidates.multiplier[k]))
        best = (float(state.initial), (0, 0))
        from greeksmargin.accounts.liquidation import _combine
        for a in range(-10, 11):
            for b in range(-8, 9):
                if a == b == 0:
                    continue
                initial = state.check(_combine(orders, np.array([a, b], float)), 1.0)[1]
                spent = sum(model(int(candidates.kind[k]), abs(q) * contracts[k],
                                  abs(q) * value[k], abs(q) * notional[k])
                            for k, q in enumerate((a, b)) if q)
                if initial + spent < best[0] - 1e-9:
                    best = (initial + spent, (a, b))
        assert hedge.initial_after + hedge.cost == pytest.approx(best[0], rel=1e-9)
        assert tuple(hedge.quantity) == best[1]
        assert hedge.saved > 0
    with pytest.raises(InputError, match="whole units"):
        best_hedge(state, candidates, [(-1.5, 2), (0, 1)])


def test_liquidation_may_trade_hedging_instruments_when_that_is_cheaper():
    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    book = Book(["p95"], ["XYZ"], [2], [95.0], [EXP], [-20.0], [100.0])
    occ = methodology.occ_tims()
    state = _short_of_maintenance(book, market, occ, 3_000.0)
    # options are dear to close (5% of value), the stock cheap to trade (1 bp)
    model = SpreadCost(option_half_spread=0.05, linear_half_spread=0.0001)
    plain = liquidate(state, model)
    stock = Book(["xyz-stock"], ["XYZ"], [0], [np.nan], [np.datetime64("NaT")], [1.0], [1.0])
    hedged = liquidate(state, model, hedges=stock, hedge_bounds=[(-3_000, 3_000)])
    assert plain.restored and hedged.restored
    assert hedged.total_cost < plain.total_cost
    assert hedged.hedges and hedged.hedges["xyz-stock"] < 0  # sells stock against short puts
    # the book left plus the hedge, margined from scratch: the same numbers
    closed = np.array([hedged.closed.get(p, 0.0) for p in book.position_id.tolist()])
    left = Book(book.position_id, book.underlying, book.kind, book.strike, book.expiry,
                book.quantity * (1 - closed), book.multiplier)
    keep = np.abs(left.quantity) > 1e-12
    parts = [left.take(np.flatnonzero(keep))] if keep.any() else []
    combined = parts[0].concat(stock.scaled(hedged.hedges["xyz-stock"])) if parts else \
        stock.scaled(hedged.hedges["xyz-stock"])
    value = np.empty(1)
    value[state.resolved.order] = position_values(state.resolved)
    cash = float(state.account.collateral.value) + float(closed @ value) - hedged.total_cost
    after = _account(combined, market, occ, 0.0)
    assert cash + float(after.equity) == pytest.approx(hedged.equity, rel=1e-9)
    assert float(after.maintenance) == pytest.approx(hedged.maintenance, rel=1e-9)
    assert cash + float(after.equity) >= float(after.maintenance) - 1e-6
    with pytest.raises(InputError, match="need method='optimal'"):
        liquidate(state, model, method="greedy", hedges=stock, hedge_bounds=[(-1, 1)])
    with pytest.raises(InputError, match="one \\(low, high\\) bound per hedging instrument"):
        liquidate(state, model, hedges=stock)
