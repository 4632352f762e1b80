"""One net position per contract: rows holding one contract margin as their sum (scan and add-ons).

The independent reference is the same book written with one row per contract: splitting a row
into pieces (some of opposite sign) must change nothing, to rounding, under every preset, and
the add-ons must count net contracts (hand cases from the rules' text).
"""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import Book, MarketData, compute_margin, methodology
from greeksmargin._arrays import distinct_rows
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.measures.revalue import revalue
from tests.conftest import assert_close, random_book

EXPIRY = np.datetime64("2025-04-01T20:00:00", "s")
MARKET = MarketData("2025-01-02T15:00:00", ["XYZ"], [100.0], [0.04], [0.03], [0.25])
PRESETS = {
    "occ": methodology.occ_tims(),
    "span": methodology.span(0.07, short_option_minimum=50.0),
    "deribit": methodology.deribit({f"U{k}": dict(methodology.load_parameters("deribit", "2024.6")
                                                  ["currencies"]["BTC"]) for k in range(3)}),
}


def _calls(rows, strike=150.0, expiry=EXPIRY):
    """rows: (id, quantity) of one XYZ call contract (multiplier 100)."""
    n = len(rows)
    return Book([r[0] for r in rows], ["XYZ"] * n, [1] * n, [strike] * n, [expiry] * n,
                [r[1] for r in rows], [100.0] * n)


def _split(book: Book, market: MarketData, seed: int) -> tuple[Book, MarketData]:
    """Each row as one to three rows (quantities of either sign summing to it), shuffled."""
    rng = np.random.default_rng(seed)
    rows, quantity, ids = [], [], []
    for i, q in enumerate(book.quantity.tolist()):
        k = int(rng.integers(1, 4))
        parts = rng.integers(-15, 16, k - 1).astype(float)
        for j, part in enumerate([*parts, q - parts.sum()]):
            rows.append(i)
            quantity.append(part)
            ids.append(f"{book.position_id[i]}.{j}")
    rows_a = np.array(rows)
    perm = rng.permutation(rows_a.size)
    rows_a, quantity_a, ids_a = rows_a[perm], np.array(quantity)[perm], np.array(ids)[perm]
    split = Book(ids_a, book.underlying[rows_a], book.kind[rows_a], book.strike[rows_a],
                 book.expiry[rows_a], quantity_a, book.multiplier[rows_a],
                 np.asarray(book.exercise)[rows_a], np.asarray(book.settlement)[rows_a])
    vols = {new: market.position_vol[str(book.position_id[i])]
            for new, i in zip(ids_a.tolist(), rows_a.tolist(), strict=True)
            if str(book.position_id[i]) in market.position_vol}
    return split, market.with_position_data(vols)


@pytest.mark.parametrize("small_rows", [256, -1], ids=["dict", "hashed columns"])
def test_distinct_rows_number_distinct_rows_in_order_of_first_appearance(small_rows, monkeypatch):
    import greeksmargin._arrays

    monkeypatch.setattr(greeksmargin._arrays, "SMALL_ROWS", small_rows)
    rng = np.random.default_rng(4)
    cols = (rng.integers(0, 3, 400), np.where(rng.random(400) < 0.3, np.nan, rng.integers(0, 3, 400)),
            rng.integers(0, 2, 400).astype(np.int8))
    code, first = distinct_rows(*cols)
    # against a plain dict of the rows, NaN as None
    seen: dict = {}
    expected = [seen.setdefault(tuple(None if x != x else x for x in row), len(seen))
                for row in zip(*(c.tolist() for c in cols), strict=True)]
    assert code.tolist() == expected
    assert first.tolist() == [expected.index(c) for c in range(len(seen))]
    a = np.array([1, 2, 1, 3, 2, 1])
    b = np.array([0.5, np.nan, 0.5, 0.5, np.nan, 0.7])
    code, first = distinct_rows(a, b)
    assert code.tolist() == [0, 1, 0, 2, 1, 3]  # NaN equals NaN; (1, .7) differs from (1, .5)
    assert first.tolist() == [0, 1, 3, 5]
    code, first = distinct_rows(np.zeros(0, np.int64))
    assert code.size == 0 and first.size == 0


def test_occ_contract_minimum_counts_the_net_contracts():
    # a deep out-of-the-money long call loses at most its small premium: the per-contract minimum
    # (rate x contracts x multiplier) sets the margin; 10 bought and 4 sold is 6 held
    occ = PRESETS["occ"]
    one = compute_margin(_calls([("a", 6.0)]), MARKET, occ)
    two = compute_margin(_calls([("a", 10.0), ("b", -4.0)]), MARKET, occ)
    rate = occ.contract_minimum
    scan = float(one.scan_risk[0])
    assert float(two.addons["contract_minimum"][0]) == pytest.approx(max(rate * 600 - scan, 0))
    assert two.total == pytest.approx(one.total, rel=1e-12)
    assert rate * 600 > scan  # the minimum binds, so gross rows (14 contracts) would differ
    # bought and sold alike: nothing held, nothing to margin
    assert compute_margin(_calls([("a", 5.0), ("b", -5.0)]), MARKET, occ).total == 0.0
    # another expiry is another contract: a calendar spread counts both legs
    cal = Book(["a", "b"], ["XYZ"] * 2, [1, 1], [150.0] * 2,
               [EXPIRY, EXPIRY + np.timedelta64(30, "D")], [10.0, -4.0], [100.0] * 2)
    calendar = compute_margin(cal, MARKET, occ)
    assert float(calendar.addons["contract_minimum"][0]) == pytest.approx(
        max(rate * 1400 - float(calendar.scan_risk[0]), 0))


