"""Margin methodologies: scenario grids and margin rules that follow the real systems.

Each preset cites the section of ``METHODOLOGIES.md`` (shipped as ``docs/methodology.md``) it
follows, and carries its name, version and every parameter value, which
:class:`~greeksmargin.margin.result.MarginResult` reports. Numbers tagged [I] there are documented
defaults that a user can override, not claims of exactness.

- ``occ_tims``: OCC TIMS / Cboe customer portfolio margin (section 1): 10 equidistant price points
  over the range of the product class (equity +-15%, broad index +-10%, high-cap broad index
  +6%/-8%), the $0.375 x multiplier per-contract minimum, optional vol stress (a house rule).
- ``span``: CME SPAN (section 3.1): 16 scenarios from a price scan range and a vol scan range,
  extreme moves (2 x PSR at 35% by default), look-ahead one day, optional short option minimum.
- ``deribit``: Deribit portfolio margin (section 2): 9 price buckets x 3 vol scenarios with vol
  shocks scaled by time to expiry, the extended table with weights and dampener, roll shock,
  MM = 0.8 x IM, all in coin for inverse contracts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..enums import ShiftType
from ..errors import MethodologyError
from ..model.scenarios import ScenarioGrid, VolScaling

if TYPE_CHECKING:
    from ..model.book import ResolvedBook

__all__ = ["Methodology", "ExtendedTable", "occ_tims", "span", "deribit", "get", "PRESETS", "OCC_RANGES",
           "DERIBIT_PARAMETERS"]

DAYS_PER_YEAR = 365.0
SOURCE_FILE = "METHODOLOGIES.md"


@dataclass(frozen=True, slots=True)
class ExtendedTable:
    """Deribit's extended table in a group's grid: the last ``n_scenarios`` scenarios from
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
class Methodology:
    """A margin methodology: how to build each group's grid, and the rules on top of the scan.

    Attributes
    ----------
    name, version : str
        Identify the preset (a changed parameter set is a new version).
    source : str
        The document and section followed.
    build_grids : callable
        ``build_grids(resolved) -> tuple of ScenarioGrid`` (one per group).
    parameters : dict
        Every parameter value used; reported with the result.
    contract_minimum : float
        Per option contract, times its multiplier (OCC $0.375): the group requirement is at
        least ``contract_minimum x sum |quantity| x multiplier`` over its options.
    short_option_minimum : float
        Per short option contract (SPAN SOM), in the group's currency.
    mm_factor : float
        Maintenance margin = ``mm_factor`` x initial margin (Deribit 0.8; 1 where the system has
        one requirement).
    roll_shock_rate : mapping of str to float
        Per group currency: charge = ``rate x sum |quantity x multiplier|`` of futures and perpetuals
        (Deribit ``min_annualised_move``).
    extended_table : mapping of str to ExtendedTable
        Per class group: where its grid's dampened extended table sits and its dampener
        (Deribit).
    gain_offset : mapping of str to float
        Per group currency: fraction of a scenario gain kept (Deribit ``pnl_offset``); within one
        group it cannot change the worst loss, it is reported for the cross-currency step.
    """

    name: str
    version: str
    source: str
    build_grids: Callable[[ResolvedBook], tuple[ScenarioGrid, ...]]
    parameters: dict[str, Any] = field(default_factory=dict)
    contract_minimum: float = 0.0
    short_option_minimum: float = 0.0
    mm_factor: float = 1.0
    roll_shock_rate: Mapping[str, float] = field(default_factory=dict)
    extended_table: Mapping[str, ExtendedTable] = field(default_factory=dict)
    gain_offset: Mapping[str, float] = field(default_factory=dict)

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


# Section 1.1 [V]; the placement of the 10 points is [I] (5 down, 5 up, zero not included).
OCC_RANGES = {
    "equity": (-0.15, 0.15),
    "broad_index": (-0.10, 0.10),
    "high_cap_index": (-0.08, 0.06),
}
OCC_CONTRACT_MINIMUM = 0.375  # section 1.1 [V], x multiplier [I, corroborated]


def _occ_points(down: float, up: float) -> np.ndarray:
    return np.concatenate([down * np.arange(5, 0, -1) / 5, up * np.arange(1, 6) / 5])


