"""Full revaluation of a book under a scenario grid: P&L per (group, scenario) cell.

Positions arrive sorted by group with CSR offsets (``group_offsets[g]:group_offsets[g + 1]``), so
each cell of the P&L matrix is owned by one iteration of the parallel loop: no write races, no
per-thread buffers. The position x scenario matrix is written only when ``keep_positions`` is set.

Units: spot, strike in quote currency per unit; expiry and time shifts in years; vol annualised
decimal; ``notional`` = signed quantity x multiplier. P&L is in the settlement currency: quote
currency for linear settlement, coin for inverse settlement (value in coin = value / spot, P&L in
coin = V1 / S1 - V0 / S0).

Kinds: 0 linear (the underlying or a perpetual when ``expiry_years`` is NaN, a future on the
forward ``S e^{bT}`` otherwise; valued relative to now, so its base value is 0), 1 call, 2 put.
American options are valued by the Andersen-Lake-Offengelder fixed point (:func:`~._american.alo1`);
a position's early-exercise boundaries are computed once per (vol, expiry) of its scenarios and
reused across their spot moves (:func:`_american_pnl`).

Inputs are named bundles (:class:`Positions`, :class:`Underlyings`, :class:`WorkItems`,
:class:`Scenarios`), passed as plain tuples of their fields (``tuple(bundle)``: Numba types a plain
tuple on its fast path) and named again at the top of each kernel.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._american import ALO_PREMIUM_NODES, ALO_TABLE_ROWS, alo1, alo_boundary, alo_regime, alo_value
from ._bsm import (
    LINEAR,
    MAX_VOL,
    gather_and_price,
    plain_arguments,
    plain_value,
    price1,
    price_range,
)
from ._elementary import exp_simd, inline_jit, log_positive
from ._jit import array_jit, parallel_jit, scalar_jit

ABSOLUTE = 0
RELATIVE = 1
CHUNK = 128  # lanes priced per vectorised loop: ~25 arrays of 1 KB stay in L1
PAD = 16  # lanes are padded to a multiple of this (8 lanes x 2 interleaved)
PENDING = 16  # priced blocks whose sums wait for their flagged lanes
FLUSH_LANES = 32  # flagged lanes gathered: enough to fill the quadrature loop, price them now
REDO_CAPACITY = CHUNK + FLUSH_LANES  # below FLUSH_LANES before a block + its lanes, 16-lane passes
BOUNDARY_CACHE = 8  # American exercise boundaries kept per position: (vol, expiry) pairs
N_FLOAT_ROWS = 31 + PENDING  # pnl_range's float scratch: lanes, pending blocks, gathered lanes


@scalar_jit
def unit_value(spot: float, spot_now: float, strike: float, expiry_years: float,
               expiry_now: float, vol: float, rate: float, carry: float, kind: int,
               american: int) -> float:
    """Value of one unit in quote currency; linear kinds relative to their value now."""
    if kind == 0:
        if expiry_now != expiry_now:  # NaN expiry: the underlying itself or a perpetual
            return spot - spot_now
        t = expiry_years if expiry_years > 0.0 else 0.0
        return spot * math.exp(carry * t) - spot_now * math.exp(carry * expiry_now)
    if american == 1:
        return alo1(spot, strike, expiry_years, vol, rate, carry, kind)
    return price1(spot, strike, expiry_years, vol, rate, carry, kind)


@inline_jit
def shocked_vol(vol: float, shift: float, shift_type: int, scale: float,
                min_vol_up: float) -> float:
    """Shock a vol for a scenario.

    Scenario vol: ``vol + shift`` or ``vol * (1 + shift * scale)``, floored at 0 (and at
    ``min_vol_up`` for upward relative shocks); NaN stays NaN. Straight-line (selects only).
    """
    relative = shift_type == RELATIVE
    shocked = vol * (1.0 + shift * scale) if relative else vol + shift
    floor = min_vol_up if relative and shift > 0.0 else 0.0
    return floor if shocked < floor else shocked


# typed constants for calls between kernels: a literal 0 or False there would compile the
# callee a second time (Numba specialises on literals), as the Python callers pass int64 / bool
FIRST_ROW = np.int64(0)
NO = np.bool_(False)


class Positions(NamedTuple):
    """Per position, sorted by group (dimension ``position``)."""

    underlying_index: np.ndarray  # int64: row of the position's underlying
    kind: np.ndarray  # int8: 0 linear, 1 call, 2 put
    strike: np.ndarray  # float64, NaN for linear instruments
    expiry_years: np.ndarray  # float64, NaN for the underlying and perpetuals
    vol: np.ndarray  # float64, annualised decimal (0 for linear instruments)
    notional: np.ndarray  # float64: signed quantity x multiplier
    american: np.ndarray  # int8: 1 American exercise
    inverse: np.ndarray  # int8: 1 coin-settled (inverse) contract
    vol_scale: np.ndarray  # float64: multiplier of relative vol shifts (Deribit time scaling)


class Underlyings(NamedTuple):
    """Per underlying (dimension ``underlying``)."""

    spot: np.ndarray  # float64
    rate: np.ndarray  # float64, continuously compounded
    carry: np.ndarray  # float64, cost of carry b


class WorkItems(NamedTuple):
    """The revaluation's work items: a group, or a slice of a big group's sorted positions."""

    group: np.ndarray  # int64: group of each item
    start: np.ndarray  # int64: first sorted position of each item
    stop: np.ndarray  # int64: end of each item's positions


class Scenarios(NamedTuple):
    """Per group and scenario (shape (n_groups, n_scenarios)), and per group."""

    spot_shift: np.ndarray  # float64: relative spot move of options
    linear_spot_shift: np.ndarray  # float64: relative spot move of linear instruments
    vol_shift: np.ndarray  # float64
    vol_shift_type: np.ndarray  # int8: 0 absolute, 1 relative
    time_shift_years: np.ndarray  # float64: clock advance
    min_vol_up: np.ndarray  # float64 (n_groups,): floor of a relative vol shock up (0: none)
    order: np.ndarray  # int64: each group's scenarios sorted by time shift


POSITIONS_TYPE = "Tuple((i8[::1], i1[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1], i1[::1], f8[::1]))"
UNDERLYINGS_TYPE = "UniTuple(f8[::1], 3)"
ITEMS_TYPE = "UniTuple(i8[::1], 3)"
SCENARIOS_TYPE = ("Tuple((f8[:, ::1], f8[:, ::1], f8[:, ::1], i1[:, ::1], f8[:, ::1], f8[::1],"
                  " i8[:, ::1]))")


@array_jit(f"void({POSITIONS_TYPE}, {UNDERLYINGS_TYPE}, f8[::1], i8, i8)")
def base_range(positions_fields, underlyings_fields, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute, serially, ``out[i]`` = value now of position ``i`` (notional x unit value, coin if inverse).

    European options by the pricing layer's array kernel (:func:`price_range`: vectorised,
    ``price1``'s bits, the expressions of the hoisted scenario path, so an unshifted scenario's
    P&L is exactly 0) on the rows' market parts gathered into contiguous arrays; linear and
    American positions by :func:`unit_value`, one at a time.
    """
    positions = Positions(*positions_fields)
    underlyings = Underlyings(*underlyings_fields)
    underlying_index = positions.underlying_index
    kind = positions.kind
    strike = positions.strike
    expiry_years = positions.expiry_years
    vol = positions.vol
    notional = positions.notional
    american = positions.american
    inverse = positions.inverse
    spot = underlyings.spot
    rate = underlyings.rate
    carry = underlyings.carry
    n = stop - start
    row_spot = np.empty(n)
    row_rate = np.empty(n)
    row_carry = np.empty(n)
    for k in range(n):
        u = underlying_index[start + k]
        row_spot[k] = spot[u]
        row_rate[k] = rate[u]
        row_carry[k] = carry[u]
    value = np.empty(n)
    rows = slice(start, stop)
    price_range(row_spot, strike[rows], expiry_years[rows], vol[rows], row_rate, row_carry,
                kind[rows], value, FIRST_ROW, n)  # linear and American rows: overwritten below
    for i in range(start, stop):
        k = i - start
        out[i] = _position_value(value[k], row_spot[k], row_rate[k], row_carry[k], strike[i],
                                 expiry_years[i], vol[i], notional[i], kind[i], american[i],
                                 inverse[i])


