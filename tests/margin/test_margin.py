"""Portfolio margin: properties, presets against their published parameters (docs/methodology.md), add-ons, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from greeksmargin import (
    Book,
    MarketData,
    OptionKind,
    PnLMatrix,
    ScenarioGrid,
    Settlement,
    ShiftType,
    compute_margin,
    margin_from_pnl,
    methodology,
)
from greeksmargin.errors import InputError, MethodologyError
from greeksmargin.kernels._margin import Counts
from greeksmargin.margin.rules import GroupFacts, GroupRules
from greeksmargin.methodology import ExtendedTable
from greeksmargin.pricing import price
from tests.conftest import assert_close, random_book

EXPIRY = np.datetime64("2025-04-01T20:00:00", "s")
MARKET = MarketData("2025-01-02T15:00:00", ["XYZ", "IDX"], [100.0, 5000.0], [0.04, 0.04],
                    [0.03, 0.03], [0.25, 0.18])
GRID = ScenarioGrid.product(np.linspace(-0.15, 0.15, 11), [-0.3, 0.0, 0.3],
                            vol_shift_type=ShiftType.RELATIVE)


def _book(rows):
    """rows: (id, underlying, kind, strike, quantity)."""
    n = len(rows)
    kinds = [r[2] for r in rows]
    return Book([r[0] for r in rows], [r[1] for r in rows], kinds,
                [np.nan if k == 0 else r[3] for k, r in zip(kinds, rows, strict=True)],
                [np.datetime64("NaT") if k == 0 else EXPIRY for k in kinds],
                [r[4] for r in rows], [1.0 if k == 0 else 100.0 for k in kinds] if n else [])


def test_margin_is_nonnegative_finite_and_row_order_invariant():
    book, market = random_book(120, 21)
    a = compute_margin(book, market, GRID)
    assert np.isfinite(a.total) and a.total >= 0 and np.all(a.initial >= 0)
    perm = np.random.default_rng(1).permutation(book.n_positions)
    b = compute_margin(book.take(perm), market, GRID)
    assert_close(b.total, a.total, 1e-12)
    assert np.array_equal(a.worst_scenario, b.worst_scenario)


def test_margin_scales_linearly_with_quantity_without_fixed_minimums():
    book, market = random_book(80, 22)
    a = compute_margin(book, market, GRID)
    b = compute_margin(book.scaled(2.5), market, GRID)
    assert_close(b.initial, 2.5 * a.initial, 1e-12)


def test_book_plus_its_opposite_has_zero_scenario_risk():
    book = _book([("c", "XYZ", 1, 105.0, -3), ("p", "XYZ", 2, 95.0, 2), ("s", "XYZ", 0, 0, 50),
                  ("oc", "XYZ", 1, 105.0, 3), ("op", "XYZ", 2, 95.0, -2), ("os", "XYZ", 0, 0, -50)])
    result = compute_margin(book, MARKET, GRID)
    assert result.total < 1e-9


def test_box_spread_and_conversion_have_near_zero_scenario_risk():
    box = _book([("c1", "IDX", 1, 4900.0, 1), ("c2", "IDX", 1, 5100.0, -1),
                 ("p1", "IDX", 2, 4900.0, -1), ("p2", "IDX", 2, 5100.0, 1)])
    result = compute_margin(box, MARKET, GRID)
    # a box is worth K2-K1 discounted whatever spot and vol do: no scan risk
    assert result.total < 1e-7 * 200 * 100
    # conversion: long stock, long put, short call at one strike (forward carry with dividends)
    conversion = _book([("s", "XYZ", 0, 0, 100), ("p", "XYZ", 2, 100.0, 1), ("c", "XYZ", 1, 100.0, -1)])
    flat = ScenarioGrid.product(np.linspace(-0.15, 0.15, 11), [-0.3, 0.0, 0.3],
                                vol_shift_type=ShiftType.RELATIVE)
    result = compute_margin(conversion, MARKET, flat)
    # parity: P - C = K e^{-rT} - S e^{(b-r)T} whatever the vol, so the only exposure left is the
    # dividend leak of the stock leg, 100 dS (1 - e^{(b-r)T}), worst at the -15% move
    t = (EXPIRY - MARKET.valuation).astype(float) / (365 * 86400)
    assert_close(result.total, 100 * 15.0 * (1 - np.exp((0.03 - 0.04) * t)), 1e-9)


def test_long_option_loss_never_exceeds_its_premium():
    for kind, strike in ((1, 110.0), (2, 90.0), (1, 90.0)):
        book = _book([("o", "XYZ", kind, strike, 4)])
        result = compute_margin(book, MARKET, GRID.concat(ScenarioGrid.product(
            [-0.9, 3.0], [-1.0], vol_shift_type=ShiftType.RELATIVE)))
        premium = result.pnl.base_value[0]
        assert 0 < result.total <= premium * (1 + 1e-12)


def test_adding_a_hedge_of_the_worst_scenario_lowers_the_margin():
    naked = _book([("short-put", "XYZ", 2, 95.0, -10)])
    before = compute_margin(naked, MARKET, GRID)
    assert GRID.spot_shift[before.worst_scenario[0]] < 0
    hedged = _book([("short-put", "XYZ", 2, 95.0, -10), ("long-put", "XYZ", 2, 85.0, 10)])
    after = compute_margin(hedged, MARKET, GRID)
    assert after.total < before.total


def test_short_call_margin_equals_hand_revaluation_at_the_worst_point():
    book = _book([("c", "XYZ", 1, 100.0, -1)])
    grid = ScenarioGrid.product([-0.15, 0.0, 0.15])
    result = compute_margin(book, MARKET, grid)
    t = (EXPIRY - MARKET.valuation).astype(float) / (365 * 86400)
    now = price(100.0, 100.0, expiry_years=t, vol=0.25, rate=0.04, carry=0.03, kind=1)
    up = price(115.0, 100.0, expiry_years=t, vol=0.25, rate=0.04, carry=0.03, kind=1)
    assert result.worst_label == ("spot+0.15",)
    assert_close(result.total, 100 * (up - now), 1e-12)


def test_occ_tims_ranges_points_and_contract_minimum():
    m = methodology.occ_tims({"IDX": "high_cap_index"})
    book = _book([("x", "XYZ", 1, 100.0, -1), ("i", "IDX", 2, 5000.0, -1)])
    resolved = book.resolve(MARKET)
    grids = dict(zip(resolved.group_labels, m.build_grids(resolved), strict=True))
    assert_close(grids["XYZ"].spot_shift, [-0.15, -0.12, -0.09, -0.06, -0.03,
                                           0.03, 0.06, 0.09, 0.12, 0.15], 1e-15)
    assert_close(grids["IDX"].spot_shift, [-0.08, -0.064, -0.048, -0.032, -0.016,
                                           0.012, 0.024, 0.036, 0.048, 0.06], 1e-15)
    # a far out-of-the-money long option barely moves: the $0.375 x 100 minimum per contract binds
    tiny = _book([("otm", "XYZ", 1, 400.0, 3)])
    result = compute_margin(tiny, MARKET, m)
    assert_close(result.initial[0], 0.375 * 100 * 3, 1e-12)
    assert result.addons["contract_minimum"][0] > 0
    assert result.methodology["parameters"]["contract_minimum"] == 0.375


def test_occ_tims_rejects_unknown_and_mixed_classes():
    with pytest.raises(MethodologyError, match="unknown OCC product class 'fx'"):
        methodology.occ_tims({"XYZ": "fx"})
    market = MarketData("2025-01-02", ["A", "B"], [1.0, 1.0], 0.0, 0.0, 0.2, group_of={"A": "G", "B": "G"})
    book = Book(["a", "b"], ["A", "B"], [0, 0], [np.nan] * 2, [np.datetime64("NaT")] * 2,
                [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(MethodologyError, match="mixes OCC product classes"):
        compute_margin(book, market, methodology.occ_tims({"A": "equity", "B": "broad_index"}))


def test_span_sixteen_scenarios_with_weighted_extremes():
    m = methodology.span(0.06, 0.35)
    book = _book([("f", "XYZ", 0, 0, 10)])
    grid = m.build_grids(book.resolve(MARKET))[0]
    assert grid.n_scenarios == 16
    assert_close(grid.spot_shift[[2, 10, 12, 14, 15]], [0.02, 0.06, -0.06, 0.12, -0.12], 1e-15)
    assert_close(grid.weight[14:], [0.35, 0.35], 0)
    assert_close(grid.vol_shift[:2], [0.35, -0.35], 0)
    # a long linear position: worst is the -1 PSR move at full weight (0.35 x 2 PSR = 0.7 PSR less)
    result = compute_margin(book, MARKET, m)
    assert result.worst_label[0].startswith("13:")
    assert_close(result.total, 10 * 100 * 0.06, 1e-12)


def test_span_short_option_minimum_lifts_a_tiny_requirement():
    m = methodology.span(0.06, short_option_minimum=50.0)
    book = _book([("far", "XYZ", 1, 400.0, -2)])
    result = compute_margin(book, MARKET, m)
    assert_close(result.initial[0], 100.0, 1e-12)
    with pytest.raises(MethodologyError, match="price scan range must be in"):
        compute_margin(book, MARKET, methodology.span(7.0))


def test_span_short_option_minimum_counts_short_calls_or_short_puts_whichever_more():
    # CME: "the SOM charge per short calls or short puts": 3 far calls and 5 far puts short
    # charge 5 x 50 = 250, not 8 x 50; long options do not offset it
    m = methodology.span(0.06, short_option_minimum=50.0)
    book = _book([("c", "XYZ", 1, 400.0, -3), ("p", "XYZ", 2, 20.0, -5),
                  ("long-p", "XYZ", 2, 10.0, 4)])
    result = compute_margin(book, MARKET, m)
    assert_close(result.initial[0], 250.0, 1e-9)
    assert_close(result.addons["short_option_minimum"][0], 250.0 - result.scan_risk[0], 1e-9)
    # a what-if that sells 4 more calls makes the calls the larger side: 7 x 50
    from greeksmargin.accounts.account import Account, Collateral

    state = Account("s", book, Collateral.of({"USD": 1e6}, {"USD": 1.0}), m).evaluate(MARKET)
    more = _book([("c2", "XYZ", 1, 400.0, 2)])  # bought... and traded at -2: 4 calls sold
    _, initial = state.check(state.prepare_order(more), -2.0)
    full = compute_margin(book.concat(more.scaled(-2.0)), MARKET, m)
    assert_close(initial, full.total, 1e-12)
    assert_close(full.initial[0], 350.0, 1e-9)


def test_deribit_vol_shock_scaling_matches_the_worked_numbers():
    # docs/methodology.md (Deribit): BTC up shock 0.5 (30/15)^0.3 = +61.6% at 15 days, 0.5 (30/365)^0.13
    # = +36.1% at 365 days; down 0.25 (30/15)^0.3 = -30.8%
    grid = methodology.deribit().build_grids(_deribit_book().resolve(_deribit_market()))[0]
    scale = grid.vol_scaling.scale(np.array([15 / 365, 30 / 365, 1.0]))
    assert_close(0.5 * scale, [0.6156, 0.5, 0.3614], 5e-4)  # the page rounds to 4 digits
    assert_close(0.25 * scale[0], 0.3078, 2e-4)
    assert grid.n_scenarios == 27 + 8
    assert_close(grid.spot_shift[::3][:9], 0.16 * np.arange(-4, 5) / 4, 1e-15)
    assert_close(grid.weight[27:], 0.16 / np.abs([-0.66, -0.33, 0.5, 1, 2, 3, 4, 5]), 1e-15)
    assert_close(grid.linear_spot_shift[27:], [-0.16, -0.16] + [0.16] * 6, 0)


def _deribit_market():
    return MarketData("2024-06-17T10:22:20", ["BTC"], [66_500.0], [0.0], [0.0], [0.5])


def _deribit_book(perp=0.314538364, fut=0.001187534):
    fut_expiry = np.datetime64("2024-06-28T08:00:00", "s")
    return Book(["perp", "fut"], ["BTC", "BTC"], [0, 0], [np.nan, np.nan],
                [np.datetime64("NaT"), fut_expiry], [perp, fut], [1.0, 1.0],
                settlement=[Settlement.INVERSE] * 2)


def test_deribit_roll_shock_and_maintenance_factor_match_the_api_example():
    # Deribit API example (private/simulate_portfolio): roll shock
    # = 0.01 x (0.314538364 + 0.001187534) = 0.00315725898 BTC
    result = compute_margin(_deribit_book(), _deribit_market(), methodology.deribit())
    assert_close(result.addons["roll_shock"][0], 0.00315725898, 1e-12)
    assert result.currency == ("BTC",)
    assert_close(result.maintenance, 0.8 * result.initial, 1e-15)
    # worst loss of a long delta-one book: the -16% bucket, Q (1 - 1/0.84) in coin
    q = 0.314538364 + 0.001187534
    assert_close(result.scan_risk[0], -q * (1 - 1 / 0.84), 2e-3)


def test_deribit_dampener_reduces_extended_losses_but_never_makes_gains():
    # a coin group whose grid ends with two extended-table scenarios (-66%, +500%); by hand:
    # D' = D / (S (1 - R)) at -66%, the loss reduced by min((0.66 / R - 1) D', |w P|)
    grid = ScenarioGrid([0.1, -0.66, 5.0], [0.0, 0.5, 0.5], [1, 1, 1], [0.0] * 3,
                        [1.0, 0.5, 0.1], ("standard", "ext-66%", "ext+500%"))
    method = replace(methodology.deribit(), roll_shock_rate={}, extended_table={
        "BTC": ExtendedTable(1, 2, 0.16, 100_000.0)})
    rules = GroupRules.of((grid,), ("BTC",), ("BTC",), method, "USD")
    assert rules.arrays.extended.tolist() == [[False, True, True]]
    facts = GroupFacts(Counts(*(np.zeros(1) for _ in Counts._fields)), np.array([60_000.0]),
                       np.array([60_000.0]), "USD")
    amount = (0.66 / 0.16 - 1) * 100_000 / (60_000 * (1 - 0.16))
    for loss_66, expected in ((-40.0, 20.0 - amount), (-0.4, 1.0)):  # reduced; reduced to 0
        parts = rules.reduce(np.array([[-1.0, loss_66, 2.0]]), facts)
        assert_close(parts[0][0], expected, 1e-15)  # requirement = scan risk here
        assert parts[-1][0] == (1 if loss_66 == -40.0 else 0)  # worst scenario
    # the same loss in a quote-currency group: D is not converted
    usd = GroupRules.of((grid,), ("BTC",), ("USD",), method, "USD")
    parts = usd.reduce(np.array([[-1.0, -1_000_000.0, 2.0]]), facts)
    assert_close(parts[0][0], 500_000.0 - (0.66 / 0.16 - 1) * 100_000, 1e-15)
    # gains stay gains: a group with only gains needs nothing
    assert rules.reduce(np.array([[1.0, 3.0, 2.0]]), facts)[0][0] == 0.0


def test_deribit_needs_parameters_for_every_coin():
    market = MarketData("2024-06-17", ["SOL"], [150.0], [0.0], [0.0])
    book = Book(["s"], ["SOL"], [0], [np.nan], [np.datetime64("NaT")], [1.0], [1.0],
                settlement=[1])
    with pytest.raises(MethodologyError, match="no Deribit parameters for group 'SOL'"):
        compute_margin(book, market, methodology.deribit())
    with pytest.raises(MethodologyError, match="lack"):
        methodology.deribit({"SOL": {"price_range": 0.2}})
    with pytest.raises(MethodologyError, match="unknown methodology 'tims'"):
        methodology.get("tims")


def test_margin_from_supplied_risk_arrays_and_its_errors():
    grid = ScenarioGrid.product([-0.1, 0.0, 0.1])
    pnl = PnLMatrix(np.array([[-50.0, 0.0, 20.0], [10.0, 0.0, -30.0]]), ("A", "B"),
                    np.zeros(2), ("USD", "USD"), (grid, grid))
    result = margin_from_pnl(pnl)
    assert_close(result.initial, [50.0, 30.0], 0)
    assert result.total == 80.0 and result.worst_label == ("spot-0.1", "spot+0.1")
    bad = PnLMatrix(np.array([[np.nan, 0.0, 1.0]]), ("A",), np.zeros(1), ("USD",), (grid,))
    with pytest.raises(InputError, match="not finite .* group 'A', scenario 'spot-0.1'"):
        margin_from_pnl(bad)
    coins = PnLMatrix(np.array([[-1.0, 0, 0], [-1.0, 0, 0]]), ("BTC", "ETH"), np.zeros(2),
                      ("BTC", "ETH"), (grid, grid))
    with pytest.raises(InputError, match="different currencies"):
        margin_from_pnl(coins)


def test_nan_scenario_pnl_names_the_position():
    # an American option at a vanishing vol makes BAW break down (documented gap): the margin
    # must refuse, naming the position, instead of returning NaN
    book = Book(["bad-american"], ["XYZ"], [OptionKind.PUT], [100.0], [EXPIRY], [1.0], [100.0],
                exercise=[1])
    market = MARKET.with_position_data({"bad-american": 1e-5})
    result_or_error = None
    try:
        result_or_error = compute_margin(book, market, ScenarioGrid.product([0.0], [-0.5],
                                         vol_shift_type=ShiftType.RELATIVE))
    except InputError as exc:
        assert "bad-american" in str(exc)
    else:
        assert np.isfinite(result_or_error.total)


def test_groups_in_different_coins_total_in_the_quote_currency():
    market = MarketData("2024-06-17", ["BTC", "ETH"], [60_000.0, 3_000.0], 0.0, 0.0)
    book = Book(["b", "e"], ["BTC", "ETH"], [0, 0], [np.nan] * 2, [np.datetime64("NaT")] * 2,
                [1.0, 10.0], [1.0, 1.0], settlement=[1, 1])
    result = compute_margin(book, market, ScenarioGrid.product([-0.1, 0.1]))
    assert result.currency == ("BTC", "ETH") and result.total_currency == "USD"
    assert_close(result.total, 60_000 * result.initial[0] + 3_000 * result.initial[1], 1e-12)


def test_result_frame_and_dict_carry_parts_and_methodology():
    book = _book([("c", "XYZ", 1, 100.0, -1)])
    result = compute_margin(book, MARKET, methodology.occ_tims())
    frame = result.to_frame()
    assert list(frame.columns) == ["currency", "scan_risk", "worst_scenario", "contract_minimum",
                                   "initial_margin", "maintenance_margin"]
    d = result.to_dict()
    assert d["methodology"]["name"] == "occ-tims" and d["groups"][0]["group"] == "XYZ"
    with pytest.raises(InputError, match="must be a Methodology or a ScenarioGrid"):
        compute_margin(book, MARKET, "occ")  # type: ignore[arg-type]


def test_supplied_risk_array_frame_and_shape_errors():
    import pandas as pd

    frame = pd.DataFrame([[-10.0, 5.0, -40.0], [3.0, -1.0, 2.0]], index=["ES", "NQ"],
                         columns=["up", "flat", "extreme"])
    weights = ScenarioGrid([0.05, 0.0, 0.1], [0.0] * 3, [0] * 3, [0.0] * 3, [1.0, 1.0, 0.35],
                           ("up", "flat", "extreme"))
    result = margin_from_pnl(PnLMatrix.from_frame(frame, weights))
    assert_close(result.initial, [14.0, 1.0], 1e-15)  # max(10, 0.35 x 40) and 1
    assert result.worst_label == ("extreme", "flat")
    plain = margin_from_pnl(PnLMatrix.from_frame(frame))
    assert_close(plain.initial, [40.0, 1.0], 0)
    with pytest.raises(InputError, match="grid has 2 scenarios but the P&L matrix 3 columns"):
        PnLMatrix.from_frame(frame, ScenarioGrid.product([0.0, 0.1]))
    with pytest.raises(InputError, match="at least one group and one scenario"):
        PnLMatrix.from_frame(pd.DataFrame())
    grid = ScenarioGrid.product([0.0, 0.1])
    wrong = PnLMatrix(np.zeros((2, 2)), ("A",), np.zeros(1), ("USD",), (grid,))
    with pytest.raises(InputError, match="pnl values must have shape"):
        margin_from_pnl(wrong)
    short = PnLMatrix(np.zeros((1, 3)), ("A",), np.zeros(1), ("USD",), (grid,))
    with pytest.raises(InputError, match="3 P&L columns but 2 scenarios"):
        margin_from_pnl(short)
    with pytest.raises(MethodologyError, match="bad options for methodology 'span'"):
        methodology.get("span", psr=0.1)
    with pytest.raises(Exception, match="no market data for underlying 'ZZZ'"):
        MARKET.index_of("ZZZ")


def test_a_non_finite_pnl_names_its_positions_revaluing_only_its_group(monkeypatch):
    # a huge linear position on an absurd grid overflows: the error names the position, and
    # only the bad group's positions are revalued to find it (not positions x scenarios)
    from greeksmargin.margin import result as result_module

    market = MarketData("2025-01-02", ["A", "B"], [1e6, 50.0], 0.04, 0.03, [0.2, 0.3])
    exp = np.datetime64("2025-06-20T20:00")
    book = Book(["a1", "a2", "b1"], ["A", "A", "B"], [0, 2, 1], [np.nan, 90.0, 50.0],
                [np.datetime64("NaT"), exp, exp], [1e9, -1.0, 2.0], [1e6, 100.0, 100.0])
    seen = []
    real = result_module.revalue

    def spy(resolved, grid, **kw):
        seen.append((resolved.position_id.size, kw.get("keep_positions", False)))
        return real(resolved, grid, **kw)

    monkeypatch.setattr(result_module, "revalue", spy)
    with pytest.raises(InputError, match=r"not finite \(inf\) for group 'A', scenario"
                                         r" 'spot\+1e\+300'; positions: a1"):
        compute_margin(book, market, ScenarioGrid.product([-0.5, 0.0, 1e300]))
    assert seen == [(3, False), (2, True)]  # the whole book once, then group A's 2 positions


def test_group_rules_keep_one_scenario_row_per_grid_and_class():
    # 6 groups on two grid objects and two classes: three distinct (class, grid) rows, each
    # group's weights those of its own grid
    a = ScenarioGrid.product([-0.1, 0.0, 0.1], [0.0])
    b = ScenarioGrid([0.2, -0.2, 0.0], [0.0] * 3, [1] * 3, [0.0] * 3, [1.0, 0.5, 0.25],
                     ("up", "down", "flat"))
    grids = (a, b, a, a, b, a)
    classes = ("x", "y", "x", "z", "y", "x")
    rules = GroupRules.of(grids, [f"g{k}" for k in range(6)], ["USD"] * 6,
                          methodology.occ_tims(), "USD", classes)
    assert rules.arrays.weight.shape == (3, 3)
    assert rules.arrays.grid_row.tolist() == [0, 1, 0, 2, 1, 0]
    assert np.array_equal(rules.weight_by_group(), np.stack([g.weight for g in grids]))
    assert np.array_equal(rules.arrays.spot_shift[rules.arrays.grid_row],
                          np.stack([g.spot_shift for g in grids]))
