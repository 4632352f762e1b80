"""Deribit portfolio margin.

Deribit portfolio margin: per coin, 9 price buckets x 3 vol scenarios (vol shocks scaled by
time to expiry), then the extended table (-66% ... +500%) with weights and a dampener; a roll
shock on futures and perpetuals; MM = 0.8 x IM; coin-settled P&L in coin. Parameters:
``data/deribit/<version>.json``; every value and its source: ``docs/methodology.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..enums import ShiftType
from ..errors import MethodologyError
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid, VolScaling
from .base import ExtendedTable, Methodology, load_parameters

__all__ = ["deribit", "DeribitGrids", "DEFAULT_VERSION"]

NAME = "deribit"
DEFAULT_VERSION = "2024.6"
VOL_SCENARIOS = 3  # up, unchanged, down


@lru_cache(maxsize=64)
def _grid(coin: str, parameters: tuple[tuple[str, float], ...], buckets: int,
          extended_moves: tuple[float, ...]) -> ScenarioGrid:
    # grids are immutable: one object per coin and parameter set, shared by groups and calls
    p = dict(parameters)
    r = p["price_range"]
    moves = r * np.arange(-buckets, buckets + 1) / buckets
    vol_shifts = (p["volatility_range_up"], 0.0, -p["volatility_range_down"])
    scaling = VolScaling(p["short_term_vega_power"], p["long_term_vega_power"],
                         p["min_volatility_for_shock_up"])
    standard = ScenarioGrid.product(moves, vol_shifts, vol_shift_type=ShiftType.RELATIVE,
                                    vol_scaling=scaling, name=f"Deribit {coin} standard")
    ext = np.array(extended_moves)
    extended = ScenarioGrid(
        ext, np.full(ext.size, p["volatility_range_up"]),
        np.full(ext.size, int(ShiftType.RELATIVE), np.int8), np.zeros(ext.size),
        p["extended_table_factor"] * r / np.abs(ext),
        tuple(f"extended spot{m:+.0%}|vol up" for m in ext), scaling,
        f"Deribit {coin} extended", linear_spot_shift=np.sign(ext) * r)
    return standard.concat(extended, name=f"Deribit {coin} portfolio margin")


@dataclass(frozen=True, slots=True)
class DeribitGrids:
    """One grid per coin group (the group's class-group name is the coin)."""

    currencies: Mapping[str, Mapping[str, float]]
    buckets_per_side: int
    extended_moves: tuple[float, ...]

    def grids(self, resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        """One grid per group of ``resolved``.

        Raises
        ------
        MethodologyError
            A group with no parameters (a group's class group is its coin).
        """
        out = []
        for label, coin in zip(resolved.group_labels, resolved.group_class, strict=True):
            if coin not in self.currencies:
                raise MethodologyError(f"no Deribit parameters for group {label!r}; known: "
                                       f"{', '.join(self.currencies)}; pass"
                                       " deribit(parameters={...})")
            out.append(_grid(coin, tuple(sorted(self.currencies[coin].items())),
                             self.buckets_per_side, self.extended_moves))
        return tuple(out)


def deribit(parameters: Mapping[str, Mapping[str, float]] | None = None, *,
            version: str = DEFAULT_VERSION) -> Methodology:
    """Deribit portfolio margin (``docs/methodology.md``), one grid per currency group.

    The standard table is 9 price buckets (``-R, -3R/4, ..., +R``) x 3 vol scenarios (up, same,
    down; relative, scaled by ``(30 / days) ** power``, up at least ``min_volatility_for_shock_up``),
    price-major. The extended table adds moves -66% ... +500% at vol up, weighted by
    ``extended_table_factor x R / |move|`` and dampened; futures and perpetuals move only by the
    edge of the range there. Groups are named by coin (``BTC``, ``ETH``); ``parameters``
    overrides or adds per-coin values (keys as in the version's data file).

    Raises
    ------
    MethodologyError
        A coin missing parameters, a non-finite or negative parameter, or an unknown version.
    """
    data = load_parameters(NAME, version)
    defaults = data["currencies"]
    table = {k: {name: float(x) for name, x in v.items()} for k, v in defaults.items()}
    for coin, values in (parameters or {}).items():
        table.setdefault(coin, {}).update({k: float(x) for k, x in values.items()})
    required = set(next(iter(defaults.values())))
    for coin, values in table.items():
        missing = required - set(values)
        if missing:
            raise MethodologyError(f"Deribit parameters for {coin!r} lack {sorted(missing)}")
        bad = {k: x for k, x in values.items() if not (np.isfinite(x) and x >= 0)}
        if bad or values["price_range"] <= 0:
            raise MethodologyError(f"Deribit parameters for {coin!r} must be finite and >= 0"
                                   f" (price_range > 0); got {bad or values}")
    buckets = int(data["buckets_per_side"])
    moves = tuple(float(m) for m in data["extended_moves"])
    standard = (2 * buckets + 1) * VOL_SCENARIOS
    mm_factor = float(data["mm_factor"])
    return Methodology(
        data["name"], data["version"], data["source"], DeribitGrids(table, buckets, moves),
        {"currencies": table, "extended_moves": moves, "mm_factor": mm_factor,
         "buckets_per_side": buckets, "vol_scenarios": VOL_SCENARIOS},
        mm_factor=mm_factor,
        roll_shock_rate={c: v["min_annualised_move"] for c, v in table.items()},
        extended_table={c: ExtendedTable(standard, len(moves), v["price_range"],
                                         v["extended_dampener"]) for c, v in table.items()},
        gain_offset={c: v["pnl_offset"] for c, v in table.items()})
