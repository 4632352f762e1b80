"""Instrument symbols: OCC/OSI option symbols and Deribit instrument names.

- OSI (OCC Options Symbology Initiative, 21 characters): root padded to 6, ``YYMMDD``, ``C``/``P``,
  strike x 1000 in 8 digits: ``SPY   240119C00450000``; the compact form drops the padding
  (``SPY240119C00450000``). US equity and index options: European or American as the product is;
  this module does not know which, so the exercise style stays a column. Expiry at 16:00
  America/New_York on the expiry date (the close).
- Deribit: ``BTC-27DEC24-60000-C`` (option), ``BTC-27DEC24`` (future), ``BTC-PERPETUAL``; the
  ``_USDC``/``_USDT`` bases (``SOL_USDC-27DEC24-150-C``) are linear (quote-settled), the others
  inverse (coin-settled). Decimal strikes use ``d`` for the point (``XRP_USDC-30JUN23-0d625-C``).
  Expiry at 08:00 UTC. Deribit options are European.

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

__all__ = ["ParsedSymbol", "parse_symbol", "parse_osi", "parse_deribit", "VENUE_MULTIPLIER"]

VENUE_MULTIPLIER = {"occ": {"option": 100.0, "linear": 1.0},
                    "deribit": {"option": 1.0, "linear": 1.0}}

_OSI = re.compile(r"^([A-Z0-9.]{1,6}) *(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")
_DERIBIT_DATE = re.compile(r"^(\d{1,2})([A-Z]{3})(\d{2})$")
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


def _utc(year: int, month: int, day: int, hour: int, tz: str, symbol: str) -> np.datetime64:
    import pandas as pd

    try:
        stamp = pd.Timestamp(year=year, month=month, day=day, hour=hour, tz=tz)
    except ValueError as exc:
        raise InputError(f"symbol {symbol!r} has an invalid expiry date: {exc}") from None
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None).to_datetime64(), "s")


def parse_osi(symbol: str) -> ParsedSymbol:
    """Parse an OCC/OSI option symbol, padded or compact.

    Examples
    --------
    >>> p = parse_osi("SPY   240119C00450000")
    >>> p.underlying, p.kind.name, p.strike, str(p.expiry)
    ('SPY', 'CALL', 450.0, '2024-01-19T21:00:00')
    """
    text = symbol.strip().upper()
    match = _OSI.match(text)
    if match is None:
        raise InputError(f"not an OSI option symbol: {symbol!r}; expected ROOT (1-6 chars), YYMMDD,"
                         " C or P, strike x 1000 in 8 digits, e.g. 'SPY   240119C00450000'")
    root, yy, mm, dd, cp, strike = match.groups()
    expiry = _utc(2000 + int(yy), int(mm), int(dd), 16, "America/New_York", symbol)
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
    text = symbol.strip().upper()
    parts = text.split("-")
    base = parts[0]
    if not base or len(parts) not in (2, 4):
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
    expiry = _utc(2000 + int(date.group(3)), _MONTHS[date.group(2)], int(date.group(1)), 8, "UTC",
                  symbol)
    if len(parts) == 2:
        return ParsedSymbol("deribit", underlying, OptionKind.LINEAR, float("nan"), expiry,
                            settlement, ExerciseStyle.EUROPEAN, "future")
    try:
        strike = float(parts[2].replace("D", "."))
    except ValueError:
        raise InputError(f"Deribit name {symbol!r} has an unreadable strike {parts[2]!r}") from None
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