def occ_tims(product_class: Mapping[str, str] | None = None, *, default_class: str = "equity",
             vol_stress: tuple[float, ...] = (), vol_stress_type: ShiftType = ShiftType.RELATIVE,
             ) -> Methodology:
    """OCC TIMS / Cboe customer portfolio margin (METHODOLOGIES.md section 1).

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
    """
    classes = dict(product_class or {})
    for name in (*classes.values(), default_class):
        if name not in OCC_RANGES:
            raise MethodologyError(f"unknown OCC product class {name!r}; known: "
                                   f"{', '.join(OCC_RANGES)}")
    vols = (0.0, *vol_stress)
    by_class: dict[str, ScenarioGrid] = {}  # one grid object per class, shared by groups and calls

    def build(resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        grids = []
        for label, underlyings in zip(resolved.group_labels, resolved.group_underlyings(),
                                      strict=True):
            reference = resolved.market.product_class
            found = {classes.get(u) or reference.get(u, default_class) for u in underlyings}
            unknown = sorted(found - set(OCC_RANGES))
            if unknown:
                raise MethodologyError(f"unknown OCC product class {unknown[0]!r} for group"
                                       f" {label!r} (market product_class); known: "
                                       f"{', '.join(OCC_RANGES)}")
            if len(found) != 1:
                raise MethodologyError(f"group {label!r} mixes OCC product classes {sorted(found)}"
                                       f" ({', '.join(underlyings)})")
            cls = found.pop()
            if cls not in by_class:
                down, up = OCC_RANGES[cls]
                by_class[cls] = ScenarioGrid.product(
                    _occ_points(down, up), vols, vol_shift_type=vol_stress_type,
                    name=f"OCC TIMS {cls} {down:+.0%}/{up:+.0%}")
            grids.append(by_class[cls])
        return tuple(grids)

    return Methodology(
        "occ-tims", "2024.1", f"{SOURCE_FILE} section 1 (FINRA 4210(g), Cboe 10.4, OCC CPM)",
        build, {"ranges": OCC_RANGES, "product_class": classes, "default_class": default_class,
                "valuation_points": 10, "contract_minimum": OCC_CONTRACT_MINIMUM,
                "vol_stress": vol_stress, "vol_stress_type": ShiftType(vol_stress_type).name},
        contract_minimum=OCC_CONTRACT_MINIMUM)


# Section 3.1, table 12.1 [V]: (price move x PSR, vol move x VSR, fraction of loss)
SPAN_SCENARIOS = (
    (0.0, 1.0, 1.0), (0.0, -1.0, 1.0),
    (1 / 3, 1.0, 1.0), (1 / 3, -1.0, 1.0), (-1 / 3, 1.0, 1.0), (-1 / 3, -1.0, 1.0),
    (2 / 3, 1.0, 1.0), (2 / 3, -1.0, 1.0), (-2 / 3, 1.0, 1.0), (-2 / 3, -1.0, 1.0),
    (1.0, 1.0, 1.0), (1.0, -1.0, 1.0), (-1.0, 1.0, 1.0), (-1.0, -1.0, 1.0),
)


def span(price_scan_range: float | Mapping[str, float], vol_scan_range: float = 0.35, *,
         vol_shift_type: ShiftType = ShiftType.RELATIVE, extreme_multiple: float = 2.0,
         extreme_coverage: float = 0.35, look_ahead_days: float = 1.0,
         short_option_minimum: float = 0.0) -> Methodology:
    """CME SPAN's 16 scenarios (METHODOLOGIES.md section 3.1).

    Parameters
    ----------
    price_scan_range : float or mapping of str to float
        Relative price scan range (e.g. 0.07), or one per group.
    vol_scan_range : float
        Vol scan range; relative by default (35% in the CME E-mini deck, section 3.2).
    vol_shift_type : ShiftType
        Whether ``vol_scan_range`` is relative or absolute (vol points as decimals).
    extreme_multiple, extreme_coverage : float
        Scenarios 15/16: price +-``extreme_multiple`` x PSR at vol unchanged, loss x coverage
        (2 and 0.35 by default; NYMEX Gasoil 3 and 0.33).
    look_ahead_days : float
        Clock advance of every scenario ("typically one trading day").
    short_option_minimum : float
        SOM per short option contract in the group's currency (0: none).
    """
    def scan_for(label: str) -> float:
        key = label.rsplit("/", 1)[-1]  # batch labels are "<account>/<group>"
        value = price_scan_range.get(key) if isinstance(price_scan_range, Mapping) else \
            price_scan_range
        if value is None:
            raise MethodologyError(f"no SPAN price scan range for group {label!r}")
        if not (0 < value < 1):
            raise MethodologyError(f"SPAN price scan range must be in (0, 1) (relative); got"
                                   f" {value!r} for group {label!r}")
        return float(value)

    def grid(psr: float) -> ScenarioGrid:
        moves = [m for m, _, _ in SPAN_SCENARIOS] + [extreme_multiple, -extreme_multiple]
        vols = [v * vol_scan_range for _, v, _ in SPAN_SCENARIOS] + [0.0, 0.0]
        weights = [w for _, _, w in SPAN_SCENARIOS] + [extreme_coverage, extreme_coverage]
        spot = psr * np.array(moves)
        labels = tuple(f"{k + 1}: price {m:+.3g} PSR, vol {v:+.3g}" for k, (m, v) in
                       enumerate(zip(moves, [v for _, v, _ in SPAN_SCENARIOS] + [0.0, 0.0],
                                     strict=True)))
        return ScenarioGrid(spot, np.array(vols), np.full(16, int(vol_shift_type), np.int8),
                            np.full(16, look_ahead_days / DAYS_PER_YEAR), np.array(weights),
                            labels, name=f"SPAN PSR {psr:.4g}")

    by_range: dict[float, ScenarioGrid] = {}  # grids are immutable: shared by groups and calls

    def build(resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        out = []
        for label in resolved.group_labels:
            psr = scan_for(label)
            if psr not in by_range:
                by_range[psr] = grid(psr)
            out.append(by_range[psr])
        return tuple(out)

    return Methodology(
        "span", "2019.1", f"{SOURCE_FILE} section 3.1-3.2 (CME SPAN risk arrays)", build,
        {"price_scan_range": price_scan_range, "vol_scan_range": vol_scan_range,
         "vol_shift_type": ShiftType(vol_shift_type).name, "extreme_multiple": extreme_multiple,
         "extreme_coverage": extreme_coverage, "look_ahead_days": look_ahead_days,
         "short_option_minimum": short_option_minimum},
        short_option_minimum=short_option_minimum)


# Section 2.2 [V]: BTC from the June 2024 API docs, ETH from a Feb 2026 trace.
DERIBIT_PARAMETERS: dict[str, dict[str, float]] = {
    "BTC": {"price_range": 0.16, "volatility_range_up": 0.5, "volatility_range_down": 0.25,
            "short_term_vega_power": 0.3, "long_term_vega_power": 0.13,
            "min_volatility_for_shock_up": 0.5, "extended_table_factor": 1.0,
            "annualised_move_risk": 0.075, "min_annualised_move": 0.01,
            "extended_dampener": 100_000.0, "pnl_offset": 0.0},
    "ETH": {"price_range": 0.18, "volatility_range_up": 0.4, "volatility_range_down": 0.25,
            "short_term_vega_power": 0.3, "long_term_vega_power": 0.13,
            "min_volatility_for_shock_up": 0.5, "extended_table_factor": 1.0,
            "annualised_move_risk": 0.05, "min_annualised_move": 0.005,
            "extended_dampener": 200_000.0, "pnl_offset": 0.6},
}
DERIBIT_EXTENDED_MOVES = (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)  # section 2.1 [V]
DERIBIT_MM_FACTOR = 0.8  # section 2.2 [V]
DERIBIT_STANDARD_SCENARIOS = 9 * 3  # 9 price buckets x 3 vol scenarios, before the extended table


def deribit(parameters: Mapping[str, Mapping[str, float]] | None = None) -> Methodology:
    """Deribit portfolio margin (METHODOLOGIES.md section 2), one grid per currency group.

    The standard table is 9 price buckets (``-R, -3R/4, ..., +R``) x 3 vol scenarios (up, same,
    down; relative, scaled by ``(30 / days) ** power``, up at least ``min_volatility_for_shock_up``),
    price-major. The extended table adds moves -66% ... +500% at vol up, weighted by
    ``extended_table_factor x R / |move|`` and dampened [I]; futures and perpetuals move only by the
    edge of the range there [D]. Groups are named by coin (``BTC``, ``ETH``); ``parameters``
    overrides or adds per-coin values (keys as in ``DERIBIT_PARAMETERS``).
    """
    table = {k: dict(v) for k, v in DERIBIT_PARAMETERS.items()}
    for coin, values in (parameters or {}).items():
        table.setdefault(coin, {}).update(values)
    required = set(DERIBIT_PARAMETERS["BTC"])
    for coin, values in table.items():
        missing = required - set(values)
        if missing:
            raise MethodologyError(f"Deribit parameters for {coin!r} lack {sorted(missing)}")

    def grid(coin: str) -> ScenarioGrid:
        p = table[coin]
        r = p["price_range"]
        moves = r * np.arange(-4, 5) / 4
        vol_shifts = (p["volatility_range_up"], 0.0, -p["volatility_range_down"])
        scaling = VolScaling(p["short_term_vega_power"], p["long_term_vega_power"],
                             p["min_volatility_for_shock_up"])
        standard = ScenarioGrid.product(moves, vol_shifts, vol_shift_type=ShiftType.RELATIVE,
                                        vol_scaling=scaling, name=f"Deribit {coin} standard")
        ext = np.array(DERIBIT_EXTENDED_MOVES)
        extended = ScenarioGrid(
            ext, np.full(ext.size, p["volatility_range_up"]),
            np.full(ext.size, int(ShiftType.RELATIVE), np.int8), np.zeros(ext.size),
            p["extended_table_factor"] * r / np.abs(ext),
            tuple(f"extended spot{m:+.0%}|vol up" for m in ext), scaling,
            f"Deribit {coin} extended", linear_spot_shift=np.sign(ext) * r)
        return standard.concat(extended, name=f"Deribit {coin} portfolio margin")

    by_coin: dict[str, ScenarioGrid] = {}  # grids are immutable: shared by groups and calls

    def build(resolved: ResolvedBook) -> tuple[ScenarioGrid, ...]:
        grids = []
        for label in resolved.group_labels:
            coin = label.rsplit("/", 1)[-1]  # batch labels are "<account>/<group>"
            if coin not in table:
                raise MethodologyError(f"no Deribit parameters for group {label!r}; known: "
                                       f"{', '.join(table)}; pass deribit(parameters={{...}})")
            if coin not in by_coin:
                by_coin[coin] = grid(coin)
            grids.append(by_coin[coin])
        return tuple(grids)

    return Methodology(
        "deribit-pm", "2024.6", f"{SOURCE_FILE} section 2 (Deribit portfolio margin, API"
        " private/pme/simulate)", build,
        {"currencies": table, "extended_moves": DERIBIT_EXTENDED_MOVES,
         "mm_factor": DERIBIT_MM_FACTOR, "buckets_per_side": 4, "vol_scenarios": 3},
        mm_factor=DERIBIT_MM_FACTOR,
        roll_shock_rate={c: v["min_annualised_move"] for c, v in table.items()},
        extended_table={c: ExtendedTable(DERIBIT_STANDARD_SCENARIOS, len(DERIBIT_EXTENDED_MOVES), v["price_range"],
                                         v["extended_dampener"]) for c, v in table.items()},
        gain_offset={c: v["pnl_offset"] for c, v in table.items()})


PRESETS: dict[str, Callable[..., Methodology]] = {
    "occ-tims": occ_tims,
    "span": span,
    "deribit": deribit,
}


def get(name: str, **options: Any) -> Methodology:
    """A preset by name (``occ-tims``, ``span``, ``deribit``) with its options.

    Raises
    ------
    MethodologyError
        Unknown name, or options the preset does not take.
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise MethodologyError(f"unknown methodology {name!r}; known: {', '.join(PRESETS)}"
                               ) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise MethodologyError(f"bad options for methodology {name!r}: {exc}") from None
