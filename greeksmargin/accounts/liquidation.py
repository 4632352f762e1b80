"""Partial liquidation that closes the least it must, and the margin-minimising hedge.

:func:`liquidate` restores an account in breach by closing positions, or parts of them, chosen
greedily: at each step every open position is scored by the margin its full closing releases;
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize

from ..enums import OptionKind
from ..errors import InputError
from ..margin.rules import GroupFacts
from ..measures.revalue import position_values
from ..model.book import Book
from .account import AccountState, PreparedOrder, State

__all__ = ["SpreadCost", "LiquidationStep", "LiquidationResult", "liquidate", "HedgeResult",
           "minimise_margin"]

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

    @property
    def closed(self) -> dict[str, float]:
        """Fraction closed per position id."""
        out: dict[str, float] = {}
        for step in self.steps:
            out[step.position_id] = out.get(step.position_id, 0.0) + step.fraction
        return out


def liquidate(state: AccountState, cost: Callable[[int, float, float, float], float] | None = None,
              *, target: Literal["maintenance", "initial"] = "maintenance",
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
    min_release_share : float
        Only positions whose full closing releases at least this share of the best single
        release compete on release per cost (0: pure release per cost, which may close a cheap,
        healthy hedge before the risky position; 1: always the largest release).
    """
    if not (0.0 <= min_release_share <= 1.0):
        raise InputError(f"min_release_share must be in [0, 1]; got {min_release_share!r}")
    if target not in ("maintenance", "initial"):
        raise InputError(f"target must be 'maintenance' or 'initial'; got {target!r}")
    model = cost if cost is not None else SpreadCost()
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
                             equity >= goal(initial, maintenance), sum(s.cost for s in steps))


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
    return PreparedOrder(orders[0].legs, group_pnl, orders[0].leg_pnl, orders[0].leg_group,
                         orders[0].leg_value, facts, 0.0)
