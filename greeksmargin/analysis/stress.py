"""Named stress scenarios beyond the margin grid, and a stress report.

A :class:`StressScenario` moves underlyings jointly (relative spot move, relative vol move, clock
advance): per underlying by name, or by its factor move ``"*"`` scaled by the underlying's beta
for every underlying of the scenario's asset class (equity index days move equities, crypto
crashes move crypto); underlyings it does not reach stay unchanged and the report lists them.
The library :data:`LIBRARY` holds historical shocks (one-day index moves of 1987, 2008 and 2020
with the VIX move of the day where known; crypto crashes) and hypothetical ones; users add
their own from a CSV file (:func:`read_scenarios`). :func:`stress_report` gives P&L per
scenario and group, the worst scenario, and the share of the current margin it would
consume.

Sources of the historical numbers: S&P 500 close-to-close moves 2008-10-15 (-9.03%) and
2008-09-29 (-8.81%) are computed from the arch dataset (``history.sp500``, tested); 1987-10-19
(-20.47%) and 2020-03-16 (-11.98%) are the widely published S&P 500 closes; VIX moves and the crypto
moves are rounded published daily closes and are tagged approximate in each description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..enums import ShiftType
from ..errors import InputError
from ..io.stress_scenarios import read_scenarios
from ..margin.result import MarginResult, compute_margin
from ..measures.revalue import group_currency, revalue
from ..methodology import Methodology
from ..model.amount import Amount
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid, StressScenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StressScenario", "LIBRARY", "read_scenarios", "stress_report", "StressReport"]


LIBRARY: dict[str, StressScenario] = {s.name: s for s in (
    StressScenario("1987-10-19", {"*": -0.2047}, {"*": 2.0}, asset_class="equity",
                   description="Black Monday, S&P 500 -20.47%; implied vol about x3 (approximate);"
                               " equities by their beta to the index"),
    StressScenario("2008-10-15", {"*": -0.0903}, {"*": 0.25}, asset_class="equity",
                   description="S&P 500 -9.03% (arch data); VIX 55 -> 69, about +25% (approximate)"),
    StressScenario("2008-09-29", {"*": -0.0881}, {"*": 0.34}, asset_class="equity",
                   description="TARP vote, S&P 500 -8.81% (arch data); VIX +34% (approximate)"),
    StressScenario("2020-03-16", {"*": -0.1198}, {"*": 0.43}, asset_class="equity",
                   description="COVID, S&P 500 -11.98%; VIX 57.8 -> 82.7, +43% (approximate)"),
    StressScenario("crypto-2020-03-12", {"*": -0.39}, {"*": 1.0}, asset_class="crypto",
                   description="BTC 'Black Thursday', about -39% close to close; vol doubled"
                               " (approximate); crypto only"),
    StressScenario("crypto-2022-11-09", {"*": -0.14}, {"*": 0.6}, asset_class="crypto",
                   description="FTX collapse, BTC about -14% in a day (approximate); crypto only"),
    StressScenario("spot-30-vol-x3", {"*": -0.30}, {"*": 2.0},
                   description="hypothetical crash: spot -30%, vols x3, every asset class"),
    StressScenario("vol-crush", {"*": 0.02}, {"*": -0.5},
                   description="hypothetical: spot +2%, vols halve (post-event)"),
    StressScenario("rally-15", {"*": 0.15}, {"*": -0.2},
                   description="hypothetical: spot +15%, vols -20%"),
)}


@dataclass(frozen=True, slots=True)
class StressReport:
    """P&L per scenario (rows) and group (columns), the worst scenario, and the margin share.

    ``unmoved`` maps each scenario to the underlyings it left unchanged (neither named nor in
    its asset class); ``asset_class`` is the class used for each underlying.
    """

    pnl: pd.DataFrame
    total: pd.Series
    worst: str
    worst_loss: Amount
    margin: MarginResult | None
    currency: str
    unmoved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    asset_class: dict[str, str] = field(default_factory=dict)

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
                  asset_class_of: Mapping[str, str] | None = None,
                  method: Methodology | ScenarioGrid | None = None) -> StressReport:
    """Revalue the book under each scenario (groups = underlyings) and compare with its margin.

    ``betas`` scale a scenario's factor move (``"*"``) per underlying (1 unless given).
    ``asset_class_of`` maps underlying -> asset class (``"equity"``, ``"crypto"``, ...), which
    decides which factor moves reach it; by default an underlying whose positions settle in a
    coin (inverse settlement) is ``"crypto"``, every other ``"equity"``. The total is summed
    across groups in the quote currency (coin groups at spot).
    """
    import pandas as pd

    if not scenarios:
        raise InputError("no stress scenarios given")
    resolved = book.resolve(market, by="underlying")
    classes = {label: (asset_class_of or {}).get(label, "") for label in resolved.group_labels}
    currency = dict(zip(resolved.group_labels, group_currency(resolved), strict=True))
    for label, known in classes.items():
        if not known:
            classes[label] = "crypto" if currency[label] != market.quote_currency else "equity"
    grids = []
    for label in resolved.group_labels:
        moves = [s.moves(label, betas, classes[label]) for s in scenarios]
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
    unmoved = {s.name: tuple(u for u in resolved.group_labels
                             if s.how(u, classes[u]) == "unmoved") for s in scenarios}
    return StressReport(frame, total, worst,
                        Amount(max(0.0, -float(total.min())), market.quote_currency), margin,
                        market.quote_currency, unmoved, classes)
