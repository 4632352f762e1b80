"""SPAN's spreads: intra-commodity and delivery charges, inter-commodity credits.

Hand cases from CME's own published examples (CME Group, "Spread calculations",
https://www.cmegroup.com/clearing/margins/spread-calc.html: Corn vs. Soybeans 2:1 at a 55% credit
on $1,750 / $2,500 outrights = $2,700; intra spreads of months 2/3/4 at outrights $500/$500/$750
with charges $200/$50/$0 = $200, $300, $250) and hand computations from the rule's text
(``greeksmargin.margin.span``): priorities, ratio legs, delivery, the SOM floor, the weighted
price risk of an option leg, accounts kept apart.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from greeksmargin import Book, MarketData, compute_margin
from greeksmargin.errors import MethodologyError
from greeksmargin.front.batch import margin_accounts
from greeksmargin.margin.result import margin_from_pnl
from greeksmargin.methodology import (
    DeliveryCharge,
    InterSpread,
    IntraSpread,
    SpanSpreads,
    SpanTier,
    span,
)

MARCH = np.datetime64("2025-03-14")
MONTHS = {"X2": "2025-02-20", "X3": "2025-03-20", "X4": "2025-04-20"}
TIERS = (SpanTier(1, "2025-02", "2025-02"), SpanTier(2, "2025-03", "2025-03"),
         SpanTier(3, "2025-04", "2025-04"))
# CME's example: intra charges month 2 vs 3 $200, 2 vs 4 $50, 3 vs 4 $0, in that priority
CALENDAR = (IntraSpread(200, ((1, 1), (2, -1))), IntraSpread(50, ((1, 1), (3, -1))),
            IntraSpread(0, ((2, 1), (3, -1))))


def _grains() -> MarketData:
    return MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.2, 0.2])


def _futures(underlying: list[str], quantity: list[float], expiry: list[str] | None = None,
             multiplier: float = 5000.0) -> Book:
    n = len(underlying)
    dates = [np.datetime64(e) for e in expiry] if expiry else [MARCH] * n
    return Book([f"p{k}" for k in range(n)], underlying, [0] * n, [np.nan] * n, dates, quantity,
                [multiplier] * n)


def _months() -> MarketData:
    # three contract months of one combined commodity "X": outright $500, $500, $750 at a 5%
    # scan range and multiplier 100 (prices 100, 100, 150)
    return MarketData("2025-01-02", ["X2", "X3", "X4"], [100.0, 100.0, 150.0], 0.0, 0.0,
                      [0.2] * 3, group_of={u: "X" for u in MONTHS})


def _calendar(legs: dict[str, float]) -> Book:
    names = list(legs)
    return _futures(names, [legs[u] for u in names], [MONTHS[u] for u in names], 100.0)


def test_cme_corn_soybean_inter_spread_credit() -> None:
    # CME: $1,750 x 2 + $2,500 = $6,000; credit 0.55 x (3,500 + 2,500) = $3,300; margin $2,700
    method = span(None, price_scan_amount={"C": 1750, "S": 2500}, spreads=SpanSpreads(
        inter=(InterSpread(0.55, (("C", 2), ("S", -1))),)))
    result = compute_margin(_futures(["C", "S"], [2.0, -1.0]), _grains(), method)
    assert float(result.total) == pytest.approx(2700.0, rel=1e-9)
    np.testing.assert_allclose(result.scan_risk, [3500.0, 2500.0], rtol=1e-12)
    np.testing.assert_allclose(result.addons["inter_credit"], [-1925.0, -1375.0], rtol=1e-9)
    # both orientations form the spread (short corn, long beans); same side on both: none
    flipped = compute_margin(_futures(["C", "S"], [-2.0, 1.0]), _grains(), method)
    assert float(flipped.total) == pytest.approx(2700.0, rel=1e-9)
    same = compute_margin(_futures(["C", "S"], [2.0, 1.0]), _grains(), method)
    assert float(same.total) == pytest.approx(6000.0, rel=1e-12)
    # a spread whose legs are on one side forms from two longs (or two shorts)
    both = span(None, price_scan_amount={"C": 1750, "S": 2500}, spreads=SpanSpreads(
        inter=(InterSpread(0.55, (("C", 2), ("S", 1))),)))
    assert float(compute_margin(_futures(["C", "S"], [2.0, 1.0]), _grains(), both).total) == \
        pytest.approx(2700.0, rel=1e-9)
    assert float(compute_margin(_futures(["C", "S"], [-2.0, -1.0]), _grains(), both).total) == \
        pytest.approx(2700.0, rel=1e-9)
    # one corn against one bean: half a 2:1 spread
    half = compute_margin(_futures(["C", "S"], [1.0, -1.0]), _grains(), method)
    assert float(half.total) == pytest.approx(1750 + 2500 - 0.55 * 0.5 * (2 * 1750 + 2500),
                                              rel=1e-9)


@pytest.mark.parametrize(("legs", "expected"), [
    ({"X2": 1.0, "X3": -1.0}, 200.0),  # ($500 - $500) + $200
    ({"X2": 1.0, "X4": -1.0}, 300.0),  # ($750 - $500) + $50
    ({"X3": 1.0, "X4": -1.0}, 250.0),  # ($750 - $500) + $0
])
def test_cme_intra_spread_examples(legs: dict[str, float], expected: float) -> None:
    method = span(0.05, spreads=SpanSpreads(tiers={"X": TIERS}, intra={"X": CALENDAR}))
    result = compute_margin(_calendar(legs), _months(), method)
    assert float(result.total) == pytest.approx(expected, rel=1e-9)


def test_intra_spreads_form_in_priority_order_with_fractions_and_ratios() -> None:
    # +2 X2 / -1 X3 / -1 X4: 2v3 first (1 x $200), then 2v4 (1 x $50); scan = 750 - 500 = 250
    # at the up move (+2 x 500 - 500 - 750 = -250)
    method = span(0.05, spreads=SpanSpreads(tiers={"X": TIERS}, intra={"X": CALENDAR}))
    result = compute_margin(_calendar({"X2": 2.0, "X3": -1.0, "X4": -1.0}), _months(), method)
    assert result.addons["intra_spread"][0] == pytest.approx(250.0, rel=1e-9)
    # fractional: +0.5 X2 / -1 X3 forms half a spread
    half = compute_margin(_calendar({"X2": 0.5, "X3": -1.0}), _months(), method)
    assert half.addons["intra_spread"][0] == pytest.approx(100.0, rel=1e-9)
    # a butterfly 1:-2:1 at $30 a spread: +1 / -2 / +1 forms one; +1 / -1 / +1 forms half
    fly = span(0.05, spreads=SpanSpreads(tiers={"X": TIERS}, intra={"X": (
        IntraSpread(30, ((1, 1), (2, -2), (3, 1))),)}))
    one = compute_margin(_calendar({"X2": 1.0, "X3": -2.0, "X4": 1.0}), _months(), fly)
    assert one.addons["intra_spread"][0] == pytest.approx(30.0, rel=1e-9)
    part = compute_margin(_calendar({"X2": 1.0, "X3": -1.0, "X4": 1.0}), _months(), fly)
    assert part.addons["intra_spread"][0] == pytest.approx(15.0, rel=1e-9)


def test_delivery_charge_on_spread_and_outright_delta() -> None:
    # tier 1 is the delivery month: +3 there, -1 in tier 2; one 1v2 spread uses 1 delta of the
    # delivery tier ($7 a delta), 2 remain outright ($11 a delta): 200 + 7 + 22
    method = span(0.05, spreads=SpanSpreads(tiers={"X": TIERS}, intra={"X": CALENDAR},
                                            delivery={"X": DeliveryCharge(1, 7.0, 11.0)}))
    result = compute_margin(_calendar({"X2": 3.0, "X3": -1.0}), _months(), method)
    assert result.addons["intra_spread"][0] == pytest.approx(200.0, rel=1e-9)
    assert result.addons["delivery"][0] == pytest.approx(7.0 + 2 * 11.0, rel=1e-9)
    assert float(result.total) == pytest.approx(2 * 500 + 200 + 29, rel=1e-9)


def test_delivery_month_delta_takes_no_part_in_inter_spreads() -> None:
    # X's only delta is in its delivery tier: no X-vs-C spread forms
    market = MarketData("2025-01-02", ["X2", "C"], [100.0, 4.375], 0.0, 0.0, [0.2, 0.2],
                        group_of={"X2": "X"})
    book = Book(["x", "c"], ["X2", "C"], [0, 0], [np.nan] * 2,
                [np.datetime64("2025-02-20"), MARCH], [1.0, -1.0], [100.0, 5000.0])
    inter = (InterSpread(0.5, (("X", 1), ("C", -1))),)
    base = dict(price_scan_range={"X": 0.05, "C": 0.08}, spreads=None)
    with_delivery = span(**base | {"spreads": SpanSpreads(
        tiers={"X": TIERS}, delivery={"X": DeliveryCharge(1, 0.0, 0.0)}, inter=inter)})
    without = span(**base | {"spreads": SpanSpreads(inter=inter)})
    assert compute_margin(book, market, with_delivery).addons["inter_credit"].sum() == 0.0
    assert compute_margin(book, market, without).addons["inter_credit"].sum() < 0.0


def test_spreads_lower_the_requirement_to_the_short_option_minimum_at_most() -> None:
    # long 2 corn / short 1 bean with a SOM-charged short bean call: requirement
    # max(scan + intra - inter, SOM x shorts) per combined commodity
    market = _grains()
    book = Book(["c", "s", "k"], ["C", "S", "S"], [0, 0, 1], [np.nan, np.nan, 14.0],
                [MARCH] * 3, [2.0, -1.0, -1.0], [5000.0] * 3)
    spreads = SpanSpreads(inter=(InterSpread(0.55, (("C", 2), ("S", -1))),))
    method = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=2000.0,
                  spreads=spreads)
    result = compute_margin(book, market, method).to_frame()
    beans = result.loc["S"]
    floor = beans.scan_risk + beans.inter_credit
    assert beans.short_option_minimum == pytest.approx(max(2000.0 - floor, 0.0), abs=1e-9)
    assert beans.initial_margin == pytest.approx(max(floor, 2000.0), rel=1e-12)


def test_option_leg_weighted_price_risk_by_hand() -> None:
    # corn: long 10 calls (Black-76, the future as underlying, no carry); beans: short 4 futures
    market = MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.25, 0.2])
    book = Book(["c", "s"], ["C", "S"], [1, 0], [4.5, np.nan], [MARCH, MARCH], [10.0, -4.0],
                [5000.0, 5000.0])
    plain = span(0.08)
    spreads = SpanSpreads(inter=(InterSpread(0.5, (("C", 1), ("S", -1))),))
    result = compute_margin(book, market, span(0.08, spreads=spreads))
    before = compute_margin(book, market, plain)
    # composite delta: 10 x N(d1) (Black-76 delta, r = b = 0), against the finite difference
    t = (MARCH - np.datetime64("2025-01-02")).astype("timedelta64[s]").astype(float) / (365 * 86400)
    d1 = (np.log(4.375 / 4.5) + 0.5 * 0.25**2 * t) / (0.25 * np.sqrt(t))
    delta_corn = 10 * norm.cdf(d1)
    # hand split of corn's scan risk: time = mean loss of scenarios 1-2, volatility = half the
    # loss gap between the worst scenario and its opposite-vol pair
    loss = -before.pnl.values[0]
    worst = int(before.worst_scenario[0])
    pair = worst + 1 if worst % 2 == 0 else worst - 1
    time_risk = (loss[0] + loss[1]) / 2
    vol_risk = (loss[worst] - loss[pair]) / 2 if worst < 14 else 0.0
    wpr_corn = (before.scan_risk[0] - time_risk - vol_risk) / delta_corn
    wpr_beans = before.scan_risk[1] / 4.0
    spreads_formed = min(delta_corn, 4.0)
    np.testing.assert_allclose(-result.addons["inter_credit"],
                               [0.5 * spreads_formed * wpr_corn, 0.5 * spreads_formed * wpr_beans],
                               rtol=1e-6)
    # net option value: 10 long calls at Black-76 (r = 0), beans' futures worth 0
    d2 = d1 - 0.25 * np.sqrt(t)
    call = 4.375 * norm.cdf(d1) - 4.5 * norm.cdf(d2)
    np.testing.assert_allclose(result.memo["net_option_value"], [10 * 5000 * call, 0.0],
                               rtol=1e-10, atol=1e-9)


def test_inter_spreads_form_only_within_an_account() -> None:
    positions = pd.DataFrame({
        "account": ["a", "a", "b", "c"], "underlying": ["C", "S", "C", "S"],
        "kind": ["future"] * 4, "strike": [np.nan] * 4, "expiry": ["2025-03-14"] * 4,
        "quantity": [2.0, -1.0, 2.0, -1.0], "multiplier": [5000.0] * 4})
    method = span(None, price_scan_amount={"C": 1750, "S": 2500}, spreads=SpanSpreads(
        inter=(InterSpread(0.55, (("C", 2), ("S", -1))),)))
    result = margin_accounts(positions, _grains(), method).set_index("account")
    np.testing.assert_allclose(result["initial_margin"].to_numpy(), [2700.0, 3500.0, 2500.0],
                               rtol=1e-9)


def test_spread_charges_are_never_negative() -> None:
    # random calendar books: intra >= 0, delivery >= 0, so the requirement never falls
    rng = np.random.default_rng(7)
    method = span(0.05, spreads=SpanSpreads(tiers={"X": TIERS}, intra={"X": CALENDAR},
                                            delivery={"X": DeliveryCharge(1, 5.0, 9.0)}))
    plain = span(0.05)
    for _ in range(20):
        legs = {u: float(rng.integers(-5, 6)) or 1.0 for u in MONTHS}
        with_spreads = compute_margin(_calendar(legs), _months(), method)
        without = compute_margin(_calendar(legs), _months(), plain)
        assert with_spreads.addons["intra_spread"][0] >= 0
        assert with_spreads.addons["delivery"][0] >= 0
        assert float(with_spreads.total) >= float(without.total) - 1e-9


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SpanTier(1, "2025-03", "2025-02"), "after"),
    (lambda: SpanTier(1, "March", "2025-02"), "YYYY-MM"),
    (lambda: IntraSpread(-1.0, ((1, 1), (2, -1))), ">= 0"),
    (lambda: IntraSpread(1.0, ((1, 1),)), "two legs"),
    (lambda: IntraSpread(1.0, ((1, 1), (1, -1))), "two legs"),
    (lambda: IntraSpread(1.0, ((1, 1), (2, 0))), "non-zero"),
    (lambda: InterSpread(1.5, (("C", 1), ("S", -1))), "[0, 1]"),
    (lambda: DeliveryCharge(1, -1.0, 0.0), "spread_rate"),
    (lambda: SpanSpreads(tiers={"X": (SpanTier(1, "2025-01", "2025-03"),
                                      SpanTier(2, "2025-03", "2025-04"))}), "overlap"),
    (lambda: SpanSpreads(tiers={"X": (SpanTier(1, "2025-01", "2025-01"),
                                      SpanTier(1, "2025-02", "2025-02"))}), "repeat"),
    (lambda: SpanSpreads(tiers={"X": TIERS}, intra={"X": (IntraSpread(1, ((1, 1), (9, -1))),)}),
     "not in its tiers"),
    (lambda: SpanSpreads(tiers={"X": TIERS}, delivery={"X": DeliveryCharge(9, 0.0, 0.0)}),
     "delivery tier"),
    (lambda: SpanSpreads(contract_size={"X": 0.0}), "contract size"),
])
def test_bad_spread_parameters_are_named(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MethodologyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_mixed_multipliers_need_a_contract_size() -> None:
    market = MarketData("2025-01-02", ["X2"], [100.0], 0.0, 0.0, [0.2], group_of={"X2": "X"})
    book = Book(["a", "b"], ["X2", "X2"], [0, 0], [np.nan] * 2,
                [np.datetime64("2025-02-20")] * 2, [1.0, -10.0], [100.0, 10.0])
    spreads = SpanSpreads(tiers={"X": TIERS}, intra={"X": CALENDAR})
    with pytest.raises(MethodologyError, match="contract_size"):
        compute_margin(book, market, span(0.05, spreads=spreads))
    sized = span(0.05, spreads=dataclasses.replace(spreads, contract_size={"X": 100.0}))
    assert float(compute_margin(book, market, sized).total) == pytest.approx(0.0, abs=1e-9)


def test_spreads_need_positions() -> None:
    method = span(None, price_scan_amount={"C": 1750, "S": 2500}, spreads=SpanSpreads(
        inter=(InterSpread(0.55, (("C", 2), ("S", -1))),)))
    result = compute_margin(_futures(["C", "S"], [2.0, -1.0]), _grains(), span(
        None, price_scan_amount={"C": 1750, "S": 2500}))
    assert result.pnl is not None
    with pytest.raises(MethodologyError, match="resolved= or span_positions="):
        margin_from_pnl(result.pnl, methodology=method)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
_KEYS = st.sampled_from(["tiers", "intra", "delivery", "inter", "contract_size", "tier"])


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_KEYS, _JSON, max_size=3) | _JSON)
def test_any_spreads_data_builds_or_is_refused_by_name(data: object) -> None:
    # a spreads file's content, whatever it holds: SpanSpreads or a MethodologyError, never
    # another exception
    try:
        SpanSpreads.from_mapping(data, "fuzz.json")
    except MethodologyError as error:
        assert str(error).startswith("fuzz.json: ")


_VALID = {"tiers": {"C": [[1, "2025-03", "2025-03"], [2, "2025-05", "2025-07"]]},
          "intra": {"C": [{"rate": 150, "legs": [[1, 1], [2, -1]]}]},
          "delivery": {"C": {"tier": 1, "spread_rate": 10, "outright_rate": 20}},
          "inter": [{"rate": 0.55, "legs": [["C", 2], ["S", -1]]}],
          "contract_size": {"C": 5000}}


def _leaves(value: object, path: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] + [path]
    if isinstance(value, list):
        return [p for k, v in enumerate(value) for p in _leaves(v, (*path, k))] + [path]
    return [path]


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(_leaves(_VALID)), cell=_JSON)
def test_a_valid_spreads_file_with_one_cell_changed_builds_or_is_refused(where: tuple,  # type: ignore[type-arg]
                                                                         cell: object) -> None:
    import copy

    data: object = copy.deepcopy(_VALID)
    if where:
        parent = data
        for key in where[:-1]:
            parent = parent[key]  # type: ignore[index]
        parent[where[-1]] = cell  # type: ignore[index]
    else:
        data = cell
    try:
        SpanSpreads.from_mapping(data, "fuzz.json")
    except MethodologyError as error:
        assert str(error).startswith("fuzz.json: ")


def test_the_documented_spreads_file_builds() -> None:
    # docs/methodology.md's JSON example is a valid spreads file
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "methodology.md").read_text()
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block is not None
    spreads = SpanSpreads.from_mapping(json.loads(block.group(1)), "docs/methodology.md")
    assert spreads.inter[0].legs == (("C", 2.0), ("S", -1.0))


def test_short_option_minimum_per_class_group() -> None:
    # CME sets the SOM per product: 800 a short option in corn, none in beans; 3 short corn
    # calls and 2 short bean calls far out of the money (scan below the floors)
    book = Book(["c", "s"], ["C", "S"], [1, 1], [9.0, 20.0], [MARCH, MARCH], [-3.0, -2.0],
                [5000.0, 5000.0])
    result = compute_margin(book, _grains(), span(0.08, short_option_minimum={"C": 800.0}))
    frame = result.to_frame()
    assert frame.loc["C", "initial_margin"] == pytest.approx(
        max(frame.loc["C", "scan_risk"], 3 * 800.0), rel=1e-12)
    assert frame.loc["S", "short_option_minimum"] == 0.0
    assert frame.loc["S", "initial_margin"] == pytest.approx(frame.loc["S", "scan_risk"],
                                                             rel=1e-12)
    with pytest.raises(MethodologyError, match=r"short_option_minimum\['C'\]"):
        span(0.08, short_option_minimum={"C": -1.0})
