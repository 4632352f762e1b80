"""greeksmargin: Greeks-based options portfolio margining.

The pricing layer (:mod:`greeksmargin.pricing`) prices European and American options and their
Greeks under the generalised Black-Scholes model with Numba kernels, and inverts prices to
implied vols. Units: years (ACT/365), annualised decimal vols, continuously compounded rates;
Greeks are raw derivatives, desk units carry their unit in the name (``theta_per_day``).
"""

from importlib.metadata import PackageNotFoundError, version

from .enums import ExerciseStyle, IVStatus, OptionKind
from .errors import (
    GreeksMarginError,
    ImpliedVolError,
    InputError,
    MarketDataError,
    MethodologyError,
)
from .pricing import Greeks, ImpliedVol, greeks, implied_vol, price

try:
    __version__ = version("greeksmargin")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ExerciseStyle",
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
