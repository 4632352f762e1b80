"""The one margin reduction: scenario P&L per group -> scan risk, add-ons, requirement, total.

Every path that turns scenario P&L into a margin comes here: :func:`~greeksmargin.margin.result.
margin_from_pnl` (and so ``compute_margin``, batch, stress, compare), the account's evaluation,
what-if, pre-trade check and tick, the liquidation engine, cross-margin standalone requirements
and the Taylor margin. The arithmetic itself is one compiled function
(``kernels._margin.group_requirements``, whose docstring states the rule); this module lays a
methodology's rules out as per-group arrays (:class:`GroupRules`) and counts what the add-ons
count (:class:`GroupFacts`).

Add-ons (columns of :attr:`MarginResult.addons`, in the order they apply): ``contract_minimum``
(OCC's per-contract minimum), ``short_option_minimum`` (SPAN's SOM), ``roll_shock`` (Deribit's
roll shock on futures and perpetuals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._arrays import distinct_objects, distinct_rows, kernel_array
from ..errors import InputError, MethodologyError
from ..kernels import _margin
from ..kernels._margin import Counts, RuleArrays, count_rows
from ..methodology import Methodology
from ..methodology.span_spreads import SpanSpreads
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid
from .span import SpanPositions, SpreadParts, spread_parts, tier_deltas

__all__ = ["ADDONS", "GroupFacts", "GroupRules", "count_positions", "scan_risk"]

ADDONS = ("contract_minimum", "short_option_minimum", "roll_shock", "liquidity")


def count_positions(group: np.ndarray, kind: np.ndarray, quantity: np.ndarray,
                    multiplier: np.ndarray, n_groups: int) -> Counts:
    """Count what the add-ons count of positions (one row each) in ``n_groups`` groups."""
    out = count_rows(kernel_array(group, np.intp), kernel_array(kind, np.int8),
                     kernel_array(quantity, np.float64), kernel_array(multiplier, np.float64),
                     n_groups)
    return Counts(out[0], out[1], out[2], out[3], out[4], out[5], np.zeros(n_groups))


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What the add-ons and the total need to know of a group's positions (dimension ``group``).

    The counts add up when positions are added (a pre-trade order is a set of new rows), so a
    cached account's facts plus an order's facts are the facts of the combined book.
    """

    counts: Counts  # option contracts, short and long calls and puts, linear notional per group
    spot: np.ndarray  # spot of the group's first underlying (for the Deribit dampener)
    to_quote: np.ndarray  # value of one unit of the group's currency in the quote currency
    quote_currency: str
    # SPAN's composite deltas per group and tier (the last column: no tier; margin.span), for a
    # methodology with spreads; they add up as the counts do (the spreads formed from them do not)
    tier_delta: np.ndarray | None = None
    count_fields: tuple[np.ndarray, ...] = field(init=False, repr=False)  # tuple(counts)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        object.__setattr__(self, "count_fields", tuple(self.counts))

    @property
    def option_contracts(self) -> np.ndarray:
        """Sum of ``|quantity| x multiplier`` over the group's options."""
        return self.counts.option_contracts

    @property
    def short_option_quantity(self) -> np.ndarray:
        """Short calls or short puts, whichever are more (what CME's SOM counts), per group."""
        return np.maximum(self.counts.short_call_quantity, self.counts.short_put_quantity)

    @property
    def linear_notional(self) -> np.ndarray:
        """Sum of ``|quantity x multiplier|`` over the group's linear instruments."""
        return self.counts.linear_notional

    @classmethod
    def from_resolved(cls, resolved: ResolvedBook, currency: Sequence[str],
                      spreads: SpanSpreads | None = None) -> GroupFacts:
        """Facts of every group of ``resolved`` (groups with settlement ``currency``).

        The add-ons count net contracts: rows holding one contract in a group
        (:meth:`~greeksmargin.model.book.ResolvedBook.contracts`) count as one position of
        their summed quantity, as a broker's account holds one net position per contract.
        With SPAN ``spreads``, the groups' tier deltas too (:func:`~greeksmargin.margin.span.
        tier_deltas`).
        """
        market = resolved.market
        contract, first = resolved.contracts()
        quantity = np.bincount(contract, weights=resolved.quantity, minlength=first.size)
        counts = count_positions(resolved.group_index[first], resolved.kind[first], quantity,
                                 resolved.multiplier[first], resolved.n_groups)
        tiers = None
        if spreads is not None:
            tiers = tier_deltas(spreads, SpanPositions.from_resolved(resolved, spreads),
                                resolved.group_class)
        return cls(counts, np.array(market.spot[resolved.group_first_underlying()], dtype=float),
                   np.array(market.to_quote(currency), dtype=float), market.quote_currency,
                   tiers)

    def with_spot(self, spot: np.ndarray, to_quote: np.ndarray) -> GroupFacts:
        """Return the same counts at other group spots and conversion rates (a moved market)."""
        return GroupFacts(self.counts, np.asarray(spot, float), np.asarray(to_quote, float),
                          self.quote_currency, self.tier_delta)

    def with_counts(self, counts: Counts) -> GroupFacts:
        """Return the same groups with other counts."""
        return GroupFacts(counts, self.spot, self.to_quote, self.quote_currency, self.tier_delta)

    def with_tier_delta(self, tier_delta: np.ndarray | None) -> GroupFacts:
        """Return the same groups with other SPAN tier deltas."""
        return GroupFacts(self.counts, self.spot, self.to_quote, self.quote_currency, tier_delta)

    def with_spread_charge(self, charge: np.ndarray) -> GroupFacts:
        """Return the same facts with SPAN's spread charge per group (what the reduction adds)."""
        return self.with_counts(self.counts._replace(spread_charge=np.asarray(charge, float)))

    def scaled(self, factor: float) -> GroupFacts:
        """Return the counts times ``factor`` (a negative factor removes positions).

        Removing is not selling: to add the opposite of positions, count them as new positions
        (:meth:`position` with the opposite quantity; the reduction does this for an order
        traded with a negative scale).
        """
        return GroupFacts(Counts(*(c * factor for c in self.counts)), self.spot, self.to_quote,
                          self.quote_currency,
                          None if self.tier_delta is None else self.tier_delta * factor)

    def traded(self, scale: float) -> GroupFacts:
        """Return the counts of ``scale`` x these positions traded as new positions.

        A negative scale sells them: long options become short and short ones long (the rule
        the compiled reduction applies to an order's counts, ``kernels._margin``).
        """
        c = self.counts
        if scale < 0:
            c = c._replace(short_call_quantity=c.long_call_quantity,
                           long_call_quantity=c.short_call_quantity,
                           short_put_quantity=c.long_put_quantity,
                           long_put_quantity=c.short_put_quantity)
        return GroupFacts(Counts(*(x * abs(scale) for x in c)), self.spot, self.to_quote,
                          self.quote_currency,
                          None if self.tier_delta is None else self.tier_delta * scale)

    def zero(self) -> GroupFacts:
        """Return the same groups with nothing in them."""
        return self.scaled(0.0)

    def position(self, group: int, kind: int, quantity: float, multiplier: float) -> GroupFacts:
        """Facts of one position of ``group`` alone (every other group 0), same groups as self.

        Its counts only (no tier deltas: adding it to facts leaves theirs as they are).
        """
        return self.with_counts(count_positions(
            np.array([group]), np.array([kind]), np.array([quantity], float),
            np.array([multiplier], float), self.spot.size)).with_tier_delta(None)

    def plus_counts(self, counts: Counts) -> GroupFacts:
        """Return these facts with ``counts`` added (tier deltas unchanged)."""
        return self.with_counts(Counts(*(a + b for a, b in zip(self.counts, counts,
                                                               strict=True))))

    def plus(self, other: GroupFacts) -> GroupFacts:
        """Facts of the combined positions of the same groups (tier deltas: None adds none)."""
        tiers = self.tier_delta if other.tier_delta is None else (
            other.tier_delta if self.tier_delta is None else self.tier_delta + other.tier_delta)
        return GroupFacts(Counts(*(a + b for a, b in zip(self.counts, other.counts,
                                                         strict=True))),
                          self.spot, self.to_quote, self.quote_currency, tiers)


