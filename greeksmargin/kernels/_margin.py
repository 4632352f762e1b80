"""The margin reduction, compiled: scenario P&L per group -> scan risk, add-ons, requirement.

This is the one definition of the rule (``greeksmargin.margin.rules`` is its Python front; the
account's what-if, ticks and liquidation call the same functions). Per group ``g``:

- weighted P&L ``w_j P_gj`` per scenario, with Deribit's extended-table dampener on the
  scenarios it flags: ``w P + min((max(|m| / R, 1) - 1) D', |w P|)``, ``D' = D / (S (1 + sign(m)
  R))`` for a coin-settled group (``D`` is a quote-currency amount), ``D`` otherwise;
- scan risk ``max(0, -min_j weighted)`` at the first worst scenario (``np.argmin``'s choice);
- SPAN's spreads: ``+ spread charge`` (intra-commodity and delivery charges less
  inter-commodity credits, formed from the group's deltas by ``greeksmargin.margin.span``);
- contract minimum: ``max(rate x option contracts - scan, 0)``;
- short option minimum: ``max(rate x max(short calls, short puts) - (scan + contract
  minimum), 0)`` (CME SPAN: "the SOM charge per short calls or short puts");
- roll shock: ``rate_g x linear notional``;
- liquidity: ``rate_g x N x v x max(1, N / volume_g)``, ``N`` the group's gross size in underlying
  units (option contracts x multiplier + linear notional), ``v`` the value of one unit (the
  group's spot; 1 for a coin-settled group, whose units are coin), ``volume_g`` its daily volume:
  a close-out cost that grows with the size beyond a day's volume;
- requirement = (((scan + spread charge) + contract minimum) + short option minimum) + roll shock
  + liquidity.

Inputs are named bundles: :class:`RuleArrays` (a methodology's rules laid out per group and
scenario) and :class:`Counts` (what the add-ons count per group; an order's counts are added
``|scale|`` times). Outputs go to ``out`` (rows :data:`PARTS`, one column per group).

The entry points take each bundle as a plain tuple of its fields (``tuple(bundle)``) and name it
again inside (``RuleArrays(*fields)``): Numba types a plain tuple on its fast path, a NamedTuple
through Python (measured: ~1.5 us more per bundle and call, which the pre-trade check cannot
afford); the field names are still defined once, by the NamedTuple.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._bsm import MAX_VOL
from ._elementary import inline_jit
from ._jit import array_jit, scalar_jit
from ._revalue import FIRST_ROW, MAX_SPOT, NO, Positions, base_range, pnl_range

VOL_FIELD = Positions._fields.index("vol")  # the positions bundle's vol, moved by a tick
AFTER_VOL = VOL_FIELD + 1  # (a constant for the kernels' static tuple slices)

# rows of the ``out`` array of group_requirements
REQUIREMENT, SCAN, CONTRACT_MINIMUM, SHORT_OPTION_MINIMUM, ROLL_SHOCK, LIQUIDITY, WORST = range(7)
PARTS = ("requirement", "scan_risk", "contract_minimum", "short_option_minimum", "roll_shock",
         "liquidity", "worst_scenario")


class RuleArrays(NamedTuple):
    """A methodology's rules per group: ``(n_groups,)``, and per grid row and scenario.

    The scenario rules are one row per distinct (class, grid) pair of the groups (a batch's
    470,000 groups share a few): ``grid_row[g]`` is group ``g``'s row. Laid out per group they
    were two arrays of groups x scenarios (37 MB each for 470,000 groups of 10 scenarios).
    """

    weight: np.ndarray  # float64 (grid rows, scenarios): loss multiplier
    extended: np.ndarray  # bool (grid rows, scenarios): a dampened (Deribit extended) scenario
    spot_shift: np.ndarray  # float64 (grid rows, scenarios): the scenario's relative spot move
    dampener: np.ndarray  # float64 (groups,): extended-table dampener, quote currency (0: none)
    price_range: np.ndarray  # float64 (groups,): the standard table's range R (1 where none)
    coin_group: np.ndarray  # bool (groups,): settles in a coin (the dampener is converted)
    roll_rate: np.ndarray  # float64 (groups,): roll shock per unit of linear notional (0: none)
    contract_minimum: float  # per option contract x multiplier (0: none)
    short_option_minimum: np.ndarray  # float64 (groups,): per short call or put, whichever more
    liquidity_rate: np.ndarray  # float64 (groups,): share of the gross size's value (0: none)
    daily_volume: np.ndarray  # float64 (groups,): underlying units a day (inf: no size effect)
    grid_row: np.ndarray  # int64 (groups,): the group's row of weight, extended, spot_shift


class Counts(NamedTuple):
    """What the add-ons count, per group (float64, shape ``(n_groups,)``)."""

    option_contracts: np.ndarray  # sum |quantity| x multiplier over options
    short_call_quantity: np.ndarray  # sum |quantity| over short calls
    short_put_quantity: np.ndarray  # sum |quantity| over short puts
    linear_notional: np.ndarray  # sum |quantity x multiplier| over linear instruments
    long_call_quantity: np.ndarray  # sum quantity over long calls (short after a sale)
    long_put_quantity: np.ndarray  # sum quantity over long puts (short after a sale)
    # SPAN's spread charges less credits for the group's whole position (not additive: it is
    # formed from the group's deltas; an order's counts carry 0, accounts refuse SPAN spreads)
    spread_charge: np.ndarray


@array_jit("f8[:, ::1](i8[::1], i1[::1], f8[::1], f8[::1], i8)")
def count_rows(group, kind, quantity, multiplier, n_groups):  # type: ignore[no-untyped-def]
    """Count the first six :class:`Counts` of positions (one row each) per group, in row order.

    Row ``k`` of the ``(6, n_groups)`` result is field ``k`` of :class:`Counts`: options'
    ``|quantity| x multiplier``; short calls' and short puts' ``|quantity|``; linear
    instruments' ``|quantity| x multiplier``; long calls' and long puts' quantity.
    """
    out = np.zeros((6, n_groups))
    for i in range(group.shape[0]):
        count_row(out, group[i], kind[i], quantity[i], multiplier[i])
    return out


@inline_jit
def count_row(out, g, kind, q, multiplier):  # type: ignore[no-untyped-def]
    """Add one position (``kind``, signed quantity ``q``) of group ``g`` to ``out`` (:func:`count_rows`)."""
    size = abs(q) * multiplier
    if kind == 1 or kind == 2:
        out[0, g] += size
        side = 0 if q < 0.0 else 3  # short: rows 1 and 2, long: rows 4 and 5
        out[kind + side, g] += abs(q)
    else:
        out[3, g] += size


@inline_jit
def _minimum_addon(rate, count, requirement):  # type: ignore[no-untyped-def]
    # what a per-contract minimum (rate x count; 0: none) adds on top of the requirement so far
    if rate > 0.0:
        return max(rate * count - requirement, 0.0)
    return 0.0


@inline_jit
def group_requirements(values, order, scale, rule_fields, count_fields, order_count_fields,  # type: ignore[no-untyped-def]
                       group_spot, out):
    """Reduce scenario P&L to each group's margin parts.

    Fill ``out`` (len(PARTS), n_groups) for ``values + scale x order``; False (and ``out``
    partly filled) when a weighted scenario P&L is not finite. Bundles as tuples of fields.
    """
    return _requirements(values, order, scale, RuleArrays(*rule_fields), Counts(*count_fields),
                         Counts(*order_count_fields), group_spot, out)


@inline_jit
def _dampening(rules, g, j, group_spot):  # type: ignore[no-untyped-def]
    # Deribit's extended-table dampener of group g at scenario j, in the group's currency:
    # (max(|m| / R, 1) - 1) D, divided by S (1 + sign(m) R) for a coin-settled group
    m = rules.spot_shift[rules.grid_row[g], j]
    r = rules.price_range[g]
    amount = (max(abs(m) / r, 1.0) - 1.0) * rules.dampener[g]
    if rules.coin_group[g]:
        amount = amount / (group_spot[g] * (1.0 + (r if m > 0.0 else -r if m < 0.0 else 0.0)))
    return amount


@scalar_jit
def dampening(rule_fields, group_spot):  # type: ignore[no-untyped-def]
    """Return the dampener's credit per group and scenario (0 where none), (n_groups, n_scenarios).

    A scenario's weighted P&L ``x`` counts as ``x + min(credit, |x|)``: its loss is
    ``max(-x - credit, 0)``, linear in the positions (the liquidation optimiser uses it).
    """
    rules = RuleArrays(*rule_fields)
    n_groups, n_scenarios = rules.grid_row.shape[0], rules.weight.shape[1]
    out = np.zeros((n_groups, n_scenarios))
    for g in range(n_groups):
        if rules.dampener[g] > 0.0:
            for j in range(n_scenarios):
                if rules.extended[rules.grid_row[g], j]:
                    out[g, j] = _dampening(rules, g, j, group_spot)
    return out


@inline_jit
def _requirements(values, order, scale, rules, counts, order_counts, group_spot, out):  # type: ignore[no-untyped-def]
    # the rule itself (module docstring), on the named bundles
    n_groups, n_scenarios = values.shape
    size = abs(scale)
    for g in range(n_groups):
        worst_loss = -math.inf
        worst_j = 0
        damp = rules.dampener[g]
        row = rules.grid_row[g]
        for j in range(n_scenarios):
            weighted = rules.weight[row, j] * (values[g, j] + scale * order[g, j])
            if not math.isfinite(weighted):
                return False
            if damp > 0.0 and rules.extended[row, j]:
                weighted = weighted + min(_dampening(rules, g, j, group_spot), abs(weighted))
            if -weighted > worst_loss:
                worst_loss = -weighted
                worst_j = j
        scan = max(0.0, worst_loss)
        requirement = scan + counts.spread_charge[g]
        contract = _minimum_addon(rules.contract_minimum, counts.option_contracts[g]
                                  + size * order_counts.option_contracts[g], requirement)
        requirement = requirement + contract
        # an order scaled by a negative factor sells its legs: its long options become short
        if scale >= 0.0:
            order_calls = order_counts.short_call_quantity[g]
            order_puts = order_counts.short_put_quantity[g]
        else:
            order_calls = order_counts.long_call_quantity[g]
            order_puts = order_counts.long_put_quantity[g]
        # CME: the short calls or the short puts, whichever are more
        short = max(counts.short_call_quantity[g] + size * order_calls,
                    counts.short_put_quantity[g] + size * order_puts)
        som = _minimum_addon(rules.short_option_minimum[g], short, requirement)
        requirement = requirement + som
        roll = rules.roll_rate[g] * (counts.linear_notional[g]
                                     + size * order_counts.linear_notional[g])
        liquidity = 0.0
        if rules.liquidity_rate[g] > 0.0:
            units = (counts.option_contracts[g] + counts.linear_notional[g]
                     + size * (order_counts.option_contracts[g] + order_counts.linear_notional[g]))
            value = 1.0 if rules.coin_group[g] else group_spot[g]
            liquidity = (rules.liquidity_rate[g] * units * value
                         * max(1.0, units / rules.daily_volume[g]))
        out[REQUIREMENT, g] = requirement + roll + liquidity
        out[LIQUIDITY, g] = liquidity
        out[SCAN, g] = scan
        out[CONTRACT_MINIMUM, g] = contract
        out[SHORT_OPTION_MINIMUM, g] = som
        out[ROLL_SHOCK, g] = roll
        out[WORST, g] = worst_j
    return True


@inline_jit
def account_margins(values, order, scale, rule_fields, count_fields, order_count_fields,  # type: ignore[no-untyped-def]
                    group_spot, to_quote, mm_factor, im_over_mm):
    """Total initial and maintenance margin in the quote currency.

    ``(initial, maintenance)`` in the quote currency of the groups' requirements
    (:func:`group_requirements`) converted at ``to_quote``; ``(nan, nan)`` when a scenario P&L
    is not finite (the caller names it). ``im_over_mm > 0`` sets IM = factor x MM.
    """
    n_groups = values.shape[0]
    out = np.empty((7, n_groups))
    if not group_requirements(values, order, scale, rule_fields, count_fields,
                              order_count_fields, group_spot, out):
        return math.nan, math.nan
    total = 0.0
    for g in range(n_groups):
        total += out[REQUIREMENT, g] * to_quote[g]
    maintenance = total * mm_factor
    initial = im_over_mm * maintenance if im_over_mm > 0.0 else total
    return initial, maintenance


@scalar_jit
def tick_reduce(partial, base, item_group, spot, group_offsets, quote_index, first_underlying,  # type: ignore[no-untyped-def]
                rule_fields, count_fields, mm_factor, im_over_mm):
    """Reduce a revaluation's output to an account's margin.

    ``(initial, maintenance, book value)`` from a revaluation's output (``partial`` P&L per
    work item x scenario, ``base`` value now per sorted row) at ``spot``: group sums (a group's
    work items in order, as ``np.add.reduceat``), then :func:`account_margins`. Group ``g``
    converts at ``spot[quote_index[g]]`` (1 where the index is negative) and its dampener at
    ``spot[first_underlying[g]]``; the book value is in the quote currency.
    """
    rules = RuleArrays(*rule_fields)
    n_groups, n_scenarios = rules.grid_row.shape[0], rules.weight.shape[1]
    values = np.zeros((n_groups, n_scenarios))
    for c in range(item_group.shape[0]):
        for j in range(n_scenarios):
            values[item_group[c], j] += partial[c, j]
    to_quote = np.empty(n_groups)
    group_spot = np.empty(n_groups)
    book_value = 0.0
    for g in range(n_groups):
        to_quote[g] = 1.0 if quote_index[g] < 0 else spot[quote_index[g]]
        group_spot[g] = spot[first_underlying[g]]
        group_base = 0.0
        for i in range(group_offsets[g], group_offsets[g + 1]):
            group_base += base[i]
        book_value += group_base * to_quote[g]
    zeros = np.zeros(n_groups)
    initial, maintenance = account_margins(values, values, 0.0, rule_fields, count_fields,
                                           (zeros, zeros, zeros, zeros, zeros, zeros, zeros),
                                           group_spot, to_quote,
                                           mm_factor, im_over_mm)
    return initial, maintenance, book_value


@inline_jit
def tick_margins(position_fields, underlying_fields, item_fields, scenario_fields, group_offsets,  # type: ignore[no-untyped-def]
                 quote_index, first_underlying, rule_fields, count_fields, mm_factor, im_over_mm):
    """Run the whole tick of a small book in one call.

    The whole tick of a small book: the serial revaluation kernels on their bundles
    (``kernels._revalue``: positions, underlyings, work items, scenarios), then
    :func:`tick_reduce` (the group layout and the rule bundles). Inlined into
    :func:`tick_moved` (still callable on its own): a call that passes its bundles through
    takes and drops a reference to every array in them, an atomic operation each (about
    0.3 us of a 20-position tick).
    """
    n = position_fields[0].shape[0]
    base = np.empty(n)
    base_range(position_fields, underlying_fields, base, FIRST_ROW, n)
    n_items = item_fields[0].shape[0]
    partial = np.empty((n_items, RuleArrays(*rule_fields).weight.shape[1]))
    pnl_range(position_fields, underlying_fields, item_fields, scenario_fields, base, partial,
              NO, np.empty((0, 0)), FIRST_ROW, n_items)
    return tick_reduce(partial, base, item_fields[0], underlying_fields[0], group_offsets,
                       quote_index, first_underlying, rule_fields, count_fields, mm_factor,
                       im_over_mm)


@scalar_jit
def moved_vols(position_vol, flat_rows, flat_underlying, vol):  # type: ignore[no-untyped-def]
    """Move the flat vols of a tick.

    ``(vols, bad)``: a copy of ``position_vol`` with row ``flat_rows[k]`` set to the new flat vol
    of its underlying, ``vol[flat_underlying[k]]``; ``bad`` is the first ``k`` whose new vol is
    NaN (-1 when none is: the caller names that position).
    """
    out = position_vol.copy()
    for k in range(flat_rows.shape[0]):
        v = vol[flat_underlying[k]]
        if v != v:
            return out, k
        out[flat_rows[k]] = v
    return out, -1


@scalar_jit
def linear_variation(size, underlying, spot_then, spot_now):  # type: ignore[no-untyped-def]
    """P&L of linear positions since the evaluation: sum of ``size x (spot now - spot then)``."""
    total = 0.0
    for k in range(size.shape[0]):
        total += size[k] * (spot_now[underlying[k]] - spot_then[k])
    return total


class TickPack(NamedTuple):
    """A small book's tick inputs in five arrays (:func:`pack_tick`, read by :func:`tick_moved`).

    A compiled call pays about 65 ns per array argument to unbox it: the ~50 arrays of a tick
    (positions, work items, scenarios, rules, counts, ...) cost 3.5 us a call, five cost 0.4.
    Leaf ``k`` (the order of :func:`tick_leaves`) is ``layout[k] = (offset, rows, columns)`` in
    the buffer of its dtype (columns 0: one dimension; a float scalar is one float).
    """

    floats: np.ndarray  # float64 leaves
    ints: np.ndarray  # int64 leaves
    smalls: np.ndarray  # int8 leaves
    flags: np.ndarray  # bool leaves
    layout: np.ndarray  # int64 (n_leaves, 3)


def tick_leaves(position_fields, rate, carry, item_fields, scenario_fields, group_offsets,  # type: ignore[no-untyped-def]
                quote_index, first_underlying, rule_fields, count_fields, mm_factor, im_over_mm,
                flat_rows, flat_underlying, linear_size, linear_underlying, linear_spot):
    """List the inputs of :func:`tick_moved` as the leaves :func:`pack_tick` packs, in order."""
    return (*position_fields, rate, carry, *item_fields, *scenario_fields, group_offsets,
            quote_index, first_underlying, *rule_fields, *count_fields, mm_factor, im_over_mm,
            flat_rows, flat_underlying, linear_size, linear_underlying, linear_spot)


_BUFFER_OF = {np.dtype(np.float64): 0, np.dtype(np.int64): 1, np.dtype(np.int8): 2,
              np.dtype(np.bool_): 3}


def pack_tick(leaves) -> TickPack:  # type: ignore[no-untyped-def]
    """Pack :func:`tick_leaves` into a :class:`TickPack` (copies; each leaf C-contiguous)."""
    parts: list[list[np.ndarray]] = [[], [], [], []]
    sizes = [0, 0, 0, 0]
    layout = np.zeros((len(leaves), 3), np.int64)
    for k, leaf in enumerate(leaves):
        arr = np.asarray(leaf, dtype=np.float64 if isinstance(leaf, float) else None)
        if arr.dtype not in _BUFFER_OF or arr.ndim > 2:
            raise TypeError(f"tick leaf {k}: unsupported {arr.dtype} array of {arr.ndim} dims")
        b = _BUFFER_OF[arr.dtype]
        layout[k] = (sizes[b], arr.shape[0] if arr.ndim else 1, arr.shape[1] if arr.ndim == 2
                     else 0)
        parts[b].append(arr.reshape(-1))
        sizes[b] += arr.size
    floats, ints, smalls, flags = (np.concatenate(p) if p else np.zeros(0, dtype)
                                   for p, dtype in zip(parts, _BUFFER_OF, strict=True))
    return TickPack(floats, ints, smalls, flags, layout)


@inline_jit
def _one(buffer, layout, k):  # type: ignore[no-untyped-def]
    # leaf k of a TickPack buffer, one dimension
    return buffer[layout[k, 0]:layout[k, 0] + layout[k, 1]]


@inline_jit
def _two(buffer, layout, k):  # type: ignore[no-untyped-def]
    # leaf k of a TickPack buffer, two dimensions
    rows, columns = layout[k, 1], layout[k, 2]
    return buffer[layout[k, 0]:layout[k, 0] + rows * columns].reshape((rows, columns))


@inline_jit
def unpack_tick(floats, ints, smalls, flags, layout):  # type: ignore[no-untyped-def]
    """Rebuild :func:`tick_moved`'s bundles from a :class:`TickPack` (views, no copies).

    The leaves in :func:`tick_leaves` order: positions 0-8, rate 9, carry 10, work items
    11-13, scenarios 14-20, group offsets 21, quote index 22, first underlying 23, rules 24-35
    (the contract minimum, a scalar, 31; the grid rows 35), counts 36-42, the factors 43-44,
    flat rows and their underlyings 45-46, the linear positions' size, underlying and spot
    47-49.
    """
    f, i, s, b, lay = floats, ints, smalls, flags, layout
    positions = (_one(i, lay, 0), _one(s, lay, 1), _one(f, lay, 2), _one(f, lay, 3),
                 _one(f, lay, 4), _one(f, lay, 5), _one(s, lay, 6), _one(s, lay, 7),
                 _one(f, lay, 8))
    items = (_one(i, lay, 11), _one(i, lay, 12), _one(i, lay, 13))
    scenarios = (_two(f, lay, 14), _two(f, lay, 15), _two(f, lay, 16), _two(s, lay, 17),
                 _two(f, lay, 18), _one(f, lay, 19), _two(i, lay, 20))
    rules = (_two(f, lay, 24), _two(b, lay, 25), _two(f, lay, 26), _one(f, lay, 27),
             _one(f, lay, 28), _one(b, lay, 29), _one(f, lay, 30), f[lay[31, 0]],
             _one(f, lay, 32), _one(f, lay, 33), _one(f, lay, 34), _one(i, lay, 35))
    counts = (_one(f, lay, 36), _one(f, lay, 37), _one(f, lay, 38), _one(f, lay, 39),
              _one(f, lay, 40), _one(f, lay, 41), _one(f, lay, 42))
    return (positions, _one(f, lay, 9), _one(f, lay, 10), items, scenarios, _one(i, lay, 21),
            _one(i, lay, 22), _one(i, lay, 23), rules, counts, f[lay[43, 0]], f[lay[44, 0]],
            _one(i, lay, 45), _one(i, lay, 46), _one(f, lay, 47), _one(i, lay, 48),
            _one(f, lay, 49))


@scalar_jit
def tick_moved(spot, vol, floats, ints, smalls, flags, layout):  # type: ignore[no-untyped-def]
    """Run a small book's whole tick from the new spots and (optional) flat vols.

    ``(ok, initial, maintenance, book value, variation)`` for the book packed in a
    :class:`TickPack`: :func:`tick_margins` at ``spot`` with the flat vols moved to ``vol``
    (:func:`moved_vols`; an empty ``vol`` keeps the evaluated vols), and
    :func:`linear_variation`. ``ok`` is False, and nothing else is computed, when a spot is
    outside (0, MAX_SPOT], a vol outside [0, MAX_VOL] and not NaN, a flat vol NaN, or the margin
    not finite: the caller's checked path names the culprit (the same checks as
    ``model.market.checked_moves``).
    """
    (position_fields, rate, carry, item_fields, scenario_fields, group_offsets, quote_index,
     first_underlying, rule_fields, count_fields, mm_factor, im_over_mm, flat_rows,
     flat_underlying, linear_size, linear_underlying, linear_spot) = unpack_tick(
        floats, ints, smalls, flags, layout)
    for u in range(spot.shape[0]):
        if not (spot[u] > 0.0 and spot[u] <= MAX_SPOT):
            return False, math.nan, math.nan, math.nan, math.nan
    fields = position_fields
    if vol.shape[0] > 0:
        for u in range(vol.shape[0]):
            if not (vol[u] != vol[u] or (vol[u] >= 0.0 and vol[u] <= MAX_VOL)):
                return False, math.nan, math.nan, math.nan, math.nan
        new_vol, bad = moved_vols(position_fields[VOL_FIELD], flat_rows, flat_underlying, vol)
        if bad >= 0:
            return False, math.nan, math.nan, math.nan, math.nan
        fields = position_fields[:VOL_FIELD] + (new_vol,) + position_fields[AFTER_VOL:]
    initial, maintenance, book_value = tick_margins(
        fields, (spot, rate, carry), item_fields, scenario_fields, group_offsets, quote_index,
        first_underlying, rule_fields, count_fields, mm_factor, im_over_mm)
    if not math.isfinite(initial):
        return False, math.nan, math.nan, math.nan, math.nan
    return (True, initial, maintenance, book_value,
            linear_variation(linear_size, linear_underlying, linear_spot, spot))
