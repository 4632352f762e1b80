"""Named stress scenarios beyond the margin grid, and a stress report.

A :class:`StressScenario` moves every underlying (relative spot move, relative vol move, clock
advance), jointly: per underlying, or ``"*"`` for every underlying not listed, or through betas
(``beta x index move``). The library :data:`LIBRARY` holds historical shocks (one-day index moves
of 1987, 2008 and 2020 with the VIX move of the day where known; crypto crashes) and hypothetical
ones; users add their own from a CSV file (:func:`read_scenarios`). :func:`stress_report` gives
P&L per scenario and group, the worst scenario, and the share of the current margin it would
consume.

Sources of the historical numbers: S&P 500 close-to-close moves 2008-10-15 (-9.03%) and
2008-09-29 (-8.81%) are computed from the arch dataset (``history.sp500``, tested); 1987-10-19
(-20.47%) and 2020-03-16 (-11.98%) are the widely published S&P 500 closes; VIX moves and the crypto
moves are rounded published daily closes and are tagged approximate in each description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..enums import ShiftType
from ..errors import InputError
from ..io.tables import read_table
from ..margin.result import MarginResult, compute_margin
from ..measures.revalue import revalue
from ..methodology import Methodology
from ..model.amount import Amount
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StressScenario", "LIBRARY", "read_scenarios", "stress_report", "StressReport"]


@dataclass(frozen=True, slots=True)
class StressScenario:
    """One joint shock: per-underlying relative spot and vol moves, and a clock advance.

    ``spot_shift`` / ``vol_shift`` map underlying -> move; the key ``"*"`` covers every other
    underlying. With ``betas``, an underlying without its own move takes ``beta x spot_shift["*"]``.
    """

    name: str
    spot_shift: Mapping[str, float]
    vol_shift: Mapping[str, float] = field(default_factory=dict)
    time_shift_days: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        for key, value in self.spot_shift.items():
            if not (np.isfinite(value) and value > -1):
                raise InputError(f"stress {self.name!r}: spot_shift for {key!r} must be > -1;"
                                 f" got {value!r}")
        for key, value in self.vol_shift.items():
            if not (np.isfinite(value) and value >= -1):
                raise InputError(f"stress {self.name!r}: vol_shift for {key!r} must be >= -1"
                                 f" (relative); got {value!r}")
        if not (np.isfinite(self.time_shift_days) and self.time_shift_days >= 0):
            raise InputError(f"stress {self.name!r}: time_shift_days must be >= 0")

    def moves(self, underlying: str, betas: Mapping[str, float] | None = None
              ) -> tuple[float, float]:
        """(spot move, vol move) of ``underlying`` in this scenario."""
        if underlying in self.spot_shift:
            spot = self.spot_shift[underlying]
        elif "*" in self.spot_shift:
            spot = self.spot_shift["*"] * (betas or {}).get(underlying, 1.0)
        else:
            raise InputError(f"stress {self.name!r} does not move {underlying!r} and has no '*'")
        vol = self.vol_shift.get(underlying, self.vol_shift.get("*", 0.0))
        if spot <= -1:
            raise InputError(f"stress {self.name!r}: beta x move takes {underlying!r} to {spot:.0%}")
        return spot, vol


LIBRARY: dict[str, StressScenario] = {s.name: s for s in (
    StressScenario("1987-10-19", {"*": -0.2047}, {"*": 2.0},
                   description="Black Monday, S&P 500 -20.47%; implied vol about x3 (approximate)"),
    StressScenario("2008-10-15", {"*": -0.0903}, {"*": 0.25},
                   description="S&P 500 -9.03% (arch data); VIX 55 -> 69, about +25% (approximate)"),
    StressScenario("2008-09-29", {"*": -0.0881}, {"*": 0.34},
                   description="TARP vote, S&P 500 -8.81% (arch data); VIX +34% (approximate)"),
    StressScenario("2020-03-16", {"*": -0.1198}, {"*": 0.43},
                   description="COVID, S&P 500 -11.98%; VIX 57.8 -> 82.7, +43% (approximate)"),
    StressScenario("crypto-2020-03-12", {"*": -0.39}, {"*": 1.0},
                   description="BTC 'Black Thursday', about -39% close to close; vol doubled"
                               " (approximate)"),
    StressScenario("crypto-2022-11-09", {"*": -0.14}, {"*": 0.6},
                   description="FTX collapse, BTC about -14% in a day (approximate)"),
    StressScenario("spot-30-vol-x3", {"*": -0.30}, {"*": 2.0},
                   description="hypothetical crash: spot -30%, vols x3"),
    StressScenario("vol-crush", {"*": 0.02}, {"*": -0.5},
                   description="hypothetical: spot +2%, vols halve (post-event)"),
    StressScenario("rally-15", {"*": 0.15}, {"*": -0.2},
                   description="hypothetical: spot +15%, vols -20%"),
)}


def read_scenarios(source: str | Path | pd.DataFrame) -> list[StressScenario]:
    """Read user-defined stress scenarios.

    User-defined scenarios from CSV: ``scenario, underlying, spot_shift`` and optionally
    ``vol_shift`` (relative), ``time_shift_days``, ``description``; one row per scenario and
    underlying (``*`` for all others). Errors name the row.
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
        entry = grouped.setdefault(name, {"spot": {}, "vol": {}, "days": 0.0, "text": ""})
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
    return [StressScenario(name, e["spot"], e["vol"], e["days"], e["text"])  # type: ignore[arg-type]
            for name, e in grouped.items()]


