"""Revaluation kernel against the independent reference loop, and its invariants."""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import (
    Book,
    MarketData,
    OptionKind,
    ScenarioGrid,
    Settlement,
    ShiftType,
    VolScaling,
    revalue,
)
from greeksmargin.errors import InputError
from greeksmargin.pricing import american
from greeksmargin.reference import revalue as ref
from tests.conftest import assert_close, random_book

PRICE_RTOL = 1e-12  # per position, relative (absolute fallback 1e-12 x spot x notional)
SUM_RTOL = 1e-13  # group sums against sums of reference terms: summation rounding only


def _grid(vol_shift_type=ShiftType.RELATIVE, days=0.0, scaling=None):
    return ScenarioGrid.product(np.linspace(-0.3, 0.3, 7), [-0.4, 0.0, 0.5],
                                vol_shift_type=vol_shift_type, time_shift_years=days / 365.0,
                                vol_scaling=scaling)


def _reference(resolved, grid):
    """Per-position reference P&L in Book row order, and group sums."""
    market = resolved.market
    n = resolved.position_id.size
    out = np.empty((n, grid.n_scenarios))
    for k in range(n):
        u = resolved.underlying_index[k]
        t = resolved.expiry_years[k]
        scale = 1.0
        min_up = 0.0
        if grid.vol_scaling is not None and not np.isnan(t):
            days = max(t * 365.0, grid.vol_scaling.floor_days)
            power = (grid.vol_scaling.short_term_power if days <= grid.vol_scaling.reference_days
                     else grid.vol_scaling.long_term_power)
            scale = (grid.vol_scaling.reference_days / days) ** power
            min_up = grid.vol_scaling.min_vol_up
        out[resolved.order[k]] = ref.position_pnl(
            market.spot[u], market.rate[u], market.carry[u], int(resolved.kind[k]),
            resolved.strike[k], t, resolved.vol[k], resolved.notional[k],
            bool(resolved.inverse[k]), grid.spot_shift, grid.vol_shift,
            grid.vol_shift_type == ShiftType.RELATIVE, grid.time_shift_years, scale, min_up,
            grid.linear_spot_shift)
    return out


@pytest.mark.parametrize("case", [
    dict(),
    dict(vol_shift_type=ShiftType.ABSOLUTE),
    dict(days=30.0),  # pushes the shortest options past expiry: intrinsic value
    dict(scaling=VolScaling(0.3, 0.13, 0.5)),
], ids=["relative", "absolute", "time-shift", "deribit-scaling"])
@pytest.mark.parametrize("inverse", [False, True], ids=["linear", "inverse"])
def test_kernel_matches_reference_loop(case, inverse):
    book, market = random_book(300, 7, inverse=inverse)
    grid = _grid(**case)
    resolved = book.resolve(market, by="underlying")
    pnl = revalue(resolved, grid, keep_positions=True)
    expected = _reference(resolved, grid)
    spot_of_row = market.spot[[market.underlyings.index(u) for u in book.underlying]]
    scale = np.abs(book.quantity * book.multiplier) * (1.0 if inverse else spot_of_row)
    assert_close(pnl.position_values, expected, PRICE_RTOL, atol=1e-12 * scale.max())
    assert list(pnl.position_id) == list(book.position_id)
    # group sums: the same terms, summed; only summation rounding may differ
    group = np.array([pnl.row_labels.index(u) for u in book.underlying])
    for g in range(len(pnl.row_labels)):
        terms = expected[group == g]
        assert_close(pnl.values[g], terms.sum(axis=0), 0,
                     atol=SUM_RTOL * np.abs(terms).sum(axis=0).max() + 1e-300)


def test_serial_and_parallel_builds_agree_exactly():
    book, market = random_book(500, 8)
    resolved = book.resolve(market)
    grid = _grid(days=3.0)
    serial = revalue(resolved, grid, parallel=False, keep_positions=True)
    parallel = revalue(resolved, grid, parallel=True, keep_positions=True)
    assert np.array_equal(serial.values, parallel.values)
    assert np.array_equal(serial.position_values, parallel.position_values)


