"""Merton (1973): continuous dividend yield ``q``, cost of carry ``b = r - q``.

``Greeks.rho`` holds ``q`` fixed; the dividend rho dV/dq is ``Greeks.yield_rho``.

Examples
--------
Haug (1998) p. 4, as in QuantLib's test suite (put, S=100, K=95, q=5%, r=10%, T=0.5, vol=20%):

>>> from greeksmargin import OptionKind
>>> from greeksmargin.pricing import black_scholes_merton as bsm
>>> round(float(bsm.price(100.0, 95.0, expiry_years=0.5, vol=0.2, rate=0.1,
...                       dividend_yield=0.05, kind=OptionKind.PUT)), 4)
2.4648
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._typing import FloatArray
from . import _core
from ._core import Greeks, ImpliedVol
from ._validate import to_float

__all__ = ["price", "greeks", "implied_vol"]


def _carry(rate: Any, dividend_yield: Any) -> FloatArray:
    return np.subtract(to_float("rate", rate), to_float("dividend_yield", dividend_yield))


def price(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any,
          dividend_yield: Any, kind: Any, validate: bool = True,
          out: np.ndarray | None = None) -> FloatArray:
    """Price options on a dividend-paying underlying (Merton).

    Merton price; ``dividend_yield`` is a continuously compounded decimal; ``out`` as for
    :func:`greeksmargin.pricing.price`.
    """
    return _core.price(spot, strike, expiry_years=expiry_years, vol=vol, rate=rate,
                       carry=_carry(rate, dividend_yield), kind=kind, validate=validate,
                       out=out)


def greeks(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any,
           dividend_yield: Any, kind: Any, validate: bool = True,
           out: np.ndarray | None = None) -> Greeks:
    """Price options and their Greeks (Merton).

    Merton price and Greeks (``rho`` with ``q`` fixed; dividend rho is ``yield_rho``); ``out``
    as for :func:`greeksmargin.pricing.greeks`.
    """
    return _core.greeks(spot, strike, expiry_years=expiry_years, vol=vol, rate=rate,
                        carry=_carry(rate, dividend_yield), kind=kind, validate=validate,
                        out=out)


def implied_vol(price: Any, spot: Any, strike: Any, *, expiry_years: Any, rate: Any,
                dividend_yield: Any, kind: Any, on_error: Literal["raise", "nan"] = "raise",
                validate: bool = True) -> ImpliedVol:
    """Merton implied vol; see :func:`greeksmargin.pricing.implied_vol`."""
    return _core.implied_vol(price, spot, strike, expiry_years=expiry_years, rate=rate,
                             carry=_carry(rate, dividend_yield), kind=kind, on_error=on_error,
                             validate=validate)
