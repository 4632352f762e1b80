"""Partial liquidation that closes the least it must, and the margin-minimising hedge.

:func:`liquidate` restores an account in breach at least cost. By default (``method="optimal"``)
it chooses how many whole lots of every position to close at once, as an integer program
(``scipy.optimize.milp``, HiGHS): the margin after closing is the methodology's reduction
written as linear constraints (each group's requirement at least its weighted loss at every
scenario, at least each per-contract minimum; roll shocks linear in what remains), equity after
closing is the equity less the closing costs (the half spread linear in what is closed, price
impact convex and cut by tangents), and the objective is the total cost, so positions whose
closing does not help stay open. The chosen closes are then checked with the exact compiled
reduction and costs (a tangent cut under-states the impact a little: the program is re-solved
with the shortfall as slack until the exact numbers hold, and lots the exact rules do not need
are given back one at a time); when nothing less restores the account, everything is closed and
the result says so. Deribit's extended-table dampener is linear in the positions and enters the
program exactly (``kernels._margin.dampening``).

``method="greedy"`` is the earlier heuristic, kept for comparison: at each step every open
position is scored by the margin its full closing releases;
those releasing at least ``min_release_share`` (default half) of the best release compete on
margin released per unit of liquidation cost; the winner is closed by the smallest fraction that
makes the account meet its target (found by bisection), or fully if that is not enough, and the
search repeats. Closing at mid converts a position's value into cash, so
equity falls only by the cost. A sudden loss on one position therefore closes that position, not
unrelated healthy ones: they release little or no margin.

:func:`minimise_margin` finds the quantity of one or a few hedge instruments that minimises the
initial margin (``scipy.optimize``), through the account's cached what-if.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import optimize

from ..enums import OptionKind
from ..errors import InputError
from ..kernels import _margin
from ..kernels._margin import Counts
from ..margin.rules import GroupFacts
from ..measures.revalue import position_values
from ..model.book import Book
from .account import AccountState, PreparedOrder, State, _Held, refuse_spreads

__all__ = ["SpreadCost", "LiquidationStep", "LiquidationResult", "liquidate", "HedgeResult",
           "minimise_margin", "LotHedge", "best_hedge"]

BISECTION_STEPS = 60


@dataclass(frozen=True, slots=True)
class SpreadCost:
    """Liquidation cost model: half the bid-ask spread plus linear price impact.

    Closing ``q`` units (``q x multiplier`` underlying units) of a position costs
    ``option_half_spread x |value closed|`` for options (at least ``min_option_cost`` per contract
    closed) or ``linear_half_spread x |notional closed|`` for linear instruments, plus
    ``impact x |notional closed|^2 / 1e6`` (impact per million of notional).
    """

    option_half_spread: float = 0.02
    linear_half_spread: float = 0.0005
    min_option_cost: float = 0.0
    impact: float = 0.0

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        for name in ("option_half_spread", "linear_half_spread", "min_option_cost", "impact"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"SpreadCost.{name} must be >= 0 and finite; got {value!r}")

    def __call__(self, kind: int, contracts: float, value: float, notional: float) -> float:
        """Cost of closing ``contracts`` (>= 0) worth ``value`` with underlying ``notional``."""
        if kind == OptionKind.LINEAR:
            spread = self.linear_half_spread * abs(notional)
        else:
            spread = max(self.option_half_spread * abs(value), self.min_option_cost * contracts)
        return spread + self.impact * notional * notional / 1e6


@dataclass(frozen=True, slots=True)
class LiquidationStep:
    """One closing: which position, how much, at what cost, margins before and after."""

    position_id: str
    fraction: float  # of the original position
    quantity: float  # signed quantity closed (the opposite trade's size)
    cost: float
    equity_after: float
    target_before: float
    target_after: float
    hedge: bool = False  # a hedging instrument traded (quantity = signed units), not a close


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """All steps, the final numbers, and whether the account met its target."""

    steps: tuple[LiquidationStep, ...]
    equity: float
    initial: float
    maintenance: float
    state: State
    restored: bool
    total_cost: float
    method: str = "greedy"
    reason: str = ""

    @property
    def closed(self) -> dict[str, float]:
        """Fraction closed per position id."""
        out: dict[str, float] = {}
        for step in self.steps:
            if not step.hedge:
                out[step.position_id] = out.get(step.position_id, 0.0) + step.fraction
        return out

    @property
    def hedges(self) -> dict[str, float]:
        """Units of each hedging instrument traded (signed: > 0 bought)."""
        return {s.position_id: s.quantity for s in self.steps if s.hedge}


def liquidate(state: AccountState, cost: Callable[[int, float, float, float], float] | None = None,
              *, target: Literal["maintenance", "initial"] = "maintenance",
              method: Literal["optimal", "greedy"] = "optimal",
              lot: float | Mapping[str, float] = 1.0,
              hedges: Book | None = None, hedge_bounds: Sequence[tuple[int, int]] = (),
              min_release_share: float = 0.5, max_steps: int = 1000) -> LiquidationResult:
    """Close the least needed to bring ``state`` back to its ``target`` margin.

    Parameters
    ----------
    state : AccountState
        An evaluated account (any state; a healthy one is returned untouched).
    cost : callable, optional
        ``cost(kind, contracts, value, notional)`` of closing; default :class:`SpreadCost`.
    target : {"maintenance", "initial"}
        Stop when equity covers the maintenance margin (out of liquidation) or the initial
        margin (healthy).
    method : {"optimal", "greedy"}
        The least-cost closes in whole lots (integer program, the default), or the greedy
        heuristic in fractions of positions.
    lot : float or mapping of str to float
        Lot size in quantity units, one for all or per position id (``optimal`` only; a
        position that is not a whole number of lots may also close its odd remainder).
    hedges, hedge_bounds : Book and sequence of (int, int), optional
        Hedging instruments the venue allows (one unit each, on groups the account holds) and
        the whole units each may be sold (low <= 0) or bought (high >= 0): the program may
        trade them beside the closes when that is cheaper (``optimal`` only); they are
        reported as steps with ``hedge=True`` and in :attr:`LiquidationResult.hedges`.
    min_release_share : float
        ``optimal``: only the groups whose whole closing releases at least this share of the
        best group's release may be closed, unless they cannot restore the account (then every
        group; the result's ``reason`` says so); 0 lets the cheapest closes anywhere win, which
        may close healthy, unrelated positions. ``greedy``: only positions whose full closing
        releases at least this share of the best single release compete on release per cost
        (0: pure release per cost; 1: always the largest release).
    """
    refuse_spreads(state, "liquidate")
    if not (0.0 <= min_release_share <= 1.0):
        raise InputError(f"min_release_share must be in [0, 1]; got {min_release_share!r}")
    if target not in ("maintenance", "initial"):
        raise InputError(f"target must be 'maintenance' or 'initial'; got {target!r}")
    if method not in ("optimal", "greedy"):
        raise InputError(f"method must be 'optimal' or 'greedy'; got {method!r}")
    model = cost if cost is not None else SpreadCost()
    if method == "optimal":
        return _optimal(state, model, target, lot, min_release_share, hedges, hedge_bounds)
    if hedges is not None:
        raise InputError("hedging instruments need method='optimal'")
    pnl = state.pnl
    assert pnl.position_values is not None and pnl.position_group is not None
    book = state.account.book
    positions = pnl.position_values  # (n, scenarios), Book row order
    group = pnl.position_group
    n = book.n_positions
    resolved = state.resolved
    value_sorted = position_values(state.resolved)
    value = np.empty(n)
    value[resolved.order] = value_sorted
    to_quote = state.facts.to_quote[group]
    value = value * to_quote
    spot = state.market.spot[[state.market.underlyings.index(u) for u in book.underlying.tolist()]]
    notional = book.quantity * book.multiplier * spot
    contracts = np.abs(book.quantity) * book.multiplier
    remaining = np.ones(n)
    values = pnl.values.copy()
    facts = state.facts
    equity = state.equity

    def margins(v: np.ndarray, f: GroupFacts) -> tuple[float, float]:
        return state._margins(v, f)

    def without(i: int, fraction: float) -> tuple[np.ndarray, GroupFacts]:
        v = values.copy()
        v[group[i]] -= fraction * positions[i]
        closed = facts.position(int(group[i]), int(book.kind[i]), float(book.quantity[i]),
                                float(book.multiplier[i]))
        return v, facts.plus(closed.scaled(-fraction))

    def cost_of(i: int, fraction: float) -> float:
        return float(model(int(book.kind[i]), fraction * contracts[i], fraction * value[i],
                           fraction * notional[i]))

    def goal(initial: float, maintenance: float) -> float:
        return maintenance if target == "maintenance" else initial

    initial, maintenance = margins(values, facts)
    steps: list[LiquidationStep] = []
    while equity < goal(initial, maintenance) and len(steps) < max_steps:
        now = goal(initial, maintenance)
        open_rows = np.flatnonzero(remaining > 1e-12)
        released = np.empty(open_rows.size)
        costs = np.empty(open_rows.size)
        for k, row in enumerate(open_rows.tolist()):
            v, f = without(row, remaining[row])
            released[k] = now - goal(*margins(v, f))
            costs[k] = cost_of(row, remaining[row])
        if open_rows.size == 0 or released.max() <= 0:
            break  # nothing left releases margin: the account cannot be restored by closing
        # the positions that carry the risk: those releasing at least min_release_share of the
        # best single release; among them, the most margin released per unit of cost
        eligible = released >= min_release_share * released.max()
        score = np.where(eligible, released / np.maximum(costs, 1e-12), -np.inf)
        i = int(open_rows[int(np.argmax(score))])

        def shortfall(fraction: float, i: int = i, equity: float = equity) -> float:
            v, f = without(i, fraction)
            return goal(*margins(v, f)) - (equity - cost_of(i, fraction))

        full = remaining[i]
        if shortfall(full) > 0:
            fraction = full
        else:
            lo, hi = 0.0, full
            for _ in range(BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                if shortfall(mid) > 0:
                    lo = mid
                else:
                    hi = mid
            fraction = hi
        c = cost_of(i, fraction)
        values, facts = without(i, fraction)
        remaining[i] -= fraction
        equity -= c
        initial, maintenance = margins(values, facts)
        steps.append(LiquidationStep(str(book.position_id[i]), fraction,
                                     -fraction * float(book.quantity[i]), c, equity, now,
                                     goal(initial, maintenance)))
    state_after = _state_of(equity, initial, maintenance)
    return LiquidationResult(tuple(steps), equity, initial, maintenance, state_after,
                             equity >= goal(initial, maintenance), sum(s.cost for s in steps),
                             "greedy")


def _closing_inputs(state: AccountState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per position (book order): value now and underlying notional (quote currency), contracts."""
    book = state.account.book
    pnl = state.pnl
    assert pnl.position_group is not None
    resolved = state.resolved
    value = np.empty(book.n_positions)
    value[resolved.order] = position_values(resolved)
    value = value * state.facts.to_quote[pnl.position_group]
    spot = state.market.spot[[state.market.underlyings.index(u) for u in book.underlying.tolist()]]
    return value, book.quantity * book.multiplier * spot, np.abs(book.quantity) * book.multiplier


