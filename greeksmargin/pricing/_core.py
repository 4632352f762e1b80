"""Generalised Black-Scholes pricing API: validated, broadcasting, array in / array out.

One kernel serves every model through the cost of carry ``b`` (``carry``): Black-Scholes
``b = r``, Merton ``b = r - q``, Black-76 ``b = 0``, Garman-Kohlhagen ``b = r - r_f``.
The model modules beside this one are thin front doors that compute ``b``.

See Also
--------
greeksmargin.reference.black_scholes : slow SciPy oracle used by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._typing import FloatArray
from ..enums import IVStatus
from ..errors import ImpliedVolError, InputError
from ..kernels import _bsm, _iv
from ..kernels._jit import n_chunks
from . import _validate as v

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Greeks", "ImpliedVol", "price", "greeks", "implied_vol"]

DAYS_PER_YEAR = 365.0


def _prepare(spot: Any, strike: Any, expiry_years: Any, vol: Any, rate: Any, carry: Any,
             kind: Any, validate: bool, spot_name: str = "spot", option_price: Any = None,
             needs_price: bool = False) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
    if needs_price and option_price is None:
        raise InputError("price must be numeric; got None")
    if not needs_price and vol is None:  # only the implied-vol paths go without a vol
        raise InputError("vol must be numeric; got None")
    named = {
        "spot": v.to_float(spot_name, spot),
        "strike": v.to_float("strike", strike),
        "expiry_years": v.to_float("expiry_years", expiry_years),
        "rate": v.to_float("rate", rate),
        "carry": v.to_float("carry", rate if carry is None else carry),
        "kind": v.to_kind(kind),
    }
    if vol is not None:
        named["vol"] = v.to_float("vol", vol)
    if option_price is not None:
        named["price"] = v.to_float("price", option_price)
    shape, flat = v.broadcast(named)
    if validate:
        v.check_market(flat, shape, spot_name)
        if option_price is not None:
            prices = flat["price"]
            v.check("price", prices, (prices >= 0) & np.isfinite(prices), ">= 0 and finite", shape)
    return shape, flat


def _output(out: np.ndarray | None, shape: tuple[int, ...], rows: int = 0) -> np.ndarray:
    # the kernels' output: a fresh array, or the caller's (a view of it, shape ([rows,] n))
    n = int(np.prod(shape))
    flat = (rows, n) if rows else (n,)
    if out is None:
        return np.empty(flat)
    if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.flags.c_contiguous
            and out.flags.writeable):
        raise InputError(f"out must be a writeable C-contiguous float64 ndarray; got"
                         f" {type(out).__name__}"
                         f"{f' of {out.dtype}' if isinstance(out, np.ndarray) else ''}")
    allowed = (flat, (rows, *shape) if rows else shape)
    if out.shape not in allowed:
        raise InputError(f"out must have shape {' or '.join(map(str, dict.fromkeys(allowed)))}"
                         f" (the broadcast inputs); got {out.shape}")
    return out.reshape(flat)


def price(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, carry: Any = None,
          kind: Any, validate: bool = True, out: np.ndarray | None = None) -> FloatArray:
    """Price European options under the generalised Black-Scholes model.

    Parameters
    ----------
    spot : float or array_like
        Underlying price (> 0); the forward for Black-76 via :mod:`greeksmargin.pricing.black76`.
    strike : float or array_like
        Strike (> 0).
    expiry_years : float or array_like
        Time to expiry in years (ACT/365), >= 0; 0 gives the intrinsic value.
    vol : float or array_like
        Annualised volatility as a decimal, 0 <= vol <= 5 (0.25 for 25%).
    rate : float or array_like
        Risk-free rate, continuously compounded decimal (may be negative).
    carry : float or array_like, optional
        Cost of carry ``b``; default ``rate`` (Black-Scholes, no dividends).
    kind : OptionKind or array_like of int
        ``OptionKind.CALL`` (1) or ``OptionKind.PUT`` (2).
    validate : bool, default True
        Skip the input checks when False (the caller has already validated).
    out : numpy.ndarray, optional
        Write the prices here (float64, C-contiguous, the broadcast shape or flat): a hot loop
        that reuses one buffer skips allocating and first-touching fresh memory each call.
        The inputs are checked in the same pass that prices them, so when they fail the check
        (``InputError``) ``out`` has already been written and its contents are meaningless.

    Returns
    -------
    numpy.ndarray
        Prices per unit of underlying, in the broadcast shape of the inputs (0-d for scalars);
        a view of ``out`` when given.

    Raises
    ------
    InputError
        If an input is missing its domain; the message names the argument, value and index.

    Notes
    -----
    ``V = theta [S e^{(b-r)T} N(theta d1) - K e^{-rT} N(theta d2)]``, ``theta = +1`` call, ``-1`` put.

    References
    ----------
    Haug, E.G. (2007). The Complete Guide to Option Pricing Formulas, 2nd ed., section 1.1.6.

    Examples
    --------
    Hull, Options, Futures and Other Derivatives, Example 15.6 (S=42, K=40, r=10%, vol=20%, T=0.5):

    >>> from greeksmargin import OptionKind, price
    >>> round(float(price(42.0, 40.0, expiry_years=0.5, vol=0.2, rate=0.1, kind=OptionKind.CALL)), 4)
    4.7594
    >>> round(float(price(42.0, 40.0, expiry_years=0.5, vol=0.2, rate=0.1, kind=OptionKind.PUT)), 4)
    0.8086
    """
    shape, f = _prepare(spot, strike, expiry_years, vol, rate, carry, kind, validate=False)
    n = f["spot"].size
    target = _output(out, shape)
    args = (f["spot"], f["strike"], f["expiry_years"], f["vol"], f["rate"], f["carry"], f["kind"])
    if v.use_parallel(n):
        n_invalid = _bsm.price_parallel(*args, target, n_chunks())
    else:
        n_invalid = _bsm.price_range(*args, target, 0, n)
    _check_after(validate, n_invalid, f, shape)
    return target.reshape(shape)


def _check_after(validate: bool, n_invalid: int, flat: dict[str, np.ndarray],
                 shape: tuple[int, ...]) -> None:
    # the price and Greeks kernels check the domain while they price (one pass over the inputs,
    # not two); check_market then names the first offending value and raises
    if validate and n_invalid:
        v.check_market(flat, shape)


class _DeskUnits:
    """Desk-unit views of raw Greeks; each name carries its unit (docs/conventions.md)."""

    __slots__ = ()
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    carry_rho: FloatArray

    @property
    def vega_per_vol_point(self) -> FloatArray:
        """DV per 1 percentage point of vol (vega x 0.01)."""
        return self.vega * 0.01

    @property
    def theta_per_day(self) -> FloatArray:
        """DV per calendar day passing (theta / 365)."""
        return self.theta / DAYS_PER_YEAR

    @property
    def rho_per_point(self) -> FloatArray:
        """DV per 1 percentage point of the rate (rho x 0.01)."""
        return self.rho * 0.01

    @property
    def yield_rho(self) -> FloatArray:
        """dV/dq per 1.00 of the dividend yield or foreign rate ``q = r - b`` (= -carry_rho)."""
        return -self.carry_rho

    def to_frame(self) -> pd.DataFrame:
        """Return the raw fields and the desk-unit properties as a DataFrame, one row per option."""
        import pandas as pd

        data = {f.name: np.ravel(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
        for name in ("vega_per_vol_point", "theta_per_day", "rho_per_point", "yield_rho"):
            data[name] = np.ravel(getattr(self, name))
        return pd.DataFrame(data)


@dataclass(frozen=True, slots=True)
class Greeks(_DeskUnits):
    """Price and Greeks of European options, each an array in the broadcast shape of the inputs.

    All fields are raw derivatives per unit of underlying for one option: ``delta`` dV/dS,
    ``gamma`` d2V/dS2, ``vega`` dV/dvol (per 1.00 of vol), ``theta`` dV/dt per year of calendar
    time, ``rho`` dV/dr with the yield ``r - b`` fixed (per 1.00), ``carry_rho`` dV/db with ``r``
    fixed (per 1.00; minus the dividend-yield or foreign-rate rho), ``vanna`` d2V/dS dvol, ``volga``
    d2V/dvol2, ``charm`` d(delta)/dt per year of calendar time. Desk units are separate properties
    whose names carry the unit.
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray
    carry_rho: FloatArray
    vanna: FloatArray
    volga: FloatArray
    charm: FloatArray

    @property
    def volga_per_vol_point(self) -> FloatArray:
        """d(vega_per_vol_point) per vol point (volga x 1e-4)."""
        return self.volga * 1e-4


