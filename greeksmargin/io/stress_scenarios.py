"""Reading user-defined stress scenarios (one row per scenario and underlying)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..model.scenarios import StressScenario
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_scenarios"]


def read_scenarios(source: str | Path | pd.DataFrame) -> list[StressScenario]:
    """Read user-defined stress scenarios.

    User-defined scenarios from CSV: ``scenario, underlying, spot_shift`` and optionally
    ``vol_shift`` (relative), ``time_shift_days``, ``description``, ``asset_class``; one row per
    scenario and underlying (``*``: the scenario's factor move, for every underlying not named
    of the scenario's ``asset_class``, or of every class when it is empty; underlyings it does
    not reach are left unchanged). Errors name the row.
    """
    import pandas as pd

    frame = source if isinstance(source, pd.DataFrame) else read_table(Path(source), "scenario")
    for col in ("scenario", "underlying", "spot_shift"):
        if col not in frame.columns:
            raise InputError(f"scenario file is missing column {col!r}; columns:"
                             f" {', '.join(map(str, frame.columns))}")
    grouped: dict[str, dict[str, object]] = {}
    for row, rec in enumerate(frame.to_dict("records"), start=1):
        name = str(rec["scenario"])
        entry = grouped.setdefault(name, {"spot": {}, "vol": {}, "days": 0.0, "text": "",
                                          "class": ""})
        try:
            spot = float(rec["spot_shift"])
            vol = float(rec.get("vol_shift", 0.0) if pd.notna(rec.get("vol_shift", 0.0)) else 0.0)
            days = float(rec.get("time_shift_days", 0.0) or 0.0)
        except (TypeError, ValueError):
            raise InputError(f"scenario file row {row}: spot_shift, vol_shift and time_shift_days"
                             f" must be numbers; got {rec}") from None
        entry["spot"][str(rec["underlying"])] = spot  # type: ignore[index]
        entry["vol"][str(rec["underlying"])] = vol  # type: ignore[index]
        entry["days"] = days
        entry["text"] = str(rec.get("description", "") or "")
        asset_class = rec.get("asset_class", "")
        entry["class"] = "" if pd.isna(asset_class) else str(asset_class)
    return [StressScenario(name, e["spot"], e["vol"], e["days"], e["text"],  # type: ignore[arg-type]
                           e["class"])  # type: ignore[arg-type]
            for name, e in grouped.items()]