TANGENTS = 24


def _optimal(state: AccountState, model: Callable[[int, float, float, float], float],
             target: str, lot: float | Mapping[str, float], min_release_share: float,
             hedges: Book | None = None, hedge_bounds: Sequence[tuple[int, int]] = ()
             ) -> LiquidationResult:
    """Least-cost closes in whole lots (see the module docstring)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    book = state.account.book
    pnl = state.pnl
    assert pnl.position_values is not None and pnl.position_group is not None
    positions, group = pnl.position_values, pnl.position_group
    n, (n_groups, n_scen) = book.n_positions, pnl.values.shape
    facts, arrays = state.facts, state.rules_arrays.arrays
    equity = float(state.equity)
    im_over_mm = state.account.im_over_mm
    mm = state.rules_arrays.mm_factor
    k = mm if target == "maintenance" else (im_over_mm * mm if im_over_mm else 1.0)

    def goal(initial: float, maintenance: float) -> float:
        return maintenance if target == "maintenance" else initial

    initial0, maintenance0 = state._margins(pnl.values, facts)
    if equity >= goal(initial0, maintenance0):
        return LiquidationResult((), equity, initial0, maintenance0,
                                 _state_of(equity, initial0, maintenance0), True, 0.0, "optimal")
    ids = [str(x) for x in book.position_id.tolist()]
    size = np.array([float(lot.get(i, 1.0)) if isinstance(lot, Mapping) else float(lot)
                     for i in ids])
    if not np.all(np.isfinite(size) & (size > 0)):
        raise InputError(f"lot sizes must be > 0 and finite; got {lot!r}")
    qty = np.abs(book.quantity).astype(float)
    lots = np.floor(qty / size + 1e-9)
    remainder = np.where(qty - lots * size > 1e-9 * np.maximum(qty, 1.0), qty - lots * size, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_lot = np.where(qty > 0, size / qty, 0.0)  # fraction of a position per lot
        per_rest = np.where(qty > 0, remainder / qty, 0.0)
    value, notional, contracts = _closing_inputs(state)
    kinds = book.kind.astype(int)

    def cost_of(i: int, fraction: float) -> float:
        if fraction <= 0:
            return 0.0
        return float(model(int(kinds[i]), fraction * contracts[i], fraction * value[i],
                           fraction * notional[i]))

    if isinstance(model, SpreadCost):
        linear_model = replace(model, impact=0.0)
        linear = np.array([linear_model(int(kinds[i]), contracts[i], value[i], notional[i])
                           for i in range(n)])
        curve = model.impact * notional**2 / 1e6  # cost = linear f + curve f^2
    else:  # a custom cost: linear in the fraction closed at its full-close value, checked exactly
        linear = np.array([cost_of(i, 1.0) for i in range(n)])
        curve = np.zeros(n)
    one = [facts.position(int(group[i]), int(kinds[i]), float(book.quantity[i]),
                          float(book.multiplier[i])) for i in range(n)]
    contract_count = np.array([one[i].option_contracts[group[i]] for i in range(n)])
    short_calls = np.array([one[i].counts.short_call_quantity[group[i]] for i in range(n)])
    short_puts = np.array([one[i].counts.short_put_quantity[group[i]] for i in range(n)])
    linear_count = np.array([one[i].linear_notional[group[i]] for i in range(n)])
    to_quote = facts.to_quote
    hedge = _HedgeBlock.of(state, hedges, hedge_bounds, model)
    n_h = hedge.n

    def exact(fraction: np.ndarray, traded: np.ndarray | None = None
              ) -> tuple[float, float, float]:
        values = pnl.values.copy()
        np.add.at(values, group, -fraction[:, None] * positions)
        after = facts
        for i in np.flatnonzero(fraction > 0):
            after = after.plus(one[i].scaled(-float(fraction[i])))
        spent = sum(cost_of(i, float(fraction[i])) for i in range(n))
        if traded is not None and np.any(traded):
            values = values + np.tensordot(traded, hedge.group_pnl, axes=1)
            for h in np.flatnonzero(traded):
                after = after.plus(hedge.orders[h].facts.traded(float(traded[h])))
            spent += hedge.cost(traded)
        initial, maintenance = state._margins(values, after)
        return initial, maintenance, spent

    # variables: x (lots, n), z (remainder, n), t (requirement per group), e (impact, n),
    # l (liquidity per group), then the hedges: bought, sold, impact (n_h each)
    nx = 3 * n + 2 * n_groups + 3 * n_h
    xs, zs, ts, es = 0, n, 2 * n, 2 * n + n_groups
    ls = es + n  # the liquidity add-on of each group (convex in the size left: tangent cuts)
    hb = ls + n_groups
    hs, he = hb + n_h, hb + 2 * n_h
    rows: list[np.ndarray] = []
    low: list[float] = []
    high: list[float] = []

    def add(row: np.ndarray, lo: float, hi: float) -> None:
        rows.append(row)
        low.append(lo)
        high.append(hi)

    def fraction_row(weights: np.ndarray, members: np.ndarray) -> np.ndarray:
        row = np.zeros(nx)
        row[xs + members] = weights * per_lot[members]
        row[zs + members] = weights * per_rest[members]
        return row

    weight = state.rules_arrays.weight_by_group()
    credit = _margin.dampening(state.rules_arrays.fields, facts.spot)
    for g in range(n_groups):
        members = np.flatnonzero(group == g)
        for j in range(n_scen):
            # t_g >= -w (V_gj - sum_i f_i P_ij) - credit_gj: the weighted (dampened) loss of
            # what remains (kernels._margin.dampening)
            row = fraction_row(-weight[g, j] * positions[members, j], members)
            row[ts + g] = 1.0
            if n_h:  # a hedge bought adds its P&L, sold subtracts it
                row[hb:hb + n_h] = weight[g, j] * hedge.group_pnl[:, g, j]
                row[hs:hs + n_h] = -weight[g, j] * hedge.group_pnl[:, g, j]
            add(row, -weight[g, j] * pnl.values[g, j] - credit[g, j], np.inf)
        for rate, count, total, bought, sold in (
                (arrays.contract_minimum, contract_count, facts.option_contracts,
                 hedge.count("option_contracts", g), hedge.count("option_contracts", g)),
                # CME's SOM: short calls or short puts, whichever more: one row for each side
                (float(arrays.short_option_minimum[g]), short_calls, facts.counts.short_call_quantity,
                 hedge.count("short_call_quantity", g), hedge.count("long_call_quantity", g)),
                (float(arrays.short_option_minimum[g]), short_puts, facts.counts.short_put_quantity,
                 hedge.count("short_put_quantity", g), hedge.count("long_put_quantity", g))):
            if rate > 0:
                row = fraction_row(rate * count[members], members)
                row[ts + g] = 1.0
                row[hb:hb + n_h] = -rate * bought
                row[hs:hs + n_h] = -rate * sold
                add(row, rate * total[g], np.inf)
    units = contract_count + linear_count  # underlying units of each position
    for g in range(n_groups):
        rate = float(arrays.liquidity_rate[g])
        if rate <= 0:
            continue
        members = np.flatnonzero(group == g)
        a = rate * (1.0 if arrays.coin_group[g] else float(facts.spot[g]))
        size_now = float(facts.option_contracts[g] + facts.linear_notional[g])
        volume = float(arrays.daily_volume[g])
        hedge_units = hedge.count("option_contracts", g) + hedge.count("linear_notional", g)
        row = fraction_row(a * units[members], members)
        row[ls + g] = 1.0
        row[hb:hb + n_h] = row[hs:hs + n_h] = -a * hedge_units
        add(row, a * size_now, np.inf)  # l_g >= a N(f, hedges)
        largest = size_now + float((hedge.most * hedge_units).sum())
        if largest > volume:  # l_g >= a N^2 / volume, cut by tangents at N_k
            for point in np.linspace(volume, largest, TANGENTS):
                row = fraction_row(2.0 * a * point / volume * units[members], members)
                row[ls + g] = 1.0
                row[hb:hb + n_h] = row[hs:hs + n_h] = -2.0 * a * point / volume * hedge_units
                add(row, a * (2.0 * point * size_now - point**2) / volume, np.inf)
    roll = arrays.roll_rate * to_quote
    budget = np.zeros(nx)
    budget[ts:ts + n_groups] = k * to_quote
    budget[ls:ls + n_groups] = k * to_quote
    budget += fraction_row(linear - k * roll[group] * linear_count, np.arange(n))
    budget[es:es + n] = 1.0
    if n_h:  # a hedge unit costs its spread and adds its roll shock
        per_unit = hedge.linear + k * (hedge.counts["linear_notional"] * roll[None, :]).sum(axis=1)
        budget[hb:hb + n_h] = budget[hs:hs + n_h] = per_unit
        budget[he:he + n_h] = 1.0
        for h in (int(i) for i in np.flatnonzero(hedge.curve > 0)):
            for point in np.linspace(1.0, max(float(hedge.most[h]), 1.0), TANGENTS):
                row = np.zeros(nx)
                row[hb + h] = row[hs + h] = -2.0 * hedge.curve[h] * point
                row[he + h] = 1.0
                add(row, -hedge.curve[h] * point**2, np.inf)
    fixed = k * float((roll * facts.linear_notional).sum())
    for i in np.flatnonzero(curve > 0):
        for point in np.linspace(1.0 / TANGENTS, 1.0, TANGENTS):
            row = fraction_row(np.array([-2.0 * curve[i] * point]), np.array([i]))
            row[es + i] = 1.0
            add(row, -curve[i] * point**2, np.inf)
    objective = budget.copy()
    objective[ts:ts + n_groups] = 0.0
    objective[ls:ls + n_groups] = 0.0
    objective += fraction_row(np.full(n, 1e-9 * max(float(np.abs(linear).max(initial=0.0)), 1.0)),
                              np.arange(n))  # ties: touch fewer positions
    integrality = np.zeros(nx)
    integrality[:2 * n] = 1
    integrality[hb:hb + 2 * n_h] = 1
    upper = np.concatenate([lots, (remainder > 0).astype(float), np.full(n_groups, np.inf),
                            np.where(curve > 0, np.inf, 0.0), np.full(n_groups, np.inf),
                            hedge.high, hedge.low, np.where(hedge.curve > 0, np.inf, 0.0)])
    # the groups that carry the breach: closing the whole group releases at least
    # min_release_share of the best group's release; other groups are touched only when these
    # cannot restore the account (and the result says so)
    now = goal(initial0, maintenance0)
    release = np.empty(n_groups)
    for g in range(n_groups):
        members = (group == g).astype(float)
        after_i, after_m, _ = exact(members)
        release[g] = now - goal(after_i, after_m)
    eligible = release >= max(min_release_share * float(release.max()), 1e-12)
    tiers = [eligible, np.ones(n_groups, bool)] if not eligible.all() else [eligible]
    slack = 0.0
    fraction = np.ones(n)
    traded = np.zeros(n_h)
    reason = ""
    tier = 0
    for _ in range(6 + len(tiers)):
        allowed = tiers[tier][group]
        bound = upper.copy()
        bound[xs:xs + n] = np.where(allowed, upper[xs:xs + n], 0.0)
        bound[zs:zs + n] = np.where(allowed, upper[zs:zs + n], 0.0)
        solved = milp(objective, integrality=integrality, bounds=Bounds(np.zeros(nx), bound),
                      constraints=[LinearConstraint(np.array(rows), low, high),
                                   LinearConstraint(budget[None, :], -np.inf,
                                                    equity - fixed - slack)])
        if (solved.status == 2 or solved.x is None) and tier + 1 < len(tiers):
            tier += 1
            reason = ("the groups carrying the breach cannot restore the account alone; other"
                      " groups were closed too")
            continue
        if solved.status == 2 or solved.x is None:  # infeasible: nothing less than everything
            fraction, traded = np.ones(n), np.zeros(n_h)
            reason = "nothing short of closing every position restores the account"
            break
        x = np.round(solved.x)
        amount = size * x[xs:xs + n] + remainder * x[zs:zs + n]
        fraction = np.where(np.abs(amount - qty) <= 1e-9 * np.maximum(qty, 1.0), 1.0,
                            amount / np.where(qty > 0, qty, 1.0))
        traded = x[hb:hb + n_h] - x[hs:hs + n_h]
        initial, maintenance, spent = exact(fraction, traded)
        gap = goal(initial, maintenance) - (equity - spent)
        if gap <= 1e-9 * max(abs(equity), 1.0):
            break
        slack += gap + 1e-9 * max(abs(equity), 1.0)  # the exact rules need a little more
    else:
        fraction, traded = np.ones(n), np.zeros(n_h)
        reason = "the exact margin was not met by the optimised closes; closing everything"

    def meets(f: np.ndarray, q: np.ndarray | None = None) -> bool:
        initial, maintenance, spent = exact(f, traded if q is None else q)
        return equity - spent >= goal(initial, maintenance) - 1e-9 * max(abs(equity), 1.0)

    if not reason.startswith(("nothing", "the exact")):  # give back lots not needed, dearest first
        changed = True
        while changed:
            changed = False
            for i in sorted(np.flatnonzero(fraction > 0), key=lambda i: -linear[i] * per_lot[i]):
                closed = fraction[i] * qty[i]
                odd = remainder[i] > 0 and abs(closed / size[i] - round(closed / size[i])) > 1e-9
                less = max(closed - (remainder[i] if odd else size[i]), 0.0)
                trial = fraction.copy()
                trial[i] = less / qty[i]
                if meets(trial):
                    fraction, changed = trial, True
            for h in (int(x) for x in np.flatnonzero(traded)):  # hedge units not needed
                fewer = traded.copy()
                fewer[h] -= np.sign(fewer[h])
                if meets(fraction, fewer):
                    traded, changed = fewer, True
    return _steps(state, fraction, exact, cost_of, goal, equity, reason, hedge, traded)


def _steps(state: AccountState, fraction: np.ndarray,
           exact: Callable[..., tuple[float, float, float]],
           cost_of: Callable[[int, float], float], goal: Callable[[float, float], float],
           equity: float, reason: str, hedge: _HedgeBlock | None = None,
           traded: np.ndarray | None = None) -> LiquidationResult:
    """Report the chosen closes as steps, the most margin released per cost first."""
    book = state.account.book
    initial, maintenance, _ = exact(np.zeros_like(fraction))
    now = goal(initial, maintenance)
    closing = [int(i) for i in np.flatnonzero(fraction > 0)]
    score = []
    for i in closing:
        alone = np.zeros_like(fraction)
        alone[i] = fraction[i]
        after_i, after_m, c = exact(alone)
        score.append((now - goal(after_i, after_m)) / max(c, 1e-12))
    order = [closing[int(k)] for k in np.argsort(-np.array(score), kind="stable")]
    applied = np.zeros_like(fraction)
    steps = []
    spent = 0.0
    for i in order:
        before = goal(*exact(applied)[:2])
        applied[i] = fraction[i]
        c = cost_of(i, float(fraction[i]))
        spent += c
        initial, maintenance, _ = exact(applied)
        closed = float(fraction[i]) * float(book.quantity[i])
        closed = round(closed, 9) if abs(closed - round(closed, 9)) < 1e-9 else closed
        steps.append(LiquidationStep(str(book.position_id[i]), float(fraction[i]), -closed, c,
                                     equity - spent, before, goal(initial, maintenance)))
    hedged = np.zeros(0) if traded is None else traded
    done = np.zeros_like(hedged)
    for h in (int(i) for i in np.flatnonzero(hedged)):  # then the hedges traded, in order
        assert hedge is not None
        before = goal(*exact(applied, done)[:2])
        done[h] = hedged[h]
        one = np.zeros_like(hedged)
        one[h] = hedged[h]
        c = hedge.cost(one)
        spent += c
        initial, maintenance, _ = exact(applied, done)
        steps.append(LiquidationStep(str(hedge.ids[h]), 0.0, float(hedged[h]), c,
                                     equity - spent, before, goal(initial, maintenance), True))
    final = equity - spent
    return LiquidationResult(tuple(steps), final, initial, maintenance,
                             _state_of(final, initial, maintenance),
                             final >= goal(initial, maintenance) - 1e-9 * max(abs(equity), 1.0),
                             spent, "optimal", reason)


@dataclass(frozen=True, slots=True)
class _HedgeBlock:
    """Hedging instruments the liquidation may trade: each unit's P&L, counts and cost."""

    ids: tuple[str, ...]
    orders: tuple[PreparedOrder, ...]
    group_pnl: np.ndarray  # (n, groups, scenarios) per unit
    counts: dict[str, np.ndarray]  # name -> (n, groups) per unit
    linear: np.ndarray  # cost per unit traded (spread)
    curve: np.ndarray  # impact per unit squared
    high: np.ndarray  # units that may be bought
    low: np.ndarray  # units that may be sold
    model: Callable[[int, float, float, float], float]
    unit: np.ndarray  # (n, 4): kind, contracts, value, notional of one unit

    @property
    def n(self) -> int:
        """Number of hedging instruments."""
        return len(self.ids)

    @property
    def most(self) -> np.ndarray:
        """The largest number of units each may trade either way."""
        return np.maximum(self.high, self.low)

    def count(self, name: str, g: int) -> np.ndarray:
        """Per unit of each instrument: what add-on ``name`` counts in group ``g``."""
        return self.counts[name][:, g] if self.n else np.zeros(0)

    def cost(self, traded: np.ndarray) -> float:
        """Price trading ``traded`` units of each (the exact cost model)."""
        return sum(float(self.model(int(self.unit[h, 0]), abs(q) * self.unit[h, 1],
                                    abs(q) * self.unit[h, 2], abs(q) * self.unit[h, 3]))
                   for h, q in enumerate(traded) if q)

    @classmethod
    def of(cls, state: AccountState, hedges: Book | None,
           bounds: Sequence[tuple[int, int]],
           model: Callable[[int, float, float, float], float]) -> _HedgeBlock:
        """Prepare the instruments (one unit each in ``hedges``) on the account's groups."""
        empty = np.zeros(0)
        if hedges is None or hedges.n_positions == 0:
            return cls((), (), np.zeros((0, *state.pnl.values.shape)), {}, empty, empty, empty,
                       empty, model, np.zeros((0, 4)))
        if len(bounds) != hedges.n_positions:
            raise InputError(f"one (low, high) bound per hedging instrument; got {len(bounds)}"
                             f" for {hedges.n_positions}")
        for lo, hi in bounds:
            if not (float(lo).is_integer() and float(hi).is_integer() and lo <= 0 <= hi):
                raise InputError(f"hedge bounds must be whole units with low <= 0 <= high; got"
                                 f" {(lo, hi)}")
        orders = tuple(state.prepare_order(hedges.take(np.array([h])))
                       for h in range(hedges.n_positions))
        market = state.market
        spot = market.spot[[market.index_of(u) for u in hedges.underlying.tolist()]]
        unit = np.column_stack([hedges.kind.astype(float),
                                np.abs(hedges.quantity) * hedges.multiplier,
                                np.array([o.value for o in orders]),
                                hedges.quantity * hedges.multiplier * spot])
        if isinstance(model, SpreadCost):
            flat = replace(model, impact=0.0)
            linear = np.array([flat(int(k), c, v, x) for k, c, v, x in unit])
            curve = model.impact * unit[:, 3] ** 2 / 1e6
        else:
            linear = np.array([model(int(k), c, v, x) for k, c, v, x in unit])
            curve = np.zeros(len(orders))
        counts = {name: np.stack([getattr(o.facts.counts, name) for o in orders])
                  for name in Counts._fields}
        return cls(tuple(str(i) for i in hedges.position_id.tolist()), orders,
                   np.stack([o.group_pnl for o in orders]), counts, linear, curve,
                   np.array([hi for _, hi in bounds], float),
                   np.array([-lo for lo, _ in bounds], float), model, unit)


