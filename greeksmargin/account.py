"""Accounts: collateral, equity, initial and maintenance margin, state; pre-trade what-if checks.

An :class:`Account` pools collateral (cash in several currencies, coins, securities, each valued
at a price in the account currency less a haircut) and a book. :meth:`Account.evaluate` margins
it once and caches what later questions need: the per-position and per-group scenario P&L, the
group facts and the equity. A pre-trade what-if (:meth:`AccountState.whatif`) then adds a
prepared order's scenario vectors to the cached ones and reduces them again, without touching
the book.

Definitions (account currency):

- collateral value = ``sum amount x price x (1 - haircut)``;
- equity = collateral value + mark-to-market value of the book (long options add, short
  subtract; linear instruments are marked to market into the collateral, so they count 0);
- maintenance margin MM and initial margin IM from the methodology (``IM = MM / mm_factor``
  for Deribit, ``IM = MM`` for a single-requirement system), or ``IM = im_over_mm x MM`` when the
  account sets a house factor;
- margin ratio = MM / equity (infinite when equity <= 0); excess = equity - IM;
- state: ``HEALTHY`` when equity >= IM; ``MARGIN_CALL`` when MM <= equity < IM; ``LIQUIDATION``
  when equity < MM (equality belongs to the better state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from ._arrays import frozen_array
from .book import Book, ResolvedBook
from .errors import InputError
from .kernels import _account
from .margin import GroupFacts, MarginResult, class_group, margin_from_pnl, requirements
from .market import MarketData
from .methodology import Methodology
from .revalue import PnLMatrix, group_currency, position_values, revalue
from .scenarios import ScenarioGrid

__all__ = ["Collateral", "Account", "AccountState", "State", "PreparedOrder", "WhatIf"]


class State(IntEnum):
    """Account state; thresholds in the module docstring."""

    HEALTHY = 0
    MARGIN_CALL = 1
    LIQUIDATION = 2


@dataclass(frozen=True, slots=True)
class Collateral:
    """Collateral holdings (dimension ``asset``).

    Parameters
    ----------
    asset : sequence of str
        Asset names (``"USD"``, ``"EUR"``, ``"BTC"``, ``"AAPL"``); unique.
    amount : array_like
        Units held, >= 0.
    price : array_like
        Price of one unit in the account currency, > 0.
    haircut : array_like
        Fraction in [0, 1) taken off the value (0 for the account currency's cash).
    """

    asset: tuple[str, ...]
    amount: np.ndarray
    price: np.ndarray
    haircut: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(str(a) for a in self.asset)
        if len(set(names)) != len(names):
            raise InputError(f"collateral assets must be unique; got {names}")
        object.__setattr__(self, "asset", names)
        n = len(names)
        for name in ("amount", "price", "haircut"):
            arr = frozen_array(np.broadcast_to(getattr(self, name), (n,)), np.float64, name)
            object.__setattr__(self, name, arr)
        for name, ok, rule in (
            ("amount", (self.amount >= 0) & np.isfinite(self.amount), ">= 0 and finite"),
            ("price", (self.price > 0) & np.isfinite(self.price), "> 0 and finite"),
            ("haircut", (self.haircut >= 0) & (self.haircut < 1), "in [0, 1)"),
        ):
            if not np.all(ok):
                i = int(np.flatnonzero(~ok)[0])
                raise InputError(f"collateral {name} must be {rule}; got"
                                 f" {float(getattr(self, name)[i])!r} for asset {names[i]!r}")

    @classmethod
    def of(cls, holdings: Mapping[str, float], prices: Mapping[str, float],
           haircuts: Mapping[str, float] | None = None) -> Collateral:
        """Collateral from ``{asset: amount}`` with a price (and optional haircut) per asset.

        Raises
        ------
        InputError
            An asset without a price (unknown asset), or an invalid amount, price or haircut.
        """
        missing = [a for a in holdings if a not in prices]
        if missing:
            raise InputError(f"no price for collateral asset(s) {missing}; priced: {sorted(prices)}")
        names = list(holdings)
        return cls(tuple(names), [holdings[a] for a in names], [prices[a] for a in names],
                   [(haircuts or {}).get(a, 0.0) for a in names])

    @property
    def value(self) -> float:
        """Haircut value in the account currency."""
        return float(np.sum(self.amount * self.price * (1.0 - self.haircut)))


@dataclass(frozen=True, slots=True)
class Account:
    """A book and its collateral, margined under one methodology (or grid)."""

    account_id: str
    book: Book
    collateral: Collateral
    method: Methodology | ScenarioGrid
    im_over_mm: float | None = None  # house factor: IM = factor x MM; None: the methodology's

    def __post_init__(self) -> None:
        if self.im_over_mm is not None and not (np.isfinite(self.im_over_mm)
                                                and self.im_over_mm >= 1.0):
            raise InputError(f"im_over_mm must be >= 1 and finite; got {self.im_over_mm!r}")

    def evaluate(self, market: MarketData) -> AccountState:
        """Margin the account at ``market`` and cache what what-if and liquidation need."""
        resolved = self.book.resolve(market)
        if isinstance(self.method, Methodology):
            grids = self.method.build_grids(resolved)
            rules: Methodology | None = self.method
        else:
            grids = (self.method,) * resolved.n_groups
            rules = None
        pnl = revalue(resolved, grids, keep_positions=True)
        currency = group_currency(resolved)
        facts = GroupFacts.from_resolved(resolved, currency)
        result = margin_from_pnl(pnl, methodology=rules, facts=facts)
        book_value = float(np.sum(pnl.base_value * facts.to_quote))
        return AccountState(self, market, resolved, tuple(grids), rules, pnl, facts, result,
                            self.collateral.value + book_value, book_value)


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """An order's legs revalued on a cached account's grids, ready for repeated what-if checks.

    ``group_pnl`` (n_groups, n_scenarios) is the order's P&L per account group (one unit of the
    order); ``leg_pnl`` (n_legs, n_scenarios) per leg, ``leg_group`` its group row; ``facts`` the
    order's group facts; ``value`` its mark-to-market value in the account currency.
    """

    legs: Book
    group_pnl: np.ndarray
    leg_pnl: np.ndarray
    leg_group: np.ndarray
    leg_value: np.ndarray
    facts: GroupFacts
    value: float


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The margin and state after an order, and whether it is accepted.

    ``accepted``: equity after the order (less ``cost``) covers the new initial margin.
    ``incremental_initial[k]``: the initial margin change from leg ``k`` alone.
    """

    initial: float
    maintenance: float
    equity: float
    state: State
    accepted: bool
    initial_before: float
    incremental_initial: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True, slots=True)