@array_jit(f"void({POSITIONS_TYPE}, {UNDERLYINGS_TYPE}, f8[::1], i8, i8)")
def base_rows(positions_fields, underlyings_fields, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute :func:`base_range`'s values one row at a time: the same bits, for a few rows.

    European options by :func:`price1` (whose bits the vectorised pass gives), the rest as
    :func:`base_range` values them. A handful of rows gains nothing from the vectorised pass
    (10 rows: 1.9 us here against 1.2), whose compilation costs a first run about 5 s.
    """
    positions = Positions(*positions_fields)
    underlyings = Underlyings(*underlyings_fields)
    for i in range(start, stop):
        u = positions.underlying_index[i]
        s, r, b = underlyings.spot[u], underlyings.rate[u], underlyings.carry[u]
        k = positions.kind[i]
        european = math.nan
        if k != 0 and positions.american[i] == 0:
            european = price1(s, positions.strike[i], positions.expiry_years[i],
                              positions.vol[i], r, b, k)
        out[i] = _position_value(european, s, r, b, positions.strike[i],
                                 positions.expiry_years[i], positions.vol[i],
                                 positions.notional[i], k, positions.american[i],
                                 positions.inverse[i])


@inline_jit
def _position_value(european, spot, rate, carry, strike, expiry_years, vol, notional, kind,  # type: ignore[no-untyped-def]
                    american, inverse):
    # notional x unit value (coin if inverse) of a position whose European price, if it is a
    # European option, is ``european``; linear and American positions by unit_value
    is_european = kind != 0 and american == 0
    v = european
    if not is_european:
        v = unit_value(spot, spot, strike, expiry_years, expiry_years, vol, rate, carry, kind,
                       american)
    if inverse == 1:  # in coin: European options as the vectorised scenario loop does it
        v = v * (1.0 / spot) if is_european else v / spot
    return notional * v


@parallel_jit(f"void({POSITIONS_TYPE}, {UNDERLYINGS_TYPE}, f8[::1], i8)")
def base_parallel(positions_fields, underlyings_fields, out, n_chunks):  # type: ignore[no-untyped-def]
    """Parallel over ``n_chunks`` contiguous chunks of :func:`base_range`."""
    n = out.shape[0]
    for c in prange(n_chunks):
        base_range(positions_fields, underlyings_fields, out, c * n // n_chunks,
                   (c + 1) * n // n_chunks)


@scalar_jit
def _cached_american(spot, strike, expiry_years, vol, rate, carry, kind, cache_key, cache_table,  # type: ignore[no-untyped-def]
                     cache_next):
    # American value with the boundary for (vol, expiry) from the cache; a miss computes it into
    # slot cache_next[0] (round robin). rate and carry are the position's own, fixed per position.
    n_slots = cache_key.shape[0]
    for c in range(n_slots):
        if cache_key[c, 0] == vol and cache_key[c, 1] == expiry_years:
            return alo_value(spot, strike, expiry_years, vol, rate, carry, kind, cache_table[c])
    c = cache_next[0]
    cache_next[0] = (c + 1) % n_slots
    dividend = rate - carry
    if kind == 2:
        alo_boundary(expiry_years, vol, rate, dividend, cache_table[c])
    else:
        alo_boundary(expiry_years, vol, dividend, rate, cache_table[c])
    cache_key[c, 0] = vol
    cache_key[c, 1] = expiry_years
    return alo_value(spot, strike, expiry_years, vol, rate, carry, kind, cache_table[c])


@scalar_jit
def _general_position_pnl(i, g, underlying_index, kind, strike, expiry_years, vol, notional,  # type: ignore[no-untyped-def]
                          american, inverse, vol_scale, spot, rate, carry, spot_shift,
                          linear_spot_shift, vol_shift, vol_shift_type, time_shift_years,
                          min_vol_up, base, row, keep_positions, position_out, boundaries):
    # one linear or American position under every scenario of group g, added into row;
    # boundaries: scratch for _cached_american, emptied here for an American position
    u = underlying_index[i]
    s0 = spot[u]
    k = kind[i]
    t0 = expiry_years[i]
    cache_key, cache_table, cache_next = boundaries
    if american[i] == 1:
        cache_key[:] = np.nan  # keys (vol, expiry): NaN matches nothing
        cache_next[0] = 0
    for j in range(row.shape[0]):
        dt = time_shift_years[g, j]
        if k == 0:
            s1 = s0 * (1.0 + linear_spot_shift[g, j])
            v1 = unit_value(s1, s0, 0.0, t0 - dt, t0, 0.0, rate[u], carry[u], LINEAR, LINEAR)
        else:
            s1 = s0 * (1.0 + spot_shift[g, j])
            sigma = shocked_vol(vol[i], vol_shift[g, j], vol_shift_type[g, j], vol_scale[i],
                                min_vol_up[g])
            t1 = t0 - dt
            if (american[i] == 1 and t1 > 0.0 and sigma > 0.0
                    and alo_regime(rate[u], carry[u], k) == 1):
                v1 = _cached_american(s1, strike[i], t1, sigma, rate[u], carry[u], k, cache_key,
                                      cache_table, cache_next)
            else:
                v1 = unit_value(s1, s0, strike[i], t1, t0, sigma, rate[u], carry[u], k,
                                american[i])
        if inverse[i] == 1:
            v1 = v1 / s1
        pnl = notional[i] * v1 - base[i]
        row[j] += pnl
        if keep_positions:
            position_out[i, j] = pnl


def _lane(x, q):  # type: ignore[no-untyped-def]
    """``x[q]`` for a value per lane, ``x`` for one value shared by every lane."""
    return x[q] if isinstance(x, np.ndarray) else x


@overload(_lane, inline="always")
def _lane_overload(x, q):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Array):
        return lambda x, q: x[q]
    return lambda x, q: x


@scalar_jit
def _price_chunk(m, vol, scale, spot, growth, strike, forward_over_strike, log_forward_strike,  # type: ignore[no-untyped-def]
                 sqrt_t, discount, sign, inverse, coin_per_quote, notional, base, shift,
                 shift_type, min_vol_up, move, inverse_move, log_move, term, accurate, x2):
    # Lanes 0 <= q < m, each a (position, scenario) pair: term[q] = its P&L by the plain formula
    # (plain_price in its two halves), accurate[q] whether that is accurate; returns how many are
    # not. The scenario's parts (shift, shift_type, move, inverse_move, log_move) are one value for
    # every lane or one per lane; Numba compiles each case apart, and the shared case keeps them in
    # registers (15% faster). Straight-line code in its own function, so LLVM vectorises it
    # (inlined into pnl_range, the loops are not). Two loops, the normal CDF arguments passed
    # through term and x2 (L1): one loop of both halves runs out of vector registers and spills
    # (5-7% slower).
    n_inaccurate = 0
    for q in range(m):
        sigma = shocked_vol(vol[q], _lane(shift, q), _lane(shift_type, q), scale[q], min_vol_up)
        d1, d2, ok = plain_arguments(log_forward_strike[q] + _lane(log_move, q),
                                     sigma * sqrt_t[q])
        term[q] = sign[q] * d1
        x2[q] = sign[q] * d2
        accurate[q] = ok
        n_inaccurate += 0 if ok else 1
    for q in range(m):
        lane_move = _lane(move, q)
        value = plain_value(spot[q] * lane_move * growth[q], strike[q],
                            forward_over_strike[q] * lane_move, term[q], x2[q], discount[q],
                            sign[q])
        coin = coin_per_quote[q] * (_lane(inverse_move, q) if inverse[q] else 1.0)
        term[q] = notional[q] * (value * coin) - base[q]
    return n_inaccurate


@scalar_jit
def _finish_blocks(n_pending, m, p_term, p_block, p_n_block, n_redo, r_cell, r_coin, r_forward,  # type: ignore[no-untyped-def]
                   r_strike, r_log_moneyness, r_total_vol, r_discount, r_sign, r_value, r_applies,
                   index, notional, base, row, keep_positions, position_out):
    # the pending blocks of pnl_range: price their gathered flagged lanes (gather_and_price:
    # the quadrature form vectorised where it applies, price_from_parts for the rest; its bits),
    # put their terms in place (lane's position index[lane % m]), then add each block's scenario
    # sums to row in the order the blocks were priced (the same sums, in the same order, as
    # adding each block at once)
    gather_and_price(n_redo, r_forward, r_strike, r_log_moneyness, r_total_vol, r_discount,
                     r_sign, r_value, r_applies)
    for k in range(n_redo):
        lane = r_cell[k] % CHUNK
        i = index[lane % m]
        p_term[r_cell[k] // CHUNK, lane] = notional[i] * (r_value[k] * r_coin[k]) - base[i]
    for slot in range(n_pending):
        term = p_term[slot]
        for b in range(p_n_block[slot]):
            j = p_block[slot, b]
            first = b * m
            if keep_positions:
                for q in range(m):
                    position_out[index[q], j] = term[first + q]
            # four running sums: no loop-carried latency chain, and a fixed order
            total0 = total1 = total2 = total3 = 0.0
            q = 0
            while q + 4 <= m:
                total0 += term[first + q]
                total1 += term[first + q + 1]
                total2 += term[first + q + 2]
                total3 += term[first + q + 3]
                q += 4
            while q < m:
                total0 += term[first + q]
                q += 1
            row[j] += (total0 + total1) + (total2 + total3)


@array_jit(f"void({POSITIONS_TYPE}, {UNDERLYINGS_TYPE}, {ITEMS_TYPE}, {SCENARIOS_TYPE}, f8[::1], f8[:, ::1], b1,"
           " f8[:, ::1], i8, i8)")
def pnl_range(positions_fields, underlyings_fields, items_fields, scenarios_fields, base,  # type: ignore[no-untyped-def]
              partial, keep_positions, position_out, start, stop):
    """Revalue a range of work items under every scenario.

    Serial over work items ``start <= c < stop``: item ``c`` owns positions
    ``item_start[c]:item_stop[c]`` of group ``item_group[c]`` and all its scenarios, and writes
    their P&L per scenario (scenario value minus ``base``, the value now) to ``partial[c]``; the
    caller adds a group's items in order.

    European options go through the vectorised path, up to ``CHUNK`` positions at a time: their
    fixed parts are gathered into contiguous lane arrays, the parts that depend only on the time
    shift (sqrt T, discount, growth, ln(F/K)) are computed once per chunk and time shift
    (scenarios are visited in ``scenario_order``, sorted by time shift), and
    :func:`_price_chunk` prices a block of lanes with :func:`plain_price`'s two halves, one
    straight-line loop each. A lane is one (position, scenario)
    pair: a chunk of ``m`` positions is priced for ``CHUNK // m`` scenarios of the same time shift
    at once, so a small group still fills whole vectors with independent work (a loop over a
    dozen lanes would wait on the latency of one long chain of arithmetic). The few prices it
    flags as inaccurate (deep in or out of the money at small total vol, zero vol, at or past
    expiry) are redone by :func:`price_from_parts` / :func:`price1`, which return the same value
    wherever the plain formula is accurate, so the result does not depend on the path; those
    before expiry are gathered over up to ``PENDING`` blocks of the chunk and priced together
    (:func:`_finish_blocks`: on a long-dated book a block has one or two, too few for the
    vectorised quadrature loop on their own), and the blocks' sums wait for them. Each
    scenario's terms are added in position order, whatever the blocking. Linear and American
    positions are valued one at a time under every scenario. With ``keep_positions`` each term
    also goes to ``position_out[i, j]`` (shape (n_positions, n_scenarios)).
    """
    positions = Positions(*positions_fields)
    underlyings = Underlyings(*underlyings_fields)
    items = WorkItems(*items_fields)
    scenarios = Scenarios(*scenarios_fields)
    underlying_index = positions.underlying_index
    kind = positions.kind
    strike = positions.strike
    expiry_years = positions.expiry_years
    vol = positions.vol
    notional = positions.notional
    american = positions.american
    inverse = positions.inverse
    vol_scale = positions.vol_scale
    spot = underlyings.spot
    rate = underlyings.rate
    carry = underlyings.carry
    item_group = items.group
    item_start = items.start
    item_stop = items.stop
    spot_shift = scenarios.spot_shift
    linear_spot_shift = scenarios.linear_spot_shift
    vol_shift = scenarios.vol_shift
    vol_shift_type = scenarios.vol_shift_type
    time_shift_years = scenarios.time_shift_years
    min_vol_up = scenarios.min_vol_up
    scenario_order = scenarios.order
    n_scenarios = partial.shape[1]
    # scratch: rows of a few buffers (one allocation per dtype, not one per array: ~40 mallocs
    # were 1.4 us of a small book's 6 us tick); every row is C-contiguous, REDO_CAPACITY wide
    floats = np.empty((N_FLOAT_ROWS, REDO_CAPACITY))
    ints = np.empty((PENDING + 3, REDO_CAPACITY), np.int64)
    flags = np.empty((3, REDO_CAPACITY), np.bool_)
    index = ints[PENDING]  # book row of each position of the chunk
    c_expiry = floats[0]
    c_rate = floats[1]
    c_carry = floats[2]
    c_log_spot_strike = floats[3]
    # per lane: the position's parts (replicated for each scenario of a block) ...
    l_spot = floats[4]
    l_strike = floats[5]
    l_sign = floats[6]
    l_vol = floats[7]
    l_scale = floats[8]
    l_notional = floats[9]
    l_inverse = flags[0]  # inverse contracts: value in coin, divided by spot
    l_coin_per_quote = floats[10]  # 1 / spot now for inverse contracts, else 1
    l_base = floats[11]
    l_t1 = floats[12]
    l_sqrt_t = floats[13]
    l_discount = floats[14]
    l_growth = floats[15]
    l_log_forward_strike = floats[16]
    l_forward_over_strike = floats[17]
    # ... and the scenario's
    l_shift = floats[18]
    l_shift_type = np.empty(REDO_CAPACITY, np.int8)
    l_move = floats[19]
    l_inverse_move = floats[20]
    l_log_move = floats[21]
    l_accurate = flags[1]
    l_x2 = floats[22]  # _price_chunk's scratch
    # the priced blocks waiting for their flagged lanes (and the one being priced, in the next
    # slot): terms per lane, scenarios
    p_term = floats[23:23 + PENDING]
    p_block = ints[:PENDING]
    p_n_block = ints[PENDING + 1]
    # their flagged lanes, gathered (quadrature_price_range's rows); r_cell = slot x CHUNK + lane
    r_cell = ints[PENDING + 2]
    r_coin = floats[23 + PENDING]
    r_forward = floats[24 + PENDING]
    r_strike = floats[25 + PENDING]
    r_log_moneyness = floats[26 + PENDING]
    r_total_vol = floats[27 + PENDING]
    r_discount = floats[28 + PENDING]
    r_sign = floats[29 + PENDING]
    r_value = floats[30 + PENDING]
    r_applies = flags[2]
    log_move = np.empty(n_scenarios)
    # the spot shift each log_move is the log1p of: groups on one grid (a batch's accounts, an
    # account's class groups) reuse it instead of recomputing n_scenarios logarithms each
    log_move_of = np.full(n_scenarios, np.nan)
    # American exercise boundaries of the position at hand, per (vol, expiry) of its scenarios
    boundaries = (np.empty((BOUNDARY_CACHE, 2)),
                  np.empty((BOUNDARY_CACHE, ALO_TABLE_ROWS, ALO_PREMIUM_NODES)),
                  np.zeros(1, np.int64))
    for c in range(start, stop):
        g = item_group[c]
        row = partial[c]
        floor = min_vol_up[g]
        for j in range(n_scenarios):
            row[j] = 0.0
            if spot_shift[g, j] != log_move_of[j]:
                log_move_of[j] = spot_shift[g, j]
                log_move[j] = math.log1p(spot_shift[g, j])
        for chunk_start in range(item_start[c], item_stop[c], CHUNK):
            m = 0
            for i in range(chunk_start, min(chunk_start + CHUNK, item_stop[c])):
                if kind[i] == 0 or american[i] == 1:
                    _general_position_pnl(i, g, underlying_index, kind, strike, expiry_years, vol,
                                          notional, american, inverse, vol_scale, spot, rate,
                                          carry, spot_shift, linear_spot_shift, vol_shift,
                                          vol_shift_type, time_shift_years, min_vol_up, base,
                                          row, keep_positions, position_out, boundaries)
                    continue
                u = underlying_index[i]
                index[m] = i
                l_spot[m] = spot[u]
                l_strike[m] = strike[i]
                l_sign[m] = 1.0 if kind[i] == 1 else -1.0
                l_vol[m] = vol[i]
                l_scale[m] = vol_scale[i]
                l_notional[m] = notional[i]
                l_inverse[m] = inverse[i] == 1
                l_coin_per_quote[m] = 1.0 / spot[u] if inverse[i] == 1 else 1.0
                l_base[m] = base[i]
                c_expiry[m] = expiry_years[i]
                c_rate[m] = rate[u]
                c_carry[m] = carry[u]
                c_log_spot_strike[m] = log_positive(spot[u] / strike[i])
                m += 1
            if m == 0:
                continue
            # scenarios priced together: lanes = per_block x m <= CHUNK (no more than there are)
            per_block = min(CHUNK // m, n_scenarios)
            last_dt = math.nan
            jj = 0
            n_pending = 0  # blocks priced, not yet added to row
            n_redo = 0  # their flagged lanes gathered
            while jj < n_scenarios:
                # price the pending blocks' flagged lanes once there are enough to fill the
                # vectorised loop (a short-dated book: every block) or no slot is left
                if n_pending == PENDING or n_redo >= FLUSH_LANES:
                    # counts as int64 (not literals: one specialization, compiled once)
                    _finish_blocks(np.int64(n_pending), np.int64(m), p_term, p_block, p_n_block,
                                   np.int64(n_redo), r_cell, r_coin, r_forward, r_strike,
                                   r_log_moneyness, r_total_vol, r_discount, r_sign, r_value,
                                   r_applies, index, notional, base, row, keep_positions,
                                   position_out)
                    n_pending = n_redo = 0
                slot = n_pending
                l_term = p_term[slot]
                block = p_block[slot]  # the scenarios of this block
                dt = time_shift_years[g, scenario_order[g, jj]]
                n_block = 0  # the next scenarios with this time shift, at most per_block
                while (jj < n_scenarios and n_block < per_block
                       and time_shift_years[g, scenario_order[g, jj]] == dt):
                    block[n_block] = scenario_order[g, jj]
                    n_block += 1
                    jj += 1
                new_shift = dt != last_dt
                if new_shift:  # the parts that depend on the time shift, once per chunk
                    last_dt = dt
                    for q in range(m):
                        t1 = c_expiry[q] - dt
                        l_t1[q] = t1
                        l_sqrt_t[q] = math.sqrt(t1)  # NaN past expiry: flagged below
                        l_discount[q] = exp_simd(-c_rate[q] * t1)
                        l_growth[q] = exp_simd(c_carry[q] * t1)
                        l_log_forward_strike[q] = c_log_spot_strike[q] + c_carry[q] * t1
                        l_forward_over_strike[q] = l_spot[q] * l_growth[q] / l_strike[q]
                    for b in range(1, per_block):  # replicate for the block's scenarios
                        for q in range(m):  # (no lane % m: an integer division a lane)
                            lane = b * m + q
                            l_spot[lane] = l_spot[q]
                            l_strike[lane] = l_strike[q]
                            l_sign[lane] = l_sign[q]
                            l_vol[lane] = l_vol[q]
                            l_scale[lane] = l_scale[q]
                            l_notional[lane] = l_notional[q]
                            l_inverse[lane] = l_inverse[q]
                            l_coin_per_quote[lane] = l_coin_per_quote[q]
                            l_base[lane] = l_base[q]
                            l_t1[lane] = l_t1[q]
                            l_sqrt_t[lane] = l_sqrt_t[q]
                            l_discount[lane] = l_discount[q]
                            l_growth[lane] = l_growth[q]
                            l_log_forward_strike[lane] = l_log_forward_strike[q]
                            l_forward_over_strike[lane] = l_forward_over_strike[q]
                n_lanes = n_block * m
                if n_block > 1:  # the scenarios' parts per lane
                    for b in range(n_block):
                        j = block[b]
                        move = 1.0 + spot_shift[g, j]
                        inverse_move = 1.0 / move
                        shift = vol_shift[g, j]
                        shift_type = vol_shift_type[g, j]
                        lm = log_move[j]
                        for lane in range(b * m, (b + 1) * m):
                            l_shift[lane] = shift
                            l_shift_type[lane] = shift_type
                            l_move[lane] = move
                            l_inverse_move[lane] = inverse_move
                            l_log_move[lane] = lm
                # pad to whole vectors with harmless lanes (at the money, 1000 years, notional
                # 0): a scalar remainder loop would cost as much as the vector body. Full blocks
                # keep the padding set after the last replication; a short block (the last of
                # its time shift) pads from its own end
                padded = min(CHUNK, (n_lanes + PAD - 1) // PAD * PAD)
                for lane in range(n_lanes if n_block < per_block or new_shift else padded,
                                  padded):
                    l_spot[lane] = l_strike[lane] = l_sign[lane] = l_vol[lane] = 1.0
                    l_scale[lane] = l_coin_per_quote[lane] = l_discount[lane] = 1.0
                    l_growth[lane] = l_forward_over_strike[lane] = 1.0
                    l_notional[lane] = l_base[lane] = l_log_forward_strike[lane] = 0.0
                    l_t1[lane] = 1000.0
                    l_sqrt_t[lane] = math.sqrt(1000.0)
                    l_inverse[lane] = False
                    l_shift[lane] = l_log_move[lane] = 0.0
                    l_shift_type[lane] = ABSOLUTE
                    l_move[lane] = l_inverse_move[lane] = 1.0
                if n_block > 1:
                    n_inaccurate = _price_chunk(
                        padded, l_vol, l_scale, l_spot, l_growth, l_strike, l_forward_over_strike,
                        l_log_forward_strike, l_sqrt_t, l_discount, l_sign, l_inverse,
                        l_coin_per_quote, l_notional, l_base, l_shift, l_shift_type, floor, l_move,
                        l_inverse_move, l_log_move, l_term, l_accurate, l_x2)
                else:  # one scenario: its parts are shared by every lane
                    j = block[0]
                    move = 1.0 + spot_shift[g, j]
                    n_inaccurate = _price_chunk(
                        padded, l_vol, l_scale, l_spot, l_growth, l_strike, l_forward_over_strike,
                        l_log_forward_strike, l_sqrt_t, l_discount, l_sign, l_inverse,
                        l_coin_per_quote, l_notional, l_base, vol_shift[g, j], vol_shift_type[g, j],
                        floor, move, 1.0 / move, log_move[j], l_term, l_accurate, l_x2)
                if n_inaccurate > 0:
                    # the flagged lanes: gathered, and priced with those of the other pending
                    # blocks (in one vectorised loop where the quadrature form applies: a book of
                    # short expiries under large moves has nearly half its lanes here); the rest
                    # (at or past expiry, zero vol, edge cases) at once, one at a time
                    for b in range(n_block):
                        j = block[b]
                        move = 1.0 + spot_shift[g, j]
                        coin_move = 1.0 / move  # inverse contracts: per coin of the scenario
                        for lane in range(b * m, (b + 1) * m):
                            if l_accurate[lane]:
                                continue
                            sigma = shocked_vol(l_vol[lane], vol_shift[g, j], vol_shift_type[g, j],
                                                l_scale[lane], floor)
                            coin = l_coin_per_quote[lane] * (coin_move if l_inverse[lane] else 1.0)
                            if l_t1[lane] > 0.0:
                                r_cell[n_redo] = slot * CHUNK + lane
                                r_coin[n_redo] = coin
                                r_forward[n_redo] = l_spot[lane] * move * l_growth[lane]
                                r_strike[n_redo] = l_strike[lane]
                                r_log_moneyness[n_redo] = l_log_forward_strike[lane] + log_move[j]
                                r_total_vol[n_redo] = sigma * l_sqrt_t[lane]
                                r_discount[n_redo] = l_discount[lane]
                                r_sign[n_redo] = l_sign[lane]
                                n_redo += 1
                            else:
                                q = lane - b * m
                                value = price1(l_spot[lane] * move, l_strike[lane], l_t1[lane],
                                               sigma, c_rate[q], c_carry[q], kind[index[q]])
                                l_term[lane] = l_notional[lane] * (value * coin) - l_base[lane]
                p_n_block[slot] = n_block
                n_pending += 1
            _finish_blocks(np.int64(n_pending), np.int64(m), p_term, p_block, p_n_block,
                           np.int64(n_redo), r_cell, r_coin, r_forward, r_strike,
                           r_log_moneyness, r_total_vol, r_discount, r_sign, r_value, r_applies,
                           index, notional, base, row, keep_positions, position_out)


@parallel_jit(f"void({POSITIONS_TYPE}, {UNDERLYINGS_TYPE}, {ITEMS_TYPE}, {SCENARIOS_TYPE}, f8[::1], f8[:, ::1],"
              " b1, f8[:, ::1], i8)")
def pnl_parallel(positions_fields, underlyings_fields, items_fields, scenarios_fields, base,  # type: ignore[no-untyped-def]
                 partial, keep_positions, position_out, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of the work items of :func:`pnl_range`."""
    n_items = partial.shape[0]
    for c in prange(n_chunks):
        pnl_range(positions_fields, underlyings_fields, items_fields, scenarios_fields, base,
                  partial, keep_positions, position_out, c * n_items // n_chunks,
                  (c + 1) * n_items // n_chunks)


# fields checked by first_invalid, in its codes' order
ROW_FIELDS = ("kind", "spot", "strike", "expiry_years", "vol", "rate", "carry", "quantity",
              "multiplier", "american", "inverse", "group")
# sanity bounds of every front door (model.book and model.market check the same ones)
MAX_SPOT = 1e15  # per unit of the underlying: beyond it a value is a unit error, not a price
MAX_QUANTITY = 1e9  # contracts (or coin) per position
MAX_MULTIPLIER = 1e9  # units per contract (JPY futures are 12.5 million yen)
SECONDS_PER_YEAR = 365.0 * 86400.0  # ACT/365: year fractions from the valuation second


@array_jit("UniTuple(i8, 3)(i1[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1],"
           " f8[::1], f8[::1], i1[::1], i1[::1], i8[::1], i8)")
def first_invalid(kind, spot, strike, expiry_years, vol, rate, carry, quantity, multiplier,  # type: ignore[no-untyped-def]
                  american, inverse, group, n_groups):
    """Check plain position arrays in one pass: ``(first bad row, its field code, bad rows)``.

    ``(-1, -1, 0)`` when every row is valid; the field code indexes :data:`ROW_FIELDS` (the
    first failing check of the first bad row). Linear rows (kind 0) need no strike or vol and
    may have a NaN expiry (the underlying, a perpetual).
    """
    first = -1
    field = -1
    count = 0
    for i in range(kind.shape[0]):
        k = kind[i]
        option = k == 1 or k == 2
        t = expiry_years[i]
        code = -1
        if not (option or k == 0):
            code = 0
        elif not (spot[i] > 0.0 and spot[i] <= MAX_SPOT):
            code = 1
        elif option and not (strike[i] > 0.0 and strike[i] < math.inf):
            code = 2
        elif not ((t >= 0.0 and t < math.inf) or (not option and t != t)):
            code = 3
        elif option and not (vol[i] >= 0.0 and vol[i] <= MAX_VOL):
            code = 4
        elif not (abs(rate[i]) < math.inf):
            code = 5
        elif not (abs(carry[i]) < math.inf):
            code = 6
        elif not (abs(quantity[i]) <= MAX_QUANTITY):
            code = 7
        elif not (multiplier[i] > 0.0 and multiplier[i] <= MAX_MULTIPLIER):
            code = 8
        elif not (american[i] == 0 or (american[i] == 1 and option)):
            code = 9
        elif not (inverse[i] == 0 or inverse[i] == 1):
            code = 10
        elif not (group[i] >= 0 and group[i] < n_groups):
            code = 11
        if code >= 0:
            count += 1
            if first < 0:
                first = i
                field = code
    return first, field, count


@array_jit("void(f8[:, ::1], i8[::1])")
def scatter_rows(a, order):  # type: ignore[no-untyped-def]
    """Move row ``i`` of ``a`` to row ``order[i]``, in place (``order`` a permutation).

    Follows each cycle of the permutation with one spare row, so the position x scenario
    matrix is put in Book row order without a second copy of it (800 MB at 10^6 x 105).
    """
    n = order.size
    done = np.zeros(n, np.bool_)
    carry = np.empty(a.shape[1])
    spare = np.empty(a.shape[1])
    for s in range(n):
        if done[s]:
            continue
        done[s] = True
        j = order[s]
        if j == s:
            continue
        carry[:] = a[s]
        while True:
            spare[:] = a[j]
            a[j] = carry
            carry[:] = spare
            done[j] = True
            j = order[j]
            if j == s:
                a[s] = carry
                break
