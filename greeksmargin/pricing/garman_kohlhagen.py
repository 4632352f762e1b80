"""Garman-Kohlhagen (1983): FX options, cost of carry ``b = r_d - r_f``.

Prices are in domestic currency per unit of foreign currency. ``Greeks.rho`` is the domestic-rate
rho (foreign rate fixed); the foreign-rate rho is ``Greeks.yield_rho``.

Examples
--------
Haug (1998), as in QuantLib's test suite (call, S=1.56, K=1.60, r_f=8%, r_d=6%, T=0.5, vol=12%):

>>> from greeksmargin import OptionKind
>>> from greeksmargin.pricing import garman_kohlhagen as gk
>>> round(float(gk.price(1.56, 1.60, expiry_years=0.5, vol=0.12, domestic_rate=0.06,
...                      foreign_rate=0.08, kind=OptionKind.CALL)), 4)
0.0291
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._typing import FloatArray
from . import _core
from ._core import Greeks, ImpliedVol
from ._validate import to_float

__all__ = ["price", "greeks", "implied_vol"]


def _carry(domestic_rate: Any, foreign_rate: Any) -> FloatArray:
    return np.subtract(to_float("domestic_rate", domestic_rate),
                       to_float("foreign_rate", foreign_rate))


def price(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, domestic_rate: Any,
          foreign_rate: Any, kind: Any, validate: bool = True,
          out: np.ndarray | None = None) -> FloatArray:
    """Price currency options (Garman-Kohlhagen).

    Garman-Kohlhagen price in domestic currency per unit of foreign currency; ``out`` as for
    :func:`greeksmargin.pricing.price`.
    """
    return _core.price(spot, strike, expiry_years=expiry_years, vol=vol, rate=domestic_rate,
                       carry=_carry(domestic_rate, foreign_rate), kind=kind, validate=validate,
                       out=out)


def greeks(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, domestic_rate: Any,
           foreign_rate: Any, kind: Any, validate: bool = True,
           out: np.ndarray | None = None) -> Greeks:
    """Price currency options and their Greeks (Garman-Kohlhagen).

    Garman-Kohlhagen price and Greeks (``rho`` domestic, ``yield_rho`` foreign); ``out`` as
    for :func:`greeksmargin.pricing.greeks`.
    """
    return _core.greeks(spot, strike, expiry_years=expiry_years, vol=vol, rate=domestic_rate,
                        carry=_carry(domestic_rate, foreign_rate), kind=kind, validate=validate,
                       out=out)


def implied_vol(price: Any, spot: Any, strike: Any, *, expiry_years: Any, domestic_rate: Any,
                foreign_rate: Any, kind: Any, on_error: Literal["raise", "nan"] = "raise",
                validate: bool = True) -> ImpliedVol:
    """Garman-Kohlhagen implied vol; see :func:`greeksmargin.pricing.implied_vol`."""
    return _core.implied_vol(price, spot, strike, expiry_years=expiry_years, rate=domestic_rate,
                             carry=_carry(domestic_rate, foreign_rate), kind=kind,
                             on_error=on_error, validate=validate)
