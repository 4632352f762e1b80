"""Greeks-based (Taylor) margin.

Greeks-based (Taylor) margin: the scan risk of the delta-gamma-vega-theta P&L
(:func:`greeksmargin.measures.taylor.taylor_pnl`) beside full revaluation's, with the error of
the approximation per group and scenario. Both go through the one reduction
(:func:`greeksmargin.margin.rules.scan_risk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..measures.revalue import PnLMatrix, revalue
from ..measures.taylor import taylor_pnl
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid
from .rules import scan_risk

__all__ = ["TaylorResult", "taylor_margin"]


@dataclass(frozen=True, slots=True)
class TaylorResult:
    """Greeks-based margin and its error against full revaluation.

    ``error[g, j]`` = Taylor P&L - full P&L; ``margin`` and ``full_margin`` per group are the
    worst weighted losses of each.
    """

    taylor: PnLMatrix
    full: PnLMatrix
    error: np.ndarray
    margin: np.ndarray
    full_margin: np.ndarray

    @property
    def max_abs_error(self) -> float:
        """Largest absolute P&L error over groups and scenarios."""
        return float(np.abs(self.error).max())


def taylor_margin(resolved: ResolvedBook, grid: ScenarioGrid | Sequence[ScenarioGrid]
                  ) -> TaylorResult:
    """Greeks-based margin per group, with its error against full revaluation on the same grid."""
    approx = taylor_pnl(resolved, grid)
    full = revalue(resolved, grid)
    return TaylorResult(approx, full, approx.values - full.values,
                        scan_risk(approx.values, approx.grids, approx.row_labels),
                        scan_risk(full.values, full.grids, full.row_labels))
