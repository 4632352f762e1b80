"""An account's margin from its cached scenario P&L, in one compiled call: the reduction of
``margin.requirements`` (scan risk with Deribit's extended-table dampener, contract minimum,
short option minimum, roll shock) summed over groups, for the account as it is (``scale`` 0)
or plus ``scale`` x one order (no allocation beyond the kernel's locals).

Shapes: ``values``, ``order``, ``weights``, ``extended``, ``spot_shift`` (n_groups,
n_scenarios); per-group arrays (n_groups,). Rules: ``contract_minimum`` and
``short_option_minimum`` per contract, ``roll`` per group (0 where none), ``dampener`` per group
(0 where none) with its ``price_range``; ``coin_group`` marks groups settled in a coin (the
dampener is then converted at ``group_spot``). Returns ``(initial, maintenance)`` in the quote
currency, or ``(nan, nan)`` when any scenario P&L is not finite (the caller names it).

:func:`tick_reduce` turns a revaluation's output into an account's margin at the tick's spots;
:func:`tick_margins` is the whole tick of a small book in one call (the serial revaluation
kernels, then :func:`tick_reduce`): one dispatch instead of four.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import scalar_jit
from ._revalue import base_range, pnl_range


@scalar_jit
def account_margins(values, order, scale, weights, to_quote, option_contracts,  # type: ignore[no-untyped-def]
                    short_quantity, linear_notional, order_option, order_short, order_linear,
                    contract_minimum, short_option_minimum, roll, mm_factor, im_over_mm,
                    dampener, price_range, extended, spot_shift, coin_group, group_spot):
    """Initial and maintenance margin of the cached account plus ``scale`` x the order."""
    n_groups, n_scenarios = values.shape
    size = abs(scale)
    total = 0.0
    for g in range(n_groups):
        worst = 0.0
        damp = dampener[g]
        for j in range(n_scenarios):
            weighted = weights[g, j] * (values[g, j] + scale * order[g, j])
            if not math.isfinite(weighted):
                return math.nan, math.nan
            if damp > 0.0 and extended[g, j]:
                m = spot_shift[g, j]
                r = price_range[g]
                amount = (max(abs(m) / r, 1.0) - 1.0) * damp
                if coin_group[g]:
                    amount /= group_spot[g] * (1.0 + (r if m > 0.0 else -r if m < 0.0 else 0.0))
                weighted += min(amount, abs(weighted))
            if -weighted > worst:
                worst = -weighted
        requirement = worst
        if contract_minimum > 0.0:
            minimum = contract_minimum * (option_contracts[g] + size * order_option[g])
            if minimum > requirement:
                requirement = minimum
        if short_option_minimum > 0.0:
            som = short_option_minimum * (short_quantity[g] + size * order_short[g])
            if som > requirement:
                requirement = som
        requirement += roll[g] * (linear_notional[g] + size * order_linear[g])
        total += requirement * to_quote[g]
    maintenance = total * mm_factor
    initial = im_over_mm * maintenance if im_over_mm > 0.0 else total
    return initial, maintenance


@scalar_jit
def tick_reduce(partial, base, item_group, spot, group_offsets, quote_index, first_underlying,  # type: ignore[no-untyped-def]
                option_contracts, short_quantity, linear_notional, weights, extended, roll,
                dampener, price_range, coin_group, contract_minimum, short_option_minimum,
                mm_factor, im_over_mm, spot_shift):
    """``(initial, maintenance, book value)`` from a revaluation's output (``partial`` P&L per
    work item x scenario, ``base`` value now per sorted row) at ``spot``: group sums (a group's
    work items in order, as ``np.add.reduceat``), then :func:`account_margins`. Group ``g``
    converts at ``spot[quote_index[g]]`` (1 where the index is negative) and its dampener at
    ``spot[first_underlying[g]]``; the book value is in the quote currency."""
    n_groups, n_scenarios = weights.shape
    values = np.zeros((n_groups, n_scenarios))
    for c in range(item_group.shape[0]):
        for j in range(n_scenarios):
            values[item_group[c], j] += partial[c, j]
    to_quote = np.empty(n_groups)
    group_spot = np.empty(n_groups)
    zeros = np.zeros(n_groups)
    book_value = 0.0
    for g in range(n_groups):
        to_quote[g] = 1.0 if quote_index[g] < 0 else spot[quote_index[g]]
        group_spot[g] = spot[first_underlying[g]]
        group_base = 0.0
        for i in range(group_offsets[g], group_offsets[g + 1]):
            group_base += base[i]
        book_value += group_base * to_quote[g]
    initial, maintenance = account_margins(
        values, values, 0.0, weights, to_quote, option_contracts, short_quantity, linear_notional,
        zeros, zeros, zeros, contract_minimum, short_option_minimum, roll, mm_factor, im_over_mm,
        dampener, price_range, extended, spot_shift, coin_group, group_spot)
    return initial, maintenance, book_value


@scalar_jit
def tick_margins(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,  # type: ignore[no-untyped-def]
                 vol_scale, spot, rate, carry, item_group, item_start, item_stop, spot_shift,
                 linear_spot_shift, vol_shift, vol_shift_type, time_shift_years, min_vol_up,
                 scenario_order, group_offsets, quote_index, first_underlying, option_contracts,
                 short_quantity, linear_notional, weights, extended, roll, dampener, price_range,
                 coin_group, contract_minimum, short_option_minimum, mm_factor, im_over_mm):
    """The whole tick of a small book: the serial revaluation kernels (their arguments first),
    then :func:`tick_reduce` (the group and rule arrays after them)."""
    n = underlying_index.shape[0]
    base = np.empty(n)
    base_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
               vol_scale, spot, rate, carry, base, 0, n)
    partial = np.empty((item_group.shape[0], weights.shape[1]))
    pnl_range(underlying_index, kind, strike, expiry_years, vol, notional, american, inverse,
              vol_scale, spot, rate, carry, item_group, item_start, item_stop, spot_shift,
              linear_spot_shift, vol_shift, vol_shift_type, time_shift_years, min_vol_up,
              scenario_order, base, partial, False, np.empty((0, 0)), 0, item_group.shape[0])
    return tick_reduce(partial, base, item_group, spot, group_offsets, quote_index,
                       first_underlying, option_contracts, short_quantity, linear_notional,
                       weights, extended, roll, dampener, price_range, coin_group,
                       contract_minimum, short_option_minimum, mm_factor, im_over_mm, spot_shift)
