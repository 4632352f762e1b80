"""One market snapshot: valuation timestamp, per-underlying spot, rate and carry, and volatility.

Volatility comes, per position, from the first of these that covers it: an implied vol given for
the position (``position_vol``), an option price given for the position (``option_price``, turned
into an implied vol with the pricing layer's solver when the book is resolved), a smile surface
for its underlying (:class:`VolSurface`), or a flat vol for its underlying (``vol``).

Futures-options books (Black-76) list the future as the underlying with ``spot`` = the futures
price and ``carry`` = 0. Timestamps are naive UTC ``datetime64``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .._arrays import SMALL_ROWS, distinct_objects, distinct_rows, frozen_array
from ..errors import InputError, MarketDataError
from ..kernels._bsm import MAX_VOL
from ..kernels._revalue import MAX_SPOT

if TYPE_CHECKING:
    pass

__all__ = ["MarketData", "VolSurface", "checked_moves", "to_timestamp"]


def to_timestamp(value: object, name: str = "valuation") -> np.datetime64:
    """``value`` (str, date, datetime, pandas Timestamp, datetime64) as ``datetime64[s]``, UTC."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a date or timestamp; got {value!r} ({exc})") from None
    if stamp is pd.NaT:
        raise InputError(f"{name} must be a date or timestamp; got {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "s")


@dataclass(frozen=True, slots=True)
class VolSurface:
    """Implied vols on a strike x expiry table, interpolated in total variance.

    Parameters
    ----------
    strikes : array_like, shape (n_strikes,)
        Increasing strikes (> 0).
    expiry_years : array_like, shape (n_expiries,)
        Increasing expiries in years from the valuation timestamp (> 0).
    vols : array_like, shape (n_expiries, n_strikes)
        Annualised decimal vols (0 < vol <= 5).

    Notes
    -----
    At an expiry on the table, vol is linear in strike. Between expiries the total variance
    ``w = vol^2 T`` is linear in ``T`` at that strike. Outside the table, the vol is held flat:
    at the edge strike beyond the strike range, and at the edge expiry's vol before the first
    and after the last expiry. That is a documented extrapolation rule, not a repair of input.
    """

    strikes: np.ndarray
    expiry_years: np.ndarray
    vols: np.ndarray

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        strikes = frozen_array(self.strikes, np.float64, "strikes")
        expiries = frozen_array(self.expiry_years, np.float64, "expiry_years")
        vols = frozen_array(self.vols, np.float64, "vols")
        if strikes.ndim != 1 or strikes.size == 0 or not np.all(np.isfinite(strikes) & (strikes > 0)):
            raise InputError(f"VolSurface strikes must be a non-empty 1-D array of positive finite"
                             f" values; got {strikes!r}")
        if np.any(np.diff(strikes) <= 0):
            raise InputError(f"VolSurface strikes must be strictly increasing; got {strikes!r}")
        if (expiries.ndim != 1 or expiries.size == 0
                or not np.all(np.isfinite(expiries) & (expiries > 0))):
            raise InputError("VolSurface expiry_years must be a non-empty 1-D array of positive"
                             f" finite years; got {expiries!r}")
        if np.any(np.diff(expiries) <= 0):
            raise InputError(f"VolSurface expiry_years must be strictly increasing; got {expiries!r}")
        if vols.shape != (expiries.size, strikes.size):
            raise InputError(f"VolSurface vols must have shape (n_expiries, n_strikes) ="
                             f" {(expiries.size, strikes.size)}; got {vols.shape}")
        bad = ~(np.isfinite(vols) & (vols > 0) & (vols <= MAX_VOL))
        if bad.any():
            e, k = np.argwhere(bad)[0]
            raise InputError(f"VolSurface vols must be in (0, {MAX_VOL}] (annualised decimal); got"
                             f" {float(vols[e, k])!r} at expiry {float(expiries[e])!r}, strike"
                             f" {float(strikes[k])!r}")
        object.__setattr__(self, "strikes", strikes)
        object.__setattr__(self, "expiry_years", expiries)
        object.__setattr__(self, "vols", vols)

    def vol(self, strike: np.ndarray, expiry_years: np.ndarray) -> np.ndarray:
        """Interpolated vol at each (strike, expiry_years) pair (arrays of one shape).

        Examples
        --------
        >>> s = VolSurface([90.0, 110.0], [0.25, 1.0], [[0.30, 0.20], [0.25, 0.15]])
        >>> float(s.vol(np.array([100.0]), np.array([0.25]))[0])
        0.25
        """
        strike = np.asarray(strike, dtype=float)
        t = np.asarray(expiry_years, dtype=float)
        per_expiry = np.stack([np.interp(strike, self.strikes, row) for row in self.vols])
        variance = per_expiry**2 * self.expiry_years[:, None]  # (n_expiries, n)
        te = self.expiry_years
        first, last = te[0], te[-1]
        out = np.empty(strike.shape)
        inside = (t > first) & (t < last)
        out[t <= first] = per_expiry[0, t <= first]
        out[t >= last] = per_expiry[-1, t >= last]
        if inside.any():
            hi = np.searchsorted(te, t[inside], side="right")
            lo = hi - 1
            cols = np.flatnonzero(inside)
            w_lo, w_hi = variance[lo, cols], variance[hi, cols]
            frac = (t[inside] - te[lo]) / (te[hi] - te[lo])
            out[inside] = np.sqrt((w_lo + frac * (w_hi - w_lo)) / t[inside])
        return out


@dataclass(frozen=True, slots=True)
class MarketData:
    """One market snapshot (dimension ``underlying``).

    Parameters
    ----------
    valuation : timestamp-like
        Valuation timestamp (naive UTC); expiries are measured from it in ACT/365 years.
    underlyings : sequence of str, shape (n_underlyings,)
        Unique underlying symbols.
    spot : array_like, shape (n_underlyings,)
        Spot (or futures price for a futures-options book), > 0, quote currency.
    rate : array_like, shape (n_underlyings,)
        Risk-free rate, continuously compounded decimal.
    carry : array_like, shape (n_underlyings,)
        Cost of carry ``b`` (``r - q`` for a dividend yield ``q``; 0 for a future).
    vol : array_like, shape (n_underlyings,), optional
        Flat vol per underlying; NaN where another source covers every option.
    surfaces : mapping of str to VolSurface, optional
        Smile surface per underlying.
    position_vol : mapping of str to float, optional
        Implied vol per position id.
    option_price : mapping of str to float, optional
        Option price per position id (quote currency per unit), inverted to an implied vol.
    group_of : mapping of str to str, optional
        Margin group of each underlying (default: the underlying itself), e.g. SPX and SPY in
        one class group.
    quote_currency : str
        Currency of prices and of linear-settled P&L.
    product_class : mapping of str to str, optional
        Reference data: the product class of each underlying where a methodology distinguishes
        them (OCC TIMS: ``equity``, ``broad_index``, ``high_cap_index``); a methodology's own
        mapping wins over it.
    product_group : mapping of str to str, optional
        Reference data: the product group of each underlying's class group (cross-margin
        offsets between class groups).
    """

    valuation: np.datetime64
    underlyings: tuple[str, ...]
    spot: np.ndarray
    rate: np.ndarray
    carry: np.ndarray
    vol: np.ndarray | None = None
    surfaces: Mapping[str, VolSurface] = field(default_factory=dict)
    position_vol: Mapping[str, float] = field(default_factory=dict)
    option_price: Mapping[str, float] = field(default_factory=dict)
    group_of: Mapping[str, str] = field(default_factory=dict)
    quote_currency: str = "USD"
    product_class: Mapping[str, str] = field(default_factory=dict)
    product_group: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        object.__setattr__(self, "valuation", to_timestamp(self.valuation))
        names = tuple(str(u) for u in self.underlyings)
        if len(set(names)) != len(names):
            dup = next(u for u in names if names.count(u) > 1)
            raise MarketDataError(f"underlyings must be unique; {dup!r} appears twice")
        object.__setattr__(self, "underlyings", names)
        n = len(names)
        for name in ("spot", "rate", "carry"):
            arr = frozen_array(np.broadcast_to(getattr(self, name), (n,)), np.float64, name)
            object.__setattr__(self, name, arr)
        _check_spot(self.spot, names)
        _check(self.rate, np.isfinite(self.rate), "rate", "finite (decimal)", names)
        _check(self.carry, np.isfinite(self.carry), "carry", "finite (decimal)", names)
        vol = np.full(n, np.nan) if self.vol is None else np.broadcast_to(self.vol, (n,))
        vol = frozen_array(vol, np.float64, "vol")
        _check_vol(vol, names)
        object.__setattr__(self, "vol", vol)
        for key in self.surfaces:
            if key not in names:
                raise MarketDataError(f"surface given for unknown underlying {key!r}; "
                                      f"underlyings: {', '.join(names)}")
            if not isinstance(self.surfaces[key], VolSurface):
                raise InputError(f"surfaces[{key!r}] must be a VolSurface")
        for pid, value in self.position_vol.items():
            if not (np.isfinite(value) and 0 <= value <= MAX_VOL):
                raise InputError(f"position_vol must be in [0, {MAX_VOL}] (annualised decimal);"
                                 f" got {value!r} for position {pid!r}")
        for pid, value in self.option_price.items():
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"option_price must be >= 0 and finite; got {value!r} for"
                                 f" position {pid!r}")
        for mapping in ("group_of", "product_class", "product_group"):
            for key in getattr(self, mapping):
                if key not in names:
                    raise MarketDataError(f"{mapping} names unknown underlying {key!r}; "
                                          f"underlyings: {', '.join(names)}")
        for name in ("surfaces", "position_vol", "option_price", "group_of", "product_class",
                     "product_group"):
            object.__setattr__(self, name, dict(getattr(self, name)))

    @property
    def n_underlyings(self) -> int:
        """Number of underlyings."""
        return len(self.underlyings)

    def index_of(self, underlying: str) -> int:
        """Position of ``underlying`` in ``underlyings``; MarketDataError if absent."""
        try:
            return self.underlyings.index(underlying)
        except ValueError:
            raise MarketDataError(f"no market data for underlying {underlying!r}; known: "
                                  f"{', '.join(self.underlyings)}") from None

    def currency_index(self, currencies: Sequence[str]) -> np.ndarray:
        """Index each settlement currency for conversion.

        Per settlement currency: -1 for the quote currency, else the index of the coin's
        underlying (its spot converts it, see :meth:`to_quote`).
        """
        def each(names: Sequence[str]) -> np.ndarray:
            return np.array([-1 if c == self.quote_currency else self.index_of(c)
                             for c in names], np.int64)

        if len(currencies) <= SMALL_ROWS:
            return each(currencies)
        # a batch's groups: a few currency objects repeated (one per currency from the
        # revaluation), told apart by identity, then by value; each distinct name looked up once
        names, code = distinct_objects(currencies)
        if len(names) > SMALL_ROWS:  # many objects (equal text apart): hash the text
            by_value, first = distinct_rows(np.asarray(names, dtype=object))
            names, code = [names[i] for i in first.tolist()], by_value[code]
        return each(names)[code]

    def to_quote(self, currencies: Sequence[str]) -> np.ndarray:
        """Return the value of one unit of each currency in the quote currency.

        Value of one unit of each settlement currency in the quote currency: 1 for the quote
        currency itself, the spot of the coin for a coin (inverse settlement).
        """
        index = self.currency_index(currencies)
        return np.where(index < 0, 1.0, self.spot[index])

    def same_but_moves(self, other: MarketData) -> bool:
        """Whether this market is ``other`` but for its spots and flat vols.

        True when the two share the valuation, underlyings, rates, carry, quote currency,
        surfaces (the same objects: a surface is immutable), per-position vols, option prices,
        groups and reference data: the moves a :class:`~greeksmargin.accounts.account.
        MarginTicker` follows. Arrays compare by their bytes: identical data only (NaN equals
        NaN, 0.0 differs from -0.0).
        """
        if self is other:
            return True
        return bool(self.valuation == other.valuation and self.underlyings == other.underlyings
                    and self.quote_currency == other.quote_currency
                    and self.rate.tobytes() == other.rate.tobytes()
                    and self.carry.tobytes() == other.carry.tobytes()
                    and self.surfaces.keys() == other.surfaces.keys()
                    and all(s is other.surfaces[k] for k, s in self.surfaces.items())
                    and self.position_vol == other.position_vol
                    and self.option_price == other.option_price
                    and self.group_of == other.group_of
                    and self.product_class == other.product_class
                    and self.product_group == other.product_group)

    def with_position_data(self, position_vol: Mapping[str, float] | None = None,
                           option_price: Mapping[str, float] | None = None) -> MarketData:
        """Return a copy with more per-position vols or option prices."""
        return replace(self, position_vol={**self.position_vol, **(position_vol or {})},
                       option_price={**self.option_price, **(option_price or {})})


