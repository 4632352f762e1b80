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

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._arrays import distinct_rows, frozen_array, kernel_array
from ..enums import NamedIntEnum, OptionKind, VolSource
from ..errors import (
    CurrencyError,
    GreeksMarginError,
    InputError,
    MarketDataError,
    MethodologyError,
)
from ..kernels import _margin, _orders
from ..kernels._margin import Counts
from ..kernels._orders import (
    ON_SURFACE,
    RESOLVED,
    SOURCE,
    STRIKE,
    VOL,
    VOL_SCALE,
    YEARS,
)
from ..kernels._revalue import Scenarios
from ..margin.concentration import margin_grids
from ..margin.result import MarginResult, margin_from_pnl
from ..margin.rules import GroupFacts, GroupRules, count_positions
from ..margin.span import (
    DELTA_GRID,
    SpanPositions,
    composite_deltas,
    contract_sizes,
    tier_columns,
    tier_deltas,
)
from ..measures.revalue import (
    PnLMatrix,
    RevaluationPlan,
    group_sums,
    kernel_inputs,
    revalue,
    runs_serially,
    scenario_bundle,
    vol_scale,
    vol_scale_of,
)
from ..methodology import Methodology
from ..methodology.span import SpanGrids
from ..model.amount import Amount
from ..model.book import Book, ResolvedBook, surface_vols
from ..model.market import MarketData, checked_moves
from ..model.scenarios import ScenarioGrid

__all__ = ["Collateral", "risk_haircuts", "Account", "AccountState", "State", "PreparedOrder",
           "WhatIf", "MarginTicker", "Tick"]

_NO_VOL = np.zeros(0)  # a tick without new vols (empty: nothing can write to it)


