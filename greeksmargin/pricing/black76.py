"""Black (1976): options on futures or forwards, cost of carry ``b = 0``.

The first argument is the futures price ``forward``; ``delta`` is dV/dF. ``Greeks.rho`` here is
dV/dr with the futures price fixed (``-T V``), the sensitivity a futures-option desk hedges.

Examples
--------
Haug (1998) p. 4, as in QuantLib's test suite (F=K=19, r=10%, T=0.75, vol=28%):

>>> from greeksmargin import OptionKind
>>> from greeksmargin.pricing import black76
>>> round(float(black76.price(19.0, 19.0, expiry_years=0.75, vol=0.28, rate=0.1,
...                           kind=OptionKind.CALL)), 4)
1.7011
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._typing import FloatArray
from . import _core
from ._core import Greeks, ImpliedVol

__all__ = ["price", "greeks", "implied_vol"]


def price(forward: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, kind: Any,
          validate: bool = True, out: np.ndarray | None = None) -> FloatArray:
    """Price options on futures (Black-76).

    Black-76 price of an option on a future with price ``forward``; ``out`` as for
    :func:`greeksmargin.pricing.price`.
    """
    return _core.price(forward, strike, expiry_years=expiry_years, vol=vol, rate=rate, carry=0.0,
                       kind=kind, validate=validate, out=out)


def greeks(forward: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, kind: Any,
           validate: bool = True, out: np.ndarray | None = None) -> Greeks:
    """Price options on futures and their Greeks (Black-76).

    Black-76 price and Greeks; ``delta`` is dV/dF and ``rho`` is ``-T V`` (F fixed); ``out``
    as for :func:`greeksmargin.pricing.greeks`.
    """
    g = _core.greeks(forward, strike, expiry_years=expiry_years, vol=vol, rate=rate, carry=0.0,
                     kind=kind, validate=validate, out=out)
    # with the futures price fixed, r only discounts: dV/dr = -T V (kernel rho moves F with r);
    # in place, so with out= that row holds this rho too
    np.subtract(g.rho, g.carry_rho, out=g.rho)
    return g


def implied_vol(price: Any, forward: Any, strike: Any, *, expiry_years: Any, rate: Any,
                kind: Any, on_error: Literal["raise", "nan"] = "raise",
                validate: bool = True) -> ImpliedVol:
    """Black-76 implied vol; see :func:`greeksmargin.pricing.implied_vol`."""
    return _core.implied_vol(price, forward, strike, expiry_years=expiry_years, rate=rate,
                             carry=0.0, kind=kind, on_error=on_error, validate=validate)