def _state_of(equity: float, initial: float, maintenance: float) -> State:
    if equity >= initial:
        return State.HEALTHY
    return State.MARGIN_CALL if equity >= maintenance else State.LIQUIDATION


@dataclass(frozen=True, slots=True)
class HedgeResult:
    """The margin-minimising hedge: quantities (one per candidate) and the margins."""

    quantity: np.ndarray
    initial_before: float
    initial_after: float

    @property
    def saved(self) -> float:
        """Initial margin released by the hedge."""
        return self.initial_before - self.initial_after


def minimise_margin(state: AccountState, candidates: Book,
                    bounds: Sequence[tuple[float, float]]) -> HedgeResult:
    """Quantities of the ``candidates`` (one unit each in the Book) minimising initial margin.

    One candidate: bounded scalar minimisation (Brent) of the margin as a function of quantity;
    several: Powell's method within ``bounds``. The margin is piecewise smooth in the
    quantities, so the result is a local minimum; a coarse grid scan seeds it.
    """
    if candidates.n_positions != len(bounds):
        raise InputError(f"one (low, high) bound per candidate; got {len(bounds)} for"
                         f" {candidates.n_positions} candidates")
    for (lo, hi) in bounds:
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"bounds must be finite with low < high; got {(lo, hi)}")
    orders = [state.prepare_order(candidates.take(np.array([k])))
              for k in range(candidates.n_positions)]

    def margin(q: np.ndarray) -> float:
        if len(orders) == 1:
            return state.check(orders[0], float(q[0]))[1]
        total = _combine(orders, q)
        return state.check(total, 1.0)[1]

    before = state.initial
    if len(orders) == 1:
        lo, hi = bounds[0]
        grid = np.linspace(lo, hi, 41)
        values = [margin(np.array([x])) for x in grid]
        k = int(np.argmin(values))
        a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
        res = optimize.minimize_scalar(lambda x: margin(np.array([x])), bounds=(a, b),
                                       method="bounded", options={"xatol": 1e-6 * (hi - lo)})
        q = np.array([res.x if res.fun <= values[k] else grid[k]])
    else:
        start = np.array([0.5 * (lo + hi) for lo, hi in bounds])
        res = optimize.minimize(margin, start, method="Powell", bounds=list(bounds))
        q = np.asarray(res.x, dtype=float)
    after = margin(q)
    if after > before:  # never recommend a hedge that raises the margin
        q, after = np.zeros(len(orders)), before
    return HedgeResult(q, before, after)


