"""The grids a methodology margins a resolved book with, house concentration points included.

:func:`margin_grids` is the one place that turns a methodology (or one grid) into each group's
grid: the methodology's grid rule, then, with a :class:`~greeksmargin.methodology.base.
Concentration` add-on, two more points at ``+-spot_range`` on every group's grid, weighted 1 for
the ``top`` groups of each account with the largest loss there and 0 for the others. The
selection is made when the book is margined (an account's what-if and ticks keep it until the
account is evaluated again).
"""

from __future__ import annotations

import numpy as np

from ..enums import ShiftType
from ..measures.revalue import revalue
from ..methodology.base import Concentration, Methodology
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid

__all__ = ["margin_grids", "CONCENTRATION_POINTS"]

CONCENTRATION_POINTS = 2  # the last two scenarios of a grid carrying a concentration add-on


def margin_grids(method: Methodology | ScenarioGrid, resolved: ResolvedBook
                 ) -> ScenarioGrid | tuple[ScenarioGrid, ...]:
    """Each group's grid under ``method`` (one grid object for a plain grid)."""
    if isinstance(method, ScenarioGrid):
        return method
    grids = method.build_grids(resolved)
    if method.concentration is None or resolved.n_groups == 0:
        return grids
    return _concentrated(resolved, grids, method.concentration)


def _extended(grid: ScenarioGrid, spot_range: float, weight: float) -> ScenarioGrid:
    r = spot_range
    linear = grid.linear_spot_shift if grid.linear_spot_shift is not None else grid.spot_shift
    return ScenarioGrid(np.append(grid.spot_shift, [-r, r]), np.append(grid.vol_shift, [0.0, 0.0]),
                        np.append(grid.vol_shift_type, [ShiftType.ABSOLUTE] * 2).astype(np.int8),
                        np.append(grid.time_shift_years, [0.0, 0.0]),
                        np.append(grid.weight, [weight, weight]),
                        (*grid.labels, f"concentration-{r:.0%}", f"concentration+{r:.0%}"),
                        grid.vol_scaling, grid.name, np.append(linear, [-r, r]))


def _concentrated(resolved: ResolvedBook, grids: tuple[ScenarioGrid, ...],
                  spec: Concentration) -> tuple[ScenarioGrid, ...]:
    r = spec.spot_range
    edges = ScenarioGrid(np.array([-r, r]), np.zeros(2), np.zeros(2, np.int8), np.zeros(2),
                         np.ones(2), (f"-{r:.0%}", f"+{r:.0%}"), name="concentration")
    pnl = revalue(resolved, edges)
    to_quote = resolved.market.to_quote(pnl.currency)
    loss = np.maximum(-pnl.values.min(axis=1), 0.0) * to_quote
    account = np.asarray(resolved.group_account)
    top: set[int] = set()
    for a in np.unique(account):  # the riskiest groups of each account
        members = [int(g) for g in np.flatnonzero(account == a)]
        members.sort(key=lambda g: (-loss[g], resolved.group_labels[g]))
        top.update(g for g in members[:spec.top] if loss[g] > 0)
    return tuple(_extended(grid, r, 1.0 if g in top else 0.0) for g, grid in enumerate(grids))