@dataclass(frozen=True, slots=True)
class StressReport:
    """P&L per scenario (rows) and group (columns), the worst scenario, and the margin share."""

    pnl: pd.DataFrame
    total: pd.Series
    worst: str
    worst_loss: Amount
    margin: MarginResult | None
    currency: str

    @property
    def margin_consumed(self) -> float:
        """Worst stress loss over the current initial margin.

        Worst stress loss / current initial margin, both in the quote currency (coin margins
        converted at spot); > 1: the margin would not cover it.
        """
        if self.margin is None:
            return float("inf") if self.worst_loss > 0 else 0.0
        initial = self.margin.initial_quote
        if initial == 0:
            return float("inf") if self.worst_loss > 0 else 0.0
        return float(self.worst_loss / initial)


def stress_report(book: Book, market: MarketData, scenarios: Sequence[StressScenario], *,
                  betas: Mapping[str, float] | None = None,
                  method: Methodology | ScenarioGrid | None = None) -> StressReport:
    """Revalue the book under each scenario (groups = underlyings) and compare with its margin.

    The total is summed across groups in the quote currency (coin groups at spot).
    """
    import pandas as pd

    if not scenarios:
        raise InputError("no stress scenarios given")
    resolved = book.resolve(market, by="underlying")
    grids = []
    for label in resolved.group_labels:
        moves = [s.moves(label, betas) for s in scenarios]
        grids.append(ScenarioGrid(
            np.array([m[0] for m in moves]), np.array([m[1] for m in moves]),
            np.full(len(moves), ShiftType.RELATIVE, np.int8),
            np.array([s.time_shift_days / 365.0 for s in scenarios]), np.ones(len(moves)),
            tuple(s.name for s in scenarios), name=f"stress: {label}"))
    pnl = revalue(resolved, grids)
    to_quote = market.to_quote(pnl.currency)
    frame = pd.DataFrame((pnl.values * to_quote[:, None]).T,
                         index=pd.Index([s.name for s in scenarios], name="scenario"),
                         columns=pd.Index(pnl.row_labels, name="group"))
    total = frame.sum(axis=1)
    worst = str(total.idxmin())
    margin = compute_margin(book, market, method) if method is not None else None
    return StressReport(frame, total, worst,
                        Amount(max(0.0, -float(total.min())), market.quote_currency), margin,
                        market.quote_currency)
