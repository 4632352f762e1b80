"""A book's P&L on a vol x spot grid.

A risk matrix: a book's P&L on a vol x spot grid (relative shocks, optional clock advance),
for the whole book or one group, with its worst cell (the ``risk-matrix`` command's data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..enums import ShiftType
from ..errors import InputError
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import DAYS_PER_YEAR, ScenarioGrid
from .revalue import revalue

__all__ = ["RiskMatrix", "risk_matrix"]


@dataclass(frozen=True, slots=True)
class RiskMatrix:
    """P&L (gain > 0) per vol shift (rows) and spot shift (columns), in ``currency``."""

    pnl: np.ndarray  # (n_vol_shifts, n_spot_shifts)
    spot_shifts: np.ndarray
    vol_shifts: np.ndarray
    currency: str
    title: str
    worst: tuple[int, int]  # (row, column) of the lowest P&L

    @property
    def worst_pnl(self) -> float:
        """P&L of the worst cell."""
        return float(self.pnl[self.worst])


def risk_matrix(book: Book, market: MarketData, *, spot_range: float, spot_points: int,
                vol_shifts: Sequence[float], days: float = 0.0, group: str | None = None
                ) -> RiskMatrix:
    """Compute a risk matrix.

    P&L of ``book`` (or of its ``group``) on spot shifts ``linspace(-spot_range, spot_range,
    spot_points)`` x relative ``vol_shifts``, the clock advanced by ``days``.

    Raises
    ------
    InputError
        An unknown group, or a whole book whose groups settle in different currencies (their
        P&L cannot be added without a conversion: pick a group).
    """
    spots = np.linspace(-spot_range, spot_range, spot_points)
    vols = np.array(vol_shifts, dtype=float)
    grid = ScenarioGrid.product(spots, vols, vol_shift_type=ShiftType.RELATIVE,
                                time_shift_years=days / DAYS_PER_YEAR, name="risk matrix")
    pnl = revalue(book.resolve(market), grid)
    if group is not None:
        if group not in pnl.row_labels:
            raise InputError(f"unknown group {group!r}; groups: {', '.join(pnl.row_labels)}")
        row = pnl.row_labels.index(group)
        values, currency, title = pnl.values[row], pnl.currency[row], f"group {group}"
    else:
        if len(set(pnl.currency)) != 1:
            raise InputError(f"groups settle in {sorted(set(pnl.currency))}; pick one group"
                             " (risk-matrix --group)")
        values, currency, title = pnl.values.sum(axis=0), pnl.currency[0], "whole book"
    matrix = values.reshape(spots.size, vols.size).T  # rows: vol shifts, columns: spot shifts
    worst = np.unravel_index(int(np.argmin(matrix)), matrix.shape)
    return RiskMatrix(matrix, spots, vols, currency, f"{title} ({currency})",
                      (int(worst[0]), int(worst[1])))