def test_unshifted_scenario_has_zero_pnl_and_base_value_is_the_book_value():
    book, market = random_book(200, 9)
    resolved = book.resolve(market)
    pnl = revalue(resolved, ScenarioGrid.product([0.0], [0.0]), keep_positions=True)
    assert np.all(pnl.position_values == 0.0)
    from greeksmargin.pricing import price

    option = book.kind != OptionKind.LINEAR
    u = np.array([market.underlyings.index(x) for x in book.underlying])
    years = (book.expiry - market.valuation).astype("timedelta64[s]").astype(float) / (365 * 86400)
    vol = np.array([market.position_vol.get(p, 0.0) for p in book.position_id])
    values = price(market.spot[u][option], book.strike[option], expiry_years=years[option],
                   vol=vol[option], rate=market.rate[u][option], carry=market.carry[u][option],
                   kind=book.kind[option]) * (book.quantity * book.multiplier)[option]
    assert_close(pnl.base_value.sum(), values.sum(), 1e-12)


def test_value_now_is_the_scalar_pricers_on_every_kind_of_row_bitwise():
    # base_range's vectorised pass (the plain formula) and its scalar redo of the rows it flags,
    # and base_rows (a few rows), against price1 / alo1 called one row at a time: European rows
    # on and off the plain formula (expiries from an hour), zero vol, American and linear rows,
    # linear and inverse settlement
    import dataclasses

    from greeksmargin.kernels._american import alo1
    from greeksmargin.kernels._bsm import plain_formula_is_accurate, price1
    from greeksmargin.measures.revalue import position_values

    for inverse in (False, True):
        book, market = random_book(400, 21, inverse=inverse, american_share=0.2,
                                   max_expiry_seconds=30 * 86400.0)
        resolved = book.resolve(market)
        vol = resolved.vol.copy()
        vol[::17] = 0.0
        resolved = dataclasses.replace(resolved, vol=vol)
        got = position_values(resolved)
        expected = np.empty_like(got)
        off_plain = 0
        for k in range(got.size):
            u = resolved.underlying_index[k]
            s, r, b = market.spot[u], market.rate[u], market.carry[u]
            args = (s, resolved.strike[k], resolved.expiry_years[k], vol[k], r, b,
                    int(resolved.kind[k]))
            if resolved.kind[k] == 0:
                value = 0.0
            elif resolved.american[k]:
                value = alo1(*args) / s if inverse else alo1(*args)
            else:
                value = price1(*args) * (1.0 / s) if inverse else price1(*args)
                t = resolved.expiry_years[k]
                x = abs(np.log(s / resolved.strike[k]) + b * t)
                total_vol = vol[k] * np.sqrt(t)
                off_plain += total_vol > 0 and not plain_formula_is_accurate(
                    x / total_vol + 0.5 * total_vol, total_vol)
            expected[k] = resolved.notional[k] * value
        assert off_plain > 10 and np.any(resolved.american) and np.any(resolved.kind == 0)
        assert np.array_equal(got, expected), np.flatnonzero(got != expected)
        # the one-row-at-a-time kernel (what a book of a few rows takes) gives the same bits
        from greeksmargin.kernels import _revalue
        from greeksmargin.measures.revalue import FEW_ROWS, kernel_inputs

        positions, underlyings = kernel_inputs(resolved, np.ones(got.size))
        one_by_one = np.empty_like(got)
        _revalue.base_rows(tuple(positions), tuple(underlyings), one_by_one, 0, got.size)
        assert np.array_equal(one_by_one, expected), np.flatnonzero(one_by_one != expected)
        few = dataclasses.replace(resolved, **{
            name: getattr(resolved, name)[:FEW_ROWS] for name in (
                "position_id", "group_index", "underlying_index", "kind", "strike",
                "expiry_years", "vol", "quantity", "multiplier", "american", "inverse", "order",
                "vol_source")}, group_offsets=np.minimum(resolved.group_offsets, FEW_ROWS))
        assert np.array_equal(position_values(few), expected[:FEW_ROWS])


