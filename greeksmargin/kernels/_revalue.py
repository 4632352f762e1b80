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

from numba import prange

from ._american import baw1
from ._bsm import price1
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
        v = unit_value(spot[u], spot[u], strike[i], expiry_years[i], expiry_years[i], vol[i],
                       rate[u], carry[u], kind[i], american[i])
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


@array_jit(f"void({_POS}, {_UND}, i8[::1], {_SCEN}, f8[::1], f8[:, ::1], b1, f8[:, ::1], i8, i8)")
def pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
              vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift, vol_shift,
              vol_shift_type, time_shift_years, min_vol_up, base, out, keep_positions,
              position_out, start, stop):
    """Serial over cells ``start <= c < stop`` (cell ``c`` = group ``c // n_scenarios``, scenario
    ``c % n_scenarios``): ``out[g, j]`` = sum over the group's positions of scenario value minus
    ``base`` (the value now); shape (n_groups, n_scenarios). With ``keep_positions`` each term also
    goes to ``position_out[i, j]`` (shape (n_positions, n_scenarios))."""
    n_scenarios = out.shape[1]
    for c in range(start, stop):
        g = c // n_scenarios
        j = c % n_scenarios
        move = 1.0 + spot_shift[g, j]
        linear_move = 1.0 + linear_spot_shift[g, j]
        dt = time_shift_years[g, j]
        total = 0.0
        for i in range(group_offsets[g], group_offsets[g + 1]):
            u = underlying_index[i]
            s1 = spot[u] * (linear_move if kind[i] == 0 else move)
            t0 = expiry_years[i]
            v1 = unit_value(s1, spot[u], strike[i], t0 - dt, t0,
                            shocked_vol(vol[i], vol_shift[g, j], vol_shift_type[g, j],
                                        vol_scale[i], min_vol_up[g]),
                            rate[u], carry[u], kind[i], american[i])
            if inverse[i] == 1:
                v1 = v1 / s1
            pnl = notional[i] * v1 - base[i]
            total += pnl
            if keep_positions:
                position_out[i, j] = pnl
        out[g, j] = total


@parallel_jit(f"void({_POS}, {_UND}, i8[::1], {_SCEN}, f8[::1], f8[:, ::1], b1, f8[:, ::1], i8)")
def pnl_parallel(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                 vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift,
                 vol_shift, vol_shift_type, time_shift_years, min_vol_up, base, out,
                 keep_positions, position_out, n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of the cells of :func:`pnl_range`."""
    n = out.shape[0] * out.shape[1]
    for c in prange(n_chunks):
        pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
                  vol_scale, spot, rate, carry, group_offsets, spot_shift, linear_spot_shift,
                  vol_shift, vol_shift_type, time_shift_years, min_vol_up, base, out,
                  keep_positions, position_out, c * n // n_chunks, (c + 1) * n // n_chunks)