def greeks(spot: Any, strike: Any, *, expiry_years: Any, vol: Any, rate: Any, carry: Any = None,
           kind: Any, validate: bool = True, out: np.ndarray | None = None) -> Greeks:
    """Price and all Greeks of European options in one pass (generalised Black-Scholes).

    Parameters are those of :func:`price`; ``out``, if given, has one row per field of
    :class:`Greeks` (``N_GREEKS`` = 10, in field order) and receives them all (float64,
    C-contiguous, shape ``(10, *broadcast shape)`` or ``(10, n)``); the fields are then views of
    it (overwritten, as for :func:`price`, even when the inputs then fail their check). At
    expiry or zero vol the Greeks are their limits (delta a step, 1/2 exactly at the money;
    gamma 0, or +inf exactly at the money).

    Returns
    -------
    Greeks
        Raw derivatives; see :class:`Greeks` for units.

    Raises
    ------
    InputError
        If an input is out of its domain.

    Examples
    --------
    Haug (1998) p. 11-16 values, as in QuantLib's test suite (vega: S=55, K=60, r=10%, T=0.75,
    vol=30%):

    >>> from greeksmargin import OptionKind, greeks
    >>> g = greeks(55.0, 60.0, expiry_years=0.75, vol=0.3, rate=0.1, kind=OptionKind.CALL)
    >>> round(float(g.vega), 4), round(float(g.gamma), 4)
    (18.9358, 0.0278)
    """
    shape, f = _prepare(spot, strike, expiry_years, vol, rate, carry, kind, validate=False)
    n = f["spot"].size
    target = _output(out, shape, _bsm.N_GREEKS)
    args = (f["spot"], f["strike"], f["expiry_years"], f["vol"], f["rate"], f["carry"], f["kind"])
    if v.use_parallel(n):
        n_invalid = _bsm.greeks_parallel(*args, target, n_chunks())
    else:
        n_invalid = _bsm.greeks_range(*args, target, 0, n)
    _check_after(validate, n_invalid, f, shape)
    return Greeks(*(row.reshape(shape) for row in target))


