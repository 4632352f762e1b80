"""American options on an underlying with a continuous dividend yield (cost of carry ``b = r - q``).

Three methods:

- ``"tree"`` (default): Leisen-Reimer binomial tree (``n_steps``, made odd; error falls roughly
  as ``1/n_steps**2``), Greeks from the tree (delta, gamma), the Black-Scholes PDE (theta) and
  central differences (vega, rho, dividend rho);
- ``"alo"``: the Andersen-Lake-Offengelder (2016) fixed-point method, what the scenario
  revaluation uses: within 0.1% of the option value of QuantLib's QdFp engine from one day to five
  years (measured worst 0.08%), about 30 us a price (a boundary, then about 1.5 us a spot);
- ``"baw"``: the Barone-Adesi-Whaley (1987) quadratic approximation, a closed form about 100x
  faster than the tree; its error grows with maturity (1-3% of the value of a 3-year put).

A call on a non-dividend underlying (``q <= 0``) is never exercised early and prices as European;
likewise a put when ``rate <= 0``.

Examples
--------
The classic American put (S=K=100, r=5%, vol=20%, T=1, no dividend) is worth about 6.0903
against 5.5735 for the European put:

>>> from greeksmargin import OptionKind
>>> from greeksmargin.pricing import american
>>> round(float(american.price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.05,
...                            kind=OptionKind.PUT, n_steps=2001)), 3)
6.09
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._typing import FloatArray
from ..enums import IVStatus
from ..errors import InputError
from ..kernels import _american
from ..kernels._jit import n_chunks, parallel_allowed
from . import _validate as v
from ._core import ImpliedVol, _DeskUnits, _prepare, _raise_failed

__all__ = ["AmericanGreeks", "price", "greeks", "implied_vol"]

DEFAULT_STEPS = 501
# implied vols are searched in this range (annualised decimal)
VOL_MIN = 0.01  # BAW's exponent overflows for total vol below about 1e-3
VOL_MAX = v.MAX_VOL

Method = Literal["tree", "alo", "baw"]
METHODS = ("tree", "alo", "baw")


@dataclass(frozen=True, slots=True)
class AmericanGreeks(_DeskUnits):
    """Price and Greeks of American options (raw units, as :class:`~greeksmargin.pricing.Greeks`).

    ``rho`` holds the dividend yield fixed; the dividend rho is ``yield_rho``.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray
    carry_rho: FloatArray


def _inputs(spot: Any, strike: Any, expiry_years: Any, vol: Any, rate: Any, dividend_yield: Any,
            kind: Any, validate: bool, n_steps: int, option_price: Any = None,
            ) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
    if not (isinstance(n_steps, (int, np.integer)) and 1 <= n_steps <= 100_000):
        raise InputError(f"n_steps must be an integer in [1, 100000]; got {n_steps!r}")
    carry = np.subtract(v.to_float("rate", rate), v.to_float("dividend_yield", dividend_yield))
    return _prepare(spot, strike, expiry_years, vol, rate, carry, kind, validate,
                    option_price=option_price, needs_price=vol is None)


