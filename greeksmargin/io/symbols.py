"""Instrument symbols: OCC/OSI option symbols and Deribit instrument names.

- OSI (OCC Options Symbology Initiative, 21 characters): root padded to 6, ``YYMMDD``, ``C``/``P``,
  strike x 1000 in 8 digits: ``SPY   240119C00450000``; the compact form drops the padding
  (``SPY240119C00450000``). US equity and index options: European or American as the product is;
  this module does not know which, so the exercise style stays a column. Expiry at 16:00
  America/New_York on the expiry date (the close), except the AM-settled classes
  (``AM_SETTLED_ROOTS``: SPX, NDX, RUT and VIX standard options, whose settlement value comes
  from the opening prints): 09:30 America/New_York. Their PM-settled weeklies have their own
  roots (SPXW, NDXP, RUTW, VIXW) and expire at the close.
- Deribit: ``BTC-27DEC24-60000-C`` (option), ``BTC-27DEC24`` (future), ``BTC-PERPETUAL``; the
  ``_USDC``/``_USDT`` bases (``SOL_USDC-27DEC24-150-C``) are linear (quote-settled), the others
  inverse (coin-settled). Decimal strikes use ``d`` for the point (``XRP_USDC-30JUN23-0d625-C``).
  Expiry at 08:00 UTC. Deribit options are European.

Symbols are ASCII: text with other characters (non-ASCII digits, letters that case-fold to two,
like ``ß``) is refused, not normalised. A date-only expiry in a column book takes the venue's
expiry time (:func:`venue_expiry`).

Default multipliers per venue (used only when the book has no multiplier column):
``VENUE_MULTIPLIER``: OCC listed options 100 per contract (the underlying itself 1);
Deribit 1 (quantities are in coin for inverse contracts, in the underlying for linear ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..enums import ExerciseStyle, OptionKind, Settlement
from ..errors import InputError
from ..model.market import to_timestamp

__all__ = ["ParsedSymbol", "parse_symbol", "parse_osi", "parse_deribit", "VENUE_MULTIPLIER",
           "AM_SETTLED_ROOTS", "venue_expiry", "parse_expiry"]

VENUE_MULTIPLIER = {"occ": {"option": 100.0, "linear": 1.0},
                    "deribit": {"option": 1.0, "linear": 1.0}}

# Cboe: standard SPX, NDX, RUT options and VIX options are AM-settled (Special Opening Quotation);
# Cboe Rule 4.13 (Reports Related to Position Limits ...) and the product specifications,
# https://www.cboe.com/tradable_products/sp_500/spx_options/specifications/ (docs/conventions.md)
AM_SETTLED_ROOTS = frozenset({"SPX", "NDX", "RUT", "VIX"})
# expiry time of a date (hour, minute, time zone) by venue and session
_SESSION_TIME = {"pm": (16, 0, "America/New_York"), "am": (9, 30, "America/New_York"),
                 "deribit": (8, 0, "UTC")}

_OSI = re.compile(r"^([A-Z0-9.]{1,6}) *([0-9]{2})([0-9]{2})([0-9]{2})([CP])([0-9]{8})$")
_DERIBIT_DATE = re.compile(r"^([0-9]{1,2})([A-Z]{3})([0-9]{2})$")
_DERIBIT_STRIKE = re.compile(r"^[0-9]+(D[0-9]+)?$")
_DERIBIT_BASE = re.compile(r"^[A-Z0-9]+(_[A-Z]+)?$")
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_ISO_STAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                        r"(Z|[+-][0-9]{2}:?[0-9]{2})?$")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}


@dataclass(frozen=True, slots=True)
class ParsedSymbol:
    """What a symbol says about an instrument."""

    venue: str
    underlying: str
    kind: OptionKind
    strike: float  # NaN for linear instruments
    expiry: np.datetime64  # naive UTC; NaT for the underlying and perpetuals
    settlement: Settlement
    exercise: ExerciseStyle
    instrument: str  # "option", "future", "perpetual"


def _ascii(symbol: str, what: str) -> str:
    if not symbol.isascii():
        bad = next(c for c in symbol if not c.isascii())
        raise InputError(f"{what} {symbol!r} has a non-ASCII character {bad!r}; symbols are"
                         " ASCII (no look-alike digits or letters)")
    return symbol.strip().upper()


def venue_expiry(year: int, month: int, day: int, venue: str | None, underlying: str = "",
                 session: str | None = None) -> np.datetime64:
    """Return the expiry timestamp (naive UTC) of an option expiring on a date at a venue.

    ``session`` ``"am"`` (09:30 New York, AM-settled), ``"pm"`` (16:00 New York, the close) or
    None for the venue's rule: ``"deribit"`` 08:00 UTC; ``"occ"`` and None the close, or 09:30
    for the AM-settled classes of :data:`AM_SETTLED_ROOTS`.
    """
    if session is None:
        if venue == "deribit":
            session = "deribit"
        else:
            session = "am" if underlying.upper() in AM_SETTLED_ROOTS else "pm"
    hour, minute, tz = _SESSION_TIME[session]
    import pandas as pd

    try:
        stamp = pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute, tz=tz)
    except ValueError as exc:
        raise InputError(f"invalid expiry date {year:04d}-{month:02d}-{day:02d}: {exc}") from None
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None).to_datetime64(), "s")


def parse_expiry(value: object, venue: str | None, underlying: str = "",
                 session: str | None = None) -> np.datetime64:
    """Read an expiry cell: an ISO date (the venue's expiry time) or an ISO timestamp.

    A date alone (``2025-06-20``, or a ``datetime.date``) expires at the venue's time
    (:func:`venue_expiry`); a timestamp (``2025-06-20T20:00:00``, ``Z`` or an offset, naive =
    UTC) is taken as given. Other spellings (``06/07/2025``: June 7 or July 6?) are refused.
    """
    import datetime

    import pandas as pd

    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return venue_expiry(value.year, value.month, value.day, venue, underlying, session)
    if isinstance(value, str):
        text = value.strip()
        date = _ISO_DATE.match(text)
        if date:
            return venue_expiry(int(date.group(1)), int(date.group(2)), int(date.group(3)),
                                venue, underlying, session)
        if not _ISO_STAMP.match(text):
            raise InputError(f"expiry must be an ISO date (YYYY-MM-DD) or timestamp"
                             f" (YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]); got {value!r} (other"
                             " spellings are ambiguous: 06/07/2025 is June 7 or July 6)")
    elif not isinstance(value, datetime.datetime | np.datetime64 | pd.Timestamp):
        raise InputError(f"expiry must be an ISO date or timestamp; got {value!r}")
    return to_timestamp(value, "expiry")


def parse_osi(symbol: str) -> ParsedSymbol:
    """Parse an OCC/OSI option symbol, padded or compact.

    Examples
    --------
    >>> p = parse_osi("SPY   240119C00450000")
    >>> p.underlying, p.kind.name, p.strike, str(p.expiry)
    ('SPY', 'CALL', 450.0, '2024-01-19T21:00:00')
    """
    text = _ascii(symbol, "OSI symbol")
    match = _OSI.match(text)
    if match is None:
        raise InputError(f"not an OSI option symbol: {symbol!r}; expected ROOT (1-6 chars), YYMMDD,"
                         " C or P, strike x 1000 in 8 digits, e.g. 'SPY   240119C00450000'")
    root, yy, mm, dd, cp, strike = match.groups()
    try:
        expiry = venue_expiry(2000 + int(yy), int(mm), int(dd), "occ", root)
    except InputError as exc:
        raise InputError(f"symbol {symbol!r} has an invalid expiry date: {exc}") from None
    if int(strike) == 0:
        raise InputError(f"OSI symbol {symbol!r} has a zero strike; strikes are > 0")
    return ParsedSymbol("occ", root, OptionKind.CALL if cp == "C" else OptionKind.PUT,
                        int(strike) / 1000.0, expiry, Settlement.LINEAR, ExerciseStyle.EUROPEAN,
                        "option")


def parse_deribit(symbol: str) -> ParsedSymbol:
    """Parse a Deribit instrument name (option, future or perpetual).

    Examples
    --------
    >>> p = parse_deribit("BTC-27DEC24-60000-C")
    >>> p.underlying, p.kind.name, p.strike, str(p.expiry), p.settlement.name
    ('BTC', 'CALL', 60000.0, '2024-12-27T08:00:00', 'INVERSE')
    >>> parse_deribit("BTC-PERPETUAL").instrument
    'perpetual'
    """
    text = _ascii(symbol, "Deribit name")
    parts = text.split("-")
    base = parts[0]
    if not _DERIBIT_BASE.match(base) or len(parts) not in (2, 4):
        raise InputError(f"not a Deribit instrument name: {symbol!r}; expected e.g."
                         " 'BTC-27DEC24-60000-C', 'BTC-27DEC24' or 'BTC-PERPETUAL'")
    underlying, _, quote = base.partition("_")
    settlement = Settlement.LINEAR if quote in ("USDC", "USDT") else Settlement.INVERSE
    if quote and settlement == Settlement.INVERSE:
        raise InputError(f"unknown Deribit settlement currency {quote!r} in {symbol!r}")
    nan = np.datetime64("NaT", "s")
    if len(parts) == 2 and parts[1] == "PERPETUAL":
        return ParsedSymbol("deribit", underlying, OptionKind.LINEAR, float("nan"), nan,
                            settlement, ExerciseStyle.EUROPEAN, "perpetual")
    date = _DERIBIT_DATE.match(parts[1])
    if date is None or date.group(2) not in _MONTHS:
        raise InputError(f"Deribit name {symbol!r} has an unreadable expiry {parts[1]!r};"
                         " expected e.g. 27DEC24")
    try:
        expiry = venue_expiry(2000 + int(date.group(3)), _MONTHS[date.group(2)],
                              int(date.group(1)), "deribit")
    except InputError as exc:
        raise InputError(f"symbol {symbol!r} has an invalid expiry date: {exc}") from None
    if len(parts) == 2:
        return ParsedSymbol("deribit", underlying, OptionKind.LINEAR, float("nan"), expiry,
                            settlement, ExerciseStyle.EUROPEAN, "future")
    if not _DERIBIT_STRIKE.match(parts[2]):
        raise InputError(f"Deribit name {symbol!r} has an unreadable strike {parts[2]!r};"
                         " expected digits, with d for a decimal point (0d625)")
    strike = float(parts[2].replace("D", "."))
    if parts[3] not in ("C", "P") or not (strike > 0 and np.isfinite(strike)):
        raise InputError(f"Deribit option name {symbol!r} must end in -STRIKE-C or -STRIKE-P with"
                         " a positive strike")
    kind = OptionKind.CALL if parts[3] == "C" else OptionKind.PUT
    return ParsedSymbol("deribit", underlying, kind, strike, expiry, settlement,
                        ExerciseStyle.EUROPEAN, "option")


def parse_symbol(symbol: str) -> ParsedSymbol:
    """Parse an OSI symbol or a Deribit name, whichever it is (Deribit names contain ``-``)."""
    if "-" in symbol:
        return parse_deribit(symbol)
    return parse_osi(symbol)
