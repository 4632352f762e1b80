"""Black-Scholes (1973): non-dividend-paying underlying, cost of carry ``b = r``.

Examples
--------
>>> from greeksmargin import OptionKind
>>> from greeksmargin.pricing import black_scholes
>>> round(float(black_scholes.price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.05,
...                                 kind=OptionKind.CALL)), 4)
10.4506
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._typing import FloatArray
from . import _core
from ._core import Greeks, ImpliedVol

__all__ = ["price", "greeks", "implied_vol"]


def price(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, kind: Any,
          validate: bool = True, out: np.ndarray | None = None) -> FloatArray:
    """Black-Scholes price; see :func:`greeksmargin.pricing.price` for arguments and units."""
    return _core.price(spot, strike, expiry_years=expiry_years, vol=vol, rate=rate, carry=rate,
                       kind=kind, validate=validate, out=out)


def greeks(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, kind: Any,
           validate: bool = True, out: np.ndarray | None = None) -> Greeks:
    """Price options and their Greeks (Black-Scholes).

    Black-Scholes price and Greeks; ``rho`` is Hull's rho (``K T e^{-rT} N(d2)`` for a call);
    ``out`` as for :func:`greeksmargin.pricing.greeks`.
    """
    return _core.greeks(spot, strike, expiry_years=expiry_years, vol=vol, rate=rate, carry=rate,
                        kind=kind, validate=validate, out=out)


def implied_vol(price: Any, spot: Any, strike: Any, *, expiry_years: Any, rate: Any, kind: Any,
                on_error: Literal["raise", "nan"] = "raise", validate: bool = True) -> ImpliedVol:
    """Black-Scholes implied vol; see :func:`greeksmargin.pricing.implied_vol`."""
    return _core.implied_vol(price, spot, strike, expiry_years=expiry_years, rate=rate,
                             carry=rate, kind=kind, on_error=on_error, validate=validate)