def test_span_short_option_minimum_counts_net_short_calls():
    # SOM = rate x max(short calls, short puts), net per contract: -5 and +3 of one call is 2 short
    span = methodology.span(0.07, short_option_minimum=50.0)
    result = compute_margin(_calls([("a", -5.0), ("b", 3.0)], strike=400.0), MARKET, span)
    scan = float(result.scan_risk[0])  # SPAN has no per-contract minimum
    assert float(result.addons["short_option_minimum"][0]) == pytest.approx(max(50.0 * 2 - scan, 0))
    assert 50.0 * 2 > scan


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_split_rows_margin_as_the_net_book_under_every_preset(preset):
    for seed in range(6):
        inverse = preset == "deribit"
        book, market = random_book(60, 300 + seed, inverse=inverse, american_share=0.2)
        split, market2 = _split(book, market, seed)
        assert split.n_positions > book.n_positions
        a = compute_margin(book, market, PRESETS[preset])
        b = compute_margin(split, market2, PRESETS[preset])
        assert_close(b.initial, a.initial, 1e-9, atol=1e-9 * max(1.0, float(np.abs(a.initial).max())))
        for name, values in a.addons.items():
            assert_close(b.addons[name], values, 1e-9, atol=1e-9 * max(1.0, float(np.abs(values).max())))


@pytest.mark.parametrize("inverse", [False, True])
def test_netted_revaluation_equals_each_row_revalued(inverse):
    from greeksmargin import ScenarioGrid, ShiftType

    book, market = random_book(400, 7, inverse=inverse, american_share=0.1)
    split, market2 = _split(book, market, 1)
    grid = ScenarioGrid.product([-0.2, -0.05, 0.0, 0.1], [-0.3, 0.0, 0.4],
                                vol_shift_type=ShiftType.RELATIVE, time_shift_years=2 / 365)
    resolved = split.resolve(market2)
    net, rows = revalue(resolved, grid), revalue(resolved, grid, net=False)
    assert resolved.netted().quantity.size <= book.n_positions < resolved.quantity.size
    assert_close(net.values, rows.values, 1e-9, atol=1e-9 * np.abs(rows.values).max())
    assert_close(net.base_value, rows.base_value, 1e-9, atol=1e-9 * np.abs(rows.base_value).max())


def test_rows_with_different_vols_or_in_different_accounts_stay_apart():
    book = _calls([("a", 10.0), ("b", -4.0)])
    market = MARKET.with_position_data({"a": 0.3, "b": 0.2})  # given per position: not one contract
    assert book.resolve(market).netted().quantity.size == 2
    both = book.resolve(MARKET, accounts=["x", "y"])  # one contract, two accounts
    assert both.netted().quantity.size == 2


def test_account_state_and_order_on_a_held_contract_equal_margining_the_combined_book():
    occ = PRESETS["occ"]
    cash = Collateral.of({"USD": 2e5}, {"USD": 1.0})
    stock = Book(["s"], ["XYZ"], [0], [np.nan], [np.datetime64("NaT")], [-50.0], [1.0])
    rows = _calls([("a", -10.0), ("b", 4.0)], strike=105.0).concat(stock)
    state = Account("acct", rows, cash, occ).evaluate(MARKET)
    assert sorted(state.account.book.position_id.tolist()) == ["a+b", "s"]
    net = Account("acct", _calls([("n", -6.0)], strike=105.0).concat(stock), cash, occ).evaluate(MARKET)
    assert float(state.initial) == pytest.approx(float(net.initial), rel=1e-12)
    # an order buying back 4 of the 6 short calls and selling 2 more on a new strike
    order = Book(["o1", "o2"], ["XYZ"] * 2, [1, 1], [105.0, 150.0], [EXPIRY] * 2, [4.0, -2.0],
                 [100.0] * 2)
    prepared = state.prepare_order(order)
    for scale in (1.0, 0.5, 2.5, -1.0):
        whatif = state.whatif(prepared, scale=scale, per_leg=True)
        accepted, initial = state.check(prepared, scale=scale)
        combined = rows.concat(order.scaled(scale))
        fresh = Account("acct", combined, cash, occ).evaluate(MARKET)
        assert whatif.initial == pytest.approx(float(fresh.initial), rel=1e-10)
        assert initial == pytest.approx(whatif.initial, rel=1e-12)
        # each leg alone, from scratch
        for k in range(2):
            alone = Account("acct", rows.concat(order.take(np.array([k])).scaled(scale)), cash,
                            occ).evaluate(MARKET)
            assert whatif.incremental_initial[k] == pytest.approx(
                float(alone.initial) - float(state.initial), rel=1e-9, abs=1e-6)