def _near_the_money_book(n, seed):
    """Expiries 2 days to 2 years, strikes within about one standard deviation (the benchmark's
    book): about 1% of the cells under +-30% moves are off the plain formula."""
    rng = np.random.default_rng(seed)
    valuation = np.datetime64("2025-01-02T15:00:00", "s")
    days = rng.integers(2, 730, n)
    vol = rng.uniform(0.1, 0.6, n)
    strike = 100.0 * np.exp(rng.normal(size=n) * vol * np.sqrt(days / 365))
    ids = [f"p{i}" for i in range(n)]
    book = Book(ids, ["U"] * n, rng.integers(1, 3, n).astype(np.int8), strike,
                valuation + (days * 86400).astype("timedelta64[s]"),
                rng.integers(-10, 11, n).astype(float), np.full(n, 100.0))
    market = MarketData(valuation, ["U"], [100.0], [0.04], [0.03],
                        position_vol=dict(zip(ids, vol.tolist(), strict=True)))
    return book, market


@pytest.mark.parametrize("weekly", [True, False], ids=["weekly", "near-the-money"])
def test_group_sums_are_the_chunked_sums_of_the_terms_bitwise(weekly):
    # the kernel adds each scenario's terms in position order, CHUNK positions at a time, four
    # running sums per chunk, whatever else happens: the blocks of a chunk wait for their
    # flagged lanes (near the money: one or two a block, more blocks than PENDING wait; weekly:
    # most lanes, priced after each block), and the sums must still be exactly these
    from greeksmargin.kernels._bsm import plain_formula_is_accurate
    from greeksmargin.kernels._revalue import CHUNK, FLUSH_LANES, PENDING

    book, market = (random_book(300, 14, n_underlyings=1, linear_share=0.0,
                                max_expiry_seconds=7 * 86400.0) if weekly
                    else _near_the_money_book(300, 14))
    grid = ScenarioGrid.product(np.linspace(-0.3, 0.3, 9), [-0.4, 0.0, 0.5])
    assert grid.n_scenarios > PENDING
    resolved = book.resolve(market)
    pnl = revalue(resolved, grid, keep_positions=True)
    if weekly:
        assert _quadrature_share(resolved, grid) > 0.3
    else:  # some flagged lanes, far fewer than FLUSH_LANES a block
        t = resolved.expiry_years[:, None]
        total_vol = resolved.vol[:, None] * (1.0 + grid.vol_shift[None, :]) * np.sqrt(t)
        x = np.abs(np.log(100.0 * (1.0 + grid.spot_shift[None, :]) / resolved.strike[:, None])
                   + market.carry[0] * t)
        flagged = np.mean([not plain_formula_is_accurate(a / s + 0.5 * s, s)
                           for a, s in zip(x.ravel(), total_vol.ravel(), strict=True)])
        assert 0.0 < flagged * CHUNK < FLUSH_LANES / 4
    terms = pnl.position_values[resolved.order]  # kernel (sorted) row order
    expected = np.zeros(grid.n_scenarios)
    for first in range(0, terms.shape[0], CHUNK):
        t = terms[first:first + CHUNK]
        m = t.shape[0] // 4 * 4
        total = [t[k:m:4].copy() for k in range(4)]
        sums = []
        for k in range(4):  # each running sum in order, as the kernel's loop adds them
            acc = np.zeros(grid.n_scenarios)
            for x in total[k]:
                acc = acc + x
            sums.append(acc)
        for x in t[m:]:
            sums[0] = sums[0] + x
        expected = expected + ((sums[0] + sums[1]) + (sums[2] + sums[3]))
    assert np.array_equal(pnl.values[0], expected)


