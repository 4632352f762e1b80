"""An account evaluated again at a market that moved only in spots and flat vols reuses its
structure: every figure and every part of the state equals a full evaluation of the same account
by a fresh object, and what the reuse cannot follow is evaluated in full."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greeksmargin import Book, MarketData, ScenarioGrid, methodology
from greeksmargin.accounts.account import Account, Collateral, MarginTicker
from greeksmargin.enums import Settlement
from greeksmargin.errors import MarketDataError
from greeksmargin.methodology import InterSpread, IntraSpread, SpanSpreads, SpanTier
from greeksmargin.methodology.base import Concentration
from greeksmargin.model.market import VolSurface
from greeksmargin.pricing import price
from tests.conftest import assert_close, random_book

CASH = Collateral.of({"USD": 5e6}, {"USD": 1.0})
GRID105 = ScenarioGrid.product(np.linspace(-0.15, 0.15, 21), [-0.3, -0.15, 0.0, 0.15, 0.3])
METHODS = {"occ": methodology.occ_tims(), "span": methodology.span(0.07, 0.35),
           "grid105": GRID105, "deribit": methodology.deribit()}


def _fresh(account: Account) -> Account:
    # the same account as a new object: nothing kept from earlier evaluations
    return Account(account.account_id, account.book, account.collateral, account.method,
                   account.im_over_mm, account.collateral_at_risk)


def _with_flat_vols(book_market: tuple[Book, MarketData], vols: list[float]) -> MarketData:
    # half of the options priced off the flat vol (the rest keep a vol of their own)
    _, market = book_market
    own = {pid: v for k, (pid, v) in enumerate(market.position_vol.items()) if k % 2}
    return MarketData(market.valuation, market.underlyings, market.spot, market.rate,
                      market.carry, vols, position_vol=own)


def _coins(book: Book, market: MarketData) -> tuple[Book, MarketData]:
    # the random book on Deribit's coins (its parameters are per coin)
    names = {"U0": "BTC", "U1": "ETH"}
    coins = Book(book.position_id, [names[u] for u in book.underlying], book.kind, book.strike,
                 book.expiry, book.quantity, book.multiplier, book.exercise, book.settlement)
    return coins, dataclasses.replace(market, underlyings=("BTC", "ETH"))


def _reused(state) -> bool:
    return state._detail is None  # the figures came from the kept structure


def _assert_same_state(got, full) -> None:
    # the figures to rounding (one compiled call against the Python reduction), the state the
    # same, and every part of the state exactly the full evaluation's
    for name in ("initial", "maintenance", "equity", "book_value"):
        assert_close(float(getattr(got, name)), float(getattr(full, name)), 1e-13, atol=1e-7)
        assert getattr(got, name).currency == getattr(full, name).currency
    assert got.state == full.state
    np.testing.assert_array_equal(got.pnl.values, full.pnl.values)
    np.testing.assert_array_equal(got.resolved.vol, full.resolved.vol)
    assert got.resolved.position_id.tolist() == full.resolved.position_id.tolist()
    assert float(got.margin.initial_quote) == float(full.margin.initial_quote)
    assert got.account.book.position_id.tolist() == full.account.book.position_id.tolist()
    assert got.market is full.market


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 10_000), method=st.sampled_from(sorted(METHODS)),
       house=st.sampled_from([None, 1.25]), american=st.booleans(), at_risk=st.booleans(),
       moves=st.lists(st.tuples(st.floats(0.7, 1.4), st.floats(0.6, 1.6)), min_size=1,
                      max_size=3))
def test_a_moved_market_reuses_the_structure_with_the_full_numbers(n, seed, method, house,
                                                                    american, at_risk, moves):
    inverse = method == "deribit"
    book, market = random_book(n, seed, n_underlyings=2, inverse=inverse,
                               american_share=0.3 if american else 0.0)
    if inverse:
        book, market = _coins(book, market)
    market = _with_flat_vols((book, market), [0.35, 0.5])
    cash = Collateral.of({"USD": 2e5}, {"USD": 1.0})
    held = market.underlyings[0]
    if at_risk:  # units of a book underlying: they move in its group's scenarios (coin
        # groups hold their own coin at par: not at risk there)
        cash = Collateral.of({"USD": 2e5, held: 40.0}, {"USD": 1.0, held: float(market.spot[0])},
                             {held: 0.2})
    account = Account("a", book, cash, METHODS[method], im_over_mm=house)
    first = account.evaluate(market)
    assert not _reused(first)
    for spot_move, vol_move in moves:
        moved = MarketData(market.valuation, market.underlyings, market.spot * spot_move,
                           market.rate, market.carry, market.vol * vol_move,
                           position_vol=market.position_vol)
        got = account.evaluate(moved)
        assert _reused(got)
        _assert_same_state(got, _fresh(account).evaluate(moved))


def test_the_reused_state_serves_orders_ticks_and_pickles_like_a_full_one():
    book, market = random_book(12, 3, n_underlyings=2)
    market = _with_flat_vols((book, market), [0.3, 0.4])
    account = Account("a", book, CASH, methodology.occ_tims())
    account.evaluate(market)
    moved = dataclasses.replace(market, spot=market.spot * np.array([1.05, 0.93]))
    got, full = account.evaluate(moved), _fresh(account).evaluate(moved)
    assert _reused(got)
    legs = Book(["o1"], [book.underlying[0]], [1], [float(market.spot[0])],
                [market.valuation + np.timedelta64(30, "D")], [-3.0], [100.0])
    assert_close(got.check(got.prepare_order(legs))[1], full.check(full.prepare_order(legs))[1],
                 1e-13)
    tick = got.ticker().tick(moved.spot * 1.01)
    assert_close(tick.initial, full.ticker().tick(moved.spot * 1.01).initial, 1e-13)
    # a pickled account and state carry nothing kept: the copy evaluates afresh
    again = pickle.loads(pickle.dumps(account))
    assert again._memo.state is None and copy.deepcopy(account)._memo.state is None
    assert account._memo.state is not None
    thawed = pickle.loads(pickle.dumps(got))
    assert_close(thawed.margin.initial_quote, full.margin.initial_quote, 1e-15)
    assert not _reused(again.evaluate(moved))


def test_a_market_that_moved_in_more_than_spots_and_flat_vols_is_evaluated_in_full():
    book, market = random_book(10, 5, n_underlyings=2)
    market = _with_flat_vols((book, market), [0.3, 0.4])
    surface = VolSurface([50.0, 5000.0], [0.1, 2.0], [[0.3, 0.3], [0.35, 0.35]])
    based = dataclasses.replace(market, surfaces={"U0": surface})
    changes = {
        "valuation": dict(valuation=market.valuation + np.timedelta64(1, "h")),
        "rate": dict(rate=market.rate + 1e-4),
        "carry": dict(carry=market.carry - 1e-4),
        "position vol": dict(position_vol={**market.position_vol, "P1": 0.77}),
        "option price": dict(option_price={"P0": 3.0}),
        "group": dict(group_of={"U1": "U0"}),
        "class": dict(product_class={"U0": "broad_index"}),
        "surface": dict(surfaces={"U0": surface}),
    }
    for base in (market, based):
        for name, change in changes.items():
            if base is based and name == "surface":  # an equal surface, another object
                change = dict(surfaces={"U0": dataclasses.replace(surface)})
            other = dataclasses.replace(base, **change)
            assert not other.same_but_moves(base), name
            account = Account("a", book, CASH, methodology.occ_tims())
            account.evaluate(base)
            got = account.evaluate(other)
            assert not _reused(got), name
            assert_close(got.initial, _fresh(account).evaluate(other).initial, 1e-15)
        moved = dataclasses.replace(base, spot=base.spot * 1.1, vol=base.vol * 0.9)
        assert moved.same_but_moves(base) and base.same_but_moves(base)


@pytest.mark.parametrize("case", ["concentration", "implied vols", "per-contract ranges",
                                  "spreads", "large book"])
def test_what_the_reuse_cannot_follow_is_evaluated_in_full(case):
    book, market = random_book(8, 11, n_underlyings=2)
    market = _with_flat_vols((book, market), [0.3, 0.4])
    method, cash = methodology.occ_tims(), CASH
    if case == "concentration":  # the concentrated groups are chosen at the spots
        method = dataclasses.replace(method, concentration=Concentration(top=1, spot_range=0.3))
    elif case == "spreads":  # formed from the groups' deltas at the spots
        book, market, method = _span_with_spreads()
    elif case == "implied vols":  # re-implied from the option's price at each spot
        resolved = Account("a", book, cash, method).evaluate(market).resolved
        k = int(np.flatnonzero((resolved.kind != 0) & (resolved.american == 0))[0])
        pid, u = str(resolved.position_id[k]), int(resolved.underlying_index[k])
        value = float(price(market.spot[u], resolved.strike[k],
                            expiry_years=resolved.expiry_years[k], vol=0.45,
                            rate=market.rate[u], carry=market.carry[u], kind=resolved.kind[k]))
        market = dataclasses.replace(market, option_price={pid: value}, position_vol={
            p: v for p, v in market.position_vol.items() if p != pid})
    elif case == "per-contract ranges":  # SPAN ranges per contract follow the price
        book = Book(book.position_id, book.underlying, book.kind, book.strike, book.expiry,
                    book.quantity, np.full(book.n_positions, 100.0), book.exercise)
        method = methodology.span(None, price_scan_amount={"U0": 900.0, "U1": 1500.0},
                                  short_option_minimum=10.0)
    else:
        book, market = random_book(400, 11, n_underlyings=2)
        method = GRID105
    account = Account("a", book, cash, method)
    account.evaluate(market)
    moved = dataclasses.replace(market, spot=market.spot * np.array([0.9, 1.08]))
    for _ in range(2):
        got = account.evaluate(moved)
        assert not _reused(got)
        assert_close(got.initial, _fresh(account).evaluate(moved).initial, 1e-15)


def _span_with_spreads() -> tuple[Book, MarketData, object]:
    # a calendar and an inter-commodity spread (two tiers of C, one of S)
    market = MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.25, 0.2])
    march, may = np.datetime64("2025-03-14"), np.datetime64("2025-05-14")
    spreads = SpanSpreads(
        tiers={"C": (SpanTier(1, "2025-03", "2025-03"), SpanTier(2, "2025-05", "2025-07"))},
        intra={"C": (IntraSpread(150, ((1, 1), (2, -1))),)},
        inter=(InterSpread(0.5, (("C", 2), ("S", -1))),))
    method = methodology.span(None, price_scan_amount={"C": 1750, "S": 2500},
                              short_option_minimum=150, spreads=spreads)
    book = Book(["f1", "f2", "c1", "s1"], ["C", "C", "C", "S"], [0, 0, 1, 0],
                [np.nan, np.nan, 4.5, np.nan], [march, may, march, march], [7.0, -2.0, -5.0, -2.0],
                [5000.0] * 4)
    return book, market, method


def test_collateral_at_risk_is_reused_with_its_moves_in_the_scenarios():
    # BTC held against a short BTC put (quote-settled): the reused figures follow the
    # collateral's scenario P&L at the new spot, as the full evaluation does
    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.6])
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    book = Book(["short-put"], ["BTC"], [2], [90_000.0], [exp], [-2.0], [1.0])
    cash = Collateral.of({"BTC": 1.0, "USD": 5_000.0}, {"BTC": 100_000.0, "USD": 1.0})
    account = Account("b", book, cash, ScenarioGrid.product(np.linspace(-0.3, 0.3, 13)))
    assert account.evaluate(market).at_risk is not None
    for spot in (70_000.0, 100_000.0, 130_000.0):
        moved = dataclasses.replace(market, spot=np.array([spot]))
        got = account.evaluate(moved)
        assert _reused(got)
        _assert_same_state(got, _fresh(account).evaluate(moved))
    bad = dataclasses.replace(market, vol=np.array([np.nan]))
    with pytest.raises(MarketDataError) as reused:
        account.evaluate(bad)
    with pytest.raises(MarketDataError) as full:
        _fresh(account).evaluate(bad)
    assert str(reused.value) == str(full.value)


def test_a_moved_market_the_book_cannot_be_priced_at_names_the_position_as_in_full():
    book = Book(["c"], ["XYZ"], [1], [100.0], [np.datetime64("2025-07-18T20:00:00", "s")],
                [-2.0], [100.0])
    market = MarketData("2025-06-02T15:00:00", ["XYZ", "ABC"], [100.0, 50.0], 0.04, 0.0,
                        [0.3, 0.4])
    account = Account("a", book, CASH, methodology.occ_tims())
    account.evaluate(market)
    no_vol = dataclasses.replace(market, spot=np.array([101.0, 50.0]), vol=np.array([np.nan, 0.4]))
    with pytest.raises(MarketDataError) as reused:
        account.evaluate(no_vol)
    with pytest.raises(MarketDataError) as full:
        _fresh(account).evaluate(no_vol)
    assert str(reused.value) == str(full.value) and "'c'" in str(full.value)
    # an underlying no option prices off may lose its flat vol: still the reused path
    other = dataclasses.replace(market, spot=np.array([99.0, 51.0]), vol=np.array([0.31, np.nan]))
    got = account.evaluate(other)
    assert _reused(got)
    assert_close(got.initial, _fresh(account).evaluate(other).initial, 1e-13)


def test_a_coin_account_reused_at_a_moved_market_converts_at_the_new_spot():
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    book = Book(["c1", "p1"], ["BTC", "BTC"], [1, 2], [110_000.0, 90_000.0], [exp, exp],
                [-1.0, 2.0], [1.0, 1.0], settlement=[Settlement.INVERSE] * 2)
    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.55])
    account = Account("coin", book, Collateral.of({"USD": 3_000.0}, {"USD": 1.0}),
                      methodology.deribit())
    account.evaluate(market)
    for spot in (80_000.0, 125_000.0):
        moved = dataclasses.replace(market, spot=np.array([spot]))
        got, full = account.evaluate(moved), _fresh(account).evaluate(moved)
        assert _reused(got) and got.initial.currency == "USD"
        _assert_same_state(got, full)
        # by hand: the BTC requirement converted at the moved spot
        assert_close(got.initial, float(full.margin.total) * spot, 1e-13)


def test_the_kept_ticker_is_built_once_and_only_when_a_moved_market_comes(monkeypatch):
    book, market = random_book(6, 2, n_underlyings=2)
    market = _with_flat_vols((book, market), [0.3, 0.4])
    built = []
    real = MarginTicker.__init__

    def counting(self, state):
        built.append(state)
        real(self, state)

    monkeypatch.setattr(MarginTicker, "__init__", counting)
    account = Account("a", book, CASH, methodology.occ_tims())
    account.evaluate(market)
    assert not built  # an account evaluated once pays nothing for the reuse
    for k in range(3):
        account.evaluate(dataclasses.replace(market, spot=market.spot * (1 + 0.01 * k)))
    assert len(built) == 1