def _args(f: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return (f["spot"], f["strike"], f["expiry_years"], f["vol"], f["rate"], f["carry"], f["kind"])


def price(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any,
          dividend_yield: Any = 0.0, kind: Any, method: Method = "tree",
          n_steps: int = DEFAULT_STEPS, validate: bool = True) -> FloatArray:
    """American option prices.

    Parameters
    ----------
    spot, strike, expiry_years, vol, rate, kind
        As in :func:`greeksmargin.pricing.price`.
    dividend_yield : float or array_like, default 0
        Continuous dividend yield ``q`` (carry ``b = rate - q``).
    method : {"tree", "alo", "baw"}
        Leisen-Reimer tree, Andersen-Lake-Offengelder fixed point, or Barone-Adesi-Whaley.
    n_steps : int, default 501
        Tree steps (made odd); ignored by ``"baw"``.
    validate : bool, default True
        Skip input checks when False.

    Returns
    -------
    numpy.ndarray
        Prices in the broadcast shape of the inputs.

    Raises
    ------
    InputError
        If an input is out of its domain or ``method`` is unknown.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    shape, f = _inputs(spot, strike, expiry_years, vol, rate, dividend_yield, kind, validate,
                       n_steps)
    n = f["spot"].size
    if method == "baw":
        out = np.empty(n)
        _american.baw_range(*_args(f), out, 0, n)
        return out.reshape(shape)
    if method == "alo":
        out = np.empty(n)
        if n >= 64 and parallel_allowed():
            _american.alo_parallel(*_args(f), out, n_chunks())
        else:
            _american.alo_range(*_args(f), out, 0, n)
        return out.reshape(shape)
    return _tree(f, n_steps)[0].reshape(shape)


def _tree(f: dict[str, np.ndarray], n_steps: int) -> np.ndarray:
    n = f["spot"].size
    out = np.empty((_american.N_AMERICAN, n))
    if n >= 64 and parallel_allowed():  # a tree is heavy: parallel pays off from a few dozen rows
        _american.american_parallel(*_args(f), n_steps, out, n_chunks())
    else:
        _american.american_range(*_args(f), n_steps, out, 0, n)
    return out


def greeks(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any,
           dividend_yield: Any = 0.0, kind: Any, n_steps: int = DEFAULT_STEPS,
           validate: bool = True) -> AmericanGreeks:
    """American price and Greeks from the Leisen-Reimer tree; arguments as :func:`price`."""
    shape, f = _inputs(spot, strike, expiry_years, vol, rate, dividend_yield, kind, validate,
                       n_steps)
    out = _tree(f, n_steps)
    return AmericanGreeks(*(row.reshape(shape) for row in out))


def implied_vol(price: Any, spot: Any, strike: Any, *, expiry_years: Any, rate: Any,
                dividend_yield: Any = 0.0, kind: Any, method: Method = "tree",
                n_steps: int = DEFAULT_STEPS, on_error: Literal["raise", "nan"] = "raise",
                validate: bool = True) -> ImpliedVol:
    """Implied vol of American option prices, by Brent's method on the chosen pricer.

    The vol is searched in ``[0.01, 5]``. Status ``BELOW_INTRINSIC``: the price is below the
    zero-vol value (at least the exercise value); ``ABOVE_MAXIMUM``: above the value at vol 5;
    ``NOT_CONVERGED``: between the zero-vol value and the value at vol 0.01, or Brent failed.

    Returns
    -------
    ImpliedVol
        Vols and per-row status, as :func:`greeksmargin.pricing.implied_vol`.

    Raises
    ------
    ImpliedVolError
        With ``on_error="raise"``, if any row is not solved.
    InputError
        If an input is out of its domain.
    """
    from scipy import optimize  # imported on first use: scipy.optimize costs 0.3 s at start-up

    if on_error not in ("raise", "nan"):
        raise ValueError(f"on_error must be 'raise' or 'nan'; got {on_error!r}")
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    shape, f = _inputs(spot, strike, expiry_years, None, rate, dividend_yield, kind, validate,
                       n_steps, option_price=price)
    n = f["spot"].size
    vols = np.full(n, np.nan)
    status = np.empty(n, dtype=np.int8)

    def value(i: int, vol: float) -> float:
        args = (f["spot"][i], f["strike"][i], f["expiry_years"][i], vol, f["rate"][i],
                f["carry"][i], int(f["kind"][i]))
        if method == "baw":
            return float(_american.baw1(*args))
        if method == "alo":
            return float(_american.alo1(*args))
        return float(_american.tree1(*args, n_steps)[0])

    for i in range(n):
        target = f["price"][i]
        floor = _american.deterministic1(f["spot"][i], f["strike"][i], f["expiry_years"][i],
                                         f["rate"][i], f["carry"][i], int(f["kind"][i]))
        if f["expiry_years"][i] == 0.0:
            status[i] = (IVStatus.UNDETERMINED if target == floor else
                         IVStatus.BELOW_INTRINSIC if target < floor else IVStatus.ABOVE_MAXIMUM)
            continue
        if target < floor:
            status[i] = IVStatus.BELOW_INTRINSIC
            continue
        low, high = value(i, VOL_MIN) - target, value(i, VOL_MAX) - target
        if high < 0.0:
            status[i] = IVStatus.ABOVE_MAXIMUM
            continue
        if low > 0.0:
            status[i] = IVStatus.NOT_CONVERGED
            continue
        try:
            vols[i] = optimize.brentq(lambda s, i=i, target=target: value(i, s) - target, VOL_MIN, VOL_MAX,
                             xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
            status[i] = IVStatus.OK
        except RuntimeError:
            status[i] = IVStatus.NOT_CONVERGED
    if on_error == "raise" and np.any(status != IVStatus.OK):
        _raise_failed(status, shape, f["price"])
    return ImpliedVol(vols.reshape(shape), status.reshape(shape))
