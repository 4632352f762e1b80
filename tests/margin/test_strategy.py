"""Strategy-based (Reg T) margin: each rule by hand, and the pairing engine's optimality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from greeksmargin import Book, MarketData
from greeksmargin.errors import InputError
from greeksmargin.margin import strategy
from greeksmargin.margin.strategy import decomposition_requirement, strategy_margin

EXP = np.datetime64("2025-03-21T20:00:00", "s")
NAT = np.datetime64("NaT")
KIND = {"stock": 0, "call": 1, "put": 2}


def _book(rows):
    """rows: (id, kind, strike, quantity[, multiplier])."""
    return Book([r[0] for r in rows], ["XYZ"] * len(rows), [KIND[r[1]] for r in rows],
                [np.nan if r[1] == "stock" else r[2] for r in rows],
                [NAT if r[1] == "stock" else EXP for r in rows], [r[3] for r in rows],
                [r[4] if len(r) > 4 else (1.0 if r[1] == "stock" else 100.0) for r in rows])


def _market(prices, spot=45.0, product_class="equity"):
    return MarketData("2025-02-20T15:00:00", ["XYZ"], [spot], 0.04, 0.0, [0.3],
                      option_price=prices, product_class={"XYZ": product_class})


def _req(rows, prices, **kw):
    return float(strategy_margin(_book(rows), _market(prices, **kw)).total)


def test_naked_options_above_and_at_the_ten_percent_minimum_by_hand():
    # call 47 @ 2.10, spot 45: 2.10 + max(0.2 x 45 - 2, 0.1 x 45) = 9.10 -> 910 per contract
    assert _req([("c47", "call", 47.0, -1)], {"c47": 2.10}) == pytest.approx(910.0, rel=1e-9)
    # far out of the money: the minimum binds. call 60 @ 0.10: 0.10 + 0.1 x 45 -> 460
    assert _req([("c60", "call", 60.0, -2)], {"c60": 0.10}) == pytest.approx(920.0, rel=1e-9)
    # put 30 @ 0.05: 0.2 x 45 - 15 < 0.1 x 30 (of the strike) -> 0.05 + 3 -> 305
    assert _req([("p30", "put", 30.0, -1)], {"p30": 0.05}) == pytest.approx(305.0, rel=1e-9)
    # long options are paid in full
    assert _req([("p30", "put", 30.0, 3)], {"p30": 0.05}) == pytest.approx(15.0, rel=1e-9)


def test_broad_index_options_take_fifteen_percent():
    rows = [("p4800", "put", 4800.0, -1)]
    prices = {"p4800": 30.0}
    # 30 + max(0.15 x 5000 - 200, 0.1 x 4800) = 580 -> 58,000; as equity 20%: 830 -> 83,000
    assert _req(rows, prices, spot=5000.0, product_class="broad_index") == pytest.approx(58_000.0)
    assert _req(rows, prices, spot=5000.0, product_class="equity") == pytest.approx(83_000.0)


def test_spreads_straddles_condors_butterflies_by_hand():
    p = {"c47": 2.10, "c50": 0.90, "p43": 1.20, "p40": 0.30, "c52": 0.50}
    # credit call spread: strike difference 3 x 100
    credit = strategy_margin(_book([("c47", "call", 47.0, -1), ("c50", "call", 50.0, 1)]),
                             _market(p))
    assert float(credit.total) == pytest.approx(300.0)
    assert [x.strategy for x in credit.pairings] == ["credit spread"] and not credit.alone
    # debit call spread: the net debit 2.10 - 0.90
    assert _req([("c47", "call", 47.0, 1), ("c50", "call", 50.0, -1)], p) == pytest.approx(120.0)
    # short strangle (tastyworks' published example): 910 + the put's 120
    assert _req([("c47", "call", 47.0, -1), ("p43", "put", 43.0, -1)], p) == pytest.approx(1030.0)
    # iron condor: put spread 43/40 (3 wide), call spread 47/52 (5 wide) -> 500
    condor = strategy_margin(_book([("p40", "put", 40.0, 1), ("p43", "put", 43.0, -1),
                                    ("c47", "call", 47.0, -1), ("c52", "call", 52.0, 1)]),
                             _market(p))
    assert float(condor.total) == pytest.approx(500.0)
    assert [x.strategy for x in condor.pairings] == ["iron condor"]
    # long butterfly 40/45/50 calls: net debit 6.00 + 0.60 - 2 x 2.50 = 1.60 -> 160
    fly = {"c40": 6.00, "c45": 2.50, "c50": 0.60}
    assert _req([("c40", "call", 40.0, 1), ("c45", "call", 45.0, -2), ("c50", "call", 50.0, 1)],
                fly) == pytest.approx(160.0)


def test_covered_protective_and_collar_by_hand():
    p = {"c47": 2.10, "p43": 1.20}
    stock = ("xyz", "stock", 0.0, 100.0)
    # covered call: the stock at 50% (2,250), nothing on the call
    assert _req([stock, ("c47", "call", 47.0, -1)], p) == pytest.approx(2250.0)
    # protective put: stock 50% + the put paid in full
    assert _req([stock, ("p43", "put", 43.0, 1)], p) == pytest.approx(2370.0)
    # collar: covered call + the long put
    collar = strategy_margin(_book([stock, ("p43", "put", 43.0, 1), ("c47", "call", 47.0, -1)]),
                             _market(p))
    assert float(collar.total) == pytest.approx(2370.0)
    assert [x.strategy for x in collar.pairings] == ["covered call"]
    # a covered put: short stock 50%, nothing on the put
    assert _req([("xyz", "stock", 0.0, -100.0), ("p43", "put", 43.0, -1)], p) == pytest.approx(
        2250.0)
    # index options are never covered by stock
    assert _req([stock, ("c47", "call", 47.0, -1)], p, product_class="broad_index") > 2250.0


def test_the_pairing_chooses_the_cheaper_of_competing_strategies():
    # the short 47 call can form a credit spread with the long 50 call or a strangle with the
    # short 43 put, not both: 300 + 820 (put alone) + 0 vs 1030 + 90 (long call paid): the engine
    # must take the cheaper and say which
    p = {"c47": 2.10, "c50": 0.90, "p43": 1.20}
    rows = [("c47", "call", 47.0, -1), ("c50", "call", 50.0, 1), ("p43", "put", 43.0, -1)]
    result = strategy_margin(_book(rows), _market(p))
    options = [
        decomposition_requirement(_book(rows), _market(p),
                                  [("credit spread", {"c47": -1.0, "c50": 1.0}, 1)]),
        decomposition_requirement(_book(rows), _market(p),
                                  [("short strangle", {"c47": -1.0, "p43": -1.0}, 1)]),
        decomposition_requirement(_book(rows), _market(p), []),
    ]
    assert options == pytest.approx([300 + 820, 1030 + 90, 910 + 90 + 820])
    assert float(result.total) == pytest.approx(min(options))
    assert float(result.unpaired) == pytest.approx(options[2])
    frame = result.to_frame()
    assert list(frame.columns) == ["strategy", "underlying", "legs", "units", "requirement"]
    assert frame["requirement"].sum() == pytest.approx(float(result.total))


def test_pairing_is_the_optimum_over_every_decomposition_on_random_books():
    rng = np.random.default_rng(17)
    strikes = [40.0, 43.0, 45.0, 47.0, 50.0]
    for _ in range(40):
        n = int(rng.integers(2, 5))
        chosen = rng.choice(len(strikes) * 2, size=n, replace=False)
        rows, prices = [], {}
        for c in chosen:
            kind = "call" if c % 2 else "put"
            k = strikes[c // 2]
            pid = f"{kind}{k:g}"
            rows.append((pid, kind, k, float(rng.choice([-2, -1, 1, 2]))))
            intrinsic = max(45 - k, 0) if kind == "call" else max(k - 45, 0)
            prices[pid] = round(intrinsic + rng.uniform(0.2, 1.5), 2)
        book, market = _book(rows), _market(prices)
        got = float(strategy_margin(book, market).total)
        legs = strategy._legs(book, market, strategy.regt())
        cands = strategy._candidates(legs, strategy.regt())
        best = np.inf
        ranges = [range(0, 3) for _ in cands]
        for units in itertools.product(*ranges):
            pairs = [(name, {str(legs.ids[i]): q for i, q in use.items()}, k)
                     for (name, _, use, _), k in zip(cands, units, strict=True) if k]
            try:
                best = min(best, decomposition_requirement(book, market, pairs))
            except InputError:
                continue  # uses more contracts than held
        assert got == pytest.approx(best, rel=1e-9, abs=1e-6)
        assert got <= float(strategy_margin(book, market).unpaired) + 1e-9


def test_futures_and_coins_are_refused():
    future = Book(["es"], ["XYZ"], [0], [np.nan], [EXP], [1.0], [50.0])
    with pytest.raises(InputError, match="'es' is a future"):
        strategy_margin(future, _market({}))
    from greeksmargin import Settlement
    coin = Book(["btc"], ["BTC"], [0], [np.nan], [NAT], [1.0], [1.0],
                settlement=[Settlement.INVERSE])
    market = MarketData("2025-02-20T15:00:00", ["BTC"], [60_000.0], 0.0, 0.0, [0.6])
    with pytest.raises(InputError, match="coin-settled positions are refused"):
        strategy_margin(coin, market)
    with pytest.raises(InputError, match="not a recognised strategy"):
        decomposition_requirement(_book([("c47", "call", 47.0, -1)]), _market({"c47": 2.1}),
                                  [("iron condor", {"c47": -1.0}, 1)])
    with pytest.raises(InputError, match="more contracts than a position holds"):
        decomposition_requirement(
            _book([("c47", "call", 47.0, -1), ("c50", "call", 50.0, 1)]),
            _market({"c47": 2.1, "c50": 0.9}),
            [("credit spread", {"c47": -1.0, "c50": 1.0}, 2)])