def _quadrature_share(resolved, grid):
    """Share of the (position, scenario) cells that the plain formula cannot price and the
    vectorised quadrature path does (recomputed here from the kernels' own predicate)."""
    from greeksmargin.kernels import _bsm

    market = resolved.market
    u = resolved.underlying_index
    t = resolved.expiry_years[:, None]
    sigma = resolved.vol[:, None] * (1.0 + grid.vol_shift[None, :])
    s = sigma * np.sqrt(t)
    x = -np.abs(np.log(market.spot[u][:, None] * (1.0 + grid.spot_shift[None, :])
                       / resolved.strike[:, None]) + market.carry[u][:, None] * t)
    h = x / s
    a = -h - 0.5 * s
    return np.mean([_bsm.quadrature_applies(ai, si)
                    for ai, si in zip(a.ravel(), s.ravel(), strict=True)])


def test_short_expiries_under_large_moves_match_reference_and_cancel_exactly():
    # options expiring within a week under +-30% moves: a third or more of the cells are off the
    # plain formula and priced by the vectorised quadrature path; against the independent
    # reference loop, and bitwise against the scalar pricer (an unshifted scenario's P&L is then
    # exactly 0, since the value now comes from price_from_parts)
    book, market = random_book(400, 12, linear_share=0.0, max_expiry_seconds=7 * 86400.0)
    resolved = book.resolve(market, by="underlying")
    grid = _grid()
    assert _quadrature_share(resolved, grid) > 0.3
    pnl = revalue(resolved, grid, keep_positions=True)
    expected = _reference(resolved, grid)
    spot_of_row = market.spot[[market.underlyings.index(u) for u in book.underlying]]
    scale = np.abs(book.quantity * book.multiplier) * spot_of_row
    assert_close(pnl.position_values, expected, PRICE_RTOL, atol=1e-12 * scale.max())
    unshifted = ScenarioGrid.product([0.0], [0.0])
    assert _quadrature_share(resolved, unshifted) > 0.2
    assert np.all(revalue(resolved, unshifted, keep_positions=True).position_values == 0.0)


def test_row_order_does_not_matter():
    book, market = random_book(250, 10)
    grid = _grid()
    a = revalue(book.resolve(market), grid)
    perm = np.random.default_rng(0).permutation(book.n_positions)
    b = revalue(book.take(perm).resolve(market), grid)
    assert a.row_labels == b.row_labels
    assert_close(b.values, a.values, 1e-12, atol=1e-9 * np.abs(a.values).max())


def test_linear_in_quantity_and_opposite_book_cancels():
    book, market = random_book(150, 11)
    grid = _grid(days=1.0)
    base = revalue(book.resolve(market), grid).values
    assert_close(revalue(book.scaled(3.0).resolve(market), grid).values, 3.0 * base, 1e-12,
                 atol=1e-12 * np.abs(base).max())
    opposite = book.scaled(-1.0)
    both = Book(np.r_[book.position_id, [f"opp-{p}" for p in book.position_id]],
                *(np.r_[getattr(book, f), getattr(opposite, f)] for f in
                  ("underlying", "kind", "strike", "expiry", "quantity", "multiplier",
                   "exercise", "settlement")))
    market = market.with_position_data({f"opp-{p}": v for p, v in market.position_vol.items()})
    total = revalue(both.resolve(market), grid).values
    assert np.max(np.abs(total)) <= 1e-9 * np.abs(base).max()


