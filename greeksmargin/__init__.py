"""greeksmargin: Greeks-based options portfolio margining.

Book + MarketData + ScenarioGrid (or a methodology preset) -> revalue -> PnLMatrix ->
MarginResult; :func:`compute_margin` chains them. The pricing layer
(:mod:`greeksmargin.pricing`) prices European and American options and their Greeks under the
generalised Black-Scholes model with Numba kernels, and inverts prices to implied vols. Units:
years (ACT/365), annualised decimal vols, continuously compounded rates; Greeks are raw
derivatives, desk units carry their unit in the name (``theta_per_day``).
"""

from . import methodology
from ._version import __version__
from .enums import ExerciseStyle, IVStatus, OptionKind, Settlement, ShiftType
from .errors import (
    Failure,
    GreeksMarginError,
    ImpliedVolError,
    InputError,
    MarketDataError,
    MethodologyError,
)
from .io.books import LoadResult, read_book
from .io.grids import read_grid
from .io.markets import read_market
from .margin.result import MarginResult, compute_margin, margin_from_pnl
from .measures.revalue import PnLMatrix, revalue
from .methodology import Methodology
from .model.book import Book, ResolvedBook
from .model.market import MarketData, VolSurface
from .model.scenarios import ScenarioGrid, VolScaling
from .pricing import Greeks, ImpliedVol, greeks, implied_vol, price

__all__ = [
    "Book",
    "ExerciseStyle",
    "Failure",
    "LoadResult",
    "MarginResult",
    "MarketData",
    "Methodology",
    "PnLMatrix",
    "ResolvedBook",
    "ScenarioGrid",
    "Settlement",
    "ShiftType",
    "VolScaling",
    "VolSurface",
    "compute_margin",
    "margin_from_pnl",
    "methodology",
    "read_book",
    "read_grid",
    "read_market",
    "revalue",
    "Greeks",
    "GreeksMarginError",
    "IVStatus",
    "ImpliedVol",
    "ImpliedVolError",
    "InputError",
    "MarketDataError",
    "MethodologyError",
    "OptionKind",
    "__version__",
    "greeks",
    "implied_vol",
    "price",
]
