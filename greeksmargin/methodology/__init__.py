"""Margin methodologies: scenario grids and margin rules that follow the real systems.

One module per venue, its parameters as versioned data (``methodology/data/<name>/<version>.json``,
one file per published set), every value with its source in ``docs/methodology.md``. A preset
carries its name, version, sources and every parameter value, which
:class:`~greeksmargin.margin.result.MarginResult` reports. Values marked inferred there are
documented defaults that a user can override, not claims of exactness.

- :func:`occ_tims`: OCC TIMS / Cboe customer portfolio margin (FINRA 4210(g), Cboe 10.4);
- :func:`span`: CME SPAN's 16 risk scenarios;
- :func:`deribit`: Deribit portfolio margin (coin-settled groups in coin);
- :mod:`.simm`: ISDA SIMM v2.6 (equity, commodity), sensitivity-based;
- :func:`historical`: historical simulation, VaR / expected shortfall of joint scenarios (the
  SPAN 2 / Prisma / STANS family), margined by :mod:`greeksmargin.margin.historical`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import MethodologyError
from .base import Concentration, ExtendedTable, GridRule, Methodology, load_parameters, versions
from .deribit import deribit
from .historical import HistoricalModel, historical
from .occ_tims import occ_tims
from .span import span
from .span_spreads import DeliveryCharge, InterSpread, IntraSpread, SpanSpreads, SpanTier

__all__ = ["Methodology", "ExtendedTable", "Concentration", "GridRule", "occ_tims", "span", "deribit", "get",
           "PRESETS", "load_parameters", "versions", "HistoricalModel", "historical", "SpanSpreads",
           "SpanTier", "IntraSpread", "InterSpread", "DeliveryCharge"]

PRESETS: dict[str, Callable[..., Methodology]] = {
    "occ-tims": occ_tims,
    "span": span,
    "deribit": deribit,
}


def get(name: str, version: str | None = None, **options: Any) -> Methodology:
    """Return a preset by name and version.

    A preset by name (``occ-tims``, ``span``, ``deribit``) and version (default: the
    newest that ships), with its options.

    Raises
    ------
    MethodologyError
        Unknown name or version, or options the preset does not take.
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise MethodologyError(f"unknown methodology {name!r}; known: {', '.join(PRESETS)}"
                               ) from None
    if version is not None:
        options["version"] = version
    try:
        return factory(**options)
    except TypeError as exc:
        raise MethodologyError(f"bad options for methodology {name!r}: {exc}") from None