class State(NamedIntEnum):
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
    currency : str
        The account currency, in which ``price`` is quoted; it must be the quote currency of the
        market the account is evaluated at.
    """

    asset: tuple[str, ...]
    amount: np.ndarray
    price: np.ndarray
    haircut: np.ndarray
    currency: str = "USD"

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
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
           haircuts: Mapping[str, float] | None = None, currency: str = "USD") -> Collateral:
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
        return cls(tuple(names), np.array([holdings[a] for a in names], float),
                   np.array([prices[a] for a in names], float),
                   np.array([(haircuts or {}).get(a, 0.0) for a in names], float), currency)

    @property
    def value(self) -> Amount:
        """Haircut value in the account currency."""
        return Amount(float(np.sum(self.amount * self.price * (1.0 - self.haircut))),
                      self.currency)


def risk_haircuts(values: Mapping[str, float], vols: Mapping[str, float], *,
                  confidence: float = 0.99, horizon_days: float = 2.0,
                  concentration_share: float = 0.5, concentration_multiplier: float = 1.5,
                  cap: float = 0.9) -> dict[str, float]:
    """Collateral haircuts from each asset's volatility and its share of the collateral.

    ``haircut = min(cap, z x vol x sqrt(horizon_days / 252) x c)``, ``z`` the normal quantile
    of ``confidence`` (a one-sided VaR of the asset over the horizon), ``c`` =
    ``concentration_multiplier`` when the asset is more than ``concentration_share`` of the
    collateral's value, else 1. ``values`` maps asset -> value in the account currency; an
    asset without a vol in ``vols`` (the account currency's own cash) gets 0. For
    :meth:`Collateral.of`'s ``haircuts``.
    """
    from scipy.stats import norm

    if not (0.5 < confidence < 1 and horizon_days > 0 and 0 < concentration_share <= 1
            and concentration_multiplier >= 1 and 0 < cap < 1):
        raise InputError("risk_haircuts needs 0.5 < confidence < 1, horizon_days > 0,"
                         " 0 < concentration_share <= 1, concentration_multiplier >= 1 and"
                         " 0 < cap < 1")
    total = float(sum(values.values()))
    z = float(norm.ppf(confidence))
    out = {}
    for asset, value in values.items():
        vol = vols.get(asset)
        if vol is None:
            out[asset] = 0.0
            continue
        if not (np.isfinite(vol) and vol >= 0 and np.isfinite(value) and value >= 0):
            raise InputError(f"risk_haircuts: asset {asset!r} needs a vol >= 0 and a value >= 0;"
                             f" got {vol!r}, {value!r}")
        share = value / total if total > 0 else 0.0
        c = concentration_multiplier if share > concentration_share else 1.0
        out[asset] = min(cap, z * vol * math.sqrt(horizon_days / 252.0) * c)
    return out


@dataclass(frozen=True, slots=True)
class Account:
    """A book and its collateral, margined under one methodology (or grid).

    Rows of the book that hold one contract are one position of the account (a broker's account
    holds one net position per contract): the evaluated state's ``account.book`` holds the net
    positions, each merged one named by its rows' ids joined with ``+``.
    """

    account_id: str
    book: Book
    collateral: Collateral
    method: Methodology | ScenarioGrid
    im_over_mm: float | None = None  # house factor: IM = factor x MM; None: the methodology's
    collateral_at_risk: bool = True  # collateral on a book underlying moves in its scenarios
    _memo: _Memo = field(default_factory=lambda: _Memo(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        if self.im_over_mm is not None and not (np.isfinite(self.im_over_mm)
                                                and self.im_over_mm >= 1.0):
            raise InputError(f"im_over_mm must be >= 1 and finite; got {self.im_over_mm!r}")

    def evaluate(self, market: MarketData) -> AccountState:
        """Margin the account at ``market`` and cache what what-if and liquidation need.

        Every figure of the state is in the account currency (the market's quote currency):
        coin-settled groups' margins and values are converted at the coin's spot.

        A small account evaluated again at a market that moved only in spots and flat vols
        (:meth:`MarketData.same_but_moves` its last full evaluation's) reuses that evaluation's
        structure: its margin, equity and book value come from the account's
        :class:`MarginTicker` (one compiled call; with collateral at risk, the tick's checked
        path: the numbers of the full evaluation, tested), and the rest of the state (resolved
        book, grids, scenario P&L, result) is built when first asked for. Full evaluations
        otherwise: SPAN spreads or scan ranges given per contract (a tick follows them to
        rounding only), a concentration add-on (its groups are chosen at the spots), vols
        implied from option prices (re-implied at the spots), or a book too large to revalue
        on one thread.

        Raises
        ------
        CurrencyError
            The collateral is priced in another currency than the market's quote currency.
        """
        if self.collateral.currency != market.quote_currency:
            raise CurrencyError(f"account {self.account_id!r}: collateral is priced in"
                                f" {self.collateral.currency} but the market quotes in"
                                f" {market.quote_currency}; price both in one currency")
        memo = self._memo
        base = memo.state
        if base is not None and market.same_but_moves(base.market):
            state = memo.moved(self, market)
            if state is not None:
                return state
        state = self._evaluate_full(market)
        memo.keep(state)
        return state

    def _evaluate_full(self, market: MarketData) -> AccountState:
        # resolve, net, grids, revalue, reduce: every part of the state (currency checked)
        account, resolved = self._netted(self.book.resolve(market))
        built = margin_grids(self.method, resolved)
        grids = built if isinstance(built, tuple) else (built,) * resolved.n_groups
        rules = self.method if isinstance(self.method, Methodology) else None
        pnl = revalue(resolved, grids, keep_positions=True)
        spreads = rules.spreads if rules is not None else None
        facts = GroupFacts.from_resolved(resolved, pnl.currency, spreads)  # revalue's currencies
        group_rules = GroupRules.of(grids, pnl.row_labels, pnl.currency, rules,
                                    market.quote_currency, pnl.group_class,
                                    resolved.group_account)
        at_risk = _collateral_at_risk(self, resolved, grids, pnl.currency, market)
        if at_risk is not None:  # the collateral's scenario P&L joins its group's
            pnl = dataclasses.replace(pnl, values=pnl.values + at_risk.pnl(market.spot))
        result = margin_from_pnl(pnl, methodology=rules, facts=facts, rules=group_rules)
        book_value = Amount(float(np.sum(pnl.base_value * facts.to_quote)), market.quote_currency)
        maintenance = result.maintenance_quote
        initial = self.im_over_mm * maintenance if self.im_over_mm is not None \
            else result.initial_quote
        return AccountState(account, market, self.collateral.value + book_value, book_value,
                            maintenance, initial,
                            _Detail(resolved, tuple(grids), rules, pnl, facts, result,
                                    group_rules, at_risk))

    def _netted(self, resolved: ResolvedBook) -> tuple[Account, ResolvedBook]:
        """Return the account holding one net position per contract, and its resolved book.

        Rows of one contract (:meth:`ResolvedBook.contracts`) become one position, id their ids
        joined by ``+``; contracts netting to zero go. The evaluated state carries this account,
        so liquidation, what-if and sensitivities see the positions the broker holds.
        """
        net = resolved.netted(join_ids=True)
        if net is resolved:
            return self, resolved
        rows = net.order  # Book row of each net position (its first row)
        netted = self.book.netted(rows, net.position_id, net.quantity)
        return (dataclasses.replace(self, book=netted),
                dataclasses.replace(net, order=np.arange(rows.size, dtype=np.intp)))


class _Memo:
    """An account's last full evaluation, reused by its evaluations at moved markets.

    ``state`` is the last full evaluation when it can serve (:meth:`Account.evaluate` says
    when), else None; ``ticker`` its :class:`MarginTicker`, built at the first evaluation at a
    moved market. Pickles (and deep-copies) empty: a copy in another process evaluates afresh.
    """

    __slots__ = ("state", "ticker")

    def __init__(self) -> None:
        self.state: AccountState | None = None
        self.ticker: MarginTicker | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle empty."""
        return (_Memo, ())

    def keep(self, state: AccountState) -> None:
        """Keep a full evaluation as the base of later ones if it can serve."""
        detail = state._full()
        rules, resolved = detail.rules, detail.resolved
        serves = ((rules is None or rules.concentration is None)
                  and runs_serially(resolved.quantity.size, detail.pnl.values.shape[1])
                  and not np.any(resolved.vol_source == VolSource.PRICE))
        self.state, self.ticker = (state if serves else None), None

    def moved(self, account: Account, market: MarketData) -> AccountState | None:
        """Return the state of ``account`` at a market that moved from the kept one's.

        ``market`` is :meth:`MarketData.same_but_moves` the kept state's; the figures are the
        ticker's at its spots and flat vols. None: evaluate in full.
        """
        base, ticker = self.state, self.ticker
        assert base is not None
        if ticker is None:
            ticker = MarginTicker(base)
            if ticker._delta_plan is not None or ticker._per_contract.size:
                # SPAN spreads (formed from deltas) or ranges per contract (scaled by the
                # price): a tick follows them to rounding only
                self.state = None
                return None
            self.ticker = ticker
        try:  # the variation since the kept evaluation is the tick's, not the evaluation's
            tick = ticker.tick(market.spot, market.vol)
        except GreeksMarginError:  # the full evaluation names what is wrong its own way
            return None
        quote = market.quote_currency
        return AccountState(base.account, market,
                            Amount.trusted(ticker._collateral + tick.book_value, quote),
                            tick.book_value, tick.maintenance, tick.initial, None, account)


@dataclass(frozen=True, slots=True)
class CollateralAtRisk:
    """Collateral that moves with a book underlying, as scenario P&L of that underlying's group.

    Each collateral asset that is an underlying of a group settling in the account currency
    counts ``units x (1 - haircut)`` of that underlying: in scenario ``j`` of its group it gains
    or loses ``units (1 - haircut) S x shift_j`` (the grid's linear spot shift), so BTC held as
    collateral against a short BTC call loses with it in a crash (wrong-way risk). Coin-settled
    groups hold their own coin at par (in coin its value does not move) and are left as they
    are; collateral on an underlying the book does not hold is covered by its haircut alone.
    """

    group: np.ndarray  # group row of each asset at risk
    underlying: np.ndarray  # market underlying index of each asset
    units: np.ndarray  # amount x (1 - haircut)
    shift: np.ndarray  # (n_assets, n_scenarios): the group's linear spot shift
    n_groups: int

    def pnl(self, spot: np.ndarray) -> np.ndarray:
        """Scenario P&L per group (n_groups, n_scenarios) at ``spot``, account currency."""
        out = np.zeros((self.n_groups, self.shift.shape[1]))
        value = self.units * np.asarray(spot, dtype=float)[self.underlying]
        np.add.at(out, self.group, value[:, None] * self.shift)
        return out

    def value(self, spot: np.ndarray) -> float:
        """Haircut value of these assets at ``spot`` (the market's price of the underlying)."""
        return float(self.units @ np.asarray(spot, dtype=float)[self.underlying])


def _collateral_at_risk(account: Account, resolved: ResolvedBook,
                        grids: tuple[ScenarioGrid, ...] | list[ScenarioGrid],
                        currency: tuple[str, ...], market: MarketData) -> CollateralAtRisk | None:
    if not account.collateral_at_risk:
        return None
    c = account.collateral
    names = market.underlyings
    members = resolved.group_underlyings()
    rows, unders, units, shifts = [], [], [], []
    for k, asset in enumerate(c.asset):
        if asset == market.quote_currency or asset not in names or c.amount[k] == 0:
            continue
        for g, held in enumerate(members):
            if asset in held and currency[g] == market.quote_currency:
                rows.append(g)
                unders.append(names.index(asset))
                units.append(float(c.amount[k]) * (1.0 - float(c.haircut[k])))
                shift = grids[g].linear_spot_shift
                shifts.append(np.asarray(shift if shift is not None else grids[g].spot_shift))
                break
    if not rows:
        return None
    return CollateralAtRisk(np.array(rows, np.intp), np.array(unders, np.intp), np.array(units),
                            np.stack(shifts), resolved.n_groups)


def refuse_spreads(state: AccountState, what: str) -> None:
    """Refuse ``what`` on an account margined with SPAN spreads (it does not model them).

    Raises
    ------
    MethodologyError
        The account's methodology has SPAN spreads.
    """
    if state.rules_arrays.spreads is not None:
        raise MethodologyError(
            f"{what} writes the requirement as linear pieces of each position, which SPAN's"
            " spreads (formed from the groups' deltas) are not; the account's margin, what-if,"
            " check, ticks and minimise_margin do include them")


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
    facts: GroupFacts  # the counts of the legs on contracts the account does not hold
    value: float
    leg_held: np.ndarray  # the account's net quantity in each leg's contract (0: none)
    held: _Held | None = None  # the contracts the order trades that the account holds
    # SPAN spreads: each leg's composite delta and tier column (facts.tier_delta holds every
    # leg's, the held contracts' legs included: deltas add up)
    leg_delta: np.ndarray | None = None
    leg_column: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class _Held:
    """Contracts an order trades that the account holds already (net positions, one row each).

    Trading ``scale`` x the order changes their counts from those of ``held`` to those of
    ``held + scale x traded``: not additive (a bought short call stops counting as short), so
    the what-if replaces them instead of adding the order's counts.
    """

    position: np.ndarray  # the account's net position (row of its resolved book)
    group: np.ndarray
    kind: np.ndarray
    multiplier: np.ndarray
    held: np.ndarray
    traded: np.ndarray  # per unit of the order

    @staticmethod
    def combined(parts: list[tuple[float, _Held]]) -> _Held | None:
        """Return the held contracts of ``sum x_i order_i`` from each order's (``x_i``, held)."""
        if not parts:
            return None
        position = np.concatenate([h.position for _, h in parts])
        traded = np.concatenate([x * h.traded for x, h in parts])
        every = [np.concatenate([getattr(h, name) for _, h in parts])
                 for name in ("group", "kind", "multiplier", "held")]
        kept, first, inverse = np.unique(position, return_index=True, return_inverse=True)
        group, kind, multiplier, held = (a[first] for a in every)
        return _Held(kept, group, kind, multiplier, held,
                     np.bincount(inverse, weights=traded, minlength=kept.size))

    def change(self, scale: float, n_groups: int) -> Counts:
        """Return the change of the account's counts from trading ``scale`` x the order on them."""
        before = count_positions(self.group, self.kind, self.held, self.multiplier, n_groups)
        after = count_positions(self.group, self.kind, self.held + scale * self.traded,
                                self.multiplier, n_groups)
        return Counts(*(a - b for a, b in zip(after, before, strict=True)))


@dataclass(frozen=True, slots=True)
class _OrderLookup:
    """What the compiled order path looks an order's legs up in, built once per evaluated state.

    :meth:`prepare` resolves, prices and counts the legs in one compiled call, two with vol
    surfaces or scaled vol shifts (``kernels._orders``): the numbers of the general path
    (``Book.resolve``, a revaluation plan, the contracts hashed with the account's; tested
    equal), about fifteen times faster. It returns None for what it leaves to the general
    path, which names every error: a leg on an unknown underlying or group, an expiry in the
    past, a missing vol, a vol given or implied for the leg's id, a group whose positions
    netted to nothing under a methodology (its grid may depend on the positions). Accounts with
    SPAN spreads take the general path.
    """

    underlying: dict[str, int]  # market index of each underlying
    group_row: np.ndarray  # int64 per market underlying: its account group row (-1: general)
    flat_vol: np.ndarray  # float64 per market underlying
    has_surface: np.ndarray  # bool per market underlying
    valuation_seconds: int
    underlyings: tuple[np.ndarray, ...]  # kernels' Underlyings fields (spot, rate, carry)
    scenarios: tuple[np.ndarray, ...]  # kernels' Scenarios fields of the account's groups
    held: np.ndarray  # float64 (9, n): the account's net positions (kernels._orders.HELD_ROWS)
    to_quote: np.ndarray  # float64 per group
    scaled: bool  # some group's grid scales relative vol shifts (Deribit)
    plain: bool  # neither scaled shifts nor surfaces: one compiled call (order_prepare)
    no_charge: np.ndarray  # zero spread charge per group (read-only): an order's counts carry 0
    items: dict[int, tuple[np.ndarray, np.ndarray]]  # one work item per leg: starts, stops

    @classmethod
    def of(cls, state: AccountState, row_of: dict[str, int], scenarios: Scenarios
           ) -> _OrderLookup | None:
        """Build the lookup of ``state`` (None: the account takes the general path)."""
        if state.rules_arrays.spreads is not None:
            return None
        market, mine = state.market, state.resolved
        by_positions = isinstance(state.rules, Methodology) and state.rules.concentration is None
        own_grid = (mine.group_offsets[1:] == mine.group_offsets[:-1]) & by_positions
        rows = [row_of.get(market.group_of.get(u, u), -1) for u in market.underlyings]
        group_row = np.array([-1 if r < 0 or own_grid[r] else r for r in rows], np.int64)
        held = np.array([*mine.contract_columns(), mine.quantity], np.float64)  # HELD_ROWS
        scaled = any(g.vol_scaling is not None for g in state.grids)
        return cls({u: k for k, u in enumerate(market.underlyings)}, group_row,
                   kernel_array(market.vol, np.float64),
                   np.array([u in market.surfaces for u in market.underlyings], bool),
                   int(np.asarray(market.valuation, "datetime64[s]").astype(np.int64)),
                   tuple(kernel_array(a, np.float64) for a in (market.spot, market.rate,
                                                               market.carry)),
                   tuple(scenarios), held, kernel_array(state.facts.to_quote, np.float64),
                   scaled, not scaled and not market.surfaces,
                   frozen_array(np.zeros(mine.n_groups), np.float64, "spread_charge"), {})

    def prepare(self, state: AccountState, legs: Book, ids: list[str]) -> PreparedOrder | None:
        """Prepare ``legs`` (ids checked already) on the compiled path, or None (see the class)."""
        market = state.market
        if not ids or (market.position_vol or market.option_price) and any(
                p in market.position_vol or p in market.option_price for p in ids):
            return None
        get = self.underlying.get
        found = [get(u, -1) for u in legs.underlying.tolist()]
        if -1 in found:
            return None
        und = np.array(found, np.int64)
        n = und.size
        if n not in self.items:
            self.items[n] = (np.arange(n, dtype=np.int64), np.arange(1, n + 1, dtype=np.int64))
        n_groups, n_scenarios = self.scenarios[0].shape
        row, floats, smalls = np.empty(n, np.int64), np.empty((7, n)), np.empty((4, n), np.int8)
        base, leg_pnl = np.empty(n), np.empty((n, n_scenarios))
        group_pnl, counts = np.zeros((n_groups, n_scenarios)), np.zeros((6, n_groups))
        out = np.empty((3, n))  # value, held quantity per leg; traded per held position
        held_rows = np.empty(n, np.int64)
        legs_fields = (und, legs.kind, legs.strike, legs.expiry.view(np.int64), legs.quantity,
                       legs.multiplier, legs.exercise, legs.settlement, self.valuation_seconds,
                       self.group_row, self.flat_vol)
        if self.plain:  # flat vols, unscaled shifts: nothing to do between the steps
            status, total = _orders.order_prepare(
                *legs_fields, self.underlyings, *self.items[n], self.scenarios, self.held,
                self.to_quote, row, floats, smalls, base, leg_pnl, group_pnl, counts, out,
                held_rows)
            if status != RESOLVED:
                return None
        else:
            status = _orders.order_legs(*legs_fields, self.has_surface, row, floats, smalls)
            if status >= 0:
                return None
            f, i = floats, smalls
            if status == ON_SURFACE:  # the vols of legs on a surface, as Book.resolve has them
                surface_vols(f[VOL], i[SOURCE], legs.underlying, f[STRIKE], f[YEARS], market)
            if self.scaled:  # one "group" per leg: its row's grid scales its vol shifts
                f[VOL_SCALE] = vol_scale_of(f[YEARS], np.arange(n + 1),
                                            [state.grids[r] for r in row.tolist()])
            total = _orders.order_values(und, self.underlyings, (row, *self.items[n]),
                                         self.scenarios, floats, smalls, self.held,
                                         self.to_quote, base, leg_pnl, group_pnl, counts, out,
                                         held_rows)
        # the account's groups with the new contracts' counts (no tier deltas: no spreads here)
        facts = state.facts.with_counts(Counts(counts[0], counts[1], counts[2], counts[3],
                                               counts[4], counts[5], self.no_charge))
        held = None
        if held_rows[0] >= 0:
            at = held_rows[held_rows >= 0]
            mine = state.resolved
            held = _Held(at, mine.group_index[at], mine.kind[at], mine.multiplier[at],
                         mine.quantity[at], out[2, :at.size])
        value, leg_held = out[0], out[1]
        return PreparedOrder(legs, group_pnl, leg_pnl, row, value, facts, total, leg_held,
                             held)


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


class _Figures:
    """Account figures derived from equity, initial and maintenance margin.

    State, excess and margin ratio from ``equity``, ``initial`` and ``maintenance`` (shared by
    an evaluated account and a tick); thresholds in the module docstring.
    """

    __slots__ = ()
    equity: float
    initial: float
    maintenance: float

    @property
    def state(self) -> State:
        """HEALTHY, MARGIN_CALL or LIQUIDATION."""
        return _state(self.equity, self.initial, self.maintenance)

    @property
    def excess(self) -> float:
        """Equity minus initial margin (negative: a deficit)."""
        return self.equity - self.initial

    @property
    def margin_ratio(self) -> float:
        """Maintenance margin / equity; >= 1 means liquidation."""
        return self.maintenance / self.equity if self.equity > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class _Detail:
    """What an evaluation computes besides the figures (:class:`AccountState`'s properties)."""

    resolved: ResolvedBook
    grids: tuple[ScenarioGrid, ...]
    rules: Methodology | None
    pnl: PnLMatrix
    facts: GroupFacts
    margin: MarginResult
    rules_arrays: GroupRules
    at_risk: CollateralAtRisk | None


@dataclass(frozen=True, slots=True)
class AccountState(_Figures):
    """An evaluated account: margin, equity, state, and the cached scenario vectors.

    ``equity``, ``book_value``, ``maintenance`` and ``initial`` are in the account currency
    (coin groups converted at spot; ``initial`` the methodology's, or ``im_over_mm`` x MM).
    The rest (``resolved``, ``grids``, ``rules``, ``pnl``, ``facts``, ``margin``,
    ``rules_arrays``, ``at_risk``) is the full evaluation's; an evaluation that reused the
    account's structure (:meth:`Account.evaluate`) builds it when first asked for.
    """

    account: Account
    market: MarketData
    equity: Amount
    book_value: Amount
    maintenance: Amount
    initial: Amount
    _detail: _Detail | None = field(default=None, repr=False, compare=False)
    _source: Account | None = field(default=None, repr=False, compare=False)  # builds _detail
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _full(self) -> _Detail:
        detail = self._detail
        if detail is None:
            assert self._source is not None
            detail = self._source._evaluate_full(self.market)._full()
            object.__setattr__(self, "_detail", detail)
        return detail

    @property
    def resolved(self) -> ResolvedBook:
        """The account's net positions resolved at the market (sorted by group)."""
        return self._full().resolved

    @property
    def grids(self) -> tuple[ScenarioGrid, ...]:
        """Each group's scenario grid."""
        return self._full().grids

    @property
    def rules(self) -> Methodology | None:
        """The methodology (None for a plain grid)."""
        return self._full().rules

    @property
    def pnl(self) -> PnLMatrix:
        """Scenario P&L per group (and per position), the collateral at risk's included."""
        return self._full().pnl

    @property
    def facts(self) -> GroupFacts:
        """The groups' facts (counts, spots, conversion to the account currency)."""
        return self._full().facts

    @property
    def margin(self) -> MarginResult:
        """The methodology's result (per group and account)."""
        return self._full().margin

    @property
    def rules_arrays(self) -> GroupRules:
        """The margin rules laid out per group (what-if, check, ticks)."""
        return self._full().rules_arrays

    @property
    def at_risk(self) -> CollateralAtRisk | None:
        """Collateral moving in its group's scenarios (None: none)."""
        return self._full().at_risk

    def ticker(self) -> MarginTicker:
        """Prepare the account for re-margining at moving spots and vols (:class:`MarginTicker`)."""
        return MarginTicker(self)

    def prepare_order(self, legs: Book) -> PreparedOrder:
        """Revalue an order's legs once on this account's grids (groups must exist).

        An order of legs on held groups, priced off flat vols or surfaces, goes through the
        compiled path (:class:`_OrderLookup`: ~15 us for a few legs); anything else (a vol given
        or implied for a leg, SPAN spreads, a leg the compiled path cannot resolve) through
        the general one, with the same numbers (tested) and the errors below.

        Raises
        ------
        InputError
            A leg on an instrument whose group the account does not hold (its grid is unknown),
            or whose underlying has no market data.
        """
        cache = self._cache
        if "ids" not in cache:  # what orders look up, built once per evaluated state
            cache["ids"] = frozenset(self.resolved.position_id.tolist())
            cache["row_of"] = {label: k for k, label in enumerate(self.pnl.row_labels)}
            cache["scenarios"] = scenario_bundle(self.grids)
            cache["lookup"] = _OrderLookup.of(self, cache["row_of"], cache["scenarios"])
        ids = legs.position_id.tolist()
        if not cache["ids"].isdisjoint(ids):
            pid = next(p for p in ids if p in cache["ids"])
            raise InputError(f"order leg id {pid!r} clashes with a position of the account")
        lookup = cache["lookup"]
        order = lookup.prepare(self, legs, ids) if lookup is not None else None
        return order if order is not None else self._prepare_general(legs)

    def _prepare_general(self, legs: Book) -> PreparedOrder:
        # any order (what the compiled path hands back: it names what is wrong); ids checked
        cache = self._cache
        resolved = legs.resolve(self.market)
        row_of = cache["row_of"]
        for label in resolved.group_labels:
            if label not in row_of:
                raise InputError(f"order leg on group {label!r}, which the account does not hold"
                                 f" (groups: {', '.join(self.pnl.row_labels)}); margin the"
                                 " combined book")
        rows = np.array([row_of[label] for label in resolved.group_labels], np.intp)
        # the legs revalued on the account's scenario arrays of their groups (one serial run)
        grids = tuple(self.grids[r] for r in rows.tolist())
        scenarios = Scenarios(*(np.ascontiguousarray(f[rows]) for f in cache["scenarios"]))
        offsets = self.resolved.group_offsets
        emptied = offsets[rows + 1] == offsets[rows]
        if emptied.any() and isinstance(self.rules, Methodology) and \
                self.rules.concentration is None:
            # a group whose positions netted to nothing: its grid may depend on the positions
            # (SPAN's per-contract scan range), so the legs' own grid prices them there
            own = margin_grids(self.rules, resolved)
            own = own if isinstance(own, tuple) else (own,) * resolved.n_groups
            grids = tuple(own[k] if emptied[k] else grids[k] for k in range(len(grids)))
            scenarios = scenario_bundle(grids)
        positions, underlyings = kernel_inputs(resolved, vol_scale(resolved, grids))
        plan = RevaluationPlan.with_scenarios(
            positions, underlyings, resolved.group_offsets, scenarios, parallel=False)
        partial, base_sorted, position_out = plan.run(underlyings.spot, keep_positions=True)
        values, _ = group_sums(partial, plan.first_items, base_sorted, plan.group_offsets)
        group_pnl = np.zeros_like(self.pnl.values)
        group_pnl[rows] = values
        leg_pnl = np.empty_like(position_out)
        leg_pnl[resolved.order] = position_out
        leg_group = np.empty(legs.n_positions, np.intp)
        leg_group[resolved.order] = rows[resolved.group_index]
        # the legs' contracts among the account's (one net position each) and among themselves
        mine = self.resolved
        columns = zip(mine.contract_columns(),
                      resolved.contract_columns(group_index=rows[resolved.group_index]), strict=True)
        code, first = distinct_rows(*(np.concatenate(pair) for pair in columns))
        held_of = np.zeros(first.size)
        held_of[code[:mine.quantity.size]] = mine.quantity
        leg_code = code[mine.quantity.size:]
        on_held = first[leg_code] < mine.quantity.size  # the account holds the leg's contract
        traded = np.bincount(leg_code, weights=resolved.quantity, minlength=first.size)
        n = len(row_of)
        new_codes = np.unique(leg_code[~on_held])
        new_rows = first[new_codes] - mine.quantity.size  # a leg row of each new contract
        facts = self.facts.with_counts(count_positions(
            rows[resolved.group_index[new_rows]], resolved.kind[new_rows], traded[new_codes],
            resolved.multiplier[new_rows], n)).with_tier_delta(None)
        leg_delta = leg_column = None
        spreads = self.rules_arrays.spreads
        if spreads is not None:  # the legs' deltas, on the account's groups
            found = SpanPositions.from_resolved(resolved, spreads)
            group = rows[found.group]
            self._check_leg_sizes(contract_sizes(resolved, spreads), group, resolved)
            column = tier_columns(spreads, group, found.month, self.pnl.group_class)
            facts = facts.with_tier_delta(tier_deltas(
                spreads, dataclasses.replace(found, group=group), self.pnl.group_class, column))
            leg_delta, leg_column = np.empty(legs.n_positions), np.empty(legs.n_positions, np.intp)
            leg_delta[resolved.order] = found.delta
            leg_column[resolved.order] = column
        held = None
        if on_held.any():
            codes = np.unique(leg_code[on_held])
            at = first[codes]
            held = _Held(at, mine.group_index[at], mine.kind[at], mine.multiplier[at],
                         held_of[codes], traded[codes])
        leg_held = np.zeros(legs.n_positions)
        leg_held[resolved.order] = held_of[leg_code]
        base_by_leg = np.zeros(legs.n_positions)
        to_quote = self.facts.to_quote[leg_group]
        base_by_leg[resolved.order] = base_sorted
        return PreparedOrder(legs, group_pnl, leg_pnl, leg_group,
                             base_by_leg * to_quote, facts, float(np.sum(base_by_leg * to_quote)),
                             leg_held, held, leg_delta, leg_column)

    def _check_leg_sizes(self, size: np.ndarray, group: np.ndarray, legs: ResolvedBook) -> None:
        # a leg's delta must count the contracts its group's deltas count (SPAN spreads)
        cache = self._cache
        if "group_size" not in cache:
            mine = self.resolved
            held = contract_sizes(mine, self.rules_arrays.spreads)  # type: ignore[arg-type]
            first = np.full(mine.n_groups, np.nan)
            filled = np.flatnonzero(mine.group_offsets[1:] > mine.group_offsets[:-1])
            first[filled] = held[mine.group_offsets[filled]]
            cache["group_size"] = first
        expected = cache["group_size"][group]
        bad = np.flatnonzero(~np.isnan(expected) & (size != expected))
        if bad.size:
            k = int(bad[0])
            raise MethodologyError(
                f"order leg {str(legs.position_id[k])!r}: its SPAN delta counts contracts of"
                f" {size[k]:g}, its group {self.pnl.row_labels[int(group[k])]!r} of"
                f" {expected[k]:g}; give the class a contract size (contract_size)")

    def _facts_after(self, order: PreparedOrder, scale: float) -> GroupFacts:
        """Return the account's facts to reduce with ``scale`` x the order's (:class:`_Held`)."""
        if order.held is None:
            return self.facts
        return self.facts.plus_counts(order.held.change(scale, self.pnl.values.shape[0]))

    def _margins(self, values: np.ndarray, facts: GroupFacts) -> tuple[float, float]:
        return self.rules_arrays.margins(values, facts, self.account.im_over_mm)

    def check(self, order: PreparedOrder, scale: float = 1.0, cost: float = 0.0
              ) -> tuple[bool, float]:
        """Check an order (the order path): ``(accepted, initial margin after)`` in one compiled call.

        Same numbers as :meth:`whatif` and as margining the combined book (tested), without
        building a result object.
        """
        initial, _ = self.rules_arrays.margins(self.pnl.values, self._facts_after(order, scale),
                                               self.account.im_over_mm, order.group_pnl,
                                               scale, order.facts)
        # one currency by construction (the account's); plain floats on the order path
        return float(self.equity) - cost >= initial, initial

    def whatif(self, order: PreparedOrder, scale: float = 1.0, cost: float = 0.0,
               per_leg: bool = False) -> WhatIf:
        """Margin and state after trading ``scale`` x the prepared order at mid, paying ``cost``.

        The order's scenario P&L is added to the cached group P&L (no book revaluation);
        buying at mid swaps cash for the order's value, so equity changes only by ``-cost``.
        With ``per_leg`` the initial-margin change of each leg alone is reported too.
        """
        initial, maintenance = self.rules_arrays.margins(
            self.pnl.values, self._facts_after(order, scale), self.account.im_over_mm,
            order.group_pnl, scale, order.facts)
        equity = float(self.equity) - cost  # the account currency, as initial and maintenance
        incremental = np.zeros(0)
        if per_leg:
            incremental = np.empty(order.legs.n_positions)
            for k in range(order.legs.n_positions):
                v = self.pnl.values.copy()
                v[order.leg_group[k]] += scale * order.leg_pnl[k]
                legs = order.legs
                leg = _Held(np.zeros(1, np.intp), order.leg_group[k:k + 1], legs.kind[k:k + 1],
                            legs.multiplier[k:k + 1],
                            order.leg_held[k:k + 1], legs.quantity[k:k + 1])
                one = self.facts.plus_counts(leg.change(scale, v.shape[0]))
                if order.leg_delta is not None and order.leg_column is not None:
                    tiers = np.array(one.tier_delta)
                    tiers[order.leg_group[k], order.leg_column[k]] += scale * order.leg_delta[k]
                    one = one.with_tier_delta(tiers)
                incremental[k] = self._margins(v, one)[0] - float(self.initial)
        return WhatIf(initial, maintenance, equity, _state(equity, initial, maintenance),
                      equity >= initial, float(self.initial), incremental)


def _state(equity: float, initial: float, maintenance: float) -> State:
    if equity >= initial:
        return State.HEALTHY
    if equity >= maintenance:
        return State.MARGIN_CALL
    return State.LIQUIDATION


@dataclass(frozen=True, slots=True)
class Tick(_Figures):
    """An account's margin at one tick (account currency); states as in the module docstring.

    ``variation`` is the linear instruments' P&L since the evaluation (futures, perpetuals,
    stock: ``quantity x multiplier x (spot now - spot then)``, the same in the quote currency for
    inverse contracts), plus the value change of collateral at risk (:class:`CollateralAtRisk`);
    it is part of ``equity`` until the next evaluation settles it into the collateral.
    """

    initial: Amount
    maintenance: Amount
    equity: Amount
    book_value: Amount
    variation: float = 0.0


class MarginTicker:
    """An evaluated account, re-margined at moving spots and vols with compiled kernels only.

    A desk's risk loop re-margins the same book on every tick; only the market moves. The ticker
    keeps what does not move (the resolved book: year fractions, groups, sorted rows; the grids;
    the rules as arrays; the kernels' argument arrays) and :meth:`tick` runs the revaluation and
    the margin reduction on the new spots and vols: the numbers of :meth:`Account.evaluate` on a
    market with those spots and vols (tested to 1e-12), at a fraction of the cost.

    What a tick moves: the spot of every underlying, and (optionally) its flat vol, which the
    options priced off the flat vol follow (:attr:`~greeksmargin.enums.VolSource.FLAT`). Vols
    given per position, implied from option prices or read from a surface stay as resolved
    (sticky strike); the valuation time, rates, carry and the collateral's value stay as they
    were at :meth:`Account.evaluate` (re-evaluate the account when they change). Coin-settled
    groups convert to the quote currency at the tick's spot of their coin. The linear
    instruments' P&L since the evaluation (``Tick.variation``) is part of the tick's equity:
    a re-evaluation at the moved market counts it only once the collateral has received it.

    Not for sharing between threads at once: each tick allocates its own outputs, but the
    revaluation of large books runs on all Numba threads already.
    """

    __slots__ = ("state", "_plan", "_flat_rows", "_flat_underlying", "_quote_index",
                 "_first_underlying", "_collateral", "_im_over_mm", "_position_fields",
                 "_item_fields", "_scenario_fields", "_linear_size", "_linear_underlying",
                 "_linear_spot", "_at_risk", "_delta_plan", "_delta_size", "_delta_column",
                 "_delta_positions", "_per_contract", "_evaluated_spot", "_one_call")

    def __init__(self, state: AccountState) -> None:
        self.state = state
        resolved = state.resolved
        self._plan = RevaluationPlan.build(resolved, state.grids)
        # the kernels' bundles as plain tuples, once (see kernels._revalue)
        self._position_fields = tuple(self._plan.positions)
        self._item_fields = tuple(self._plan.items)
        self._scenario_fields = tuple(self._plan.scenarios)
        flat = resolved.vol_source == VolSource.FLAT
        self._flat_rows = np.flatnonzero(flat)
        self._flat_underlying = resolved.underlying_index[flat]
        self._quote_index = state.market.currency_index(state.pnl.currency)
        self._first_underlying = resolved.group_first_underlying()
        self._collateral = float(state.account.collateral.value)
        self._im_over_mm = state.account.im_over_mm
        # linear instruments count 0 in the book value (settled into the collateral at each
        # evaluation); between evaluations their P&L since then is part of the equity
        linear = resolved.kind == OptionKind.LINEAR
        self._linear_size = resolved.quantity[linear] * resolved.multiplier[linear]
        self._linear_underlying = resolved.underlying_index[linear]
        self._linear_spot = np.asarray(state.market.spot, dtype=float)[self._linear_underlying]
        self._at_risk = state.at_risk
        # SPAN scan ranges given per contract are a relative move of amount / (multiplier x
        # price): at the tick's price the groups' moves scale by evaluated / new price
        rule = state.rules.grid_rule if isinstance(state.rules, Methodology) else None
        self._per_contract = np.flatnonzero(rule.per_contract(resolved)) \
            if isinstance(rule, SpanGrids) else np.zeros(0, np.intp)
        self._evaluated_spot = np.asarray(state.market.spot, float)[self._first_underlying]
        # SPAN spreads form from deltas at the tick's market: a two-scenario plan for them
        self._delta_plan = self._delta_size = self._delta_column = self._delta_positions = None
        spreads = state.rules_arrays.spreads
        if spreads is not None:
            self._delta_plan = RevaluationPlan.build(resolved, (DELTA_GRID,) * resolved.n_groups,
                                                     parallel=False)
            self._delta_size = contract_sizes(resolved, spreads)
            month = resolved.expiry_dates().astype("datetime64[M]")
            # the positions as the spreads see them, their deltas set at each tick
            self._delta_positions = SpanPositions(resolved.group_index, month,
                                                  np.zeros(month.size), resolved.group_account)
            self._delta_column = tier_columns(spreads, resolved.group_index, month,
                                              state.pnl.group_class)
        # a small book with nothing but positions in its scenarios: the whole tick, checks
        # included, in one compiled call (kernels._margin.tick_moved) on its packed inputs
        self._one_call = None
        if (not self._plan.parallel and self._at_risk is None and self._delta_plan is None
                and not self._per_contract.size):
            plan, rules = self._plan, state.rules_arrays
            self._one_call = _margin.pack_tick(_margin.tick_leaves(
                self._position_fields, plan.rate, plan.carry, self._item_fields,
                self._scenario_fields, plan.group_offsets, self._quote_index,
                self._first_underlying, rules.fields, state.facts.count_fields, rules.mm_factor,
                self._im_over_mm or 0.0, self._flat_rows, self._flat_underlying,
                self._linear_size, self._linear_underlying, self._linear_spot))

    def _tier_deltas(self, spot: np.ndarray, vol: np.ndarray) -> np.ndarray | None:
        # the groups' SPAN tier deltas at the tick's spots and vols (None without spreads)
        plan, spreads = self._delta_plan, self.state.rules_arrays.spreads
        if plan is None or spreads is None or self._delta_size is None \
                or self._delta_positions is None:
            return None
        _, _, moved = plan.run(spot, keep_positions=True, vol=vol)
        delta = composite_deltas(moved, spot[self.state.resolved.underlying_index],
                                 self._delta_size)
        return tier_deltas(spreads, dataclasses.replace(self._delta_positions, delta=delta),
                           self.state.pnl.group_class, self._delta_column)

    def tick(self, spot: object, vol: object = None) -> Tick:
        """Re-margin the account at new spots and, optionally, flat vols.

        The account's margin at ``spot`` (one per underlying of the evaluated market, in its
        order) and, optionally, a flat ``vol`` per underlying (NaN only for underlyings no
        option takes its flat vol from); without ``vol`` the evaluated vols stay.

        Raises
        ------
        MarketDataError
            A spot or vol of the wrong length or out of range, naming the underlying; a NaN vol
            for an underlying whose options take the flat vol, naming the position.
        """
        quote = self.state.market.quote_currency  # checked when the account was evaluated
        if self._one_call is not None:
            # read, never written (the kernel copies what it moves)
            spot_in = kernel_array(spot, np.float64)
            vol_in = _NO_VOL if vol is None else kernel_array(vol, np.float64)
            shape = self._plan.rate.shape  # one per underlying
            if spot_in.shape == shape and (vol is None or vol_in.shape == shape):
                ok, initial, maintenance, book_value, variation = _margin.tick_moved(
                    spot_in, vol_in, *self._one_call)
                if ok:
                    trusted = Amount.trusted
                    return Tick(trusted(initial, quote), trusted(maintenance, quote),
                                trusted(self._collateral + book_value + variation, quote),
                                trusted(book_value, quote), trusted(variation, quote))
            # else the checked path below: it names the bad input
        plan = self._plan
        facts, rules = self.state.facts, self.state.rules_arrays
        names = self.state.market.underlyings
        spot_now, vol_now = checked_moves(names, spot, vol)
        assert spot_now is not None
        position_fields, position_vol = self._position_fields, np.asarray(plan.positions.vol)
        if vol_now is not None:
            position_vol, bad = _margin.moved_vols(position_vol, self._flat_rows,
                                                   self._flat_underlying, vol_now)
            if bad >= 0:
                pid = str(self.state.resolved.position_id[self._flat_rows[bad]])
                raise MarketDataError(f"vol is NaN for underlying"
                                      f" {names[self._flat_underlying[bad]]!r}, whose flat vol"
                                      f" prices position {pid!r}")
            k = _margin.VOL_FIELD  # a NamedTuple's _replace costs ~1.5 us: splice the tuple
            position_fields = (*position_fields[:k], position_vol, *position_fields[k + 1:])
        scenarios = None
        scenario_fields = self._scenario_fields
        if self._per_contract.size:
            g = self._per_contract
            factor = (self._evaluated_spot[g] / spot_now[self._first_underlying[g]])[:, None]
            moved_shift = np.array(plan.scenarios.spot_shift)
            moved_linear = np.array(plan.scenarios.linear_spot_shift)
            moved_shift[g] *= factor
            moved_linear[g] *= factor
            scenarios = plan.scenarios._replace(spot_shift=moved_shift,
                                                linear_spot_shift=moved_linear)
            scenario_fields = tuple(scenarios)
        groups_and_rules = (
            plan.group_offsets, self._quote_index, self._first_underlying, rules.fields,
            facts.count_fields, rules.mm_factor, self._im_over_mm or 0.0)
        if self._at_risk is not None or self._delta_plan is not None:
            # collateral in the scenarios (its P&L added) or SPAN spreads (formed from the
            # deltas at this market): the P&L per group, then the reduction in Python
            partial, base, _ = plan.run(spot_now, vol=position_vol, scenarios=scenarios)
            values, base_value = group_sums(partial, plan.first_items, base, plan.group_offsets)
            if self._at_risk is not None:
                values = values + self._at_risk.pnl(spot_now)
            to_quote = np.where(self._quote_index < 0, 1.0,
                                spot_now[np.maximum(self._quote_index, 0)])
            group_spot = spot_now[self._first_underlying]
            moved = facts.with_spot(group_spot, to_quote)
            if self._delta_plan is not None:
                moved = moved.with_tier_delta(self._tier_deltas(spot_now, position_vol))
            initial, maintenance = rules.margins(values, moved, self._im_over_mm)
            book_value = float(np.sum(base_value * to_quote))
        elif plan.parallel:  # a large book: the parallel kernels, then the compiled reduction
            partial, base, _ = plan.run(spot_now, vol=position_vol, scenarios=scenarios)
            initial, maintenance, book_value = _margin.tick_reduce(
                partial, base, plan.items.group, spot_now, *groups_and_rules)
        else:  # a small book: the whole tick in one compiled call
            initial, maintenance, book_value = _margin.tick_margins(
                position_fields, (spot_now, plan.rate, plan.carry), self._item_fields,
                scenario_fields, *groups_and_rules)
        if not math.isfinite(initial):  # a scenario P&L is not finite: name it
            partial, base, _ = plan.run(spot_now, vol=position_vol, scenarios=scenarios)
            values, _ = group_sums(partial, plan.first_items, base, plan.group_offsets)
            rules.margins(values, facts, self._im_over_mm)
        variation = _margin.linear_variation(self._linear_size, self._linear_underlying,
                                             self._linear_spot, spot_now)
        if self._at_risk is not None:  # the collateral is worth what its underlying is now
            variation += self._at_risk.value(spot_now) - self._at_risk.value(
                np.asarray(self.state.market.spot, dtype=float))
        return Tick(Amount.trusted(initial, quote), Amount.trusted(maintenance, quote),
                    Amount.trusted(self._collateral + book_value + variation, quote),
                    Amount.trusted(book_value, quote), Amount.trusted(variation, quote))