def checked_moves(underlyings: Sequence[str], spot: object, vol: object = None
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Check new spots and flat vols per underlying.

    New spots (and flat vols, optional) per underlying, checked as :class:`MarketData` checks
    them: fresh float64 arrays of shape ``(len(underlyings),)``.

    Raises
    ------
    MarketDataError
        A wrong length, or a value out of range (naming the underlying).
    """
    n = len(underlyings)
    out: list[np.ndarray | None] = []
    for name, values in (("spot", spot), ("vol", vol)):
        if values is None:
            out.append(None)
            continue
        arr = np.array(values, np.float64)  # a fresh, writeable copy
        if arr.shape != (n,):
            raise MarketDataError(f"{name} must have one value per underlying ({n}:"
                                  f" {', '.join(underlyings)}); got shape {arr.shape}")
        # a tick path: a finite sum (no NaN, no inf) and the extremes decide on a few Python
        # floats; anything else goes to the full check, which names the culprit
        plain = arr.tolist()
        total, low, high = (sum(plain), min(plain), max(plain)) if n else (0.0, 1.0, 1.0)
        if not math.isfinite(total):
            low = high = math.nan
        if name == "spot" and not (low > 0 and high <= MAX_SPOT):
            _check_spot(arr, underlyings)
        elif name == "vol" and not (low >= 0 and high <= MAX_VOL):
            _check_vol(arr, underlyings)
        out.append(arr)
    spot_out = out[0]
    if spot_out is None:
        raise MarketDataError("spot is required")
    return spot_out, out[1]


def _check_spot(spot: np.ndarray, underlyings: Sequence[str]) -> None:
    _check(spot, (spot > 0) & (spot <= MAX_SPOT), "spot", f"> 0 and at most {MAX_SPOT:.0e}",
           underlyings)


def _check_vol(vol: np.ndarray, underlyings: Sequence[str]) -> None:
    _check(vol, np.isnan(vol) | ((vol >= 0) & (vol <= MAX_VOL)), "vol",
           f"in [0, {MAX_VOL}] (annualised decimal; pass 0.25 for 25%) or NaN", underlyings)


def _check(values: np.ndarray, ok: np.ndarray, name: str, constraint: str,
           underlyings: Sequence[str]) -> None:
    if not np.all(ok):
        first = int(np.flatnonzero(~ok)[0])
        raise MarketDataError(f"{name} must be {constraint}; got {values[first].item()!r} for"
                              f" underlying {underlyings[first]!r}")
