"""Scenario grids: flat arrays over scenarios (dimension ``scenario``).

A grid is a *definition*: scenario ``j`` shifts the base market by a relative spot move
``S * (1 + spot_shift[j])``, a vol move (absolute ``sigma + v`` or relative ``sigma * (1 + v)``, per
scenario), and a clock advance ``time_shift_years[j]``; ``weight[j]`` multiplies the loss (SPAN's
35% extreme moves, Deribit's extended table). Cartesian grids, weighted extreme moves and extended
tables are all this one shape, so one revaluation kernel serves them all.

A vol that a shock would push below zero is floored at zero (the option is then worth its
discounted forward intrinsic value); this is the model's limit, not a repair of input, and applies
only inside scenarios.

A :class:`StressScenario` is one named joint market move (per underlying, or ``"*"`` for the
rest, optionally through betas); the stress report turns a list of them into grids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._arrays import frozen_array
from ..enums import ShiftType
from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ScenarioGrid", "VolScaling"]

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True)
class VolScaling:
    """Vol shocks scaled by time to expiry (Deribit / Derive style, ``docs/methodology.md``).

    A relative vol shift ``v`` applies to an option with ``d`` days to expiry as
    ``v * (reference_days / max(d, floor_days)) ** power``, with ``power = short_term_power`` when
    ``d <= reference_days`` and ``long_term_power`` otherwise; an upward shock never leaves the vol
    below ``min_vol_up`` (``volUp = max(min_vol_up, vol * (1 + v * scale))``).
    """

    short_term_power: float
    long_term_power: float
    min_vol_up: float = 0.0
    reference_days: float = 30.0
    floor_days: float = 1.0

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        for name in ("short_term_power", "long_term_power", "min_vol_up"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"VolScaling.{name} must be >= 0 and finite; got {value!r}")
        for name in ("reference_days", "floor_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"VolScaling.{name} must be > 0 and finite; got {value!r}")

    def scale(self, expiry_years: np.ndarray) -> np.ndarray:
        """Multiplier of the vol shift for options with these times to expiry (years)."""
        days = np.maximum(np.asarray(expiry_years, dtype=float) * DAYS_PER_YEAR, self.floor_days)
        power = np.where(days <= self.reference_days, self.short_term_power, self.long_term_power)
        return (self.reference_days / days) ** power


def scenario_label(spot: float, vol: float, vol_type: int, time_years: float) -> str:
    parts = [f"spot{spot:+.4g}" if spot else "spot+0"]
    if vol:
        parts.append(f"vol{vol:+.4g}" + ("" if vol_type == ShiftType.ABSOLUTE else "rel"))
    if time_years:
        parts.append(f"t+{time_years * DAYS_PER_YEAR:.4g}d")
    return "|".join(parts)


@dataclass(frozen=True, slots=True)
class ScenarioGrid:
    """Scenarios as a structure of arrays, one entry per scenario (dimension ``scenario``).

    Parameters
    ----------
    spot_shift : array_like, shape (n_scenarios,)
        Relative spot move: the scenario spot is ``S * (1 + spot_shift)``; > -1.
    vol_shift : array_like, shape (n_scenarios,)
        Vol move, absolute (vol points as decimals, 0.05 = +5 points) or relative.
    vol_shift_type : ShiftType or array_like of int, shape (n_scenarios,)
        ``ShiftType.ABSOLUTE`` (``sigma + v``) or ``ShiftType.RELATIVE`` (``sigma * (1 + v)``).
    time_shift_years : array_like, shape (n_scenarios,)
        Clock advance in years (>= 0); an option pushed to or past expiry is worth its intrinsic value.
    weight : array_like, shape (n_scenarios,)
        Loss multiplier in [0, 1]: 1 except for weighted moves (SPAN extreme moves 0.35).
    labels : sequence of str, shape (n_scenarios,)
        Names of the scenarios, in order.
    vol_scaling : VolScaling, optional
        Scale relative vol shifts by time to expiry (Deribit); None leaves them unscaled.
    name : str
        What the grid stands for, e.g. ``"OCC TIMS equity +-15%"``.
    linear_spot_shift : array_like, shape (n_scenarios,), optional
        Spot move applied to linear instruments (underlying, futures, perpetuals); default
        ``spot_shift``. Deribit's extended table moves options by up to +500% but delta-one
        instruments only by the edge of the price range.

    Examples
    --------
    >>> grid = ScenarioGrid.product([-0.1, 0.0, 0.1], [-0.2, 0.2],
    ...                             vol_shift_type=ShiftType.RELATIVE)
    >>> grid.n_scenarios, grid.labels[0]
    (6, 'spot-0.1|vol-0.2rel')
    """

    spot_shift: np.ndarray
    vol_shift: np.ndarray
    vol_shift_type: np.ndarray
    time_shift_years: np.ndarray
    weight: np.ndarray
    labels: tuple[str, ...]
    vol_scaling: VolScaling | None = None
    name: str = ""
    linear_spot_shift: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        spot = frozen_array(self.spot_shift, np.float64, "spot_shift")
        n = spot.size
        if spot.ndim != 1 or n == 0:
            raise InputError(f"spot_shift must be a non-empty 1-D array; got shape {spot.shape}")

        def column(name: str, dtype: type) -> np.ndarray:
            arr = frozen_array(np.broadcast_to(getattr(self, name), (n,)), dtype, name)
            object.__setattr__(self, name, arr)
            return arr

        object.__setattr__(self, "spot_shift", spot)
        _check(spot, (spot > -1) & np.isfinite(spot), "spot_shift", "> -1 and finite (relative)")
        if self.linear_spot_shift is None:
            object.__setattr__(self, "linear_spot_shift", spot)
        linear = column("linear_spot_shift", np.float64)
        _check(linear, (linear > -1) & np.isfinite(linear), "linear_spot_shift",
               "> -1 and finite (relative)")
        vol = column("vol_shift", np.float64)
        _check(vol, np.isfinite(vol), "vol_shift", "finite")
        kind = column("vol_shift_type", np.int8)
        _check(kind, np.isin(kind, (ShiftType.ABSOLUTE, ShiftType.RELATIVE)), "vol_shift_type",
               "ShiftType.ABSOLUTE (0) or ShiftType.RELATIVE (1)")
        relative = kind == ShiftType.RELATIVE
        _check(vol, ~relative | (vol >= -1), "vol_shift", ">= -1 where the shift is relative")
        time = column("time_shift_years", np.float64)
        _check(time, (time >= 0) & np.isfinite(time), "time_shift_years", ">= 0 and finite (years)")
        weight = column("weight", np.float64)
        # a weight multiplies a scenario's loss: SPAN's extreme moves 0.35, everything else 1;
        # above 1 would charge more than the scenario loses (scale the shock instead)
        _check(weight, (weight >= 0) & (weight <= 1), "weight", "in [0, 1]")
        labels = tuple(map(str, self.labels))
        if len(labels) != n:
            raise InputError(f"labels must have one entry per scenario ({n}); got {len(labels)}")
        object.__setattr__(self, "labels", labels)
        if self.vol_scaling is not None and not isinstance(self.vol_scaling, VolScaling):
            raise InputError(f"vol_scaling must be a VolScaling or None; got {self.vol_scaling!r}")

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios."""
        return int(self.spot_shift.size)

    @classmethod
    def product(cls, spot_shifts: Sequence[float] | np.ndarray,
                vol_shifts: Sequence[float] | np.ndarray = (0.0,), *,
                vol_shift_type: ShiftType = ShiftType.ABSOLUTE, time_shift_years: float = 0.0,
                weight: float = 1.0, vol_scaling: VolScaling | None = None,
                name: str = "") -> ScenarioGrid:
        """Cartesian grid; scenario ``j = i_spot * n_vol + i_vol`` (C order, spot-major).

        Parameters
        ----------
        spot_shifts, vol_shifts : sequence of float
            The axes; relative spot moves and vol moves of ``vol_shift_type``.
        vol_shift_type : ShiftType
            How the vol shifts apply.
        time_shift_years : float
            Clock advance for every scenario of the grid (years).
        weight : float
            Loss weight of every scenario.
        vol_scaling : VolScaling, optional
            Time-to-expiry scaling of relative vol shifts.
        name : str
            Grid name.
        """
        spots = np.asarray(spot_shifts, dtype=float).ravel()
        vols = np.asarray(vol_shifts, dtype=float).ravel()
        spot = np.repeat(spots, vols.size)
        vol = np.tile(vols, spots.size)
        kind = int(ShiftType(vol_shift_type))
        labels = tuple(scenario_label(s, v, kind, time_shift_years) for s, v in zip(spot, vol, strict=True))
        return cls(spot, vol, np.full(spot.size, kind, np.int8), np.full(spot.size, time_shift_years),
                   np.full(spot.size, weight), labels, vol_scaling, name)

    def concat(self, other: ScenarioGrid, name: str | None = None) -> ScenarioGrid:
        """Return this grid's scenarios followed by ``other``'s (e.g. a base grid plus extreme moves)."""
        if self.vol_scaling != other.vol_scaling:
            raise InputError("cannot concatenate grids with different vol_scaling; "
                             f"got {self.vol_scaling!r} and {other.vol_scaling!r}")
        return ScenarioGrid(
            np.concatenate([self.spot_shift, other.spot_shift]),
            np.concatenate([self.vol_shift, other.vol_shift]),
            np.concatenate([self.vol_shift_type, other.vol_shift_type]),
            np.concatenate([self.time_shift_years, other.time_shift_years]),
            np.concatenate([self.weight, other.weight]),
            self.labels + other.labels, self.vol_scaling,
            name if name is not None else " + ".join(x for x in (self.name, other.name) if x),
            np.concatenate([self.linear_spot_shift, other.linear_spot_shift]),  # type: ignore[list-item]
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the grid as a DataFrame, one row per scenario (needs pandas)."""
        import pandas as pd

        return pd.DataFrame({
            "label": self.labels,
            "spot_shift": self.spot_shift,
            "vol_shift": self.vol_shift,
            "vol_shift_type": [ShiftType(int(k)).name.lower() for k in self.vol_shift_type],
            "time_shift_years": self.time_shift_years,
            "weight": self.weight,
        })


def _check(values: np.ndarray, ok: np.ndarray, name: str, constraint: str) -> None:
    if not np.all(ok):
        first = int(np.flatnonzero(~ok)[0])
        raise InputError(f"{name} must be {constraint}; got {values[first].item()!r} at scenario"
                         f" {first} ({int(np.count_nonzero(~ok))} of {values.size} invalid)")


@dataclass(frozen=True, slots=True)
class StressScenario:
    """One joint shock: per-underlying relative spot and vol moves, and a clock advance.

    ``spot_shift`` / ``vol_shift`` map underlying -> move; the key ``"*"`` is the scenario's
    factor move (an index day, a crypto crash), applied to every underlying not named that
    belongs to ``asset_class`` (every asset class when ``asset_class`` is empty), scaled by the
    underlying's beta to the factor (1 unless given). An underlying neither named nor covered by
    ``"*"`` is not moved (a scenario naming only AAPL leaves the rest unchanged); reports say
    which underlyings a scenario left unmoved.
    """

    name: str
    spot_shift: Mapping[str, float]
    vol_shift: Mapping[str, float] = field(default_factory=dict)
    time_shift_days: float = 0.0
    description: str = ""
    asset_class: str = ""

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

    def how(self, underlying: str, asset_class: str = "") -> str:
        """How this scenario moves ``underlying`` of ``asset_class``: named, factor or unmoved."""
        if underlying in self.spot_shift:
            return "named"
        if "*" in self.spot_shift and (not self.asset_class or asset_class == self.asset_class):
            return "factor"
        return "unmoved"

    def moves(self, underlying: str, betas: Mapping[str, float] | None = None,
              asset_class: str = "") -> tuple[float, float]:
        """(spot move, vol move) of ``underlying`` (of ``asset_class``) in this scenario."""
        how = self.how(underlying, asset_class)
        if how == "named":
            spot = self.spot_shift[underlying]
            vol = self.vol_shift.get(underlying, self.vol_shift.get("*", 0.0))
        elif how == "factor":
            spot = self.spot_shift["*"] * (betas or {}).get(underlying, 1.0)
            vol = self.vol_shift.get(underlying, self.vol_shift.get("*", 0.0))
        else:
            return 0.0, self.vol_shift.get(underlying, 0.0)
        if spot <= -1:
            raise InputError(f"stress {self.name!r}: beta x move takes {underlying!r} to {spot:.0%}")
        return spot, vol