def test_american_positions_revalue_with_barone_adesi_whaley():
    book, market = random_book(60, 12, american_share=1.0, linear_share=0.0)
    grid = ScenarioGrid.product([-0.2, 0.1], [0.25], vol_shift_type=ShiftType.ABSOLUTE,
                                time_shift_years=5 / 365)
    resolved = book.resolve(market)
    pnl = revalue(resolved, grid, keep_positions=True)
    u = resolved.underlying_index
    for j in range(grid.n_scenarios):
        t1 = resolved.expiry_years - grid.time_shift_years[j]
        later = american.price(market.spot[u] * (1 + grid.spot_shift[j]), resolved.strike,
                               expiry_years=np.maximum(t1, 0.0),
                               vol=resolved.vol + grid.vol_shift[j], rate=market.rate[u],
                               dividend_yield=market.rate[u] - market.carry[u],
                               kind=resolved.kind, method="alo")
        now = american.price(market.spot[u], resolved.strike, expiry_years=resolved.expiry_years,
                             vol=resolved.vol, rate=market.rate[u],
                             dividend_yield=market.rate[u] - market.carry[u], kind=resolved.kind,
                             method="alo")
        expected = np.empty_like(later)
        expected[resolved.order] = resolved.notional * (later - now)
        assert_close(pnl.position_values[:, j], expected, 1e-12,
                     atol=1e-12 * np.abs(expected).max())


def test_inverse_perpetual_matches_deribit_risk_vector_formula():
    # docs/methodology.md (Deribit): PnL_coin(m) = Q (1 - 1/(1+m)), reproducing Deribit's published vectors
    market = MarketData("2024-06-17", ["BTC"], [66_000.0], [0.0], [0.0])
    q = 0.314538364
    book = Book(["perp"], ["BTC"], [OptionKind.LINEAR], [np.nan], [np.datetime64("NaT")], [q],
                [1.0], settlement=[Settlement.INVERSE])
    moves = np.array([-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16])
    pnl = revalue(book.resolve(market), ScenarioGrid.product(moves))
    assert_close(pnl.values[0], q * (1 - 1 / (1 + moves)), 1e-14, atol=1e-18)
    assert pnl.currency == ("BTC",)


def test_future_pnl_follows_the_forward_and_expires_into_spot():
    market = MarketData("2025-01-01", ["X"], [100.0], [0.05], [0.05])
    expiry = np.datetime64("2025-01-01") + np.timedelta64(73, "D")  # 0.2 years
    book = Book(["fut"], ["X"], [0], [np.nan], [expiry], [2.0], [50.0])
    grid = ScenarioGrid.product([0.1], time_shift_years=0.0).concat(
        ScenarioGrid.product([0.1], time_shift_years=1.0))
    pnl = revalue(book.resolve(market), grid).values[0]
    f0 = 100 * np.exp(0.05 * 0.2)
    assert_close(pnl, [100.0 * (110 * np.exp(0.05 * 0.2) - f0), 100.0 * (110 - f0)], 1e-13)


def test_per_group_grids_must_match_in_size():
    book, market = random_book(40, 13)
    resolved = book.resolve(market)
    with pytest.raises(ValueError, match="one grid per group expected"):
        revalue(resolved, [_grid()])
    grids = [_grid()] * (resolved.n_groups - 1) + [ScenarioGrid.product([0.1])]
    with pytest.raises(ValueError, match="same number of scenarios"):
        revalue(resolved, grids)


def test_group_cannot_mix_settlement_currencies():
    market = MarketData("2025-01-01", ["BTC"], [60_000.0], [0.0], [0.0])
    book = Book(["a", "b"], ["BTC", "BTC"], [0, 0], [np.nan, np.nan], [np.datetime64("NaT")] * 2,
                [1.0, 1.0], [1.0, 1.0], settlement=[0, 1])
    with pytest.raises(ValueError, match="mixes settlement currencies"):
        revalue(book.resolve(market), ScenarioGrid.product([0.1]))


