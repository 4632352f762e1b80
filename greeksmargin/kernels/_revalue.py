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
American options are valued with Barone-Adesi-Whaley (a tree per cell would cost 500x more).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._american import baw1
from ._bsm import plain_price, price1, price_from_parts
from ._elementary import exp_simd, inline_jit
from ._jit import array_jit, parallel_jit, scalar_jit

ABSOLUTE = 0
RELATIVE = 1
CHUNK = 128  # European positions priced per vectorised loop: ~20 arrays of 1 KB stay in L1
PAD = 16  # chunks are padded to a multiple of this (8 lanes x 2 interleaved)


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
        return baw1(spot, strike, expiry_years, vol, rate, carry, kind)
    return price1(spot, strike, expiry_years, vol, rate, carry, kind)


@inline_jit
def shocked_vol(vol: float, shift: float, shift_type: int, scale: float,
                min_vol_up: float) -> float:
    """Scenario vol: ``vol + shift`` or ``vol * (1 + shift * scale)``, floored at 0 (and at
    ``min_vol_up`` for upward relative shocks); NaN stays NaN. Straight-line (selects only)."""
    relative = shift_type == RELATIVE
    shocked = vol * (1.0 + shift * scale) if relative else vol + shift
    floor = min_vol_up if relative and shift > 0.0 else 0.0
    return floor if shocked < floor else shocked


_POS = "i8[::1], i1[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1], i1[::1], f8[::1]"
_UND = "f8[::1], f8[::1], f8[::1]"
_SCEN = "f8[:, ::1], f8[:, ::1], f8[:, ::1], i1[:, ::1], f8[:, ::1], f8[::1]"


@array_jit(f"void({_POS}, {_UND}, f8[::1], i8, i8)")
def base_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
               vol_scale, spot, rate, carry, out, start, stop):
    """Serial: ``out[i]`` = value now of position ``i`` (notional x unit value, coin if inverse)."""
    for i in range(start, stop):
        u = underlying_index[i]
        t0 = expiry_years[i]
        european = kind[i] != 0 and american[i] == 0
        if european and t0 > 0.0:
            # the same expressions as the hoisted scenario path, so an unshifted scenario's P&L
            # is exactly 0
            v = price_from_parts(spot[u] * exp_simd(carry[u] * t0), strike[i],
                                 math.log(spot[u] / strike[i]) + carry[u] * t0,
                                 vol[i] * math.sqrt(t0), exp_simd(-rate[u] * t0), kind[i])
        else:
            v = unit_value(spot[u], spot[u], strike[i], t0, t0, vol[i], rate[u], carry[u],
                           kind[i], american[i])
        if inverse[i] == 1:  # in coin: European options as the vectorised scenario loop does it
            v = v * (1.0 / spot[u]) if european else v / spot[u]
        out[i] = notional[i] * v


