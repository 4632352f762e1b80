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

from ..errors import InputError
from ..measures.revalue import PnLMatrix
from ..methodology import Methodology
from ..model.amount import Amount
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid
from .result import MarginResult, compute_margin
from .rules import scan_risk

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OffsetResult", "offset_margin", "correlation_margin", "factor_grids",
           "CompareRow", "compare", "compare_frame"]


@dataclass(frozen=True, slots=True)
class OffsetResult:
    """Cross-margin with product-group offsets.

    Attributes
    ----------
    total : float
        Sum over product groups of their requirement (>= 0).
    product_groups : tuple of str
        Product group names (a class group in no product group is its own).
    requirement : ndarray, shape (n_product_groups,)
        Requirement of each product group after offsets.
    standalone : ndarray, shape (n_product_groups,)
        Sum of its class groups' standalone requirements.
    netted : ndarray, shape (n_product_groups,)
        Its requirement with gains netted fully at aligned scenarios.
    offset : ndarray, shape (n_product_groups,)
        The offset fraction applied.
    """

    total: float
    product_groups: tuple[str, ...]
    requirement: np.ndarray
    standalone: np.ndarray
    netted: np.ndarray
    offset: np.ndarray


def _standalone(pnl: PnLMatrix) -> np.ndarray:
    return scan_risk(pnl.values, pnl.grids, pnl.row_labels)


def _check_aligned(pnl: PnLMatrix, rows: Sequence[int]) -> None:
    if not np.all(np.isfinite(pnl.values)):
        raise InputError("scenario P&L is not finite; margin the groups first to find the positions")
    currencies = {pnl.currency[g] for g in rows}
    if len(currencies) > 1:
        raise InputError(f"groups {[pnl.row_labels[g] for g in rows]} settle in different currencies"
                         f" {sorted(currencies)}; offsets need one currency")


