"""Reading scenario grids: one row per scenario, from CSV, Parquet or a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..enums import ShiftType
from ..errors import InputError
from ..model.scenarios import DAYS_PER_YEAR, ScenarioGrid, scenario_label
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_grid", "grid_from_frame"]


def read_grid(source: str | Path | pd.DataFrame, name: str = "") -> ScenarioGrid:
    """Read a grid from a CSV or Parquet file, or a DataFrame (see :func:`grid_from_frame`)."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return grid_from_frame(source, name)
    return grid_from_frame(read_table(Path(source), "grid"), name or str(source))


def grid_from_frame(frame: pd.DataFrame, name: str = "") -> ScenarioGrid:
    """Build a scenario grid from a table.

    A grid from a table with columns ``spot_shift`` and optionally ``vol_shift``,
    ``vol_shift_type`` (absolute|relative), ``time_shift_years`` or ``time_shift_days``,
    ``weight`` and ``label``. Errors name the column and the row.
    """
    if "spot_shift" not in frame.columns:
        raise InputError("grid is missing column 'spot_shift'; columns: "
                         + ", ".join(map(str, frame.columns)))
    n = len(frame)

    def numeric(col: str, default: float) -> np.ndarray:
        if col not in frame.columns:
            return np.full(n, default)
        cells = frame[col].tolist()
        values = np.array([_to_number(v) for v in cells], dtype=float)
        bad = np.isnan(values)  # not a number, or missing: both refused
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"grid column {col} must be numeric; got {frame[col].iloc[row]!r}"
                             f" at row {row + 1}")
        return values

    kinds = np.full(n, ShiftType.ABSOLUTE, np.int8)
    if "vol_shift_type" in frame.columns:
        for row, text in enumerate(frame["vol_shift_type"]):
            key = str(text).strip().lower()
            if key not in ("absolute", "relative"):
                raise InputError("grid column vol_shift_type must be 'absolute' or 'relative';"
                                 f" got {text!r} at row {row + 1}")
            kinds[row] = ShiftType.RELATIVE if key == "relative" else ShiftType.ABSOLUTE
    time = numeric("time_shift_years", 0.0)
    if "time_shift_days" in frame.columns:
        time = time + numeric("time_shift_days", 0.0) / DAYS_PER_YEAR
    spot = numeric("spot_shift", 0.0)
    vol = numeric("vol_shift", 0.0)
    labels = (tuple(map(str, frame["label"])) if "label" in frame.columns else
              tuple(scenario_label(s, v, int(k), t) for s, v, k, t in zip(spot, vol, kinds, time,
                                                                  strict=True)))
    return ScenarioGrid(spot, vol, kinds, time, numeric("weight", 1.0), labels, None, name)


def _to_number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ArithmeticError):  # Decimal('sNaN'), a 400-digit integer
        return float("nan")