def _combine(orders: Sequence[PreparedOrder], q: np.ndarray) -> PreparedOrder:
    group_pnl = sum((x * o.group_pnl for x, o in zip(q, orders, strict=True)),
                    np.zeros_like(orders[0].group_pnl))
    facts = orders[0].facts.scaled(0.0)
    for x, o in zip(q, orders, strict=True):
        facts = facts.plus(o.facts.traded(x))
    held = _Held.combined([(float(x), o.held) for x, o in zip(q, orders, strict=True)
                           if o.held is not None])
    return PreparedOrder(orders[0].legs, group_pnl, orders[0].leg_pnl, orders[0].leg_group,
                         orders[0].leg_value, facts, 0.0, orders[0].leg_held, held)


@dataclass(frozen=True, slots=True)
class LotHedge:
    """The whole-lot hedge that minimises initial margin plus its own cost.

    ``quantity[k]`` signed units of candidate ``k`` (its Book row, quantity 1 = one unit);
    ``cost`` what trading them costs; ``initial_after`` the initial margin with them.
    """

    quantity: np.ndarray
    initial_before: float
    initial_after: float
    cost: float

    @property
    def saved(self) -> float:
        """Initial margin released, net of the hedge's cost."""
        return self.initial_before - self.initial_after - self.cost