def offset_margin(pnl: PnLMatrix, product_group_of: Mapping[str, str],
                  offset: float | Mapping[str, float]) -> OffsetResult:
    """Compute the requirement with product-group offsets between class groups.

    Within a product group ``P`` of class groups ``g`` with standalone requirements ``R_g``
    (worst weighted loss) and the fully netted requirement ``N_P = max(0, max_j -sum_g w_j
    pnl_gj)`` (gains of one class group offsetting losses of another at the same scenario), the
    requirement is ``R_P = sum_g R_g - theta (sum_g R_g - N_P)``: the offset ``theta`` in [0, 1] is
    the share of the netting benefit credited. ``theta = 0`` gives the sum of standalone margins,
    ``theta = 1`` full netting; ``R_P`` never exceeds the standalone sum.

    Parameters
    ----------
    pnl : PnLMatrix
        Per class group P&L on aligned grids (scenario ``j`` the same event in every group).
    product_group_of : mapping of str to str
        Class group -> product group (e.g. ``{"SPX": "US index", "NDX": "US index"}``).
    offset : float or mapping of str to float
        Offset fraction, one for all or per product group.

    Notes
    -----
    OCC publishes that a percentage of one class group's gains offsets other class groups'
    losses, but not the percentages (OCC, customer portfolio margin,
    https://prd-web.theocc.com/risk-management/customer-portfolio-margin): they are data the user
    supplies.
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
    standalone_g = _standalone(pnl)
    weights = np.stack([g.weight for g in pnl.grids])
    requirement, standalone, netted, thetas = [], [], [], []
    for product in names:
        rows = members[product]
        _check_aligned(pnl, rows)
        theta = offset.get(product, 0.0) if isinstance(offset, Mapping) else offset
        if not (0.0 <= theta <= 1.0):
            raise InputError(f"offset must be in [0, 1]; got {theta!r} for product group {product!r}")
        sizes = {pnl.grids[g].n_scenarios for g in rows}
        if len(sizes) != 1:
            raise InputError(f"product group {product!r} has grids of different sizes {sorted(sizes)}")
        total_pnl = (weights[rows] * pnl.values[rows]).sum(axis=0)
        net = max(0.0, -float(total_pnl.min()))
        alone = float(standalone_g[rows].sum())
        requirement.append(alone - theta * (alone - net) if net < alone else alone)
        standalone.append(alone)
        netted.append(net)
        thetas.append(theta)
    req = np.array(requirement)
    return OffsetResult(float(req.sum()), tuple(names), req, np.array(standalone),
                        np.array(netted), np.array(thetas))


def correlation_margin(requirements: np.ndarray, correlation: np.ndarray) -> float:
    """Standalone requirements ``R`` (>= 0) aggregated as ``sqrt(R' C R)``.

    With every correlation 1 this is ``sum R`` (no offset); with 0, ``sqrt(sum R^2)``; negative
    correlations offset further. ``C`` must be a symmetric positive semi-definite correlation
    matrix (unit diagonal); see :func:`greeksmargin.analysis.estimate.nearest_correlation`.
    """
    r = np.asarray(requirements, dtype=float)
    c = np.asarray(correlation, dtype=float)
    if r.ndim != 1 or not np.all(np.isfinite(r) & (r >= 0)):
        raise InputError(f"requirements must be a 1-D array of finite values >= 0; got {r!r}")
    if c.shape != (r.size, r.size):
        raise InputError(f"correlation must have shape {(r.size, r.size)}; got {c.shape}")
    if not (np.allclose(c, c.T, atol=1e-12) and np.allclose(np.diag(c), 1.0, atol=1e-12)
            and np.all(np.abs(c) <= 1 + 1e-12)):
        raise InputError("correlation must be symmetric with unit diagonal and entries in [-1, 1]")
    smallest = float(np.linalg.eigvalsh(c).min()) if r.size else 0.0
    if smallest < -1e-10:
        raise InputError(f"correlation is not positive semi-definite (smallest eigenvalue"
                         f" {smallest:.3g}); repair it with estimate.nearest_correlation")
    return float(np.sqrt(max(float(r @ c @ r), 0.0)))


def factor_grids(group_labels: Sequence[str], index_shocks: Sequence[float] | np.ndarray,
                 betas: Mapping[str, float], *, own_shocks: Mapping[str, float] | None = None,
                 vol_shifts: Sequence[float] = (0.0,), name: str = "factor model",
                 **grid_options: object) -> tuple[ScenarioGrid, ...]:
    """Joint cross-asset grids: group ``g`` moves by ``beta_g x index shock + own shock``.

    Scenario ``j`` is the same index move for every group, so netting groups at aligned
    scenarios (``offset=1``) is a joint stress. An own (idiosyncratic) shock ``s`` is added in the
    direction of the index move (``+s`` when the index goes up, ``-s`` when it goes down, 0 at 0):
    a simple, documented choice that widens every group's range by its own risk.

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
    vol_shifts : sequence of float
        Vol shifts applied at every index move (``vol_shift_type`` etc. via ``grid_options``).
    """
    shocks = np.asarray(index_shocks, dtype=float)
    grids = []
    for label in group_labels:
        if label not in betas:
            raise InputError(f"no beta for group {label!r}; betas given for {sorted(betas)}")
        own = (own_shocks or {}).get(label, 0.0)
        moves = betas[label] * shocks + np.sign(shocks) * own
        if np.any(moves <= -1):
            raise InputError(f"group {label!r}: beta {betas[label]} x index shock moves spot by"
                             f" {moves.min():.0%} (<= -100%)")
        grid = ScenarioGrid.product(moves, vol_shifts, name=f"{name}: {label}",
                                    **grid_options)  # type: ignore[arg-type]
        labels = tuple(f"index{s:+.3g}" + (f"|vol{v:+.3g}" if v else "")
                       for s in shocks for v in vol_shifts)
        grids.append(ScenarioGrid(grid.spot_shift, grid.vol_shift, grid.vol_shift_type,
                                  grid.time_shift_years, grid.weight, labels, grid.vol_scaling,
                                  grid.name))
    return tuple(grids)


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One way of margining the book: its total, and the saving against full isolation."""

    method: str
    margin: Amount  # quote currency (coin-settled groups converted at spot)
    saving: float  # 1 - margin / isolated, >= 0 when cross-margining helps
    detail: str


def compare(book: Book, market: MarketData, method: Methodology | ScenarioGrid, *,
            strategy_of: Mapping[str, str] | None = None,
            product_group_of: Mapping[str, str] | None = None, offset: float = 1.0,
            correlation: np.ndarray | None = None) -> tuple[CompareRow, ...]:
    """Margin the same book each way, from most isolated to most cross-margined.

    Rows: every position alone; every strategy alone (``strategy_of`` maps position id ->
    strategy; legs entered together share a strategy); each underlying alone; each margin
    group alone (``MarketData.group_of``); product-group offsets (``product_group_of``,
    ``offset``); correlation-aggregated underlyings (``correlation`` in the order of
    ``market.underlyings`` restricted to the book's). The saving is ``1 - margin / position-alone``.
    Every margin is in the market's quote currency (coin-settled groups converted at spot).
    """
    quote = market.quote_currency
    rows: list[tuple[str, Amount, str]] = []
    by_position = Amount(0.0, quote)
    for i in range(book.n_positions):
        by_position += compute_margin(book.take(np.array([i])), market, method).initial_quote
    rows.append(("each position alone", by_position, f"{book.n_positions} positions"))
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
        result = offset_margin(per_group.pnl, product_group_of, offset)
        rate = float(per_group.to_quote[0])  # offset_margin refuses groups in several currencies
        offset_total = Amount((result.total + _addons(per_group)) * rate, quote)
        rows.append((f"product-group offsets ({offset:.0%})", offset_total,
                     f"{len(result.product_groups)} product groups"))
    if correlation is not None:
        scan = per_underlying.initial * per_underlying.to_quote  # quote currency
        c = np.asarray(correlation, dtype=float)
        index = [market.underlyings.index(u) for u in per_underlying.group_labels]
        total = Amount(correlation_margin(scan, c[np.ix_(index, index)]), quote)
        rows.append(("correlation-aggregated underlyings", total, "sqrt(R' C R)"))
    isolated = rows[0][1]
    return tuple(CompareRow(name, value, 1.0 - value / isolated if isolated > 0 else 0.0, detail)
                 for name, value, detail in rows)


def _addons(result: MarginResult) -> float:
    return float(sum(v.sum() for v in result.addons.values()))


def compare_frame(rows: Sequence[CompareRow]) -> pd.DataFrame:
    """Return the comparison as a DataFrame: method, margin, saving vs isolated, detail."""
    import pandas as pd

    return pd.DataFrame({"method": [r.method for r in rows], "margin": [r.margin for r in rows],
                         "saving_vs_isolated": [r.saving for r in rows],
                         "detail": [r.detail for r in rows]})
