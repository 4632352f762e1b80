"""Accounts: collateral, states at the thresholds, what-if equals recomputation, liquidation,
margin-minimising hedge, and bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greeksmargin import Book, MarketData, ScenarioGrid, methodology
from greeksmargin.accounts.account import Account, Collateral, State
from greeksmargin.accounts.liquidation import SpreadCost, liquidate, minimise_margin
from greeksmargin.enums import Settlement
from greeksmargin.errors import CurrencyError, InputError, MarketDataError
from tests.conftest import assert_close, random_book

EXP = np.datetime64("2025-07-18T20:00:00", "s")
NAT = np.datetime64("NaT")
MARKET = MarketData("2025-06-02T15:00:00", ["XYZ", "ABC", "QQQ"], [100.0, 50.0, 520.0], 0.04,
                    0.03, [0.3, 0.4, 0.2])
OCC = methodology.occ_tims()
CASH = Collateral.of({"USD": 20_000.0}, {"USD": 1.0})


def _book():
    return Book(["short-put", "long-call", "stock"], ["XYZ", "XYZ", "ABC"], [2, 1, 0],
                [95.0, 110.0, np.nan], [EXP, EXP, NAT], [-10.0, 5.0, 200.0], [100.0, 100.0, 1.0])


def test_collateral_values_haircuts_and_errors():
    c = Collateral.of({"USD": 1000.0, "EUR": 500.0, "BTC": 0.5},
                      {"USD": 1.0, "EUR": 1.08, "BTC": 60_000.0}, {"BTC": 0.1})
    assert_close(c.value, 1000 + 540 + 0.5 * 60_000 * 0.9, 1e-15)
    with pytest.raises(InputError, match=r"no price for collateral asset\(s\) \['ETH'\]"):
        Collateral.of({"ETH": 1.0}, {"USD": 1.0})
    with pytest.raises(InputError, match="amount must be >= 0 and finite; got -5.0 for asset 'USD'"):
        Collateral.of({"USD": -5.0}, {"USD": 1.0})
    with pytest.raises(InputError, match=r"haircut must be in \[0, 1\); got 1.0 for asset 'BTC'"):
        Collateral.of({"BTC": 1.0}, {"BTC": 1.0}, {"BTC": 1.0})
    with pytest.raises(InputError, match="price must be > 0"):
        Collateral.of({"USD": 1.0}, {"USD": 0.0})
    with pytest.raises(InputError, match="unique"):
        Collateral(("USD", "USD"), [1, 1], [1, 1], [0, 0])
    with pytest.raises(InputError, match="im_over_mm must be >= 1"):
        Account("a", _book(), CASH, OCC, im_over_mm=0.5)


def test_equity_margin_ratio_and_states_at_the_thresholds():
    state = Account("a", _book(), CASH, OCC).evaluate(MARKET)
    value = state.pnl.base_value.sum()
    assert_close(state.equity, 20_000 + value, 1e-12)
    assert state.initial == state.maintenance == state.margin.total
    mm = state.maintenance
    house = 1.25
    for cash, expected in ((house * mm - value, State.HEALTHY),
                           (house * mm - value - 1e-6, State.MARGIN_CALL),
                           (mm - value, State.MARGIN_CALL),
                           (mm - value - 1e-6, State.LIQUIDATION)):
        s = Account("a", _book(), Collateral.of({"USD": cash}, {"USD": 1.0}), OCC,
                    im_over_mm=house).evaluate(MARKET)
        assert s.state == expected, (cash, s.equity, s.initial, s.maintenance)
    assert_close(s.margin_ratio, s.maintenance / s.equity, 1e-15)
    assert s.excess < 0
    deribit_like = Account("d", _book(), CASH, ScenarioGrid.product([-0.1, 0.1])).evaluate(MARKET)
    assert deribit_like.state == State.HEALTHY


def test_whatif_equals_full_recomputation_of_the_combined_book():
    book, market = random_book(60, 41, n_underlyings=3)
    collateral = Collateral.of({"USD": 5e5}, {"USD": 1.0})
    for method in (OCC, methodology.span(0.07, short_option_minimum=25.0)):
        state = Account("a", book, collateral, method).evaluate(market)
        expiry = np.datetime64("2025-06-20T20:00:00", "s")
        legs = Book(["o1", "o2", "o3"], ["U0", "U1", "U0"], [2, 1, 0],
                    [float(market.spot[0]) * 0.95, float(market.spot[1]) * 1.05, np.nan],
                    [expiry, expiry, NAT], [-7.0, 3.0, 40.0], [100.0, 100.0, 1.0])
        market2 = market.with_position_data({"o1": 0.35, "o2": 0.45})
        state = Account("a", book, collateral, method).evaluate(market2)
        order = state.prepare_order(legs)
        for scale in (1.0, 2.5):
            combined = Account("a", book.concat(legs.scaled(scale)), collateral, method)
            full = combined.evaluate(market2)
            w = state.whatif(order, scale=scale, per_leg=True)
            assert_close(w.initial, full.initial, 1e-10)
            assert_close(w.maintenance, full.maintenance, 1e-10)
            accepted, initial = state.check(order, scale)
            assert_close(initial, full.initial, 1e-10)
            assert accepted == w.accepted == (w.equity >= w.initial)
        # incremental margin of each leg = margin with that leg alone - margin now
        for k in range(legs.n_positions):
            alone = Account("a", book.concat(legs.take(np.array([k]))), collateral, method)
            assert_close(state.whatif(order, per_leg=True).incremental_initial[k],
                         alone.evaluate(market2).initial - state.initial, 1e-9,
                         atol=1e-9 * state.initial)


def test_whatif_rejects_against_available_equity_and_unknown_groups():
    small = Account("a", _book(), Collateral.of({"USD": 100.0}, {"USD": 1.0}), OCC)
    state = small.evaluate(MARKET)
    order = state.prepare_order(Book(["naked"], ["XYZ"], [2], [100.0], [EXP], [-50.0], [100.0]))
    accepted, initial = state.check(order)
    assert not accepted and initial > state.initial
    w = state.whatif(order)
    assert not w.accepted and w.state == State.LIQUIDATION
    with pytest.raises(InputError, match="group 'QQQ', which the account does not hold"):
        state.prepare_order(Book(["q"], ["QQQ"], [1], [520.0], [EXP], [1.0], [100.0]))
    with pytest.raises(InputError, match="clashes with a position"):
        state.prepare_order(Book(["stock"], ["ABC"], [0], [np.nan], [NAT], [1.0], [1.0]))
    with pytest.raises(Exception, match="no market data for underlying 'NOPE'"):
        state.prepare_order(Book(["n"], ["NOPE"], [0], [np.nan], [NAT], [1.0], [1.0]))


def _shocked_account():
    # a risky short put on XYZ and healthy, unrelated positions: a covered call on ABC and a
    # long QQQ call; XYZ then falls 12%
    book = Book(["xyz-short-put", "abc-stock", "abc-short-call", "qqq-long-call"],
                ["XYZ", "ABC", "ABC", "QQQ"], [2, 0, 1, 1], [100.0, np.nan, 55.0, 530.0],
                [EXP, NAT, EXP, EXP], [-40.0, 1000.0, -10.0, 2.0], [100.0, 1.0, 100.0, 100.0])
    calm = Account("a", book, Collateral.of({"USD": 100_000.0}, {"USD": 1.0}), OCC)
    assert calm.evaluate(MARKET).state == State.HEALTHY
    crash = MarketData(MARKET.valuation, MARKET.underlyings, [88.0, 50.0, 520.0], 0.04, 0.03,
                       [0.45, 0.4, 0.2])
    return calm.evaluate(crash)


def test_liquidation_closes_the_risky_leg_only_and_as_little_as_needed():
    state = _shocked_account()
    assert state.state == State.LIQUIDATION
    result = liquidate(state, SpreadCost(option_half_spread=0.01))
    assert result.restored and result.state != State.LIQUIDATION
    assert set(result.closed) == {"xyz-short-put"}  # healthy, unrelated legs survive
    assert 0 < result.closed["xyz-short-put"] < 1  # only part of it
    (step,) = result.steps
    assert step.quantity == 7.0  # whole contracts: 7 of 40
    assert result.total_cost == pytest.approx(sum(s.cost for s in result.steps))
    # one contract fewer would not have been enough, even closed for free
    buy = Book(["buy-back"], ["XYZ"], [2], [100.0], [EXP], [6.0], [100.0])
    six = state.whatif(state.prepare_order(buy))  # buys back 6 of the 40 short puts at mid
    assert six.equity < six.maintenance
    assert result.equity >= result.maintenance
    greedy = liquidate(state, SpreadCost(option_half_spread=0.01), method="greedy")
    assert greedy.closed["xyz-short-put"] * 40 == pytest.approx(6.64, abs=0.01)
    # the greedy walk closes a fraction, so the equity sits exactly at the target
    assert_close(greedy.equity, greedy.maintenance, 1e-9)
    to_initial = liquidate(state, SpreadCost(option_half_spread=0.01), target="initial")
    assert to_initial.closed["xyz-short-put"] >= result.closed["xyz-short-put"]
    assert to_initial.equity >= to_initial.initial - 1e-9


def test_liquidation_prefers_cheap_margin_release_and_leaves_healthy_accounts_alone():
    # two identical risky short puts, one expensive to close: the cheap one goes first
    book = Book(["cheap", "dear"], ["XYZ", "ABC"], [2, 2], [100.0, 50.0], [EXP, EXP],
                [-30.0, -60.0], [100.0, 100.0])
    crash = MarketData(MARKET.valuation, MARKET.underlyings, [90.0, 45.0, 520.0], 0.04, 0.03,
                       [0.45, 0.55, 0.2])
    state = Account("a", book, Collateral.of({"USD": 90_000.0}, {"USD": 1.0}), OCC).evaluate(crash)
    assert state.state == State.LIQUIDATION

    def dear_abc(kind, contracts, value, notional):
        # ABC (spot 45) options are illiquid: 20% of value to close; XYZ (spot 90) 0.1%
        spot = abs(notional) / max(contracts, 1e-300)
        return abs(value) * (0.2 if spot < 60 else 0.001)

    result = liquidate(state, dear_abc)
    assert result.restored
    assert result.steps[0].position_id == "cheap"
    healthy = Account("a", _book(), CASH, OCC).evaluate(MARKET)
    assert liquidate(healthy).steps == ()
    with pytest.raises(InputError, match="target must be"):
        liquidate(state, target="all")
    with pytest.raises(InputError, match="SpreadCost.impact must be >= 0"):
        SpreadCost(impact=-1.0)


def test_margin_minimising_hedge_with_the_underlying():
    # short 20 puts on XYZ: a short position in the stock lowers the down-move loss
    book = Book(["short-put"], ["XYZ"], [2], [100.0], [EXP], [-20.0], [100.0])
    state = Account("a", book, CASH, ScenarioGrid.product(np.linspace(-0.15, 0.15, 11))
                    ).evaluate(MARKET)
    hedge = Book(["hedge"], ["XYZ"], [0], [np.nan], [NAT], [1.0], [1.0])
    result = minimise_margin(state, hedge, [(-3000.0, 3000.0)])
    assert result.saved > 0 and result.quantity[0] < 0
    # brute force over a fine grid agrees with the optimiser
    order = state.prepare_order(hedge)
    grid = np.linspace(-3000, 3000, 6001)
    brute = min(state.check(order, q)[1] for q in grid)
    assert result.initial_after <= brute + 1e-6 * brute
    with pytest.raises(InputError, match="one \\(low, high\\) bound per candidate"):
        minimise_margin(state, hedge, [])
    with pytest.raises(InputError, match="low < high"):
        minimise_margin(state, hedge, [(1.0, 1.0)])


def test_pure_cost_ranking_is_available_and_documented():
    state = _shocked_account()
    cheapest_first = liquidate(state, SpreadCost(option_half_spread=0.01), min_release_share=0.0,
                               method="greedy")
    assert cheapest_first.restored
    assert cheapest_first.steps[0].position_id == "abc-stock"  # 5 bps to close: best per dollar
    # the optimum with no eligibility rule is cheaper still, and touches the healthy legs
    anywhere = liquidate(state, SpreadCost(option_half_spread=0.01), min_release_share=0.0)
    assert anywhere.restored and "xyz-short-put" not in anywhere.closed
    assert anywhere.total_cost < liquidate(state, SpreadCost(option_half_spread=0.01)).total_cost
    with pytest.raises(InputError, match=r"min_release_share must be in \[0, 1\]"):
        liquidate(state, min_release_share=2.0)


def _btc_book():
    # Deribit-style inverse BTC book: short strangle, long call, perpetual hedge, ETH put
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    inverse = [Settlement.INVERSE] * 5
    return Book(["c1", "p1", "c2", "perp", "e1"], ["BTC", "BTC", "BTC", "BTC", "ETH"],
                [1, 2, 1, 0, 2], [110_000.0, 90_000.0, 130_000.0, np.nan, 2_500.0],
                [exp, exp, exp, NAT, exp], [-3.0, -3.0, 2.0, 1.5, -10.0], [1.0] * 5,
                settlement=inverse)


def _btc_market(spot=(100_000.0, 2_600.0), vol=(0.55, 0.7)):
    return MarketData("2025-06-02T08:00:00", ["BTC", "ETH"], list(spot), 0.0, 0.0, list(vol),
                      quote_currency="USD")


def test_compiled_margins_cover_the_deribit_dampener_and_roll_shock():
    # the compiled what-if (check) now covers Deribit books: equal to margining the combined book
    # with the Python reduction (margin_from_pnl), whose dampener has its own tests
    cash = Collateral.of({"BTC": 2.0, "ETH": 20.0}, {"BTC": 100_000.0, "ETH": 2_600.0})
    account = Account("d", _btc_book(), cash, methodology.deribit())
    state = account.evaluate(_btc_market())
    arrays = state.rules_arrays.arrays
    assert arrays.dampener[0] > 0 and arrays.extended[0].sum() == 8  # the extended table
    assert_close(state._margins(state.pnl.values, state.facts)[0], state.initial, 1e-12)
    legs = Book(["o1", "o2"], ["BTC", "ETH"], [2, 1], [80_000.0, 3_000.0],
                [np.datetime64("2025-06-27T08:00:00", "s")] * 2, [-4.0, 5.0], [1.0, 1.0],
                settlement=[Settlement.INVERSE] * 2)
    order = state.prepare_order(legs)
    for scale in (1.0, 3.0):
        full = Account("d", _btc_book().concat(legs.scaled(scale)), cash,
                       methodology.deribit()).evaluate(_btc_market())
        accepted, initial = state.check(order, scale)
        assert_close(initial, full.initial, 1e-12)
        w = state.whatif(order, scale)
        assert_close(w.initial, initial, 1e-15)
        assert_close(w.maintenance, full.maintenance, 1e-12)


@pytest.mark.parametrize("method", [
    OCC, methodology.span(0.07, short_option_minimum=25.0), methodology.deribit(),
    ScenarioGrid.product(np.linspace(-0.15, 0.15, 21), [-0.3, -0.15, 0.0, 0.15, 0.3])],
    ids=["occ", "span", "deribit", "grid105"])
def test_ticker_equals_evaluate_at_the_moved_market(method):
    if isinstance(method, ScenarioGrid) or method.name != "deribit-pm":
        book, market = random_book(40, 51, n_underlyings=3)
        # give half of the options the flat vol, so a vol tick moves them and not the others
        flat = {pid: v for k, (pid, v) in enumerate(market.position_vol.items()) if k % 2}
        market = MarketData(market.valuation, market.underlyings, market.spot, market.rate,
                            market.carry, [0.3, 0.45, 0.6], position_vol=flat)
    else:
        book, market = _btc_book(), _btc_market()
    cash = Collateral.of({"USD": 5e7}, {"USD": 1.0})
    for house in (None, 1.3):
        account = Account("t", book, cash, method, im_over_mm=house)
        ticker = account.evaluate(market).ticker()
        assert ticker._one_call is not None  # the packed one-call path is the one checked here
        rng = np.random.default_rng(7)
        for _ in range(4):
            spot = market.spot * rng.uniform(0.8, 1.25, market.n_underlyings)
            vol = market.vol * rng.uniform(0.7, 1.4, market.n_underlyings)
            for moved_vol in (None, vol):
                moved = MarketData(market.valuation, market.underlyings, spot, market.rate,
                                   market.carry, market.vol if moved_vol is None else moved_vol,
                                   position_vol=market.position_vol,
                                   quote_currency=market.quote_currency)
                tick = ticker.tick(spot, moved_vol)
                # the same account at the moved market, its collateral holding the linear
                # instruments' P&L since the evaluation (variation margin), by hand
                linear = book.kind == 0
                und = [market.underlyings.index(u) for u in book.underlying[linear]]
                variation = float((book.quantity[linear] * book.multiplier[linear]
                                   * (spot[und] - market.spot[und])).sum())
                assert_close(tick.variation, variation, 1e-12, atol=1e-9)
                settled = Account("t", book, Collateral.of({"USD": 5e7 + variation},
                                                           {"USD": 1.0}), method,
                                  im_over_mm=house)
                full = settled.evaluate(moved)
                assert_close(tick.initial, full.initial, 1e-12)
                assert_close(tick.maintenance, full.maintenance, 1e-12)
                assert_close(tick.equity, full.equity, 1e-12)
                assert tick.state == full.state
                assert_close(tick.excess, full.excess, 1e-9, atol=1e-9 * full.initial)
                assert_close(tick.margin_ratio, full.margin_ratio, 1e-12)


def test_ticker_on_a_large_book_takes_the_parallel_path():
    book, market = random_book(400, 52, n_underlyings=2)
    account = Account("big", book, CASH, ScenarioGrid.product(np.linspace(-0.2, 0.2, 41),
                                                              [-0.25, 0.0, 0.25]))
    ticker = account.evaluate(market).ticker()
    assert ticker._plan.parallel
    spot = market.spot * np.array([0.9, 1.07])
    moved = MarketData(market.valuation, market.underlyings, spot, market.rate, market.carry,
                       position_vol=market.position_vol)
    full = account.evaluate(moved)
    tick = ticker.tick(spot)
    assert_close(tick.initial, full.initial, 1e-12)
    linear = book.kind == 0
    und = [market.underlyings.index(u) for u in book.underlying[linear]]
    variation = float((book.quantity[linear] * book.multiplier[linear]
                       * (spot[und] - market.spot[und])).sum())
    assert variation != 0.0
    assert_close(tick.equity, float(full.equity) + variation, 1e-12)



_SPOTS = st.sampled_from([100.0, 50.0, 520.0, 1e-300, 1e15, 1.0000001e15, 0.0, -1.0, math.nan,
                          math.inf, 1e308, 3.5])
_VOLS = st.sampled_from([0.3, 0.0, 5.0, 5.0000001, -0.01, math.nan, math.inf, 1e-9, 1.2])


@settings(max_examples=150, deadline=None)
@given(spot=st.lists(_SPOTS, min_size=2, max_size=4),
       vol=st.none() | st.lists(_VOLS, min_size=2, max_size=4),
       read_only=st.booleans(), strided=st.booleans())
def test_the_one_call_tick_equals_the_checked_path(spot, vol, read_only, strided):
    # the compiled small-book tick (checks inside the kernel) and the checked Python path give
    # the same numbers, or the same error, on any spots and vols, whatever the caller's arrays
    state = Account("a", _book(), CASH, OCC).evaluate(MARKET)
    one_call, checked = state.ticker(), state.ticker()
    assert one_call._one_call is not None
    checked._one_call = None

    def as_given(values):
        if values is None:
            return None
        arr = np.repeat(np.array(values), 2)[::2] if strided else np.array(values)
        arr.flags.writeable = not read_only
        return arr

    outcomes = []
    for ticker in (one_call, checked):
        try:
            tick = ticker.tick(as_given(spot), as_given(vol))
            outcomes.append((tick.initial, tick.maintenance, tick.equity, tick.book_value,
                             tick.variation))
        except MarketDataError as exc:
            outcomes.append(str(exc))
    if isinstance(outcomes[0], tuple):
        np.testing.assert_allclose(outcomes[0], outcomes[1], rtol=1e-13, atol=1e-9)
    else:
        assert outcomes[0] == outcomes[1]


def test_a_valid_tick_of_a_small_book_is_one_compiled_call(monkeypatch):
    # the checked Python path is not taken (it would call checked_moves) for valid input
    ticker = Account("a", _book(), CASH, OCC).evaluate(MARKET).ticker()
    expected = ticker.tick([101.0, 49.0, 515.0], [0.31, 0.42, 0.2])

    def not_called(*args, **kwargs):
        raise AssertionError("the checked path ran")

    monkeypatch.setattr("greeksmargin.accounts.account.checked_moves", not_called)
    tick = ticker.tick([101.0, 49.0, 515.0], [0.31, 0.42, 0.2])
    assert (tick.initial, tick.equity) == (expected.initial, expected.equity)
    with pytest.raises(AssertionError, match="the checked path ran"):
        ticker.tick([101.0, -49.0, 515.0])


def test_the_packed_tick_inputs_unpack_to_the_bundles_they_came_from():
    # the five arrays of a packed tick hold every leaf, in place, with its dtype and shape
    import numba

    from greeksmargin.kernels import _margin

    @numba.njit
    def unpacked(floats, ints, smalls, flags, layout):
        return _margin.unpack_tick(floats, ints, smalls, flags, layout)

    def leaves(nested):
        for item in nested:
            if isinstance(item, tuple):
                yield from leaves(item)
            else:
                yield item

    for method in (OCC, methodology.span(0.07, 0.35),
                   ScenarioGrid.product(np.linspace(-0.2, 0.2, 9), [-0.3, 0.0, 0.3])):
        state = Account("a", _book(), CASH, method).evaluate(MARKET)
        ticker = state.ticker()
        plan, rules = ticker._plan, state.rules_arrays
        given = _margin.tick_leaves(
            ticker._position_fields, plan.rate, plan.carry, ticker._item_fields,
            ticker._scenario_fields, plan.group_offsets, ticker._quote_index,
            ticker._first_underlying, rules.fields, state.facts.count_fields, rules.mm_factor,
            ticker._im_over_mm or 0.0, ticker._flat_rows, ticker._flat_underlying,
            ticker._linear_size, ticker._linear_underlying, ticker._linear_spot)
        got = list(leaves(unpacked(*ticker._one_call)))
        assert len(got) == len(given) == 50
        for k, (a, b) in enumerate(zip(got, given, strict=True)):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape, k
            np.testing.assert_array_equal(a, b, err_msg=str(k))

def test_a_tick_counts_the_linear_instruments_pnl_since_the_evaluation():
    # 100 shares bought at 100 and 10,000 cash: at 90 the equity is 9,000, not 10,000
    market = MarketData("2025-02-20T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, [0.3])
    shares = Book(["s"], ["XYZ"], [0], [np.nan], [NAT], [100.0], [1.0])
    state = Account("a", shares, Collateral.of({"USD": 10_000.0}, {"USD": 1.0}),
                    OCC).evaluate(market)
    tick = state.ticker().tick([90.0])
    assert tick.variation == pytest.approx(-1_000.0) and tick.equity == pytest.approx(9_000.0)


def test_ticker_rejects_bad_ticks_naming_the_underlying_or_position():
    ticker = Account("a", _book(), CASH, OCC).evaluate(MARKET).ticker()
    with pytest.raises(MarketDataError, match=r"spot must have one value per underlying \(3: XYZ, "
                                              r"ABC, QQQ\); got shape \(2,\)"):
        ticker.tick([100.0, 50.0])
    with pytest.raises(MarketDataError, match="spot must be > 0 and at most 1e\\+15; got -1.0 for"
                                              " underlying 'ABC'"):
        ticker.tick([100.0, -1.0, 520.0])
    with pytest.raises(MarketDataError, match="spot must be > 0 and at most 1e\\+15; got nan for"
                                              " underlying 'XYZ'"):
        ticker.tick([np.nan, 50.0, 520.0])
    with pytest.raises(MarketDataError, match=r"spot must be > 0 and at most 1e\+15; got 1e\+308"
                                              " for underlying 'XYZ'"):
        ticker.tick([1e308, 1e308, 520.0])  # once an OverflowError from the sum of the spots
    with pytest.raises(MarketDataError, match=r"vol must be in \[0, 5.0\] \(annualised decimal;"
                                              r" pass 0.25 for 25%\) or NaN; got 30.0 for"
                                              r" underlying 'QQQ'"):
        ticker.tick(MARKET.spot, [0.3, 0.4, 30.0])
    with pytest.raises(MarketDataError, match="vol is NaN for underlying 'XYZ', whose flat vol"
                                              " prices position 'short-put'"):
        ticker.tick(MARKET.spot, [np.nan, 0.4, 0.2])
    # no option on QQQ: its vol may be NaN; nothing moved: the evaluated margin
    tick = ticker.tick(MARKET.spot, [0.3, 0.4, np.nan])
    state = Account("a", _book(), CASH, OCC).evaluate(MARKET)
    assert_close(tick.initial, state.initial, 1e-15)
    assert_close(tick.equity, state.equity, 1e-15)


def test_compiled_margins_name_a_non_finite_pnl():
    state = Account("a", _book(), CASH, OCC).evaluate(MARKET)
    values = state.pnl.values.copy()
    values[1, 3] = np.nan
    with pytest.raises(InputError, match="scenario P&L is not finite \\(nan\\) for group 'XYZ',"
                                         " scenario 3"):
        state._margins(values, state.facts)


def _one_btc_short_call(collateral_usd=3_000.0):
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    book = Book(["c1"], ["BTC"], [1], [110_000.0], [exp], [-1.0], [1.0],
                settlement=[Settlement.INVERSE])
    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.55],
                        quote_currency="USD")
    account = Account("coin", book, Collateral.of({"USD": collateral_usd}, {"USD": 1.0}),
                      methodology.deribit())
    return account, market


def test_coin_account_is_judged_in_its_own_currency_by_every_path():
    # one short inverse BTC call, 3,000 USD of cash: the Deribit margin is ~0.09 BTC, i.e. ~9,000
    # USD at spot, so the account is under its maintenance margin (it was HEALTHY when the BTC
    # margin was compared with the USD equity)
    account, market = _one_btc_short_call()
    state = account.evaluate(market)
    spot = float(market.spot[0])
    assert state.margin.total.currency == "BTC" and state.initial.currency == "USD"
    assert_close(state.initial, float(state.margin.total) * spot, 1e-14)  # converted at spot
    assert_close(state.maintenance, 0.8 * float(state.margin.total) * spot, 1e-14)  # MM = 0.8 IM
    assert_close(state.equity, 3_000.0 + float(state.pnl.base_value[0]) * spot, 1e-14)
    assert state.equity < state.maintenance and state.state == State.LIQUIDATION
    tick = state.ticker().tick(market.spot)
    assert tick.state == State.LIQUIDATION and tick.initial.currency == "USD"
    assert_close(tick.initial, state.initial, 1e-12)
    assert_close(tick.equity, state.equity, 1e-12)
    result = liquidate(state)
    assert result.steps and result.restored  # closing the call restores it
    assert_close(result.steps[0].target_before, state.maintenance, 1e-12)
    rich = Account("coin", account.book, Collateral.of({"USD": 20_000.0}, {"USD": 1.0}),
                   account.method).evaluate(market)
    assert rich.state == State.HEALTHY and not liquidate(rich).steps


def test_collateral_in_another_currency_than_the_market_is_refused():
    account, market = _one_btc_short_call()
    eur = Account("coin", account.book, Collateral.of({"EUR": 5_000.0}, {"EUR": 1.0},
                                                      currency="EUR"), account.method)
    with pytest.raises(CurrencyError, match="collateral is priced in EUR but the market quotes"
                                            " in USD"):
        eur.evaluate(market)


def test_collateral_on_a_book_underlying_moves_in_its_scenarios_wrong_way_risk():
    # a short BTC call (quote-settled) collateralised by BTC loses twice in a crash: its margin
    # is higher than with the same value in USD; the USD account is unchanged
    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.6])
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    book = Book(["short-call"], ["BTC"], [1], [110_000.0], [exp], [-2.0], [1.0])
    grid = ScenarioGrid.product(np.linspace(-0.3, 0.3, 13))
    usd = Account("u", book, Collateral.of({"USD": 100_000.0}, {"USD": 1.0}), grid).evaluate(market)
    btc = Account("b", book, Collateral.of({"BTC": 1.0}, {"BTC": 100_000.0}, {"BTC": 0.1}),
                  grid).evaluate(market)
    assert float(usd.equity) == pytest.approx(float(btc.equity) + 10_000.0)  # 10% haircut
    # the worst scenario: +30% for the call alone; the BTC collateral gains there, so the worst
    # moves... by hand: requirement = max_j -(call P&L_j + 0.9 BTC x 100,000 x shift_j)
    call = usd.pnl.values[0]
    by_hand = max(0.0, float(np.max(-(call + 0.9 * 100_000.0 * grid.spot_shift))))
    assert float(btc.initial) == pytest.approx(by_hand, rel=1e-12)
    assert float(usd.initial) == pytest.approx(max(0.0, float(np.max(-call))), rel=1e-12)
    # against a short put, BTC collateral is wrong-way: the crash hits both
    put_book = Book(["short-put"], ["BTC"], [2], [90_000.0], [exp], [-2.0], [1.0])
    put_usd = Account("u", put_book, Collateral.of({"USD": 100_000.0}, {"USD": 1.0}),
                      grid).evaluate(market)
    put_btc = Account("b", put_book, Collateral.of({"BTC": 1.0}, {"BTC": 100_000.0}),
                      grid).evaluate(market)
    assert float(put_btc.initial) > float(put_usd.initial) + 25_000.0
    off = Account("o", put_book, Collateral.of({"BTC": 1.0}, {"BTC": 100_000.0}), grid,
                  collateral_at_risk=False).evaluate(market)
    assert float(off.initial) == pytest.approx(float(put_usd.initial), rel=1e-12)
    # the tick moves the collateral with the spot: equal to evaluating at the moved market with
    # the collateral repriced there
    tick = put_btc.ticker().tick([80_000.0])
    moved = dataclasses.replace(market, spot=np.array([80_000.0]))
    full = Account("b", put_book, Collateral.of({"BTC": 1.0}, {"BTC": 80_000.0}),
                   grid).evaluate(moved)
    assert float(tick.initial) == pytest.approx(float(full.initial), rel=1e-12)
    assert float(tick.equity) == pytest.approx(float(full.equity), rel=1e-12)
    assert float(tick.variation) == pytest.approx(-20_000.0, rel=1e-12)


def test_risk_haircuts_from_vol_and_concentration_by_hand():
    from scipy.stats import norm

    from greeksmargin.accounts.account import risk_haircuts

    values = {"USD": 50_000.0, "BTC": 120_000.0, "ETH": 30_000.0}
    vols = {"BTC": 0.6, "ETH": 0.8}
    cuts = risk_haircuts(values, vols)
    z = norm.ppf(0.99)
    assert cuts["USD"] == 0.0  # the account currency's own cash
    assert cuts["ETH"] == pytest.approx(z * 0.8 * np.sqrt(2 / 252), rel=1e-12)
    # BTC is 60% of the collateral: the concentration multiplier applies
    assert cuts["BTC"] == pytest.approx(1.5 * z * 0.6 * np.sqrt(2 / 252), rel=1e-12)
    assert risk_haircuts({"X": 1.0}, {"X": 50.0})["X"] == 0.9  # capped
    c = Collateral.of({"USD": 50_000.0, "BTC": 1.2}, {"USD": 1.0, "BTC": 100_000.0},
                      risk_haircuts(values, vols))
    assert float(c.value) == pytest.approx(50_000.0 + 120_000.0 * (1 - cuts["BTC"]))
    with pytest.raises(InputError, match="risk_haircuts needs"):
        risk_haircuts(values, vols, confidence=1.2)
    with pytest.raises(InputError, match="asset 'BTC' needs a vol"):
        risk_haircuts(values, {"BTC": -1.0})