def best_hedge(state: AccountState, candidates: Book, bounds: Sequence[tuple[int, int]],
               cost: Callable[[int, float, float, float], float] | None = None) -> LotHedge:
    """Whole units of the ``candidates`` that minimise initial margin + the hedge's cost.

    One integer program (``milp``): each candidate's quantity ``q_k = b_k - s_k`` (bought and
    sold units, integers within ``bounds``); the initial margin after trading them is the
    methodology's reduction written as linear constraints (as in :func:`liquidate`: weighted
    losses at every scenario with Deribit's dampener, per-contract minimums counting every
    contract traded, the short-option minimum the units sold, roll shocks); the cost is linear
    (``SpreadCost``'s half spread; a custom ``cost`` at one unit) plus the price impact cut by
    tangents. The answer is checked with the exact compiled what-if, and no trade (all zeros)
    is returned when nothing beats it.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    refuse_spreads(state, "best_hedge")
    if candidates.n_positions != len(bounds):
        raise InputError(f"one (low, high) bound per candidate; got {len(bounds)} for"
                         f" {candidates.n_positions} candidates")
    for lo, hi in bounds:
        if not (float(lo).is_integer() and float(hi).is_integer() and lo <= 0 <= hi and lo < hi):
            raise InputError(f"bounds must be whole units with low <= 0 <= high; got {(lo, hi)}")
    model = cost if cost is not None else SpreadCost()
    hedge = _HedgeBlock.of(state, candidates, bounds, model)  # each unit's P&L, counts, cost
    orders, n_c = hedge.orders, hedge.n
    linear, curve, count = hedge.linear, hedge.curve, hedge.counts
    values, facts = state.pnl.values, state.facts
    arrays = state.rules_arrays.arrays
    n_groups, n_scen = values.shape
    im_over_mm = state.account.im_over_mm
    mm = state.rules_arrays.mm_factor
    k_init = im_over_mm * mm if im_over_mm else 1.0
    # variables: b (n_c), s (n_c), t (n_groups), e (n_c), l (n_groups: liquidity add-on)
    nb, ns, nt, ne = 0, n_c, 2 * n_c, 2 * n_c + n_groups
    nl = ne + n_c
    nx = 3 * n_c + 2 * n_groups
    rows: list[np.ndarray] = []
    low: list[float] = []
    credit = _margin.dampening(state.rules_arrays.fields, facts.spot)
    group_pnl = hedge.group_pnl  # (n_c, groups, scenarios)
    for g in range(n_groups):
        for j in range(n_scen):
            row = np.zeros(nx)
            w = arrays.weight[arrays.grid_row[g], j]
            row[nb:nb + n_c] = w * group_pnl[:, g, j]
            row[ns:ns + n_c] = -w * group_pnl[:, g, j]
            row[nt + g] = 1.0  # t_g >= -w (V + sum q O) - credit
            rows.append(row)
            low.append(-w * values[g, j] - credit[g, j])
        for rate, bought, sold, now in (
                (arrays.contract_minimum, count["option_contracts"][:, g],
                 count["option_contracts"][:, g], facts.option_contracts[g]),
                (float(arrays.short_option_minimum[g]), count["short_call_quantity"][:, g],
                 count["long_call_quantity"][:, g], facts.counts.short_call_quantity[g]),
                (float(arrays.short_option_minimum[g]), count["short_put_quantity"][:, g],
                 count["long_put_quantity"][:, g], facts.counts.short_put_quantity[g])):
            if rate > 0:
                row = np.zeros(nx)
                row[nb:nb + n_c] = -rate * bought
                row[ns:ns + n_c] = -rate * sold
                row[nt + g] = 1.0
                rows.append(row)
                low.append(rate * now)
    for k in (int(i) for i in np.flatnonzero(curve > 0)):
        for point in np.linspace(1.0, max(float(hedge.most[k]), 1.0), TANGENTS):
            row = np.zeros(nx)
            row[nb + k] = row[ns + k] = -2.0 * curve[k] * point
            row[ne + k] = 1.0
            rows.append(row)
            low.append(-curve[k] * point**2)
    to_quote = facts.to_quote
    roll = arrays.roll_rate * to_quote
    objective = np.zeros(nx)
    objective[nt:nt + n_groups] = k_init * to_quote
    lin_count = count["linear_notional"]
    objective[nb:nb + n_c] = linear + k_init * (lin_count * roll[None, :]).sum(axis=1)
    objective[ns:ns + n_c] = linear + k_init * (lin_count * roll[None, :]).sum(axis=1)
    objective[ne:ne + n_c] = 1.0
    units = count["option_contracts"] + count["linear_notional"]  # (n_c, groups) per unit
    most = hedge.most
    for g in range(n_groups):
        rate = float(arrays.liquidity_rate[g])
        if rate <= 0:
            continue
        a = rate * (1.0 if arrays.coin_group[g] else float(facts.spot[g]))
        size_now = float(facts.option_contracts[g] + facts.linear_notional[g])
        volume = float(arrays.daily_volume[g])
        row = np.zeros(nx)
        row[nb:nb + n_c] = row[ns:ns + n_c] = -a * units[:, g]
        row[nl + g] = 1.0
        rows.append(row)
        low.append(a * size_now)  # l_g >= a N, N = size now + units traded
        largest = size_now + float((most * units[:, g]).sum())
        if largest > volume:
            for point in np.linspace(volume, largest, TANGENTS):
                row = np.zeros(nx)
                row[nb:nb + n_c] = row[ns:ns + n_c] = -2.0 * a * point / volume * units[:, g]
                row[nl + g] = 1.0
                rows.append(row)
                low.append(a * (2.0 * point * size_now - point**2) / volume)
        objective[nl + g] = k_init * to_quote[g]
    upper = np.concatenate([[hi for _, hi in bounds], [-lo for lo, _ in bounds],
                            np.full(n_groups, np.inf), np.where(curve > 0, np.inf, 0.0),
                            np.full(n_groups, np.inf)])
    integrality = np.concatenate([np.ones(2 * n_c), np.zeros(2 * n_groups + n_c)])
    solved = milp(objective, integrality=integrality, bounds=Bounds(np.zeros(nx), upper),
                  constraints=LinearConstraint(np.array(rows), low, np.inf))
    before = float(state.initial)
    zero = LotHedge(np.zeros(n_c), before, before, 0.0)
    if solved.x is None:  # pragma: no cover - zero trade is always feasible
        return zero
    q = np.round(solved.x[nb:nb + n_c]) - np.round(solved.x[ns:ns + n_c])

    def exact(quantity: np.ndarray) -> tuple[float, float]:
        if not np.any(quantity):
            return before, 0.0
        return state.check(_combine(orders, quantity), 1.0)[1], hedge.cost(quantity)

    after, spent = exact(q)
    if after + spent >= before:
        return zero
    return LotHedge(q, before, after, spent)