@parallel_jit(f"void({_POS}, {_UND}, f8[::1], i8)")
def base_parallel(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                  vol_scale, spot, rate, carry, out, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of :func:`base_range`."""
    n = out.shape[0]
    for c in prange(n_chunks):
        base_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
                   vol_scale, spot, rate, carry, out, c * n // n_chunks, (c + 1) * n // n_chunks)


@scalar_jit
def _general_position_pnl(i, g, underlying_index, kind, strike, expiry_years, vol, notional,  # type: ignore[no-untyped-def]
                          american, inverse, vol_scale, spot, rate, carry, spot_shift,
                          linear_spot_shift, vol_shift, vol_shift_type, time_shift_years,
                          min_vol_up, base, row, keep_positions, position_out):
    # one linear or American position under every scenario of group g, added into row
    u = underlying_index[i]
    s0 = spot[u]
    k = kind[i]
    t0 = expiry_years[i]
    for j in range(row.shape[0]):
        dt = time_shift_years[g, j]
        if k == 0:
            s1 = s0 * (1.0 + linear_spot_shift[g, j])
            v1 = unit_value(s1, s0, 0.0, t0 - dt, t0, 0.0, rate[u], carry[u], 0, 0)
        else:
            s1 = s0 * (1.0 + spot_shift[g, j])
            sigma = shocked_vol(vol[i], vol_shift[g, j], vol_shift_type[g, j], vol_scale[i],
                                min_vol_up[g])
            v1 = unit_value(s1, s0, strike[i], t0 - dt, t0, sigma, rate[u], carry[u], k,
                            american[i])
        if inverse[i] == 1:
            v1 = v1 / s1
        pnl = notional[i] * v1 - base[i]
        row[j] += pnl
        if keep_positions:
            position_out[i, j] = pnl


@scalar_jit
def _price_chunk(m, vol, scale, spot, growth, strike, forward_over_strike, log_forward_strike,  # type: ignore[no-untyped-def]
                 sqrt_t, discount, sign, inverse, coin_per_quote, notional, base, shift,
                 shift_type, min_vol_up, move, inverse_move, log_move, term, accurate):
    # One scenario for a chunk of European positions: term[q] = P&L of position q by the plain
    # formula, accurate[q] whether that is accurate; returns how many are not. Straight-line code
    # in its own function, so LLVM vectorises it (inlined into pnl_range, the loop is not).
    n_inaccurate = 0
    for q in range(m):
        sigma = shocked_vol(vol[q], shift, shift_type, scale[q], min_vol_up)
        s1 = spot[q] * move
        value, ok = plain_price(s1 * growth[q], strike[q], forward_over_strike[q] * move,
                                log_forward_strike[q] + log_move, sigma * sqrt_t[q], discount[q],
                                sign[q])
        coin = coin_per_quote[q] * (inverse_move if inverse[q] else 1.0)
        term[q] = notional[q] * (value * coin) - base[q]
        accurate[q] = ok
        n_inaccurate += 0 if ok else 1
    return n_inaccurate


@array_jit(f"void({_POS}, {_UND}, i8[::1], i8[::1], i8[::1], {_SCEN}, i8[:, ::1], f8[::1], "
           "f8[:, ::1], b1, f8[:, ::1], i8, i8)")
def pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
              vol_scale, spot, rate, carry, item_group, item_start, item_stop, spot_shift,
              linear_spot_shift, vol_shift, vol_shift_type, time_shift_years, min_vol_up,
              scenario_order, base, partial, keep_positions, position_out, start, stop):
    """Serial over work items ``start <= c < stop``: item ``c`` owns positions
    ``item_start[c]:item_stop[c]`` of group ``item_group[c]`` and all its scenarios, and writes
    their P&L per scenario (scenario value minus ``base``, the value now) to ``partial[c]``; the
    caller adds a group's items in order.

    European options go through the vectorised path, ``CHUNK`` positions at a time: their fixed
    parts are gathered into small contiguous arrays, the parts that depend only on the time shift
    (sqrt T, discount, growth, ln(F/K)) are computed once per chunk and time shift (scenarios are
    visited in ``scenario_order``, sorted by time shift), and for each scenario one
    straight-line loop prices the whole chunk with :func:`plain_price`. The few prices it flags as
    inaccurate (deep in or out of the money at small total vol, zero vol, at or past expiry) are
    redone by :func:`price_from_parts` / :func:`price1`, which return the same value wherever the
    plain formula is accurate, so the result does not depend on the path. Linear and American
    positions are valued one at a time under every scenario. With ``keep_positions`` each term
    also goes to ``position_out[i, j]`` (shape (n_positions, n_scenarios)).
    """
    n_scenarios = partial.shape[1]
    index = np.empty(CHUNK, np.int64)
    c_spot = np.empty(CHUNK)
    c_strike = np.empty(CHUNK)
    c_sign = np.empty(CHUNK)
    c_vol = np.empty(CHUNK)
    c_scale = np.empty(CHUNK)
    c_notional = np.empty(CHUNK)
    c_inverse = np.empty(CHUNK, np.bool_)  # inverse contracts: value in coin, divided by spot
    c_coin_per_quote = np.empty(CHUNK)  # 1 / spot now for inverse contracts, else 1
    c_base = np.empty(CHUNK)
    c_expiry = np.empty(CHUNK)
    c_rate = np.empty(CHUNK)
    c_carry = np.empty(CHUNK)
    c_log_spot_strike = np.empty(CHUNK)
    c_t1 = np.empty(CHUNK)
    c_sqrt_t = np.empty(CHUNK)
    c_discount = np.empty(CHUNK)
    c_growth = np.empty(CHUNK)
    c_log_forward_strike = np.empty(CHUNK)
    c_forward_over_strike = np.empty(CHUNK)
    c_term = np.empty(CHUNK)
    c_accurate = np.empty(CHUNK, np.bool_)
    log_move = np.empty(n_scenarios)
    for c in range(start, stop):
        g = item_group[c]
        row = partial[c]
        for j in range(n_scenarios):
            row[j] = 0.0
            log_move[j] = math.log1p(spot_shift[g, j])
        for chunk_start in range(item_start[c], item_stop[c], CHUNK):
            m = 0
            for i in range(chunk_start, min(chunk_start + CHUNK, item_stop[c])):
                if kind[i] == 0 or american[i] == 1:
                    _general_position_pnl(i, g, underlying_index, kind, strike, expiry_years, vol,
                                          notional, american, inverse, vol_scale, spot, rate,
                                          carry, spot_shift, linear_spot_shift, vol_shift,
                                          vol_shift_type, time_shift_years, min_vol_up, base,
                                          row, keep_positions, position_out)
                    continue
                u = underlying_index[i]
                index[m] = i
                c_spot[m] = spot[u]
                c_strike[m] = strike[i]
                c_sign[m] = 1.0 if kind[i] == 1 else -1.0
                c_vol[m] = vol[i]
                c_scale[m] = vol_scale[i]
                c_notional[m] = notional[i]
                c_inverse[m] = inverse[i] == 1
                c_coin_per_quote[m] = 1.0 / spot[u] if inverse[i] == 1 else 1.0
                c_base[m] = base[i]
                c_expiry[m] = expiry_years[i]
                c_rate[m] = rate[u]
                c_carry[m] = carry[u]
                c_log_spot_strike[m] = math.log(spot[u] / strike[i])
                m += 1
            if m == 0:
                continue
            # pad to whole vectors with harmless options (at the money, 1000 years, notional 0):
            # a scalar remainder loop would cost as much as the vector body at these sizes
            padded = min(CHUNK, (m + PAD - 1) // PAD * PAD)
            for q in range(m, padded):
                c_spot[q] = c_strike[q] = c_sign[q] = c_vol[q] = c_scale[q] = 1.0
                c_coin_per_quote[q] = 1.0
                c_notional[q] = c_base[q] = c_rate[q] = c_carry[q] = c_log_spot_strike[q] = 0.0
                c_expiry[q] = 1000.0
                c_inverse[q] = False
            last_dt = math.nan
            for jj in range(n_scenarios):
                j = scenario_order[g, jj]
                dt = time_shift_years[g, j]
                if dt != last_dt:  # the parts that depend on the time shift, once per chunk
                    last_dt = dt
                    for q in range(padded):
                        t1 = c_expiry[q] - dt
                        c_t1[q] = t1
                        c_sqrt_t[q] = math.sqrt(t1)  # NaN past expiry: flagged below
                        c_discount[q] = exp_simd(-c_rate[q] * t1)
                        c_growth[q] = exp_simd(c_carry[q] * t1)
                        c_log_forward_strike[q] = c_log_spot_strike[q] + c_carry[q] * t1
                        c_forward_over_strike[q] = c_spot[q] * c_growth[q] / c_strike[q]
                move = 1.0 + spot_shift[g, j]
                inverse_move = 1.0 / move
                shift = vol_shift[g, j]
                shift_type = vol_shift_type[g, j]
                floor = min_vol_up[g]
                lm = log_move[j]
                n_inaccurate = _price_chunk(padded, c_vol, c_scale, c_spot, c_growth, c_strike,
                                            c_forward_over_strike, c_log_forward_strike,
                                            c_sqrt_t, c_discount, c_sign, c_inverse,
                                            c_coin_per_quote, c_notional, c_base, shift,
                                            shift_type, floor, move, inverse_move, lm, c_term,
                                            c_accurate)
                if n_inaccurate > 0:
                    for q in range(m):
                        if c_accurate[q]:
                            continue
                        sigma = shocked_vol(c_vol[q], shift, shift_type, c_scale[q], floor)
                        s1 = c_spot[q] * move
                        t1 = c_t1[q]
                        if t1 > 0.0:
                            value = price_from_parts(s1 * c_growth[q], c_strike[q],
                                                     c_log_forward_strike[q] + lm,
                                                     sigma * c_sqrt_t[q], c_discount[q],
                                                     kind[index[q]])
                        else:
                            value = price1(s1, c_strike[q], t1, sigma, c_rate[q], c_carry[q],
                                           kind[index[q]])
                        coin = c_coin_per_quote[q] * (inverse_move if c_inverse[q] else 1.0)
                        c_term[q] = c_notional[q] * (value * coin) - c_base[q]
                if keep_positions:
                    for q in range(m):
                        position_out[index[q], j] = c_term[q]
                # four running sums: no loop-carried latency chain, and a fixed order
                total0 = total1 = total2 = total3 = 0.0
                q = 0
                while q + 4 <= m:
                    total0 += c_term[q]
                    total1 += c_term[q + 1]
                    total2 += c_term[q + 2]
                    total3 += c_term[q + 3]
                    q += 4
                while q < m:
                    total0 += c_term[q]
                    q += 1
                row[j] += (total0 + total1) + (total2 + total3)


@parallel_jit(f"void({_POS}, {_UND}, i8[::1], i8[::1], i8[::1], {_SCEN}, i8[:, ::1], f8[::1], "
              "f8[:, ::1], b1, f8[:, ::1], i8)")
def pnl_parallel(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                 vol_scale, spot, rate, carry, item_group, item_start, item_stop, spot_shift,
                 linear_spot_shift, vol_shift, vol_shift_type, time_shift_years, min_vol_up,
                 scenario_order, base, partial, keep_positions, position_out, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of the work items of :func:`pnl_range`."""
    n_items = partial.shape[0]
    for c in prange(n_chunks):
        pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
                  vol_scale, spot, rate, carry, item_group, item_start, item_stop, spot_shift,
                  linear_spot_shift, vol_shift, vol_shift_type, time_shift_years, min_vol_up,
                  scenario_order, base, partial, keep_positions, position_out,
                  c * n_items // n_chunks, (c + 1) * n_items // n_chunks)
