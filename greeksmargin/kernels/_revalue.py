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
from ._bsm import price1, price_from_parts
from ._jit import array_jit, parallel_jit, scalar_jit

ABSOLUTE = 0
RELATIVE = 1


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


@scalar_jit
def shocked_vol(vol: float, shift: float, shift_type: int, scale: float,
                min_vol_up: float) -> float:
    """Scenario vol: ``vol + shift`` or ``vol * (1 + shift * scale)``, floored at 0 (and at
    ``min_vol_up`` for upward relative shocks); NaN stays NaN."""
    if shift_type == ABSOLUTE:
        shocked = vol + shift
    else:
        shocked = vol * (1.0 + shift * scale)
        if shift > 0.0 and shocked < min_vol_up:
            shocked = min_vol_up
    if shocked < 0.0:
        return 0.0
    return shocked


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
        if kind[i] != 0 and american[i] == 0 and t0 > 0.0:
            # the same expressions as the hoisted scenario path, so an unshifted scenario's P&L
            # is exactly 0
            v = price_from_parts(spot[u] * math.exp(carry[u] * t0), strike[i],
                                 math.log(spot[u] / strike[i]) + carry[u] * t0,
                                 vol[i] * math.sqrt(t0), math.exp(-rate[u] * t0), kind[i])
        else:
            v = unit_value(spot[u], spot[u], strike[i], t0, t0, vol[i], rate[u], carry[u],
                           kind[i], american[i])
        if inverse[i] == 1:
            v = v / spot[u]
        out[i] = notional[i] * v


@parallel_jit(f"void({_POS}, {_UND}, f8[::1], i8)")
def base_parallel(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                  vol_scale, spot, rate, carry, out, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of :func:`base_range`."""
    n = out.shape[0]
    for c in prange(n_chunks):
        base_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
                   vol_scale, spot, rate, carry, out, c * n // n_chunks, (c + 1) * n // n_chunks)


@array_jit(f"void({_POS}, {_UND}, i8[::1], {_SCEN}, f8[::1], f8[:, ::1], b1, f8[:, ::1], i8, i8, "
           "i8)")
def pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
              vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift, vol_shift,
              vol_shift_type, time_shift_years, min_vol_up, base, out, keep_positions,
              position_out, block, start, stop):
    """Serial over work items ``start <= c < stop``; item ``c`` owns group ``c // n_blocks`` and
    scenarios ``[b * block, (b + 1) * block)`` of it, ``b = c % n_blocks``.

    ``out[g, j]`` (shape (n_groups, n_scenarios)) = sum over the group's positions of scenario
    value minus ``base`` (the value now). Positions are the outer loop inside an item, so what does
    not change across scenarios (sqrt T, discount and growth factors, ln(S/K)) is computed once per
    position and time shift, and the position's data is read once per block. With
    ``keep_positions`` each term also goes to ``position_out[i, j]`` (shape (n_positions,
    n_scenarios)).
    """
    n_scenarios = out.shape[1]
    n_blocks = (n_scenarios + block - 1) // block
    acc = np.empty(block)
    log_move = np.empty(block)
    for c in range(start, stop):
        g = c // n_blocks
        j0 = (c % n_blocks) * block
        j1 = min(j0 + block, n_scenarios)
        for j in range(j0, j1):
            acc[j - j0] = 0.0
            log_move[j - j0] = math.log1p(spot_shift[g, j])
        for i in range(group_offsets[g], group_offsets[g + 1]):
            u = underlying_index[i]
            s0 = spot[u]
            k = kind[i]
            t0 = expiry_years[i]
            european = k != 0 and american[i] == 0
            log_spot_strike = math.log(s0 / strike[i]) if european else 0.0
            last_dt = -1.0
            t1 = t0
            sqrt_t = discount = growth = 0.0
            for j in range(j0, j1):
                dt = time_shift_years[g, j]
                if k == 0:
                    s1 = s0 * (1.0 + linear_spot_shift[g, j])
                    v1 = unit_value(s1, s0, 0.0, t0 - dt, t0, 0.0, rate[u], carry[u], 0, 0)
                else:
                    s1 = s0 * (1.0 + spot_shift[g, j])
                    sigma = shocked_vol(vol[i], vol_shift[g, j], vol_shift_type[g, j],
                                        vol_scale[i], min_vol_up[g])
                    if not european:
                        v1 = baw1(s1, strike[i], t0 - dt, sigma, rate[u], carry[u], k)
                    else:
                        if dt != last_dt:  # hoisted: one exp/sqrt set per position and time shift
                            last_dt = dt
                            t1 = t0 - dt
                            if t1 > 0.0:
                                sqrt_t = math.sqrt(t1)
                                discount = math.exp(-rate[u] * t1)
                                growth = math.exp(carry[u] * t1)
                        if t1 > 0.0:
                            v1 = price_from_parts(
                                s1 * growth, strike[i],
                                log_spot_strike + carry[u] * t1 + log_move[j - j0],
                                sigma * sqrt_t, discount, k)
                        else:
                            v1 = price1(s1, strike[i], t1, sigma, rate[u], carry[u], k)
                if inverse[i] == 1:
                    v1 = v1 / s1
                pnl = notional[i] * v1 - base[i]
                acc[j - j0] += pnl
                if keep_positions:
                    position_out[i, j] = pnl
        for j in range(j0, j1):
            out[g, j] = acc[j - j0]


@parallel_jit(f"void({_POS}, {_UND}, i8[::1], {_SCEN}, f8[::1], f8[:, ::1], b1, f8[:, ::1], i8, "
              "i8)")
def pnl_parallel(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                 vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift,
                 vol_shift, vol_shift_type, time_shift_years, min_vol_up, base, out,
                 keep_positions, position_out, block, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of the work items of :func:`pnl_range`."""
    n_items = out.shape[0] * ((out.shape[1] + block - 1) // block)
    for c in prange(n_chunks):
        pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
                  vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift,
                  vol_shift, vol_shift_type, time_shift_years, min_vol_up, base, out,
                  keep_positions, position_out, block, c * n_items // n_chunks,
                  (c + 1) * n_items // n_chunks)