@dataclass(frozen=True, slots=True)
class ImpliedVol:
    """Implied vols and a per-row :class:`~greeksmargin.enums.IVStatus` code.

    ``vol`` is NaN wherever ``status`` is not ``IVStatus.OK``.
    """

    vol: FloatArray
    status: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows solved."""
        return self.status == IVStatus.OK


def _raise_failed(status: np.ndarray, shape: tuple[int, ...], price_flat: np.ndarray) -> None:
    bad = np.flatnonzero(status != IVStatus.OK)
    lines = []
    for i in bad[:5]:
        where = v._where(int(i), shape) if price_flat.size > 1 else "scalar input"
        lines.append(f"{IVStatus(int(status[i])).name} for price {price_flat[i].item()!r} at {where}")
    more = f" (and {bad.size - 5} more)" if bad.size > 5 else ""
    raise ImpliedVolError(
        f"implied vol not found for {bad.size} of {status.size} rows: " + "; ".join(lines) + more
        + ". Pass on_error='nan' to get NaN and a status per row instead",
        status.reshape(shape),
    )


def implied_vol(price: Any, spot: Any, strike: Any, *, expiry_years: Any, rate: Any,
                carry: Any = None, kind: Any, on_error: Literal["raise", "nan"] = "raise",
                validate: bool = True) -> ImpliedVol:
    """Implied volatility of European option prices (generalised Black-Scholes).

    Parameters
    ----------
    price : float or array_like
        Option prices per unit of underlying (>= 0, finite).
    spot, strike, expiry_years, rate, carry, kind
        As in :func:`price`.
    on_error : {"raise", "nan"}
        ``"raise"``: an :class:`~greeksmargin.errors.ImpliedVolError` names the rows without a
        solution and their status. ``"nan"``: those rows get NaN and their status.
    validate : bool, default True
        Skip input checks when False.

    Returns
    -------
    ImpliedVol
        ``vol`` (annualised decimal) and ``status`` (:class:`~greeksmargin.enums.IVStatus`).

    Raises
    ------
    ImpliedVolError
        With ``on_error="raise"``, if any row is not ``OK``.
    InputError
        If an input is out of its domain.

    Notes
    -----
    Repricing the returned vol reproduces the input price to about 1e-13 relative wherever the
    price carries information (tested over 1 hour to 30 years, vol 0.5% to 500%). A price exactly
    at intrinsic value gives vol 0; at expiry any price equal to intrinsic is ``UNDETERMINED``.

    Examples
    --------
    >>> from greeksmargin import OptionKind, implied_vol
    >>> iv = implied_vol(4.759422392871532, 42.0, 40.0, expiry_years=0.5, rate=0.1,
    ...                  kind=OptionKind.CALL)
    >>> round(float(iv.vol), 12)
    0.2
    """
    if on_error not in ("raise", "nan"):
        raise ValueError(f"on_error must be 'raise' or 'nan'; got {on_error!r}")
    shape, f = _prepare(spot, strike, expiry_years, None, rate, carry, kind, validate,
                        option_price=price, needs_price=True)
    prices = f["price"]
    n = prices.size
    out = np.empty(n)
    status = np.empty(n, dtype=np.int8)
    args = (prices, f["spot"], f["strike"], f["expiry_years"], f["rate"], f["carry"], f["kind"])
    if v.use_parallel(n):
        _iv.implied_vol_parallel(*args, out, status, n_chunks())
    else:
        _iv.implied_vol_range(*args, out, status, 0, n)
    if on_error == "raise" and np.any(status != IVStatus.OK):
        _raise_failed(status, shape, prices)
    out[status != IVStatus.OK] = np.nan
    return ImpliedVol(out.reshape(shape), status.reshape(shape))
