"""MarketData, vol surfaces, vol resolution (given, from prices, surface, flat), scenario grids."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from greeksmargin import (
    Book,
    MarketData,
    ScenarioGrid,
    ShiftType,
    VolScaling,
    VolSurface,
)
from greeksmargin.errors import InputError, MarketDataError
from greeksmargin.io.grids import read_grid
from greeksmargin.io.markets import read_market
from greeksmargin.pricing import american, price
from tests.conftest import assert_close

EXP = np.datetime64("2025-12-19T21:00:00", "s")
VAL = "2025-06-02T15:00:00"


def test_market_validation_names_underlying_and_value():
    cases = [
        (dict(spot=[-1.0, 1.0]), MarketDataError, "spot must be > 0 and at most 1e+15; got -1.0 for underlying 'A'"),
        (dict(rate=[np.nan, 0.0]), MarketDataError, "rate must be finite"),
        (dict(carry=[0.0, np.inf]), MarketDataError, "carry must be finite (decimal); got inf for underlying 'B'"),
        (dict(vol=[25.0, 0.2]), MarketDataError, "pass 0.25 for 25%"),
        (dict(underlyings=["A", "A"]), MarketDataError, "unique; 'A' appears twice"),
        (dict(valuation="not a date"), InputError, "valuation must be a date or timestamp"),
        (dict(position_vol={"p": 7.0}), InputError, "position_vol must be in"),
        (dict(option_price={"p": -1.0}), InputError, "option_price must be >= 0"),
        (dict(group_of={"C": "G"}), MarketDataError, "group_of names unknown underlying 'C'"),
        (dict(surfaces={"C": None}), MarketDataError, "surface given for unknown underlying 'C'"),
    ]
    for overrides, error, words in cases:
        args = dict(valuation=VAL, underlyings=["A", "B"], spot=[1.0, 2.0], rate=[0.0, 0.0],
                    carry=[0.0, 0.0])
        args.update(overrides)
        with pytest.raises(error, match=re.escape(words)):
            MarketData(**args)


def test_market_from_frame_carry_dividends_futures_and_errors():
    frame = pd.DataFrame({"underlying": ["STK", "FUT", "IDX"], "spot": [100.0, np.nan, 5000.0],
                          "futures_price": [np.nan, 75.0, np.nan], "rate": [0.04, 0.04, 0.04],
                          "dividend_yield": [0.01, 0.0, 0.015], "vol": [0.3, 0.4, 0.2],
                          "group": ["G1", "G2", "G1"], "valuation": [VAL] * 3})
    m = read_market(frame)
    assert_close(m.carry, [0.03, 0.0, 0.025], 1e-15)
    assert_close(m.spot, [100.0, 75.0, 5000.0], 0)
    assert m.group_of == {"STK": "G1", "FUT": "G2", "IDX": "G1"}
    assert str(m.valuation) == "2025-06-02T15:00:00"
    assert str(read_market(frame, valuation="2025-06-03").valuation) == "2025-06-03T00:00:00"
    with pytest.raises(MarketDataError, match="missing column 'rate'"):
        read_market(frame.drop(columns="rate"))
    with pytest.raises(MarketDataError, match="needs a valuation timestamp"):
        read_market(frame.drop(columns="valuation"))
    with pytest.raises(MarketDataError, match="several valuation timestamps"):
        read_market(frame.assign(valuation=[VAL, VAL, "2025-01-01"]))
    with pytest.raises(MarketDataError, match="rate must be numeric; got 'x' at row 2 \\('FUT'\\)"):
        read_market(frame.assign(rate=[0.04, "x", 0.04]))
    with pytest.raises(MarketDataError, match="missing column 'spot'"):
        read_market(frame.drop(columns=["spot", "futures_price"]))
    tz = MarketData("2025-06-02T11:00:00-04:00", ["A"], [1.0], 0.0, 0.0)
    assert str(tz.valuation) == "2025-06-02T15:00:00"


def test_vol_surface_interpolates_total_variance_and_extrapolates_flat():
    s = VolSurface([80.0, 100.0, 120.0], [0.25, 1.0], [[0.30, 0.20, 0.25], [0.26, 0.18, 0.22]])
    # on the table, linear in strike
    assert_close(s.vol(np.array([90.0, 110.0]), np.array([0.25, 1.0])), [0.25, 0.20], 1e-15)
    # between expiries, total variance linear in time at the strike
    t = 0.5
    w = 0.2**2 * 0.25 + (t - 0.25) / 0.75 * (0.18**2 * 1.0 - 0.2**2 * 0.25)
    assert_close(s.vol(np.array([100.0]), np.array([t])), [np.sqrt(w / t)], 1e-14)
    # flat outside the table
    assert_close(s.vol(np.array([50.0, 200.0, 100.0, 100.0]), np.array([0.25, 0.25, 0.1, 3.0])),
                 [0.30, 0.25, 0.20, 0.18], 1e-15)
    for args, words in (
        (([100.0, 90.0], [1.0], [[0.2, 0.2]]), "strikes must be strictly increasing"),
        (([100.0], [1.0, 0.5], [[0.2], [0.2]]), "expiry_years must be strictly increasing"),
        (([100.0], [1.0], [[0.2, 0.3]]), "vols must have shape"),
        (([100.0], [1.0], [[20.0]]), "got 20.0 at expiry 1.0, strike 100.0"),
        (([-1.0], [1.0], [[0.2]]), "positive finite"),
        (([1.0], [0.0], [[0.2]]), "positive finite years"),
    ):
        with pytest.raises(InputError, match=words):
            VolSurface(*args)


def test_vol_resolution_priority_and_option_prices_to_implied_vol():
    surface = VolSurface([90.0, 110.0], [0.1, 2.0], [[0.3, 0.3], [0.3, 0.3]])
    book = Book(["given", "priced", "surface", "flat", "american"], ["A", "A", "A", "B", "B"],
                [1, 2, 1, 1, 2], [100.0] * 5, [EXP] * 5, [1.0] * 5, [100.0] * 5,
                exercise=[0, 0, 0, 0, 1])
    t = (EXP - np.datetime64(VAL)).astype(float) / (365 * 86400)
    p_euro = float(price(100.0, 100.0, expiry_years=t, vol=0.42, rate=0.04, carry=0.03, kind=2))
    p_amer = float(american.price(101.0, 100.0, expiry_years=t, vol=0.37, rate=0.04,
                                  dividend_yield=0.04, kind=2, method="alo"))
    market = MarketData(VAL, ["A", "B"], [100.0, 101.0], 0.04, [0.03, 0.0], [0.2, 0.25],
                        surfaces={"A": surface}, position_vol={"given": 0.5},
                        option_price={"priced": p_euro, "american": p_amer})
    resolved = book.resolve(market, by="underlying")
    vol = dict(zip(resolved.position_id, resolved.vol, strict=True))
    assert vol["given"] == 0.5 and vol["surface"] == 0.3 and vol["flat"] == 0.25
    assert_close([vol["priced"], vol["american"]], [0.42, 0.37], 1e-9)
    arbitrage = market.with_position_data(option_price={"priced": 150.0})
    with pytest.raises(InputError, match="option_price has no implied vol for position 'priced'"):
        book.resolve(arbitrage)


def test_grid_product_order_labels_concat_and_frame_round_trip():
    grid = ScenarioGrid.product([-0.1, 0.1], [-0.05, 0.0, 0.05], time_shift_years=1 / 365)
    assert_close(grid.spot_shift, [-0.1] * 3 + [0.1] * 3, 0)
    assert_close(grid.vol_shift, [-0.05, 0.0, 0.05] * 2, 0)
    assert grid.labels[0] == "spot-0.1|vol-0.05|t+1d"
    extra = ScenarioGrid.product([0.3], weight=0.35)
    both = grid.concat(extra)
    assert both.n_scenarios == 7 and both.weight[-1] == 0.35
    again = read_grid(both.to_frame())
    for name in ("spot_shift", "vol_shift", "vol_shift_type", "time_shift_years", "weight"):
        assert np.array_equal(getattr(again, name), getattr(both, name)), name
    assert again.labels == both.labels
    frame = pd.DataFrame({"spot_shift": [0.1], "time_shift_days": [2.0]})
    assert_close(read_grid(frame).time_shift_years, [2 / 365], 1e-15)


def test_grid_validation_errors():
    ok = dict(spot_shift=[0.0], vol_shift=[0.0], vol_shift_type=[0], time_shift_years=[0.0],
              weight=[1.0], labels=["x"])
    for overrides, words in (
        (dict(spot_shift=[-1.0]), "spot_shift must be > -1 and finite"),
        (dict(vol_shift=[np.nan]), "vol_shift must be finite"),
        (dict(vol_shift_type=[7]), "vol_shift_type must be ShiftType"),
        (dict(vol_shift=[-1.5], vol_shift_type=[ShiftType.RELATIVE]), ">= -1 where the shift is relative"),
        (dict(time_shift_years=[-0.1]), "time_shift_years must be >= 0"),
        (dict(weight=[-1.0]), r"weight must be in \[0, 1\]"),
        (dict(weight=[1e308]), r"weight must be in \[0, 1\]; got 1e\+308"),
        (dict(weight=[np.nan]), r"weight must be in \[0, 1\]"),
        (dict(labels=["a", "b"]), "one entry per scenario"),
        (dict(spot_shift=[]), "non-empty 1-D"),
        (dict(vol_scaling="deribit"), "vol_scaling must be a VolScaling"),
        (dict(linear_spot_shift=[-2.0]), "linear_spot_shift must be > -1"),
    ):
        with pytest.raises(InputError, match=words):
            ScenarioGrid(**{**ok, **overrides})
    with pytest.raises(InputError, match="missing column 'spot_shift'"):
        read_grid(pd.DataFrame({"vol_shift": [0.1]}))
    with pytest.raises(InputError, match="vol_shift_type must be 'absolute' or 'relative'; got 'pct' at row 1"):
        read_grid(pd.DataFrame({"spot_shift": [0.1], "vol_shift_type": ["pct"]}))
    with pytest.raises(InputError, match="grid column weight must be numeric; got 'x' at row 2"):
        read_grid(pd.DataFrame({"spot_shift": [0.1, 0.2], "weight": [1, "x"]}))
    scaled = ScenarioGrid.product([0.1], vol_scaling=VolScaling(0.3, 0.13))
    with pytest.raises(InputError, match="different vol_scaling"):
        scaled.concat(ScenarioGrid.product([0.2]))
    with pytest.raises(InputError, match="VolScaling.floor_days must be > 0"):
        VolScaling(0.3, 0.13, floor_days=0.0)
    with pytest.raises(InputError, match="VolScaling.min_vol_up must be >= 0"):
        VolScaling(0.3, 0.13, min_vol_up=-1.0)


def test_currency_index_of_many_groups_equals_the_one_by_one_lookup():
    # a batch's hundreds of thousands of groups are hashed in one pass: the same indexes as the
    # lookup one currency at a time, and an unknown coin (or a missing value) still named
    market = MarketData("2025-01-02T15:00:00", ["BTC", "ETH", "XYZ"], [90_000.0, 3_000.0, 100.0],
                        0.0, 0.0, 0.5)
    rng = np.random.default_rng(3)
    drawn = rng.choice(["USD", "BTC", "ETH"], 1_000)
    # each a string object of its own (equal text told apart by hashing it), or the few objects
    # a revaluation hands out repeated (told apart by identity), or both mixed
    separate = [str(c) for c in drawn]
    shared = tuple(np.array(["USD", "BTC", "ETH"], dtype=object)[
        np.searchsorted(["BTC", "ETH", "USD"], drawn).choose([1, 2, 0])].tolist())
    assert list(shared) == separate and len({id(c) for c in shared}) == 3
    mixed = [*shared[:500], *separate[500:]]
    expected = [-1 if c == "USD" else ["BTC", "ETH", "XYZ"].index(c) for c in separate]
    for currencies in (separate, shared, mixed):
        assert market.currency_index(currencies).tolist() == expected
        np.testing.assert_array_equal(market.to_quote(currencies),
                                      [1.0 if c == "USD" else market.spot[i]
                                       for c, i in zip(currencies, expected, strict=True)])
        for bad in ("SOL", None):
            with pytest.raises(MarketDataError, match="no market data for underlying"):
                market.currency_index([*currencies, bad])
    # more distinct coins than the small-list bound: each looked up once (it recursed before)
    coins = [f"C{k}" for k in range(300)]
    many = MarketData("2025-01-02T15:00:00", coins, np.arange(1.0, 301.0), 0.0, 0.0, 0.5)
    settled = [coins[k % 300] for k in range(900)] + ["USD"]
    assert many.currency_index(settled).tolist() == [k % 300 for k in range(900)] + [-1]


def test_resolve_names_accounts_as_text_whatever_their_type():
    # account names as the batch front passes them (text), numbers, or a missing one (text,
    # as str() has it): the same groups as the names written out
    book = Book(["a", "b", "c", "d"], "XYZ", [1, 2, 1, 2], 100.0, "2025-03-21", 1.0, 100.0)
    market = MarketData("2025-01-02T15:00:00", ["XYZ"], [100.0], 0.04, 0.0, 0.3)
    for accounts, names in ((["x", "y", "x", "y"], ("x", "y")),
                            (np.array([7, 3, 7, 3]), ("3", "7")),
                            (np.array(["x", None, "x", None], dtype=object), ("None", "x"))):
        resolved = book.resolve(market, accounts=accounts)
        assert resolved.account_names == names
        assert [resolved.account_names[a] for a in resolved.group_account] == list(names)
        assert resolved.group_labels == tuple(f"{a}/XYZ" for a in names)


def test_resolve_takes_a_pandas_column_of_accounts_as_the_same_names():
    # the batch front passes its text column as it is: the same groups as from NumPy text;
    # many accounts x classes lay their groups out by table or by sort, the same either way
    from greeksmargin.model.book import _dense_codes

    rng = np.random.default_rng(4)
    n = 3000
    underlyings = ["A", "B", "C", "D"]
    market = MarketData("2025-01-02T15:00:00", underlyings, [100.0, 50.0, 20.0, 10.0], 0.04,
                        0.0, 0.3, group_of={"D": "C"})
    book = Book([f"p{k}" for k in range(n)], np.array(underlyings)[rng.integers(0, 4, n)],
                rng.integers(1, 3, n), 100.0, "2025-03-21", 1.0, 100.0)
    names = np.array([f"acct{k}" for k in rng.integers(0, 700, n)])
    by_numpy = book.resolve(market, accounts=names)
    column = pd.Series(names, dtype="str", index=np.arange(n) * 2)  # any index
    by_column = book.resolve(market, accounts=column)
    for field in ("group_labels", "account_names", "group_class"):
        assert getattr(by_column, field) == getattr(by_numpy, field)
    for field in ("group_index", "group_account", "order", "group_offsets"):
        assert np.array_equal(getattr(by_column, field), getattr(by_numpy, field))
    with pytest.raises(InputError, match="one entry per position"):
        book.resolve(market, accounts=column.iloc[1:])
    for bound in (50, 10**7):  # a table of the bound's size, then a sort
        key = rng.integers(0, 50, 400)
        keys, code = _dense_codes(key, bound)
        expected_keys, expected_code = np.unique(key, return_inverse=True)
        assert np.array_equal(keys, expected_keys) and np.array_equal(code, expected_code)
