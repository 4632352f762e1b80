"""CME SPAN's 16 risk scenarios.

CME SPAN's 16 risk scenarios: price 0, +-1/3, +-2/3, +-1 x the price scan range with vol up
and down by the vol scan range, then +-``extreme_multiple`` x PSR at vol unchanged with a
fraction of the loss; a one-day look-ahead; an optional short option minimum. Parameters:
``data/span/<version>.json``; every value and its source: ``docs/methodology.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..enums import ShiftType
from ..errors import MethodologyError
from ..model.book import ResolvedBook
from ..model.scenarios import DAYS_PER_YEAR, ScenarioGrid
from .base import Methodology, load_parameters
from .span_spreads import SpanSpreads

__all__ = ["span", "SpanGrids", "DEFAULT_VERSION"]

NAME = "span"
DEFAULT_VERSION = "2019.1"
EMPTY_GROUP_RANGE = 0.01  # the nominal relative range of a group with no position


@lru_cache(maxsize=256)
def _grid(psr: float, scenarios: tuple[tuple[float, float, float], ...], vol_scan_range: float,
          vol_type: int, extreme_multiple: float, extreme_coverage: float,
          look_ahead_days: float) -> ScenarioGrid:
    # grids are immutable: one object per parameter set, shared by groups and calls
    moves = [m for m, _, _ in scenarios] + [extreme_multiple, -extreme_multiple]
    vol_moves = [v for _, v, _ in scenarios] + [0.0, 0.0]
    weights = [w for _, _, w in scenarios] + [extreme_coverage, extreme_coverage]
    n = len(moves)
    labels = tuple(f"{k + 1}: price {m:+.3g} PSR, vol {v:+.3g}"
                   for k, (m, v) in enumerate(zip(moves, vol_moves, strict=True)))
    return ScenarioGrid(psr * np.array(moves), np.array([v * vol_scan_range for v in vol_moves]),
                        np.full(n, vol_type, np.int8), np.full(n, look_ahead_days / DAYS_PER_YEAR),
                        np.array(weights), labels, name=f"SPAN PSR {psr:.4g}")


@dataclass(frozen=True, slots=True)
class SpanGrids:
    """One 16-scenario grid per group, at the group's price scan range."""

    price_scan_range: float | Mapping[str, float] | None
    scenarios: tuple[tuple[float, float, float], ...]
    vol_scan_range: float
    vol_shift_type: ShiftType
    extreme_multiple: float
    extreme_coverage: float
    look_ahead_days: float
    price_scan_amount: Mapping[str, float] | None = None  # currency per contract, by class

    def scan_range(self, label: str, key: str | None = None, contract_value: float | None = None
                   ) -> float:
        """Return the relative price scan range of group ``label`` (class group ``key``).

        A range given in currency per contract (``price_scan_amount``) is divided by the value
        of one contract, ``contract_value`` = multiplier x price of the group's underlying.
        """
        key = label if key is None else key
        amounts = self.price_scan_amount or {}
        if key in amounts:
            amount = float(amounts[key])
            if not (np.isfinite(amount) and amount > 0):
                raise MethodologyError(f"SPAN price scan amount must be > 0 and finite; got"
                                       f" {amounts[key]!r} for group {label!r}")
            if contract_value is None or not contract_value > 0:
                raise MethodologyError(f"SPAN price scan amount for group {label!r} needs the"
                                       " value of one contract (multiplier x price)")
            value: float | None = amount / contract_value
        else:
            psr = self.price_scan_range
            value = psr.get(key) if isinstance(psr, Mapping) else psr
        if value is None:
            raise MethodologyError(f"no SPAN price scan range for group {label!r}")
        if not (0 < value < 1):
            raise MethodologyError(f"SPAN price scan range must be in (0, 1) (relative); got"
                                   f" {value!r} for group {label!r}")
        if value * self.extreme_multiple >= 1:
            raise MethodologyError(f"SPAN price scan range {value:.4g} for group {label!r} x the"
                                   f" extreme multiple {self.extreme_multiple:g} moves the price"
                                   " to zero or below; the range must be smaller")
        return float(value)

    def risk_array_grid(self) -> ScenarioGrid:
        """Return the scenarios of published risk arrays: weight 1 (the extremes come weighted).

        Its scenarios are this rule's in order; the price moves are in units of the price scan
        range (x 0.01: a range the arrays do not need), there to pair scenarios, not to value.
        """
        grid = _grid(0.01, self.scenarios, self.vol_scan_range, int(self.vol_shift_type),
                     self.extreme_multiple, 1.0, 0.0)
        return dataclasses.replace(grid, name="SPAN risk arrays (extremes already weighted)")

    def grids(self, resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        """One grid per group of ``resolved``.

        A group left with no position (its rows net to nothing) has no contract to value a
        per-contract range by; its P&L is 0 under any grid, and it gets a nominal 1% range.
        """
        values = np.full(resolved.n_groups, np.nan)
        amounts = self.price_scan_amount or {}
        per_contract = self.per_contract(resolved)
        nominal = np.isin(np.asarray(resolved.group_class, dtype=object), list(amounts)) \
            & ~per_contract  # a group left empty
        if per_contract.any():
            spot = np.asarray(resolved.market.spot, float)[resolved.group_first_underlying()]
            for g in np.flatnonzero(per_contract).tolist():
                values[g] = self._contract_value(resolved, g, float(spot[g]))
        return tuple(_grid(EMPTY_GROUP_RANGE if nominal[g] else
                           self.scan_range(label, key, float(values[g])), self.scenarios,
                           self.vol_scan_range, int(self.vol_shift_type), self.extreme_multiple,
                           self.extreme_coverage, self.look_ahead_days)
                     for g, (label, key) in enumerate(zip(resolved.group_labels,
                                                          resolved.group_class, strict=True)))

    def per_contract(self, resolved: ResolvedBook) -> np.ndarray:
        """Return which groups take their range per contract: a ``price_scan_amount`` and a position.

        Their relative move is ``amount / (multiplier x price)``: it follows the price (a tick
        rescales it).
        """
        amounts = self.price_scan_amount or {}
        offsets = np.asarray(resolved.group_offsets)
        return (offsets[1:] > offsets[:-1]) & np.isin(
            np.asarray(resolved.group_class, dtype=object), list(amounts))

    @staticmethod
    def _contract_value(resolved: ResolvedBook, g: int, spot: float) -> float:
        # one contract of group g: its positions' multiplier (one value) x its underlying's price
        rows = slice(resolved.group_offsets[g], resolved.group_offsets[g + 1])
        multipliers = np.unique(resolved.multiplier[rows])
        if multipliers.size != 1:
            raise MethodologyError(
                f"SPAN price scan amount for group {resolved.group_labels[g]!r} is per contract,"
                f" but its positions have multipliers {multipliers.tolist()}; give a relative"
                " price_scan_range for it")
        return float(multipliers[0]) * spot


def span(price_scan_range: float | Mapping[str, float] | None,
         vol_scan_range: float | None = None, *,
         price_scan_amount: Mapping[str, float] | None = None,
         vol_shift_type: ShiftType = ShiftType.RELATIVE, extreme_multiple: float | None = None,
         extreme_coverage: float | None = None, look_ahead_days: float | None = None,
         short_option_minimum: float | Mapping[str, float] = 0.0,
         spreads: SpanSpreads | None = None,
         version: str = DEFAULT_VERSION) -> Methodology:
    """CME SPAN's 16 scenarios (``docs/methodology.md``).

    Parameters
    ----------
    price_scan_range : float or mapping of str to float or None
        Relative price scan range (e.g. 0.07), or one per group (None: every group has a
        ``price_scan_amount``).
    price_scan_amount : mapping of str to float, optional
        The price scan range as CME publishes it, in currency per contract, by class group; the
        group's relative range is the amount over one contract's value (its positions'
        multiplier x its underlying's price). E-mini S&P 500: $30,000 at multiplier 250 is 120
        index points (CME SPAN methodology deck), 4.30% at 2,790.
    vol_scan_range : float, optional
        Vol scan range; relative by default (the version's value, 35%, otherwise).
    vol_shift_type : ShiftType
        Whether ``vol_scan_range`` is relative or absolute (vol points as decimals).
    extreme_multiple, extreme_coverage : float, optional
        Scenarios 15/16: price +-``extreme_multiple`` x PSR at vol unchanged, loss x coverage
        (the version's 2 and 0.35 by default; NYMEX Gasoil 3 and 0.33).
    look_ahead_days : float, optional
        Clock advance of every scenario (the version's one day by default).
    short_option_minimum : float or mapping of str to float
        SOM per short call or short put, whichever are more, in the group's currency (0: none);
        one for every group or one per class group (CME publishes it per product).
    spreads : SpanSpreads, optional
        Tiers, intra-commodity spreads, delivery charges and inter-commodity spreads
        (:mod:`~greeksmargin.methodology.span_spreads`); the requirement of a combined commodity
        is then ``max(scan + intra + delivery - inter credit, SOM)``.
    version : str
        The parameter set (``methodology/data/span/<version>.json``).

    Raises
    ------
    MethodologyError
        A parameter that is not finite or out of its range, or an unknown version.
    """
    data = load_parameters(NAME, version)
    vsr = float(data["vol_scan_range"] if vol_scan_range is None else vol_scan_range)
    multiple = float(data["extreme_multiple"] if extreme_multiple is None else extreme_multiple)
    coverage = float(data["extreme_coverage"] if extreme_coverage is None else extreme_coverage)
    days = float(data["look_ahead_days"] if look_ahead_days is None else look_ahead_days)
    for name, value, ok in (("vol_scan_range", vsr, vsr >= 0),
                            ("extreme_multiple", multiple, multiple > 0),
                            ("extreme_coverage", coverage, 0 <= coverage <= 1),
                            ("look_ahead_days", days, days >= 0)):
        if not (np.isfinite(value) and ok):
            raise MethodologyError(f"SPAN {name} out of range; got {value!r}")
    scenarios = tuple((float(m), float(v), float(w)) for m, v, w in data["scenarios"])
    amounts = dict(price_scan_amount or {})
    rule = SpanGrids(price_scan_range, scenarios, vsr, ShiftType(vol_shift_type), multiple,
                     coverage, days, amounts)
    if price_scan_range is not None and not isinstance(price_scan_range, Mapping):
        rule.scan_range("all")  # a single range is checked now, a per-group one when used
    for key, amount in amounts.items():
        if not (np.isfinite(float(amount)) and float(amount) > 0):
            raise MethodologyError(f"SPAN price scan amount must be > 0 and finite; got"
                                   f" {amount!r} for {key!r}")
    return Methodology(
        data["name"], data["version"], data["source"], rule,
        {"price_scan_range": price_scan_range, "price_scan_amount": amounts,
         "vol_scan_range": vsr,
         "vol_shift_type": ShiftType(vol_shift_type).name, "extreme_multiple": multiple,
         "extreme_coverage": coverage, "look_ahead_days": days,
         "short_option_minimum": (dict(short_option_minimum)
                                  if isinstance(short_option_minimum, Mapping)
                                  else short_option_minimum),
         "spreads": spreads.describe() if spreads is not None else None},
        short_option_minimum=short_option_minimum, spreads=spreads)