@dataclass(frozen=True, slots=True)
class GroupRules:
    """A methodology's rules laid out per group: the compiled reduction's input.

    Attributes
    ----------
    arrays : RuleArrays
        Weights, dampened scenarios, spot shifts (one row per distinct grid, ``grid_row`` per
        group); dampener, price range, coin flag, roll rate per group; per-contract minimums.
    mm_factor : float
        Maintenance margin = ``mm_factor`` x the requirement.
    addons : tuple of str
        The add-ons this methodology charges (a subset of :data:`ADDONS`, in order).
    labels : tuple of str
        Group names, for error messages.
    spreads : SpanSpreads, optional
        SPAN's spreads, formed before each reduction from the facts' tier deltas
        (:meth:`spreads_of`); with ``grids``, ``classes`` and ``accounts`` of the groups.
    """

    arrays: RuleArrays
    mm_factor: float
    addons: tuple[str, ...]
    labels: tuple[str, ...]
    spreads: SpanSpreads | None = None
    grids: tuple[ScenarioGrid, ...] = ()
    classes: tuple[str, ...] = ()
    accounts: np.ndarray | None = None  # each group's account (-1: none)
    fields: tuple[object, ...] = field(init=False, repr=False)  # tuple(arrays), for the kernels

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        object.__setattr__(self, "fields", tuple(self.arrays))

    @classmethod
    def of(cls, grids: Sequence[ScenarioGrid], labels: Sequence[str], currency: Sequence[str],
           methodology: Methodology | None, quote_currency: str,
           classes: Sequence[str] | None = None, accounts: np.ndarray | None = None
           ) -> GroupRules:
        """Lay a methodology's rules out per group.

        Rules of groups ``labels`` (with their grids and settlement currencies) under
        ``methodology`` (None: scan risk only, MM = IM); per-group parameters are looked up by
        each group's class group (``classes``, default the labels); ``accounts`` is each
        group's account (SPAN's inter-commodity spreads form within one; default: one account).
        """
        keys = tuple(labels) if classes is None else tuple(classes)
        n = len(labels)
        # many groups share a few (class, grid) pairs (an account per group in a batch): the
        # rules are laid out once per distinct pair and indexed
        if len(grids) != n or len(keys) != n:
            raise InputError(f"one grid and class per group expected ({n}); got {len(grids)}"
                             f" grids, {len(keys)} classes")
        distinct, grid_index = distinct_objects(grids)
        index, first = distinct_rows(grid_index, np.asarray(keys, dtype=object))
        pairs = [(keys[i], grids[i]) for i in first.tolist()]
        n_pairs = len(pairs)
        weight = (np.array(np.stack([g.weight for _, g in pairs]), float) if n
                  else np.zeros((0, 0)))
        spot_shift = (np.array(np.stack([g.spot_shift for _, g in pairs]), float) if n
                      else weight)
        extended_p = np.zeros((n_pairs, weight.shape[1] if n else 0), bool)
        dampener_p, range_p, roll_p = np.zeros(n_pairs), np.ones(n_pairs), np.zeros(n_pairs)
        liquidity_p, volume_p = np.zeros(n_pairs), np.full(n_pairs, np.inf)
        som_p = np.zeros(n_pairs)
        addons: tuple[str, ...] = ()
        m = methodology
        if m is not None:
            for k, (key, grid) in enumerate(pairs):
                roll_p[k] = m.roll_shock_rate.get(key, 0.0)
                som_p[k] = m.short_option_minimum_of(key)
                liquidity_p[k] = m.liquidity_rate.get(key, 0.0)
                volume_p[k] = m.daily_volume.get(key, np.inf)
                table = m.extended_table.get(key)
                if table is not None and table.dampener and \
                        grid.n_scenarios == table.first_scenario + table.n_scenarios:
                    dampener_p[k] = table.dampener
                    range_p[k] = table.price_range
                    extended_p[k, table.first_scenario:] = True
            addons = tuple(name for name, on in zip(ADDONS, (
                m.contract_minimum > 0, bool((som_p > 0).any()), bool(m.roll_shock_rate),
                bool(m.liquidity_rate)), strict=True) if on)
        dampener, price_range, roll = dampener_p[index], range_p[index], roll_p[index]
        arrays = RuleArrays(weight, extended_p, spot_shift, dampener, price_range,
                            np.asarray(currency, dtype=np.str_) != quote_currency, roll,
                            float(m.contract_minimum) if m else 0.0,
                            som_p[index],
                            liquidity_p[index], volume_p[index], index.astype(np.int64))
        return cls(arrays, float(m.mm_factor) if m else 1.0, addons, tuple(labels),
                   m.spreads if m else None, tuple(grids), keys,
                   np.full(n, -1, np.intp) if accounts is None else np.asarray(accounts, np.intp))

    def weight_by_group(self) -> np.ndarray:
        """Each group's scenario weights, (n_groups, n_scenarios) (the rules keep one row a grid)."""
        return self.arrays.weight[self.arrays.grid_row]

    def spreads_of(self, values: np.ndarray, facts: GroupFacts, order: np.ndarray | None = None,
                   scale: float = 0.0, order_facts: GroupFacts | None = None
                   ) -> SpreadParts | None:
        """Form SPAN's spreads of ``values`` (+ ``scale`` x ``order``); None without spreads.

        The deltas are the facts' tier deltas (+ ``scale`` x the order's); the scan risk and
        worst scenario they need come from the reduction without spreads (``margin.span``).

        Raises
        ------
        MethodologyError
            Spreads without tier deltas in ``facts``.
        InputError
            A scenario P&L that is not finite.
        """
        if self.spreads is None:
            return None
        tiers = facts.tier_delta
        if order_facts is not None and order_facts.tier_delta is not None and tiers is not None:
            tiers = tiers + scale * order_facts.tier_delta
        if tiers is None:
            raise MethodologyError("SPAN spreads are formed from the groups' deltas; the facts"
                                   " carry none (GroupFacts.from_resolved(..., spreads=...))")
        values = np.ascontiguousarray(values, dtype=float)
        other = np.ascontiguousarray(order if order is not None else values, dtype=float)
        plain = facts.with_spread_charge(np.zeros(values.shape[0]))
        out = np.empty((len(_margin.PARTS), values.shape[0]))
        if not _margin.group_requirements(values, other, float(scale), self.fields,
                                          plain.count_fields,
                                          (order_facts or facts.zero()).count_fields,
                                          facts.spot, out):
            self._name_non_finite(values if order is None else values + scale * other)
        combined = values if order is None else values + scale * other
        return spread_parts(self.spreads, tiers, combined, self.grids, out[_margin.SCAN],
                            out[_margin.WORST].astype(np.intp), self.classes,
                            self.accounts if self.accounts is not None
                            else np.full(values.shape[0], -1, np.intp))

    def reduce_parts(self, values: np.ndarray, facts: GroupFacts
                     ) -> tuple[np.ndarray, SpreadParts | None]:
        """Return :meth:`reduce`'s parts and the SPAN spreads they include (None: none)."""
        spread = self.spreads_of(values, facts)
        if spread is not None:
            facts = facts.with_spread_charge(spread.charge)
        values = np.ascontiguousarray(values, dtype=float)
        out = np.empty((len(_margin.PARTS), values.shape[0]))
        zero = facts.zero()
        if not _margin.group_requirements(values, values, 0.0, self.fields, facts.count_fields,
                                          zero.count_fields, facts.spot, out):
            self._name_non_finite(values)
        return out, spread

    def reduce(self, values: np.ndarray, facts: GroupFacts) -> np.ndarray:
        """Reduce a P&L matrix to every group's margin parts.

        The parts of every group's margin, shape (len(PARTS), n_groups): requirement, scan
        risk, each add-on, worst scenario index (see ``kernels._margin.PARTS``); SPAN's spreads
        (if any) are formed first and enter the requirement.

        Raises
        ------
        InputError
            A scenario P&L that is not finite, naming the group and scenario.
        """
        return self.reduce_parts(values, facts)[0]

    def margins(self, values: np.ndarray, facts: GroupFacts, im_over_mm: float | None,
                order: np.ndarray | None = None, scale: float = 0.0,
                order_facts: GroupFacts | None = None) -> tuple[float, float]:
        """Compute initial and maintenance margin in one compiled call.

        ``(initial, maintenance)`` in the quote currency of ``values`` + ``scale`` x
        ``order`` (an order's P&L per group, with its facts), in one compiled call.

        Raises
        ------
        InputError
            A scenario P&L that is not finite.
        """
        spread = self.spreads_of(values, facts, order, scale, order_facts)
        if spread is not None:
            facts = facts.with_spread_charge(spread.charge)
        order_fields = (order_facts if order_facts is not None else facts.zero()).count_fields
        initial, maintenance = _margin.account_margins(
            values, values if order is None else order, float(scale), self.fields,
            facts.count_fields, order_fields, facts.spot, facts.to_quote, self.mm_factor,
            im_over_mm if im_over_mm is not None else 0.0)
        if not math.isfinite(initial):
            self._name_non_finite(values if order is None else values + scale * order)
        return initial, maintenance

    def _name_non_finite(self, values: np.ndarray) -> None:
        bad = ~np.isfinite(self.weight_by_group() * values)
        g, j = np.argwhere(bad)[0] if bad.any() else (0, 0)
        raise InputError(f"scenario P&L is not finite ({float(values[g, j])!r}) for group"
                         f" {self.labels[g]!r}, scenario {int(j)}")


def scan_risk(values: np.ndarray, grids: Sequence[ScenarioGrid],
              labels: Sequence[str] | None = None) -> np.ndarray:
    """Compute the scan risk alone.

    Scan risk alone (worst weighted loss, >= 0) per group of a (groups x scenarios) P&L:
    the reduction's first part, without add-ons (cross-margin standalone requirements, Taylor).

    Raises
    ------
    InputError
        A scenario P&L that is not finite.
    """
    values = np.ascontiguousarray(values, dtype=float)
    n = values.shape[0]
    names = tuple(labels) if labels is not None else tuple(f"group {g}" for g in range(n))
    rules = GroupRules.of(grids, names, ("",) * n, None, "")
    facts = GroupFacts(Counts(*(np.zeros(n) for _ in Counts._fields)), np.ones(n), np.ones(n), "")
    return rules.reduce(values, facts)[_margin.SCAN]
