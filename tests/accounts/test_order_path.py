"""The compiled order path (``_OrderLookup.prepare``) equals the general one, and hands back
what it cannot settle.

``AccountState.prepare_order`` resolves, prices and counts a new order's legs in a few compiled
calls; the general path (``Book.resolve``, a revaluation plan, the legs' contracts hashed with
the account's) is the oracle: every field of the prepared order equal (1e-12), for orders on new
contracts, on contracts the account holds, with legs repeating a contract, on vol surfaces,
American, linear and coin-settled legs, under OCC TIMS, SPAN, Deribit (vol shifts scaled by
expiry) and a plain grid; and the check after it equals margining the combined book.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greeksmargin import Book, MarketData, ScenarioGrid, ShiftType, methodology
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.errors import InputError, MarketDataError
from greeksmargin.model.market import VolSurface
from tests.conftest import random_book

DERIBIT = {u: dict(methodology.load_parameters("deribit", "2024.6")["currencies"]["BTC"])
           for u in ("U0", "U1", "U2")}
PRESETS = {
    "occ-tims": methodology.occ_tims(),
    "span": methodology.span(0.07, short_option_minimum=2_000.0),
    "deribit": methodology.deribit(DERIBIT),
    "grid": ScenarioGrid.product([-0.1, 0.0, 0.1], [-0.2, 0.0, 0.3],
                                 vol_shift_type=ShiftType.RELATIVE),
}
NAT = np.datetime64("NaT")


def _state(seed, preset, surface=False):
    inverse = preset == "deribit"
    book, market = random_book(14, seed, n_underlyings=3, american_share=0.3, inverse=inverse)
    # flat vols; half the positions keep a vol of their own (a contract of its own)
    own = {k: v for k, v in market.position_vol.items() if int(k[1:]) % 2}
    market = dataclasses.replace(market, vol=np.array([0.25, 0.5, 0.8]), position_vol=own)
    if surface:  # U1 on a surface (its flat vol then unused by options)
        s = float(market.spot[1])
        market = dataclasses.replace(market, surfaces={"U1": VolSurface(
            [0.7 * s, s, 1.4 * s], [0.1, 1.0, 3.0], [[0.5, 0.4, 0.45], [0.4, 0.3, 0.35],
                                                     [0.35, 0.3, 0.3]])})
    cash = Collateral.of({"USD": 1e9}, {"USD": 1.0})
    return Account("a", book, cash, PRESETS[preset]).evaluate(market), book, cash


def _order(book, market, rng):
    # new contracts, copies of held ones (their count is replaced, not added), repeats
    n = int(rng.integers(1, 6))
    rows = []
    for k in range(n):
        if k and rng.uniform() < 0.25:  # a leg repeating an earlier leg's contract
            rows.append(dict(rows[int(rng.integers(0, k))]))
        elif rng.uniform() < 0.4:  # a contract the account holds
            i = int(rng.integers(0, book.n_positions))
            rows.append(dict(underlying=str(book.underlying[i]), kind=int(book.kind[i]),
                             strike=float(book.strike[i]), expiry=book.expiry[i],
                             multiplier=float(book.multiplier[i]),
                             exercise=int(book.exercise[i]),
                             settlement=int(book.settlement[i])))
        else:
            u = int(rng.integers(0, market.spot.size))
            kind = int(rng.integers(0, 3))
            rows.append(dict(underlying=market.underlyings[u], kind=kind,
                             strike=np.nan if kind == 0 else float(
                                 market.spot[u] * np.exp(rng.normal() * 0.3)),
                             expiry=NAT if kind == 0 and rng.uniform() < 0.5 else
                             market.valuation + np.timedelta64(int(rng.integers(3600, 10**8)),
                                                               "s"),
                             multiplier=float(rng.choice([1.0, 100.0])),
                             exercise=int(kind != 0 and rng.uniform() < 0.3),
                             settlement=int(book.settlement[0])))
        rows[-1]["quantity"] = float(rng.integers(-9, 10) or 4)
    return Book([f"o{k}" for k in range(n)], *(np.array([r[c] for r in rows]) for c in (
        "underlying", "kind", "strike", "expiry", "quantity", "multiplier", "exercise",
        "settlement")))


def _assert_same_order(fast, general):
    for name in ("group_pnl", "leg_pnl", "leg_value", "leg_held"):
        np.testing.assert_allclose(getattr(fast, name), getattr(general, name), rtol=1e-12,
                                   atol=1e-9, err_msg=name)
    np.testing.assert_array_equal(fast.leg_group, general.leg_group)
    assert fast.value == pytest.approx(general.value, rel=1e-12, abs=1e-9)
    for a, b in zip(fast.facts.counts, general.facts.counts, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert (fast.held is None) == (general.held is None)
    if fast.held is not None:
        for name in ("position", "group", "kind", "multiplier", "held", "traded"):
            np.testing.assert_allclose(getattr(fast.held, name), getattr(general.held, name),
                                       rtol=1e-12, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), preset=st.sampled_from(sorted(PRESETS)),
       surface=st.booleans(), scale=st.sampled_from([1.0, -1.0, 0.5, -2.5]))
def test_the_compiled_order_path_equals_the_general_one_and_the_combined_book(seed, preset,
                                                                                surface, scale):
    state, book, cash = _state(seed, preset, surface)
    legs = _order(book, state.market, np.random.default_rng(seed))
    try:
        state.prepare_order(legs)  # builds the lookup
    except InputError as exc:  # a leg on a group the account does not hold: named
        assert "which the account does not hold" in str(exc)
        assert state._cache["lookup"].prepare(state, legs, legs.position_id.tolist()) is None
        return
    fast = state._cache["lookup"].prepare(state, legs, legs.position_id.tolist())
    _assert_same_order(fast, state._prepare_general(legs))
    full = Account("a", book.concat(legs.scaled(scale)), cash, state.account.method).evaluate(
        state.market)
    _, initial = state.check(fast, scale)
    assert initial == pytest.approx(float(full.initial), rel=1e-9, abs=1e-6)


def test_the_compiled_path_serves_the_ordinary_order():
    # held groups, flat vols, a repeat and a held contract: no hand-back
    for preset in PRESETS:
        state, book, _ = _state(3, preset)
        option = int(np.flatnonzero(book.kind != 0)[0])
        legs = Book(["x", "y", "z"], [book.underlying[option]] * 3, [book.kind[option]] * 3,
                    [book.strike[option], book.strike[option] * 1.1, book.strike[option]],
                    [book.expiry[option]] * 3, [2.0, -1.0, 3.0], [book.multiplier[option]] * 3,
                    [book.exercise[option]] * 3, [book.settlement[option]] * 3)
        state.prepare_order(legs)
        fast = state._cache["lookup"].prepare(state, legs, ["x", "y", "z"])
        assert fast is not None, preset
        # flat vols and unscaled shifts: one compiled call; Deribit scales its vol shifts
        assert state._cache["lookup"].plain == (preset != "deribit")
        assert fast.held is not None and fast.held.traded.tolist() == [5.0]
        _assert_same_order(fast, state._prepare_general(legs))


def test_what_the_compiled_path_hands_back_gets_the_general_paths_error_or_numbers():
    state, book, _ = _state(5, "occ-tims")
    market = state.market
    lookup_prepare = None
    expiry = market.valuation + np.timedelta64(30 * 86400, "s")

    def order(underlying="U0", expiry=expiry, pid="n1"):
        return Book([pid], [underlying], [1], [float(market.spot[0])], [expiry], [1.0], [100.0])

    state.prepare_order(order())
    lookup_prepare = state._cache["lookup"].prepare
    # an underlying without market data: the general path's MarketDataError
    assert lookup_prepare(state, order("ZZZ"), ["n1"]) is None
    with pytest.raises(MarketDataError, match="no market data for underlying 'ZZZ'"):
        state.prepare_order(order("ZZZ"))
    # an expiry before the valuation
    past = market.valuation - np.timedelta64(60, "s")
    assert lookup_prepare(state, order(expiry=past), ["n1"]) is None
    with pytest.raises(InputError, match="is before the valuation timestamp"):
        state.prepare_order(order(expiry=past))
    # a leg id clashing with a position of the account, before either path
    with pytest.raises(InputError, match="clashes with a position"):
        state.prepare_order(order(pid=str(book.position_id[0])))
    # a vol given for the leg's id: the general path prices it at that vol
    given = dataclasses.replace(state.account, book=book).evaluate(
        market.with_position_data({"n1": 0.9}))
    assert given._cache.get("lookup") is None
    given.prepare_order(order())
    assert given._cache["lookup"].prepare(given, order(), ["n1"]) is None
    at_own = given.prepare_order(order())
    assert at_own.value == pytest.approx(given._prepare_general(order()).value, rel=1e-12)
    assert at_own.value > state.prepare_order(order()).value  # priced at 0.9, not the flat vol
    # a group the account does not hold
    market2 = MarketData(market.valuation, [*market.underlyings, "NEW"],
                         [*market.spot.tolist(), 10.0], 0.0, 0.0, [*market.vol.tolist(), 0.2])
    state2 = dataclasses.replace(state.account, book=book).evaluate(market2)
    with pytest.raises(InputError, match="group 'NEW', which the account does not hold"):
        state2.prepare_order(order("NEW"))


def test_an_option_without_any_vol_is_handed_back_and_named():
    state, book, _ = _state(7, "occ-tims")
    market = state.market
    no_vol = MarketData(market.valuation, market.underlyings, market.spot, market.rate,
                        market.carry, [np.nan, *market.vol[1:].tolist()])
    linear = Book([f"s{k}" for k in range(2)], ["U0", "U1"], [0, 0], [np.nan, np.nan],
                  [NAT, NAT], [5.0, 5.0], [1.0, 1.0])  # linear rows need no vol
    cash = Collateral.of({"USD": 1e9}, {"USD": 1.0})
    s = Account("a", linear, cash, methodology.occ_tims()).evaluate(no_vol)
    leg = Book(["c"], ["U0"], [1], [float(market.spot[0])],
               [market.valuation + np.timedelta64(86400, "s")], [1.0], [100.0])
    s.prepare_order(Book(["d"], ["U1"], [0], [np.nan], [NAT], [1.0], [1.0]))
    assert s._cache["lookup"].prepare(s, leg, ["c"]) is None
    with pytest.raises(MarketDataError, match="no volatility for option"):
        s.prepare_order(leg)
