"""Cross-margining between margin groups: offsets, correlations, joint scenarios, comparisons.

A :class:`~greeksmargin.measures.revalue.PnLMatrix` holds P&L per class group (everything on one
underlying or one index basket, netted fully at each scenario) and scenario. This module decides
how much the groups' risks offset, several ways:

- :func:`offset_margin`: product groups (TIMS-style) whose members credit each other's losses with
  a configurable percentage of the netting benefit;
- :func:`correlation_margin`: standalone requirements aggregated through a correlation matrix
  (variance-covariance style);
- :func:`factor_grids`: joint cross-asset scenarios (each underlying moves by beta x index shock
  plus its own shock), so that netting at aligned scenarios is a real joint stress;
- :func:`compare`: the same book margined in isolation and cross-margined, side by side.

Conventions: requirements are >= 0, in the groups' common settlement currency; scenario ``j`` of
every group's grid is the same market event when groups are netted at aligned scenarios.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..enums import Settlement
from ..errors import InputError
from ..measures.revalue import PnLMatrix
from ..methodology import Methodology
from ..methodology.historical import HistoricalModel
from ..model.amount import Amount
from ..model.book import Book
from ..model.correlation import check_correlation, nearest_correlation
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid
from .historical import historical_margin
from .result import MarginResult, compute_margin
from .rules import scan_risk
from .strategy import strategy_margin

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OffsetResult", "offset_margin", "CorrelationResult", "edge_exposures",
           "correlation_margin", "BreakdownResult", "correlation_breakdown", "factor_grids",
           "CompareRow", "compare", "compare_frame", "venue_presets", "STRATEGY_BASED"]


@dataclass(frozen=True, slots=True)
class OffsetResult:
    """Cross-margin with TIMS product-group offsets (the gains-credit rule).

    Attributes
    ----------
    total : float
        Sum over product groups of their requirement (>= 0), in ``currency``.
    product_groups : tuple of str
        Product group names (a class group in no product group is its own).
    requirement : ndarray, shape (n_product_groups,)
        Requirement of each product group: its worst point after the gains credit.
    standalone : ndarray, shape (n_product_groups,)
        Sum of its class groups' standalone requirements (worst points taken separately).
    netted : ndarray, shape (n_product_groups,)
        Its requirement with every gain credited (offset 100%) at aligned points.
    offset : ndarray, shape (n_product_groups,)
        The offset fraction applied.
    worst_point : ndarray of int, shape (n_product_groups,)
        The valuation point (scenario index) that sets each product group's requirement.
    currency : str
        Currency of every amount (the market's quote currency when groups were converted).
    """

    total: float
    product_groups: tuple[str, ...]
    requirement: np.ndarray
    standalone: np.ndarray
    netted: np.ndarray
    offset: np.ndarray
    worst_point: np.ndarray
    currency: str = ""


def _standalone(pnl: PnLMatrix) -> np.ndarray:
    return scan_risk(pnl.values, pnl.grids, pnl.row_labels)


def _one_currency(pnl: PnLMatrix, rows: Sequence[int], market: MarketData | None,
                  what: str) -> tuple[np.ndarray, str]:
    """Conversion factor of each row of ``rows`` into one currency, and that currency.

    Groups settling in one currency stay in it (factor 1); groups in several currencies are
    converted to the market's quote currency at spot, which needs ``market``.
    """
    if not np.all(np.isfinite(pnl.values[list(rows)])):
        raise InputError("scenario P&L is not finite; margin the groups first to find the positions")
    currencies = {pnl.currency[g] for g in rows}
    if len(currencies) <= 1:
        return np.ones(len(rows)), (currencies.pop() if currencies else "")
    if market is None:
        raise InputError(f"{what}: groups {[pnl.row_labels[g] for g in rows]} settle in different"
                         f" currencies {sorted(currencies)}; pass market= to convert them to the"
                         f" quote currency at spot")
    return market.to_quote([pnl.currency[g] for g in rows]), market.quote_currency


def offset_margin(pnl: PnLMatrix, product_group_of: Mapping[str, str],
                  offset: float | Mapping[str, float], *,
                  market: MarketData | None = None) -> OffsetResult:
    """Compute the requirement with TIMS product-group offsets between class groups.

    OCC's rule: within a class group 100% of the gains of one position offset the losses of
    another (each row of ``pnl`` is already netted); across the class groups ``g`` of a
    product group ``P``, "a percent of the gains to one Class Group offsets the losses to other
    Class Groups". At each aligned valuation point ``j`` (point ``j`` of every member's range,
    whatever the ranges' sizes) the product group's P&L is

    ``PG_j = sum_g min(x_gj, 0) + theta sum_g max(x_gj, 0)``, ``x_gj = w_gj pnl_gj``,

    and its requirement is the worst point, ``R_P = max(0, max_j -PG_j)``. ``theta = 1`` is full
    netting at aligned points; ``theta = 0`` credits no gain but still takes the losses at one
    point, so ``R_P <= sum_g R_g`` for every ``theta``.

    Parameters
    ----------
    pnl : PnLMatrix
        Per class group P&L; point ``j`` of every group's grid is the same market event
        (TIMS aligns valuation points by index, whatever each class group's range).
    product_group_of : mapping of str to str
        Class group -> product group (e.g. ``{"SPX": "US index", "NDX": "US index"}``).
    offset : float or mapping of str to float
        Offset fraction in [0, 1], one for all or per product group (0 where not given).
    market : MarketData, optional
        Converts the members of a product group that settle in different currencies to the
        quote currency at spot (required then; the result is in the quote currency).

    Notes
    -----
    OCC publishes the rule, not the percentages (OCC, customer portfolio margin,
    https://prd-web.theocc.com/risk-management/customer-portfolio-margin; see
    docs/methodology.md): ``theta`` is data the user supplies.
    """
    for label in product_group_of:
        if label not in pnl.row_labels:
            raise InputError(f"product_group_of names unknown class group {label!r}; groups:"
                             f" {', '.join(pnl.row_labels)}")
    names: list[str] = []
    members: dict[str, list[int]] = {}
    for g, label in enumerate(pnl.row_labels):
        product = product_group_of.get(label, label)
        if product not in members:
            members[product] = []
            names.append(product)
        members[product].append(g)
    names.sort()
    factor_all, currency = _one_currency(pnl, range(len(pnl.row_labels)), market, "offsets")
    standalone_g = _standalone(pnl) * factor_all
    requirement, standalone, netted, thetas, worst = [], [], [], [], []
    for product in names:
        rows = members[product]
        theta = offset.get(product, 0.0) if isinstance(offset, Mapping) else offset
        if not (0.0 <= theta <= 1.0):
            raise InputError(f"offset must be in [0, 1]; got {theta!r} for product group {product!r}")
        x = np.stack([pnl.grids[g].weight * pnl.values[g] * factor_all[g] for g in rows])
        gains, losses = np.maximum(x, 0.0).sum(axis=0), np.minimum(x, 0.0).sum(axis=0)
        point = losses + theta * gains
        j = int(np.argmin(point))
        requirement.append(max(0.0, -float(point[j])))
        standalone.append(float(standalone_g[rows].sum()))
        netted.append(max(0.0, -float((losses + gains).min())))
        thetas.append(theta)
        worst.append(j)
    req = np.array(requirement)
    return OffsetResult(float(req.sum()), tuple(names), req, np.array(standalone),
                        np.array(netted), np.array(thetas), np.array(worst, np.int64), currency)


@dataclass(frozen=True, slots=True)
class CorrelationResult:
    """Direction-aware correlation margin and its parts (see :func:`correlation_margin`).

    Attributes
    ----------
    total : float
        ``max(0, directional + curvature) + residual`` (>= 0), in ``currency``.
    directional : float
        ``sqrt(delta' C delta)``.
    curvature : float
        ``sqrt(k+' (C o C) k+) + sum over convex groups of max(kappa, -|delta|)`` (can be < 0).
    residual : float
        Sum of each group's loss away from its range's edges (not offset).
    standalone : float
        Sum of the groups' standalone requirements (every correlation the worst).
    labels : tuple of str
        The groups, in ``pnl`` order.
    delta, kappa, epsilon : ndarray, shape (n_groups,)
        Per group: half the difference of the losses at the up and down edges (> 0: loses when
        the underlying rises), their half sum (> 0: loses both ways), the loss inside the
        range beyond the edges' (>= 0).
    currency : str
        Currency of every amount.
    """

    total: float
    directional: float
    curvature: float
    residual: float
    standalone: float
    labels: tuple[str, ...]
    delta: np.ndarray
    kappa: np.ndarray
    epsilon: np.ndarray
    currency: str


def edge_exposures(pnl: PnLMatrix, market: MarketData | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Each group's signed exposure at the edges of its own range, for correlation margin.

    On each group's own standardised move axis (``-1`` its largest fall, ``+1`` its largest
    rise), ``a`` is the worst weighted loss among the scenarios at the up edge (any vol or
    time shift there), ``b`` at the down edge. Returns ``(delta, kappa, epsilon, R,
    currency)``: ``delta = (a - b) / 2``, ``kappa = (a + b) / 2``, ``epsilon = R - max(a, b,
    0)`` where ``R`` is the standalone requirement (worst weighted loss anywhere), all in one
    currency (``market`` converts mixed currencies at spot).
    """
    rows = range(len(pnl.row_labels))
    factor, currency = _one_currency(pnl, rows, market, "correlation margin")
    n = len(pnl.row_labels)
    up, down = np.empty(n), np.empty(n)
    for g in rows:
        grid = pnl.grids[g]
        shift = grid.spot_shift
        if not (shift.max() > 0 > shift.min()):
            raise InputError(f"group {pnl.row_labels[g]!r}: its grid must move spot both ways for"
                             f" a direction; its spot shifts span [{shift.min():g},"
                             f" {shift.max():g}]")
        loss = -grid.weight * pnl.values[g] * factor[g]
        up[g] = loss[shift == shift.max()].max()
        down[g] = loss[shift == shift.min()].max()
    requirement = _standalone(pnl) * factor
    edge = np.maximum(np.maximum(up, down), 0.0)
    return ((up - down) / 2, (up + down) / 2, np.maximum(requirement - edge, 0.0), requirement,
            currency)


def correlation_margin(pnl: PnLMatrix, correlation: np.ndarray, *,
                       market: MarketData | None = None) -> CorrelationResult:
    """Aggregate groups' scenario P&L through a correlation matrix, keeping each one's direction.

    Each group ``g`` (one underlying) is reduced to its losses at the edges of its own range:
    ``a_g`` when its underlying rises to the top of the range, ``b_g`` when it falls to the
    bottom (full revaluation, worst over the vol and time shifts at that spot). Split into
    an odd, directional part ``delta_g = (a_g - b_g) / 2`` (signed) and an even part
    ``kappa_g = (a_g + b_g) / 2`` (> 0 for a book that loses both ways, a short straddle;
    < 0 for one that gains both ways); ``|delta_g| + kappa_g = max(a_g, b_g)``. Then

    ``M = max(0, sqrt(delta' C delta) + K) + sum_g epsilon_g``, with
    ``K = sqrt(k+' (C o C) k+) + sum_{kappa_g < 0} max(kappa_g, -|delta_g|)``,

    ``k+ = max(kappa, 0)``, ``C o C`` the element-wise square (for jointly normal moves
    ``corr(z_i^2, z_j^2) = rho_ij^2``: losses both ways are correlated by ``rho^2`` whatever
    the sign of ``rho``) and ``epsilon_g >= 0`` each group's worst loss beyond its edges' (a
    long straddle's decay at an unchanged spot), added without offset.

    Where it is exact: one group gives its standalone requirement; books linear in each
    underlying give the variance-covariance aggregate of signed exposures (hedges net: a long
    and a short on underlyings with ``rho = 1`` cost ``|a_1 - a_2|``); with every ``rho = +1``
    and losses at the edges it is full netting at aligned edges. It never exceeds the sum of
    standalone requirements (``rho`` the worst sign for every pair, the
    :func:`correlation_breakdown` bound).

    Parameters
    ----------
    pnl : PnLMatrix
        One row per underlying (``compute_margin(..., by="underlying").pnl``); each grid must
        move spot both ways.
    correlation : ndarray, shape (n_groups, n_groups)
        Correlation of the groups' moves in ``pnl`` row order: symmetric, unit diagonal,
        positive semi-definite (``estimate.nearest_correlation`` repairs one).
    market : MarketData, optional
        Converts groups that settle in different currencies to the quote currency at spot.
    """
    delta, kappa, epsilon, requirement, currency = edge_exposures(pnl, market)
    c = check_correlation(correlation, delta.size)
    return _aggregate(delta, kappa, epsilon, requirement, c, tuple(pnl.row_labels), currency)


def _aggregate(delta: np.ndarray, kappa: np.ndarray, epsilon: np.ndarray,
               requirement: np.ndarray, c: np.ndarray, labels: tuple[str, ...],
               currency: str) -> CorrelationResult:
    directional = float(np.sqrt(max(float(delta @ c @ delta), 0.0)))
    concave = np.maximum(kappa, 0.0)
    convex = kappa < 0
    curvature = (float(np.sqrt(max(float(concave @ (c * c) @ concave), 0.0)))
                 + float(np.maximum(kappa[convex], -np.abs(delta[convex])).sum()))
    residual = float(epsilon.sum())
    total = max(0.0, directional + curvature) + residual
    return CorrelationResult(total, directional, curvature, residual, float(requirement.sum()),
                             labels, delta, kappa, epsilon, currency)


@dataclass(frozen=True, slots=True)
class BreakdownResult:
    """The correlation that is worst for the book, among a stated set.

    Attributes
    ----------
    total : float
        The largest correlation margin over the set (>= ``base.total`` by construction).
    worst : str
        Name of the correlation that gives it.
    base : CorrelationResult
        The margin at the base correlation.
    margins : dict of str to float
        Every candidate's margin, by name.
    matrices : dict of str to ndarray
        Every candidate correlation (valid correlation matrices).
    """

    total: float
    worst: str
    base: CorrelationResult
    margins: dict[str, float]
    matrices: dict[str, np.ndarray]


def correlation_breakdown(pnl: PnLMatrix, base: np.ndarray, *,
                          stressed: Mapping[str, np.ndarray] | None = None,
                          weights: Sequence[float] = (0.5, 1.0),
                          market: MarketData | None = None) -> BreakdownResult:
    """Search a stated set of correlations for the one worst for this book.

    The set: the ``base`` matrix; ``base`` pushed by each weight ``w`` in ``weights`` towards
    every pair moving together (all ``+1``) and towards the book's hedges failing
    (``rho_ij = sign(delta_i) sign(delta_j)``, rank one and so a valid correlation, where every
    directional exposure adds up), ``(1 - w) C + w T`` repaired to the nearest correlation
    (Higham 2002), ``w = 1`` being the target itself; and any ``stressed`` matrices (e.g.
    correlations of historical stress windows, ``estimate.window_correlations``). The result
    is the largest :func:`correlation_margin` over the set, so never below the base
    correlation's. At "hedges fail" the margin is the sum of standalone requirements: with
    ``w = 1`` in ``weights`` the search always reaches isolation.
    """
    delta, kappa, epsilon, requirement, currency = edge_exposures(pnl, market)
    labels = tuple(pnl.row_labels)
    n = delta.size
    c0 = check_correlation(base, n)
    sign = np.where(delta < 0, -1.0, 1.0)
    targets = {"all +1": np.ones((n, n)), "hedges fail": np.outer(sign, sign)}
    matrices: dict[str, np.ndarray] = {"base": c0}
    for w in weights:
        if not (0.0 <= w <= 1.0):
            raise InputError(f"weights must be in [0, 1]; got {w!r}")
    for name, target in targets.items():
        for w in weights:
            if w == 1.0:
                matrices[name] = target
            elif w > 0.0:
                mixed = (1 - w) * c0 + w * target
                np.fill_diagonal(mixed, 1.0)
                matrices[f"{w:.0%} towards {name}"] = nearest_correlation(mixed)
    for name, matrix in (stressed or {}).items():
        matrices[str(name)] = check_correlation(matrix, n)
    base_result = _aggregate(delta, kappa, epsilon, requirement, c0, labels, currency)
    margins = {name: base_result.total if name == "base" else
               _aggregate(delta, kappa, epsilon, requirement, m, labels, currency).total
               for name, m in matrices.items()}
    worst = max(margins, key=lambda k: (margins[k], k == "base"))
    return BreakdownResult(margins[worst], worst, base_result, margins, matrices)


def factor_grids(group_labels: Sequence[str], index_shocks: Sequence[float] | np.ndarray,
                 betas: Mapping[str, float], *, own_shocks: Mapping[str, float] | None = None,
                 own: str = "with_index", vol_shifts: Sequence[float] = (0.0,),
                 name: str = "factor model", **grid_options: object) -> tuple[ScenarioGrid, ...]:
    """Joint cross-asset grids: group ``g`` moves by ``beta_g x index shock + own shock``.

    Scenario ``j`` is the same market event for every group, so netting groups at aligned
    scenarios (``offset=1``) is a joint stress. Own (idiosyncratic) shocks ``s_g``:

    - ``own="with_index"``: added in the direction of the index move (``+s`` when the index goes
      up, ``-s`` down, 0 at 0); it widens each group's range but moves every group the same way,
      so it can never break a hedge between groups;
    - ``own="each"``: at every index move, one more pair of scenarios per group with its own
      shock ``+-s_g`` on top while the others move by beta alone (``1 + 2 n_groups``
      scenarios per index move): a hedge between two groups is tested against each leg's own
      move.

    Parameters
    ----------
    group_labels : sequence of str
        Groups in ``PnLMatrix`` order (``Book.resolve(market, by="underlying")`` gives one per
        underlying).
    index_shocks : sequence of float
        Relative index moves.
    betas : mapping of str to float
        Beta of each group to the index (see :func:`greeksmargin.analysis.estimate.betas`).
    own_shocks : mapping of str to float, optional
        Size of each group's own (idiosyncratic) shock.
    own : {"with_index", "each"}
        How own shocks combine with the index move (above).
    vol_shifts : sequence of float
        Vol shifts applied at every scenario (``vol_shift_type`` etc. via ``grid_options``).
    """
    if own not in ("with_index", "each"):
        raise InputError(f"own must be 'with_index' or 'each'; got {own!r}")
    shocks = np.asarray(index_shocks, dtype=float)
    for label in group_labels:
        if label not in betas:
            raise InputError(f"no beta for group {label!r}; betas given for {sorted(betas)}")
    sizes = {label: float((own_shocks or {}).get(label, 0.0)) for label in group_labels}
    # the events: (index move, group shocked alone or None, sign)
    events: list[tuple[float, str | None, float]] = []
    for shock in shocks:
        events.append((float(shock), None, 0.0))
        if own == "each":
            events += [(float(shock), label, sign) for label in group_labels
                       if sizes[label] for sign in (-1.0, 1.0)]
    grids = []
    for label in group_labels:
        moves = np.array([betas[label] * x + (np.sign(x) * sizes[label] if own == "with_index"
                                               else sign * sizes[label] if who == label else 0.0)
                          for x, who, sign in events])
        if np.any(moves <= -1):
            raise InputError(f"group {label!r}: beta {betas[label]} x index shock moves spot by"
                             f" {moves.min():.0%} (<= -100%)")
        grid = ScenarioGrid.product(moves, vol_shifts, name=f"{name}: {label}",
                                    **grid_options)  # type: ignore[arg-type]
        labels = tuple(f"index{x:+.3g}" + (f"|{who}{sign * sizes[who]:+.3g}" if who else "")
                       + (f"|vol{v:+.3g}" if v else "")
                       for x, who, sign in events for v in vol_shifts)
        grids.append(ScenarioGrid(grid.spot_shift, grid.vol_shift, grid.vol_shift_type,
                                  grid.time_shift_years, grid.weight, labels, grid.vol_scaling,
                                  grid.name))
    return tuple(grids)


STRATEGY_BASED = "strategy-based (Reg T, best pairing)"


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One way of margining the book: its total, the saving against full isolation, and flags.

    ``coverage`` is the method's backtested coverage when the caller supplies it (e.g. from
    ``analysis.netting``); ``flag`` says when the method disagrees with the others' median by
    more than the stated factor.
    """

    method: str
    margin: Amount  # quote currency (coin-settled groups converted at spot)
    saving: float  # 1 - margin / isolated, >= 0 when cross-margining helps
    detail: str
    coverage: float | None = None
    flag: str = ""


def compare(book: Book, market: MarketData, method: Methodology | ScenarioGrid, *,
            strategy_of: Mapping[str, str] | None = None,
            product_group_of: Mapping[str, str] | None = None, offset: float = 1.0,
            correlation: np.ndarray | None = None,
            stressed_correlations: Mapping[str, np.ndarray] | None = None,
            historical: HistoricalModel | None = None,
            coverage: Mapping[str, float] | None = None,
            disagreement: float = 2.0, strategy_based: bool | None = None,
            others: Mapping[str, Methodology | ScenarioGrid] | None = None
            ) -> tuple[CompareRow, ...]:
    """Margin the same book each way, from most isolated to most cross-margined.

    Rows: every position alone; every strategy alone (``strategy_of`` maps position id ->
    strategy; legs entered together share a strategy); each underlying alone; each margin
    group alone (``MarketData.group_of``); TIMS product-group offsets (``product_group_of``,
    ``offset``, :func:`offset_margin`); direction-aware correlation of the underlyings
    (``correlation`` in the order of ``market.underlyings`` restricted to the book's,
    :func:`correlation_margin`) and its breakdown, the worst correlation for the book
    (:func:`correlation_breakdown`, with ``stressed_correlations`` in the same order). Add-ons
    (per-contract minimum, short-option minimum, ...) of the underlyings are added to the
    correlation rows, those of the class groups to the offset row. With ``historical`` the
    book is also margined by historical simulation (:mod:`greeksmargin.margin.historical`,
    its own VaR/ES, no scan add-ons). The saving is ``1 - margin / position-alone``. Every
    margin is in the market's quote currency (coin-settled groups converted at spot).

    What desks pay today: the strategy-based (Reg T) requirement at its best pairing
    (:mod:`greeksmargin.margin.strategy`) comes second, after every position alone under the
    scan; ``strategy_based=None`` adds it when every position is a security (options, stock),
    ``True`` requires it, ``False`` leaves it out. ``others`` adds a row per further portfolio
    margin methodology (name -> preset), each margined by class group.

    Model disagreement: the cross-margined rows (from "each underlying alone" on) are compared
    with their median; a row more than ``disagreement`` times above or below it is flagged.
    ``coverage`` (method name -> backtested coverage, e.g. from ``analysis.netting``) is
    attached to the rows it names.
    """
    if not (np.isfinite(disagreement) and disagreement > 1):
        raise InputError(f"disagreement must be a factor > 1; got {disagreement!r}")
    quote = market.quote_currency
    rows: list[tuple[str, Amount, str]] = []
    by_position = Amount(0.0, quote)
    for i in range(book.n_positions):
        by_position += compute_margin(book.take(np.array([i])), market, method).initial_quote
    rows.append(("each position alone", by_position, f"{book.n_positions} positions"))
    if strategy_based is not False:
        try:
            regt = strategy_margin(book, market)
        except InputError:
            if strategy_based:
                raise
        else:
            rows.append((STRATEGY_BASED, regt.total,
                         f"{len(regt.pairings)} strategies formed, {len(regt.alone)} legs alone"))
    if strategy_of is not None:
        missing = [p for p in book.position_id.tolist() if p not in strategy_of]
        if missing:
            raise InputError(f"strategy_of has no strategy for positions {missing[:5]}")
        strategies = np.array([strategy_of[p] for p in book.position_id.tolist()])
        total = sum((compute_margin(book.take(strategies == s), market, method).initial_quote
                     for s in np.unique(strategies)), Amount(0.0, quote))
        rows.append(("each strategy alone", total, f"{len(np.unique(strategies))} strategies"))
    per_underlying = compute_margin(book, market, method, by="underlying")
    rows.append(("each underlying alone", per_underlying.initial_quote,
                 f"{len(per_underlying.group_labels)} underlyings"))
    per_group = compute_margin(book, market, method, by="group")
    rows.append(("each class group alone", per_group.initial_quote,
                 f"{len(per_group.group_labels)} groups (full netting within)"))
    if product_group_of is not None and per_group.pnl is not None:
        result = offset_margin(per_group.pnl, product_group_of, offset, market=market)
        rate = 1.0 if result.currency == quote else float(market.to_quote([result.currency])[0])
        offset_total = Amount(result.total * rate + _addons_quote(per_group, market), quote)
        rows.append((f"product-group offsets ({offset:.0%} of gains)", offset_total,
                     f"{len(result.product_groups)} product groups, TIMS gains credit"))
    if correlation is not None and per_underlying.pnl is not None:
        c = np.asarray(correlation, dtype=float)
        index = [market.underlyings.index(u) for u in per_underlying.group_labels]
        if c.shape != (market.n_underlyings,) * 2:
            raise InputError(f"correlation must be {market.n_underlyings} x"
                             f" {market.n_underlyings} in the order of market.underlyings;"
                             f" got {c.shape}")
        quote_pnl = _in_quote(per_underlying.pnl, market)
        addons = _addons_quote(per_underlying, market)
        base = correlation_margin(quote_pnl, c[np.ix_(index, index)])
        rows.append(("correlation of underlyings (direction-aware)",
                     Amount(base.total + addons, quote), "sqrt(d'Cd) + curvature"))
        stressed = {name: np.asarray(m, dtype=float)[np.ix_(index, index)]
                    for name, m in (stressed_correlations or {}).items()}
        breakdown = correlation_breakdown(quote_pnl, c[np.ix_(index, index)], stressed=stressed,
                                          weights=(0.5,))
        rows.append(("correlation breakdown (worst for the book)",
                     Amount(breakdown.total + addons, quote), f"worst: {breakdown.worst}"))
    for name, other in (others or {}).items():
        venue = compute_margin(book, market, other, by="group")
        rows.append((f"portfolio margin: {name}", venue.initial_quote,
                     f"{len(venue.group_labels)} class groups"))
    if historical is not None:
        hist = historical_margin(book, market, historical)
        rows.append((f"historical simulation ({historical.measure.upper()}"
                     f" {historical.confidence:.0%}, {historical.mpor_days}-day)", hist.total,
                     f"{historical.dates.size} joint scenarios"
                     + (", stress floor binds" if hist.stress_binding else "")))
    isolated = rows[0][1]
    alone = ("each position alone", "each strategy alone", STRATEGY_BASED)
    cross = [float(v) for name, v, _ in rows if name not in alone]
    median = float(np.median(cross)) if cross else 0.0
    out = []
    for name, value, detail in rows:
        flag = ""
        if name not in alone and median > 0:
            ratio = float(value) / median
            if ratio > disagreement or ratio < 1 / disagreement:
                flag = f"x{ratio:.2f} the median of the methods"
        out.append(CompareRow(name, value, 1.0 - value / isolated if isolated > 0 else 0.0, detail,
                              None if coverage is None else coverage.get(name), flag))
    return tuple(out)


def venue_presets(book: Book) -> dict[str, Methodology]:
    """Every venue's portfolio-margin preset that applies to ``book``, by display name.

    Coin-settled books: Deribit; others: OCC TIMS (product classes from the market) and CME
    SPAN (PSR 7%, VSR 35%). ``compare(..., others=venue_presets(book))`` puts them side by side.
    """
    from ..methodology import deribit, occ_tims, span

    if book.settlement is not None and bool(np.any(book.settlement == Settlement.INVERSE)):
        return {"Deribit": deribit()}
    return {"OCC TIMS": occ_tims(), "CME SPAN (PSR 7%, VSR 35%)": span(0.07, 0.35)}


def _in_quote(pnl: PnLMatrix, market: MarketData) -> PnLMatrix:
    """Return the same P&L with every row in the market's quote currency (coins at spot)."""
    rate = market.to_quote(pnl.currency)
    return PnLMatrix(pnl.values * rate[:, None], pnl.row_labels, pnl.base_value * rate,
                     (market.quote_currency,) * len(pnl.row_labels), pnl.grids,
                     group_class=pnl.group_class)


def _addons_quote(result: MarginResult, market: MarketData) -> float:
    """Sum of a result's add-ons (everything above scan risk), in the quote currency."""
    return float(((result.initial - result.scan_risk) * result.to_quote).sum())


def compare_frame(rows: Sequence[CompareRow]) -> pd.DataFrame:
    """Return the comparison as a DataFrame.

    Columns: method, margin, saving vs isolated, saving vs strategy-based (Reg T; NaN without
    that row), detail, backtested coverage (NaN where not supplied), flag (model disagreement).
    """
    import pandas as pd

    regt = next((r.margin for r in rows if r.method == STRATEGY_BASED), None)
    vs_regt = [np.nan if regt is None or not regt > 0 else float(1.0 - r.margin / regt)
               for r in rows]
    return pd.DataFrame({"method": [r.method for r in rows], "margin": [r.margin for r in rows],
                         "saving_vs_isolated": [r.saving for r in rows],
                         "saving_vs_reg_t": vs_regt,
                         "detail": [r.detail for r in rows],
                         "backtested_coverage": [np.nan if r.coverage is None else r.coverage
                                                 for r in rows],
                         "flag": [r.flag for r in rows]})