def test_instruments_shared_across_accounts_and_grids_equal_each_row_revalued():
    # 40 accounts drawing from 30 instruments, two grids (by group): Q @ V against every row
    from greeksmargin import ScenarioGrid, ShiftType

    book, market = random_book(30, 17, american_share=0.2)
    rng = np.random.default_rng(3)
    take = rng.integers(0, 30, 400)
    rows = Book([f"r{i}" for i in range(400)], book.underlying[take], book.kind[take],
                book.strike[take], book.expiry[take], rng.integers(-9, 10, 400).astype(float),
                book.multiplier[take], np.asarray(book.exercise)[take])
    market = market.with_position_data({f"r{i}": market.position_vol[str(book.position_id[k])]
                                        for i, k in enumerate(take.tolist())
                                        if str(book.position_id[k]) in market.position_vol})
    resolved = rows.resolve(market, accounts=[f"a{k % 40}" for k in range(400)])
    assert resolved.instruments()[1].size <= 30 < resolved.n_groups * 2
    a = ScenarioGrid.product([-0.15, 0.0, 0.15], [-0.2, 0.3], vol_shift_type=ShiftType.RELATIVE)
    b = ScenarioGrid.product([-0.3, -0.1, 0.2], [0.0, 0.5], vol_shift_type=ShiftType.RELATIVE,
                             time_shift_years=1 / 365)
    grids = [a if g % 3 else b for g in range(resolved.n_groups)]
    net, each = revalue(resolved, grids), revalue(resolved, grids, net=False)
    assert_close(net.values, each.values, 1e-9, atol=1e-9 * np.abs(each.values).max())
    assert_close(net.base_value, each.base_value, 1e-9, atol=1e-9 * np.abs(each.base_value).max())


def test_count_positions_equals_a_hand_count():
    # the compiled count against the rule counted by hand in Python, row by row: options'
    # contracts x multiplier, short and long calls and puts, linear notional (any dtype the
    # callers pass, read-only arrays too)
    from greeksmargin.margin import rules

    rng = np.random.default_rng(5)
    for n in (0, 1, 3, 15, 40, 500):
        group = rng.integers(0, 4, n).astype(rng.choice([np.int32, np.int64]))
        kind = rng.integers(0, 3, n).astype(np.int8)
        quantity = rng.integers(-5, 6, n) * rng.choice([1.0, 0.5], n)
        multiplier = rng.choice([1.0, 100.0], n)
        kind.flags.writeable = False
        expected = {name: np.zeros(4) for name in ("option_contracts", "short_call_quantity",
                                                   "short_put_quantity", "linear_notional",
                                                   "long_call_quantity", "long_put_quantity")}
        for g, k, q, m in zip(group.tolist(), kind.tolist(), quantity.tolist(),
                              multiplier.tolist(), strict=True):
            if k == 0:
                expected["linear_notional"][g] += abs(q * m)
                continue
            expected["option_contracts"][g] += abs(q) * m
            side = "short" if q < 0 else "long"
            expected[f"{side}_{'call' if k == 1 else 'put'}_quantity"][g] += abs(q)
        counts = rules.count_positions(group, kind, quantity, multiplier, 4)
        for name, values in expected.items():
            assert_close(getattr(counts, name), values, 1e-15)
        assert not counts.spread_charge.any()


@pytest.mark.parametrize("preset", ["occ", "span"])
def test_an_account_whose_group_nets_to_nothing_evaluates(preset):
    # XYZ calls bought and sold back, stock of another underlying held: the empty XYZ group
    # used to fail the evaluation ("mixes settlement currencies []")
    market = MarketData("2025-01-02T15:00:00", ["XYZ", "ABC"], [100.0, 50.0], [0.04, 0.04],
                        [0.03, 0.03], [0.25, 0.3])
    book = Book(["c1", "c2", "s"], ["XYZ", "XYZ", "ABC"], [1, 1, 0], [110.0, 110.0, np.nan],
                [EXPIRY, EXPIRY, np.datetime64("NaT")], [3.0, -3.0, 100.0], [100.0, 100.0, 1.0])
    method = PRESETS[preset]
    state = Account("a", book, Collateral.of({"USD": 1e5}, {"USD": 1.0}), method).evaluate(market)
    assert_close(float(state.initial), float(compute_margin(book, market, method).total), 1e-12)
    leg = Book(["o"], ["XYZ"], [2], [95.0], [EXPIRY], [-2.0], [100.0])
    expected = float(compute_margin(book.concat(leg), market, method).total)
    assert_close(state.check(state.prepare_order(leg))[1], expected, 1e-9)
