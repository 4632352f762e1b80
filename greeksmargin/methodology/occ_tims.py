"""OCC TIMS as used for Cboe / FINRA customer portfolio margin.

Ten equidistant price points over the range of each product class (equity +-15%, broad-based
index +-10%, high-capitalisation broad-based index +6%/-8%; five down, five up, zero excluded),
the $0.375 x multiplier per-contract minimum, and an optional vol stress at every point (a
broker house rule, not the OCC rule). Parameters: ``data/occ_tims/<version>.json``; every value
and its source: ``docs/methodology.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..enums import ShiftType
from ..errors import MethodologyError
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid
from .base import Methodology, load_parameters

__all__ = ["occ_tims", "OccGrids", "DEFAULT_VERSION"]

NAME = "occ_tims"
DEFAULT_VERSION = "2024.1"


@lru_cache(maxsize=64)
def _grid(down: float, up: float, points: int, vols: tuple[float, ...], vol_type: int,
          cls: str) -> ScenarioGrid:
    # grids are immutable: one object per class and parameters, shared by groups and calls
    spot = np.concatenate([down * np.arange(points, 0, -1) / points,
                           up * np.arange(1, points + 1) / points])
    return ScenarioGrid.product(spot, vols, vol_shift_type=ShiftType(vol_type),
                                name=f"OCC TIMS {cls} {down:+.0%}/{up:+.0%}")


@dataclass(frozen=True, slots=True)
class OccGrids:
    """One grid per group from the product class of its underlyings.

    The class of an underlying is ``product_class[u]``, else the market's reference data
    (``MarketData.product_class``), else ``default_class``; a group must not mix classes.
    """

    ranges: Mapping[str, tuple[float, float]]
    points_per_side: int
    product_class: Mapping[str, str] = field(default_factory=dict)
    default_class: str = "equity"
    vol_shifts: tuple[float, ...] = (0.0,)
    vol_shift_type: ShiftType = ShiftType.RELATIVE

    def grids(self, resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        """One grid per group of ``resolved``.

        Raises
        ------
        MethodologyError
            An unknown product class, or a group whose underlyings are of different classes.
        """
        reference = resolved.market.product_class
        names = resolved.market.underlyings
        class_of = [self.product_class.get(u) or reference.get(u, self.default_class)
                    for u in names]
        known = list(self.ranges)
        code_of = np.array([known.index(c) if c in self.ranges else -1 for c in class_of],
                           np.int64)
        row_code = code_of[resolved.underlying_index]  # sorted rows
        offsets = resolved.group_offsets
        if np.any(row_code < 0):
            k = int(np.flatnonzero(row_code < 0)[0])
            label = resolved.group_labels[int(resolved.group_index[k])]
            raise MethodologyError(f"unknown OCC product class"
                                   f" {class_of[int(resolved.underlying_index[k])]!r} for group"
                                   f" {label!r} (market product_class); known: {', '.join(known)}")
        group_code = np.full(resolved.n_groups, known.index(self.default_class)
                             if self.default_class in self.ranges else 0, np.int64)
        nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
        if nonempty.size:
            low = np.minimum.reduceat(row_code, offsets[nonempty])
            high = np.maximum.reduceat(row_code, offsets[nonempty])
            mixed = np.flatnonzero(low != high)
            if mixed.size:
                g = int(nonempty[mixed[0]])
                members = resolved.group_underlyings()[g]
                found = sorted({class_of[names.index(u)] for u in members})
                raise MethodologyError(f"group {resolved.group_labels[g]!r} mixes OCC product"
                                       f" classes {found} ({', '.join(members)})")
            group_code[nonempty] = low
        grids = [_grid(*self.ranges[c], self.points_per_side, self.vol_shifts,
                       int(self.vol_shift_type), c) for c in known]
        table = np.empty(len(grids), dtype=object)
        table[:] = grids
        return tuple(table[group_code].tolist())  # one C loop for a batch's 470,000 groups


def occ_tims(product_class: Mapping[str, str] | None = None, *, default_class: str = "equity",
             vol_stress: tuple[float, ...] = (), vol_stress_type: ShiftType = ShiftType.RELATIVE,
             version: str = DEFAULT_VERSION) -> Methodology:
    """OCC TIMS / Cboe customer portfolio margin (``docs/methodology.md``).

    Parameters
    ----------
    product_class : mapping of str to str, optional
        Underlying -> ``"equity"`` (+-15%), ``"broad_index"`` (+-10%) or ``"high_cap_index"``
        (+6%/-8%); every underlying of a group must share a class. Underlyings not named here
        take the class of the market's reference data (``MarketData.product_class``, the
        ``product_class`` column of a market file), then ``default_class``.
    default_class : str
        Class of underlyings named in neither.
    vol_stress : tuple of float
        Extra vol shifts at every price point (a broker house rule, not the OCC rule), e.g.
        ``(-0.2, 0.2)`` relative; the unshifted vol is always included.
    vol_stress_type : ShiftType
        How ``vol_stress`` applies.
    version : str
        The parameter set (``methodology/data/occ_tims/<version>.json``).

    Raises
    ------
    MethodologyError
        An unknown product class or version, or a vol stress that is not finite.
    """
    data = load_parameters(NAME, version)
    ranges = {k: (float(v[0]), float(v[1])) for k, v in data["ranges"].items()}
    classes = dict(product_class or {})
    for name in (*classes.values(), default_class):
        if name not in ranges:
            raise MethodologyError(f"unknown OCC product class {name!r}; known: "
                                   f"{', '.join(ranges)}")
    if not all(np.isfinite(v) for v in vol_stress):
        raise MethodologyError(f"vol_stress must be finite; got {vol_stress!r}")
    points = int(data["points_per_side"])
    rule = OccGrids(ranges, points, classes, default_class, (0.0, *map(float, vol_stress)),
                    ShiftType(vol_stress_type))
    minimum = float(data["contract_minimum"])
    return Methodology(
        data["name"], data["version"], data["source"], rule,
        {"ranges": ranges, "product_class": classes, "default_class": default_class,
         "valuation_points": 2 * points, "contract_minimum": minimum,
         "vol_stress": vol_stress, "vol_stress_type": ShiftType(vol_stress_type).name},
        contract_minimum=minimum)