class AccountState:
    """An evaluated account: margin, equity, state, and the cached scenario vectors."""

    account: Account
    market: MarketData
    resolved: ResolvedBook
    grids: tuple[ScenarioGrid, ...]
    rules: Methodology | None
    pnl: PnLMatrix
    facts: GroupFacts
    margin: MarginResult
    equity: float
    book_value: float
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (groups, scenarios)
    roll: np.ndarray = field(default_factory=lambda: np.zeros(0))  # roll-shock rate per group
    compiled: bool = True  # the compiled check covers this account (no Deribit dampener)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", np.stack([g.weight for g in self.grids]))
        labels = self.pnl.row_labels
        rules = self.rules
        object.__setattr__(self, "roll", np.array(
            [rules.roll_shock_rate.get(class_group(label), 0.0) if rules else 0.0
             for label in labels]))
        object.__setattr__(self, "compiled", rules is None or not any(
            rules.extended_dampener.get(class_group(label), 0.0) and "extended" in grid.metadata
            for label, grid in zip(labels, self.grids, strict=True)))

    @property
    def maintenance(self) -> float:
        """Maintenance margin, account currency."""
        return self.margin.total_maintenance

    @property
    def initial(self) -> float:
        """Initial margin, account currency (the methodology's, or ``im_over_mm x MM``)."""
        if self.account.im_over_mm is not None:
            return self.account.im_over_mm * self.maintenance
        return self.margin.total

    @property
    def excess(self) -> float:
        """Equity minus initial margin (negative: a deficit)."""
        return self.equity - self.initial

    @property
    def margin_ratio(self) -> float:
        """Maintenance margin / equity; >= 1 means liquidation."""
        return self.maintenance / self.equity if self.equity > 0 else float("inf")

    @property
    def state(self) -> State:
        """HEALTHY, MARGIN_CALL or LIQUIDATION (see the module docstring)."""
        return _state(self.equity, self.initial, self.maintenance)

    def prepare_order(self, legs: Book) -> PreparedOrder:
        """Revalue an order's legs once on this account's grids (groups must exist).

        Raises
        ------
        InputError
            A leg on an instrument whose group the account does not hold (its grid is unknown),
            or whose underlying has no market data.
        """
        for pid in legs.position_id.tolist():
            if pid in set(self.resolved.position_id.tolist()):
                raise InputError(f"order leg id {pid!r} clashes with a position of the account")
        resolved = legs.resolve(self.market)
        labels = self.pnl.row_labels
        for label in resolved.group_labels:
            if label not in labels:
                raise InputError(f"order leg on group {label!r}, which the account does not hold"
                                 f" (groups: {', '.join(labels)}); margin the combined book")
        grids = tuple(self.grids[labels.index(label)] for label in resolved.group_labels)
        leg = revalue(resolved, grids, keep_positions=True)
        rows = np.array([labels.index(label) for label in resolved.group_labels])
        group_pnl = np.zeros_like(self.pnl.values)
        group_pnl[rows] = leg.values
        assert leg.position_values is not None and leg.position_group is not None
        leg_group = rows[leg.position_group]
        currency = group_currency(resolved)
        order_facts = GroupFacts.from_resolved(resolved, currency)
        n = len(labels)
        zeros = np.zeros(n)
        facts = GroupFacts(zeros.copy(), zeros.copy(), zeros.copy(), self.facts.spot,
                           self.facts.to_quote, self.facts.quote_currency)
        facts.option_contracts[rows] = order_facts.option_contracts
        facts.short_option_quantity[rows] = order_facts.short_option_quantity
        facts.linear_notional[rows] = order_facts.linear_notional
        base_by_leg = np.zeros(legs.n_positions)
        to_quote = self.facts.to_quote[leg_group]
        base_sorted = position_values(resolved)
        base_by_leg[resolved.order] = base_sorted
        return PreparedOrder(legs, group_pnl, leg.position_values, leg_group,
                             base_by_leg * to_quote, facts, float(np.sum(base_by_leg * to_quote)))

    def _margins(self, values: np.ndarray, facts: GroupFacts) -> tuple[float, float]:
        weights = self.weights
        scan, _, addons = requirements(values, weights, self.grids, self.pnl.row_labels,
                                       self.pnl.currency, self.rules, facts)
        req = scan
        for part in addons.values():
            req = req + part
        maintenance = float(np.sum(req * facts.to_quote)) * (self.rules.mm_factor
                                                              if self.rules else 1.0)
        initial = (self.account.im_over_mm * maintenance if self.account.im_over_mm is not None
                   else float(np.sum(req * facts.to_quote)))
        return initial, maintenance

    def check(self, order: PreparedOrder, scale: float = 1.0, cost: float = 0.0
              ) -> tuple[bool, float]:
        """The order-path check: ``(accepted, initial margin after)`` in one compiled call.

        Same numbers as :meth:`whatif` (tested), without building a result object. Falls back
        to :meth:`whatif` for Deribit books, whose extended-table dampener is not compiled.
        """
        if not self.compiled:
            w = self.whatif(order, scale, cost)
            return w.accepted, w.initial
        f, o, r = self.facts, order.facts, self.rules
        initial, _ = _account.whatif_margins(
            self.pnl.values, order.group_pnl, float(scale), self.weights, f.to_quote,
            f.option_contracts, f.short_option_quantity, f.linear_notional, o.option_contracts,
            o.short_option_quantity, o.linear_notional,
            r.contract_minimum if r else 0.0, r.short_option_minimum if r else 0.0,
            self.roll, r.mm_factor if r else 1.0,
            self.account.im_over_mm if self.account.im_over_mm is not None else 0.0)
        return self.equity - cost >= initial, initial

    def whatif(self, order: PreparedOrder, scale: float = 1.0, cost: float = 0.0,
               per_leg: bool = False) -> WhatIf:
        """Margin and state after trading ``scale`` x the prepared order at mid, paying ``cost``.

        The order's scenario P&L is added to the cached group P&L (no book revaluation);
        buying at mid swaps cash for the order's value, so equity changes only by ``-cost``.
        With ``per_leg`` the initial-margin change of each leg alone is reported too.
        """
        values = self.pnl.values + scale * order.group_pnl
        facts = self.facts.plus(order.facts.scaled(abs(scale)))
        initial, maintenance = self._margins(values, facts)
        equity = self.equity - cost
        incremental = np.zeros(0)
        if per_leg:
            incremental = np.empty(order.legs.n_positions)
            for k in range(order.legs.n_positions):
                v = self.pnl.values.copy()
                v[order.leg_group[k]] += scale * order.leg_pnl[k]
                legs = order.legs
                one = self.facts.plus(self.facts.position(
                    int(order.leg_group[k]), int(legs.kind[k]), float(legs.quantity[k]),
                    float(legs.multiplier[k])).scaled(abs(scale)))
                incremental[k] = self._margins(v, one)[0] - self.initial
        return WhatIf(initial, maintenance, equity, _state(equity, initial, maintenance),
                      equity >= initial, self.initial, incremental)


def _state(equity: float, initial: float, maintenance: float) -> State:
    if equity >= initial:
        return State.HEALTHY
    if equity >= maintenance:
        return State.MARGIN_CALL
    return State.LIQUIDATION
