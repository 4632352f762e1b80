"""What a margin methodology is: a grid per group and the rules on top of the scan, as data.

A :class:`Methodology` is a frozen record: name, version, the source it follows, every parameter
value, the typed rules the one reduction applies (``greeksmargin.margin.rules``) and a
:class:`GridRule` that builds each group's scenario grid. Published parameter sets live in
``methodology/data/<name>/<version>.json``, one file per version, never edited in place (a
changed parameter set is a new version); :func:`load_parameters` reads one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

import numpy as np

from ..errors import MethodologyError
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid
from .span_spreads import SpanSpreads

__all__ = ["Methodology", "ExtendedTable", "Concentration", "GridRule", "load_parameters",
           "versions"]


class GridRule(Protocol):
    """Builds the scenario grid of every group of a resolved book (one per group, in order)."""

    def grids(self, resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        """One grid per group of ``resolved``."""
        ...


@dataclass(frozen=True, slots=True)
class ExtendedTable:
    """Deribit's extended table in a group's grid.

    Deribit's extended table in a group's grid: the last ``n_scenarios`` scenarios from
    ``first_scenario`` on, whose losses the dampener reduces (see ``kernels._margin``).

    Attributes
    ----------
    first_scenario, n_scenarios : int
        Where the extended table starts in the grid, and its length.
    price_range : float
        The standard table's range ``R`` (relative).
    dampener : float
        ``D``, a quote-currency amount (converted to coin at spot for coin-settled groups).
    """

    first_scenario: int
    n_scenarios: int
    price_range: float
    dampener: float


@dataclass(frozen=True, slots=True)
class Concentration:
    """A broker's concentration add-on: a wider range for the riskiest class groups.

    The ``top`` class groups with the largest loss at ``+-spot_range`` are also scanned there
    (two more valuation points, weight 1); every other group carries the points at weight 0.
    Interactive Brokers' portfolio-margin notice (2015): "the top-two riskiest stock/ETF
    class-group positions ... are identified using a (+/- 30%) scanning range" (see
    docs/methodology.md). The add-on is reported apart from the scan
    (``MarginResult.addons["concentration"]``).
    """

    top: int = 2
    spot_range: float = 0.30

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        if not (isinstance(self.top, int) and self.top >= 1):
            raise MethodologyError(f"Concentration.top must be an integer >= 1; got {self.top!r}")
        if not (np.isfinite(self.spot_range) and 0 < self.spot_range < 1):
            raise MethodologyError(f"Concentration.spot_range must be in (0, 1); got"
                                   f" {self.spot_range!r}")


@dataclass(frozen=True, slots=True)
class Methodology:
    """A margin methodology: each group's grid, and the rules on top of the scan.

    Attributes
    ----------
    name, version : str
        Identify the preset (a changed parameter set is a new version).
    source : str
        The documentation section and the primary sources followed.
    grid_rule : GridRule
        Builds one grid per group (:meth:`build_grids`).
    parameters : dict
        Every parameter value used; reported with the result.
    contract_minimum : float
        Per option contract, times its multiplier (OCC $0.375): the group requirement is at
        least ``contract_minimum x sum |quantity| x multiplier`` over its options.
    short_option_minimum : float or mapping of str to float
        Per short call or short put, whichever are more (SPAN SOM), in the group's currency:
        one rate for every group, or one per class group (CME sets it per product; absent: 0).
    mm_factor : float
        Maintenance margin = ``mm_factor`` x initial margin (Deribit 0.8; 1 where the system has
        one requirement).
    roll_shock_rate : mapping of str to float
        Per class group: charge = ``rate x sum |quantity x multiplier|`` of futures and
        perpetuals (Deribit ``min_annualised_move``).
    extended_table : mapping of str to ExtendedTable
        Per class group: where its grid's dampened extended table sits and its dampener
        (Deribit).
    gain_offset : mapping of str to float
        Per class group: fraction of a scenario gain kept (Deribit ``pnl_offset``); within one
        group it cannot change the worst loss, it is reported for the cross-currency step.
    concentration : Concentration, optional
        A house concentration add-on (wider range for the riskiest class groups).
    liquidity_rate : mapping of str to float
        Per class group: the liquidity add-on's rate, a share of the gross size's value (e.g.
        a half bid-ask spread); ``daily_volume`` (underlying units a day, per class group)
        scales it up for a size beyond a day's volume (``kernels._margin``).
    daily_volume : mapping of str to float
        Per class group: daily volume in underlying units (no size effect where absent).
    spreads : SpanSpreads, optional
        SPAN's intra-commodity and delivery charges and inter-commodity credits, formed from
        the groups' deltas (``greeksmargin.margin.span``).
    """

    name: str
    version: str
    source: str
    grid_rule: GridRule
    parameters: dict[str, Any] = field(default_factory=dict)
    contract_minimum: float = 0.0
    short_option_minimum: float | Mapping[str, float] = 0.0
    mm_factor: float = 1.0
    roll_shock_rate: Mapping[str, float] = field(default_factory=dict)
    extended_table: Mapping[str, ExtendedTable] = field(default_factory=dict)
    gain_offset: Mapping[str, float] = field(default_factory=dict)
    concentration: Concentration | None = None
    liquidity_rate: Mapping[str, float] = field(default_factory=dict)
    daily_volume: Mapping[str, float] = field(default_factory=dict)
    spreads: SpanSpreads | None = None

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        som = self.short_option_minimum
        if isinstance(som, Mapping):
            object.__setattr__(self, "short_option_minimum",
                               {str(k): float(v) for k, v in som.items()})
        checked = [("contract_minimum", self.contract_minimum)] + [
            ("short_option_minimum" + (f"[{k!r}]" if k else ""), v) for k, v in (
                self.short_option_minimum.items() if isinstance(self.short_option_minimum, Mapping)
                else [("", self.short_option_minimum)])]
        for name, value in checked:
            if not (np.isfinite(value) and value >= 0):
                raise MethodologyError(f"{self.name}: {name} must be >= 0 and finite; got"
                                       f" {value!r}")
        if not (np.isfinite(self.mm_factor) and 0 < self.mm_factor <= 1):
            raise MethodologyError(f"{self.name}: mm_factor must be in (0, 1]; got"
                                   f" {self.mm_factor!r}")
        if self.concentration is not None and self.extended_table:
            raise MethodologyError(f"{self.name}: a concentration add-on cannot be combined with"
                                   f" an extended table")
        for group, rate in self.liquidity_rate.items():
            if not (np.isfinite(rate) and 0 <= rate < 1):
                raise MethodologyError(f"{self.name}: liquidity rate for {group!r} must be in"
                                       f" [0, 1); got {rate!r}")
        for group, volume in self.daily_volume.items():
            if not (volume > 0):  # inf allowed: no size effect
                raise MethodologyError(f"{self.name}: daily volume for {group!r} must be > 0;"
                                       f" got {volume!r}")
        for group, rate in self.roll_shock_rate.items():
            if not (np.isfinite(rate) and rate >= 0):
                raise MethodologyError(f"{self.name}: roll shock rate for {group!r} must be >= 0"
                                       f" and finite; got {rate!r}")

    def short_option_minimum_of(self, key: str) -> float:
        """Return the SOM rate of class group ``key`` (0 where none is set)."""
        som = self.short_option_minimum
        return float(som.get(key, 0.0)) if isinstance(som, Mapping) else float(som)

    def build_grids(self, resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        """One scenario grid per group of ``resolved``."""
        return self.grid_rule.grids(resolved)

    def describe(self) -> dict[str, Any]:
        """Name, version, source and parameters, for reports and ``--format json``."""
        return {"name": self.name, "version": self.version, "source": self.source,
                "parameters": _plain(self.parameters)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def versions(name: str) -> tuple[str, ...]:
    """List the published parameter sets of methodology ``name`` that ship, oldest first."""
    folder = resources.files("greeksmargin") / "methodology" / "data" / name
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


@lru_cache(maxsize=32)
def load_parameters(name: str, version: str) -> Mapping[str, Any]:
    """Load the parameter set ``version`` of methodology ``name`` (``data/<name>/<version>.json``).

    Raises
    ------
    MethodologyError
        No such methodology or version (the message lists the versions that ship).
    """
    known = versions(name)
    if version not in known:
        raise MethodologyError(f"no {name} parameter set {version!r}; available:"
                               f" {', '.join(known) or 'none'}")
    path = resources.files("greeksmargin") / "methodology" / "data" / name / f"{version}.json"
    data: Mapping[str, Any] = json.loads(path.read_text())
    return data