def test_revalue_arrays_equals_the_book_path_bitwise_and_names_bad_rows():
    # the array-in front door: the same kernels as Book -> resolve -> revalue, bit for bit, on
    # a mixed book (calls, puts, linear, American, inverse rows in their own groups)
    from greeksmargin.measures.revalue import revalue_arrays

    for inverse in (False, True):
        book, market = random_book(500, 8, american_share=0.1, inverse=inverse)
        resolved = book.resolve(market, by="underlying")
        grid = ScenarioGrid.product([-0.15, -0.05, 0.0, 0.1], [-0.2, 0.0, 0.3],
                                    vol_shift_type=ShiftType.RELATIVE, time_shift_years=1 / 365)
        expected = revalue(resolved, grid, net=False)  # the array door revalues each row
        rows = np.empty(book.n_positions, np.int64)
        rows[resolved.order] = np.arange(book.n_positions)
        u = np.array([market.underlyings.index(x) for x in book.underlying])
        got = revalue_arrays(
            kind=book.kind, spot=market.spot[u], strike=np.nan_to_num(book.strike, nan=1.0),
            expiry_years=resolved.expiry_years[rows], vol=resolved.vol[rows],
            rate=market.rate[u], carry=market.carry[u], quantity=book.quantity,
            multiplier=book.multiplier, group=resolved.group_index[rows],
            american=book.exercise, inverse=book.settlement, grid=grid)
        assert np.array_equal(got, expected.values)
    # text kinds and scalars broadcast; one row, one group
    one = revalue_arrays(kind=["p"], spot=100.0, strike=90.0, expiry_years=0.5, vol=0.3,
                         rate=0.03, carry=0.03, quantity=-1.0, multiplier=100.0,
                         grid=ScenarioGrid.product([-0.1, 0.1]))
    assert one.shape == (1, 2) and one[0, 0] < 0 < one[0, 1]
    base = dict(kind=[1, 2, 0], spot=100.0, strike=[90.0, 110.0, np.nan],
                expiry_years=[0.5, 0.5, np.nan], vol=0.3, rate=0.03, carry=0.03,
                quantity=1.0, grid=ScenarioGrid.product([-0.1, 0.1]))
    for change, words in (({"vol": [0.3, 30.0, 0.3]}, r"vol must be in \[0, 5.0\] .*got 30.0 at"
                                                      r" row 1"),
                          ({"strike": [90.0, -1.0, np.nan]}, "strike must be > 0 .* at row 1"),
                          ({"spot": [100.0, 100.0, np.inf]}, "spot must be > 0 .* at row 2"),
                          ({"expiry_years": [np.nan, 0.5, np.nan]}, "expiry_years must be >= 0"
                                                                     r".*got nan at row 0"),
                          ({"quantity": [1e300, 1e300, 1.0]}, r"quantity .* row 0 \(2 rows"
                                                               r" invalid\)"),
                          ({"american": [0, 0, 1]}, "american must be 0 or 1 .*options only"),
                          ({"group": [0, 2, -1]}, "group must be an integer .* row 2"),
                          ({"inverse": [1, 0, 0], "group": 0}, "mixes linear and inverse"),
                          ({"kind": ["c", "x", "p"]}, "kind must be 'call'/'c' or 'put'/'p'")):
        with pytest.raises(InputError, match=words):
            revalue_arrays(**{**base, **change})


@pytest.mark.parametrize(("offsets", "expected"), [
    ([0, 3, 3], [7.0, 0.0]), ([0, 0, 3], [0.0, 7.0]), ([0, 1, 1, 3], [1.0, 0.0, 6.0]),
    ([0, 3], [7.0]), ([0, 0], [0.0]),
])
def test_group_sums_values_groups_with_empty_ones_anywhere(offsets, expected):
    from greeksmargin.measures.revalue import group_sums

    o = np.array(offsets)
    n = o.size - 1
    base = np.array([1.0, 2.0, 4.0])[:o[-1]]
    _, value = group_sums(np.zeros((n, 2)), np.arange(n), base, o)
    np.testing.assert_array_equal(value, expected)
