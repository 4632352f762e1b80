"""Portfolio margin: the worst weighted scenario loss per group, add-ons, and the total.

``compute_margin(book, market, methodology_or_grid)`` chains ``Book.resolve`` -> ``revalue`` ->
``margin_from_pnl``; each step can be called alone, and ``margin_from_pnl`` also margins a P&L
matrix that came from elsewhere (an exchange's risk arrays).

Per group ``g`` (signs: P&L > 0 is a gain, loss = -P&L):

- scan risk = ``max(0, max_j weight[j] * -pnl[g, j])`` (Deribit's extended scenarios dampened
  first, see :func:`deribit_dampened`);
- add-ons, each reported as its own part: the per-contract minimum lifts the requirement to
  ``contract_minimum x sum |contracts x multiplier|`` over options (OCC); the SPAN short option
  minimum to ``SOM x short option contracts``; Deribit's roll shock adds
  ``rate x sum |quantity x multiplier|`` over futures and perpetuals;
- initial margin = scan risk + add-ons; maintenance = ``mm_factor`` x initial.

Groups are margined separately here (no offsets between groups); the total is their sum, in the
common currency, or converted to the quote currency at spot when groups settle in different coins.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._arrays import distinct_objects
from ..errors import CurrencyError, Failure, InputError, MethodologyError
from ..kernels import _margin
from ..kernels._margin import Counts
from ..measures.revalue import PnLMatrix, revalue
from ..methodology import Methodology
from ..methodology.span import SpanGrids
from ..model.amount import Amount
from ..model.book import Book, ResolvedBook
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid
from .concentration import CONCENTRATION_POINTS, margin_grids
from .rules import GroupFacts, GroupRules
from .span import SpanPositions, SpreadParts, tier_deltas

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MarginResult", "compute_margin", "margin_from_pnl"]


@dataclass(frozen=True, slots=True)
class MarginResult:
    """A portfolio margin and the evidence behind it (dimension ``group``).

    Attributes
    ----------
    total : Amount
        Sum of the groups' initial margins, in ``total_currency`` (>= 0, never NaN): the groups'
        own currency when they share one (coin for a coin-settled book), else the quote
        currency (groups converted at spot).
    total_maintenance : Amount
        Sum of the groups' maintenance margins, in ``total_currency``.
    total_currency : str
        Currency of the totals.
    group_labels : tuple of str
        The groups.
    currency : tuple of str
        Settlement currency of each group.
    initial : ndarray, shape (n_groups,)
        Initial margin per group (scan risk + add-ons), group currency.
    maintenance : ndarray, shape (n_groups,)
        Maintenance margin per group.
    scan_risk : ndarray, shape (n_groups,)
        Worst weighted scenario loss per group (>= 0).
    worst_scenario : ndarray of int, shape (n_groups,)
        Index of the scenario that set the scan risk (into the group's grid).
    worst_label : tuple of str
        Its label.
    addons : dict of str to ndarray
        Each add-on per group (e.g. ``contract_minimum``, ``short_option_minimum``,
        ``roll_shock``), group currency; the part each one added.
    pnl : PnLMatrix or None
        The scenario P&L the margin came from.
    methodology : dict
        Name, version, source and every parameter value used.
    excluded : tuple of Failure
        Positions left out and why (empty unless ``on_invalid="exclude"``).
    quote_currency : str
        The market's quote currency (the account currency).
    to_quote : ndarray, shape (n_groups,)
        Value of one unit of each group's currency in ``quote_currency`` (1 for the quote
        currency, the coin's spot for a coin); NaN where no market was given to convert.
    memo : dict of str to ndarray
        Figures reported beside the requirement, not part of it, per group: SPAN's
        ``net_option_value`` (long options' value less short options', group currency) under
        a SPAN methodology.
    """

    total: Amount
    total_maintenance: Amount
    total_currency: str
    group_labels: tuple[str, ...]
    currency: tuple[str, ...]
    initial: np.ndarray
    maintenance: np.ndarray
    scan_risk: np.ndarray
    worst_scenario: np.ndarray
    worst_label: tuple[str, ...]
    addons: dict[str, np.ndarray]
    pnl: PnLMatrix | None
    methodology: dict[str, Any] = field(default_factory=dict)
    excluded: tuple[Failure, ...] = ()
    quote_currency: str = ""
    to_quote: np.ndarray = field(default_factory=lambda: np.zeros(0))
    memo: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        object.__setattr__(self, "total", Amount(self.total, self.total_currency))
        object.__setattr__(self, "total_maintenance",
                           Amount(self.total_maintenance, self.total_currency))
        if not self.quote_currency:
            object.__setattr__(self, "quote_currency", self.total_currency)
        if self.to_quote.size != len(self.group_labels):
            same = np.array([c == self.quote_currency for c in self.currency])
            object.__setattr__(self, "to_quote", np.where(same, 1.0, np.nan))

    def _in_quote(self, per_group: np.ndarray) -> Amount:
        rate = self.to_quote
        unknown = np.isnan(rate)
        if unknown.any():
            if np.any(per_group[unknown] != 0):
                missing = sorted({c for c, r in zip(self.currency, rate, strict=True)
                                  if np.isnan(r)})
                raise CurrencyError(f"margin in {', '.join(missing)} cannot be converted to"
                                    f" {self.quote_currency}: no spot (margin a resolved book)")
            rate = np.where(unknown, 0.0, rate)
        return Amount(float(np.sum(per_group * rate)), self.quote_currency)

    @property
    def initial_quote(self) -> Amount:
        """Total initial margin in the quote currency (coin groups converted at spot)."""
        return self._in_quote(self.initial)

    @property
    def maintenance_quote(self) -> Amount:
        """Total maintenance margin in the quote currency (coin groups converted at spot)."""
        return self._in_quote(self.maintenance)

    def to_frame(self) -> pd.DataFrame:
        """One row per group: currency, scan risk, worst scenario, each add-on, IM and MM."""
        import pandas as pd

        frame = pd.DataFrame({
            "group": self.group_labels, "currency": self.currency, "scan_risk": self.scan_risk,
            "worst_scenario": self.worst_label,
            **{name: values for name, values in self.addons.items()},
            "initial_margin": self.initial, "maintenance_margin": self.maintenance,
            **{name: values for name, values in self.memo.items()},
        })
        return frame.set_index("group")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: totals, groups, parts, methodology, excluded rows."""
        return {
            "total_initial_margin": float(self.total),
            "total_maintenance_margin": float(self.total_maintenance),
            "currency": self.total_currency,
            "groups": [
                {"group": g, "currency": c, "scan_risk": float(s), "worst_scenario": w,
                 **{name: float(v[k]) for name, v in self.addons.items()},
                 "initial_margin": float(i), "maintenance_margin": float(m),
                 **{name: float(v[k]) for name, v in self.memo.items()}}
                for k, (g, c, s, w, i, m) in enumerate(zip(
                    self.group_labels, self.currency, self.scan_risk, self.worst_label,
                    self.initial, self.maintenance, strict=True))],
            "methodology": self.methodology,
            "excluded": [str(f) for f in self.excluded],
        }


def _worst_labels(distinct: Sequence[ScenarioGrid], index: np.ndarray, worst: np.ndarray
                  ) -> tuple[str, ...]:
    # each group's worst scenario label, one lookup array per distinct grid object
    out = np.empty(index.size, dtype=object)
    for d, grid in enumerate(distinct):
        rows = np.flatnonzero(index == d) if len(distinct) > 1 else slice(None)
        out[rows] = np.asarray(grid.labels, dtype=object)[np.asarray(worst)[rows]]
    return tuple(out.tolist())


def margin_from_pnl(pnl: PnLMatrix, *, methodology: Methodology | None = None,
                    resolved: ResolvedBook | None = None, facts: GroupFacts | None = None,
                    excluded: Sequence[Failure] = (), rules: GroupRules | None = None,
                    span_positions: SpanPositions | None = None) -> MarginResult:
    """Margin from a P&L matrix (groups x scenarios), e.g. published risk arrays.

    Parameters
    ----------
    pnl : PnLMatrix
        Scenario P&L per group (gain > 0) and the grids (for weights and labels).
    methodology : Methodology, optional
        Add-on rules (contract minimum, SOM, roll shock, dampener, MM factor); none by default.
    resolved : ResolvedBook, optional
        The positions behind ``pnl``; gives the ``facts`` that add-ons count (contracts) and the
        dampener and the total's currency conversion need (spot).
    facts : GroupFacts, optional
        Those facts directly (a cached account); without either, add-ons are 0.
    rules : GroupRules, optional
        ``methodology`` laid out for these groups already (a cached account); used with
        ``facts``.
    span_positions : SpanPositions, optional
        Each position's group, contract month and composite delta, for SPAN's spreads
        (``methodology.spreads``); by default from ``resolved``.

    Raises
    ------
    InputError
        A non-finite P&L (naming the group and scenario), or inconsistent shapes.
    MethodologyError
        SPAN spreads without the positions (neither ``resolved`` nor ``span_positions``).
    """
    values = np.asarray(pnl.values, dtype=float)
    n_groups = len(pnl.row_labels)
    if values.ndim != 2 or values.shape[0] != n_groups:
        raise InputError(f"pnl values must have shape (n_groups={n_groups}, n_scenarios); got"
                         f" {values.shape}")
    distinct, index = distinct_objects(pnl.grids)
    for d, grid in enumerate(distinct):
        if values.shape[1] != grid.n_scenarios:
            g = int(np.flatnonzero(index == d)[0])
            raise InputError(f"group {pnl.row_labels[g]!r}: {values.shape[1]} P&L columns but"
                             f" {grid.n_scenarios} scenarios in its grid")
    bad = ~np.isfinite(values)
    if bad.any():
        g, j = np.argwhere(bad)[0]
        raise InputError(f"scenario P&L is not finite ({float(values[g, j])!r}) for group"
                         f" {pnl.row_labels[g]!r}, scenario {pnl.grids[g].labels[j]!r}"
                         f"{_culprits(pnl, j)}")
    spreads = methodology.spreads if methodology is not None else None
    if facts is None and resolved is not None:
        facts = GroupFacts.from_resolved(resolved, pnl.currency, spreads)
    if spreads is not None and n_groups and (facts is None or facts.tier_delta is None):
        if facts is None or (span_positions is None and resolved is None):
            raise MethodologyError(f"{methodology.name}: SPAN spreads are formed from the"  # type: ignore[union-attr]
                                   " positions' deltas; pass resolved= or span_positions=")
        found = span_positions if span_positions is not None else \
            SpanPositions.from_resolved(resolved, spreads)  # type: ignore[arg-type]
        facts = facts.with_tier_delta(tier_deltas(spreads, found, pnl.group_class))
    accounts = resolved.group_account if resolved is not None else (
        span_positions.group_account if span_positions is not None else None)
    # without the positions' facts, add-ons and the dampener cannot be counted: scan risk only
    if rules is None or facts is None:
        rules = GroupRules.of(pnl.grids, pnl.row_labels, pnl.currency,
                              methodology if facts is not None else None,
                              facts.quote_currency if facts is not None else pnl.currency[0],
                              pnl.group_class, accounts)
    reduce_facts = facts if facts is not None else GroupFacts(
        Counts(*(np.zeros(n_groups) for _ in Counts._fields)), np.ones(n_groups), np.ones(n_groups),
        pnl.currency[0] if n_groups else "")
    parts, spread = rules.reduce_parts(values, reduce_facts)
    requirement, scan = parts[_margin.REQUIREMENT], parts[_margin.SCAN]
    worst = parts[_margin.WORST].astype(np.intp)
    addons = _spread_addons(spread)
    addons.update({name: parts[_margin.PARTS.index(name)] for name in rules.addons})
    if methodology is not None and methodology.concentration is not None and n_groups:
        # the house points reported apart: the same reduction without them is the base
        weight = np.array(rules.arrays.weight)
        weight[:, -CONCENTRATION_POINTS:] = 0.0
        base = dataclasses.replace(rules, arrays=rules.arrays._replace(weight=weight)).reduce(
            values, reduce_facts)
        scan = base[_margin.SCAN]
        addons = _spread_addons(spread)
        addons.update({name: base[_margin.PARTS.index(name)] for name in rules.addons})
        addons["concentration"] = requirement - base[_margin.REQUIREMENT]
    maintenance = requirement * (methodology.mm_factor if methodology else 1.0)
    currencies = set(pnl.currency)
    if len(currencies) == 1:
        total_currency = pnl.currency[0]
        to_total = np.ones(n_groups)
    elif facts is not None:
        total_currency = facts.quote_currency
        to_total = facts.to_quote
    else:
        raise InputError(f"groups settle in different currencies {sorted(currencies)}; pass the"
                         " resolved book so the total can be converted at spot")
    labels = _worst_labels(distinct, index, worst)
    return MarginResult(
        total=Amount(float(np.sum(requirement * to_total)), total_currency),
        total_maintenance=Amount(float(np.sum(maintenance * to_total)), total_currency),
        total_currency=total_currency, group_labels=tuple(pnl.row_labels),
        currency=tuple(pnl.currency), initial=requirement, maintenance=maintenance,
        scan_risk=scan, worst_scenario=worst, worst_label=labels, addons=addons, pnl=pnl,
        methodology=methodology.describe() if methodology else {"name": "grid", "grids": sorted(
            {g.name or "custom" for g in pnl.grids})},
        excluded=tuple(excluded),
        quote_currency=facts.quote_currency if facts is not None else total_currency,
        to_quote=np.array(facts.to_quote, float) if facts is not None else np.zeros(0),
        memo={"net_option_value": np.array(pnl.base_value, float)} if methodology is not None
        and isinstance(methodology.grid_rule, SpanGrids) else {})


def _spread_addons(spread: SpreadParts | None) -> dict[str, np.ndarray]:
    # SPAN's spread parts as add-on columns (the credit negative: the parts add up to IM)
    if spread is None:
        return {}
    return {"intra_spread": spread.intra, "delivery": spread.delivery,
            "inter_credit": -spread.inter}


def _culprits(pnl: PnLMatrix, j: int) -> str:
    if pnl.position_values is None or pnl.position_id is None:
        return ""
    rows = np.flatnonzero(~np.isfinite(pnl.position_values[:, j]))
    return "; positions: " + ", ".join(map(str, pnl.position_id[rows][:10]))


def _name_culprits(book: Book, market: MarketData, resolved: ResolvedBook,
                   grids: ScenarioGrid | tuple[ScenarioGrid, ...], pnl: PnLMatrix,
                   by: Literal["group", "underlying"]) -> None:
    """Raise the non-finite P&L's error naming its positions, revaluing only the first bad group.

    Keeping every position's P&L to find a few culprits would cost positions x scenarios of
    memory; the group's own positions on its own grid name them just as well.
    """
    g = int(np.argwhere(~np.isfinite(pnl.values))[0, 0])
    start, stop = resolved.group_offsets[g], resolved.group_offsets[g + 1]
    ids = set(resolved.position_id[start:stop].tolist())
    sub = book.take(np.array([p in ids for p in book.position_id.tolist()]))
    sub_resolved = sub.resolve(market, by=by)
    grid = grids if isinstance(grids, ScenarioGrid) else grids[g]
    margin_from_pnl(revalue(sub_resolved, grid, keep_positions=True), resolved=sub_resolved)


def compute_margin(book: Book, market: MarketData, method: Methodology | ScenarioGrid, *,
                   by: Literal["group", "underlying"] = "group", keep_positions: bool = False,
                   excluded: Sequence[Failure] = ()) -> MarginResult:
    """Margin of ``book`` under ``method`` (a preset Methodology or one ScenarioGrid).

    It is ``margin_from_pnl(revalue(book.resolve(market), grids))`` with the methodology's
    add-ons. ``excluded`` carries rows a loader left out (``read_book(..., on_invalid="exclude")``),
    so the result says the book was partial.

    Examples
    --------
    >>> import numpy as np
    >>> from greeksmargin import Book, MarketData, ScenarioGrid, compute_margin
    >>> book = Book(["short-call"], ["XYZ"], [1], [100.0], [np.datetime64("2025-07-01")],
    ...             [-1.0], [100.0])
    >>> market = MarketData("2025-01-01", ["XYZ"], [100.0], [0.03], [0.03], [0.2])
    >>> result = compute_margin(book, market, ScenarioGrid.product([-0.15, 0.0, 0.15]))
    >>> result.worst_label[0], round(result.total, 2)
    ('spot+0.15', 1116.59)
    """
    started = time.perf_counter()
    resolved = book.resolve(market, by=by)
    if not isinstance(method, Methodology | ScenarioGrid):
        raise InputError(f"method must be a Methodology or a ScenarioGrid; got {type(method).__name__}")
    grids = margin_grids(method, resolved)
    rules = method if isinstance(method, Methodology) else None
    pnl = revalue(resolved, grids, keep_positions=keep_positions)
    if not np.all(np.isfinite(pnl.values)) and not keep_positions:
        _name_culprits(book, market, resolved, grids, pnl, by)
    result = margin_from_pnl(pnl, methodology=rules, resolved=resolved, excluded=excluded)
    _log.info("margin: %d positions, %d groups x %d scenarios (%s): %.2f %s in %.3f s",
              resolved.position_id.size, resolved.n_groups, pnl.n_scenarios,
              rules.name if rules else "grid", result.total, "/".join(sorted(set(pnl.currency))),
              time.perf_counter() - started)
    return result
