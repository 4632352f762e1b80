"""Reading books: CSV, Parquet or a DataFrame, by symbol (OSI, Deribit) or by columns.

:func:`read_book` returns a :class:`LoadResult`: the :class:`~greeksmargin.model.book.Book` and
every refused row (:class:`~greeksmargin.errors.Failure`: row, position, field, reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..enums import ExerciseStyle, OptionKind, Settlement
from ..errors import Failure, InputError
from ..model.book import MAX_MULTIPLIER, MAX_QUANTITY, Book
from .symbols import VENUE_MULTIPLIER, parse_expiry, parse_symbol
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LoadResult", "read_book"]

_LINEAR_WORDS = ("underlying", "stock", "spot", "etf", "index", "future", "futures", "perpetual",
                 "perp", "linear")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a loader read: the value, and every row it refused (empty unless ``exclude``)."""

    value: Book
    failures: tuple[Failure, ...]


def read_book(source: str | Path | pd.DataFrame, venue: str | None = None,
              on_invalid: Literal["raise", "exclude"] = "raise",
              row_numbers: np.ndarray | None = None, allow_empty: bool = False) -> LoadResult:
    """Read a book from CSV, Parquet or a DataFrame.

    Columns: ``quantity`` (signed), then either ``symbol`` (OSI or Deribit name) or
    ``underlying``, ``kind`` (call/put/underlying/stock/future/perpetual), ``strike`` (options),
    ``expiry`` (options and futures: an ISO date, which expires at the venue's time, or an ISO
    timestamp; see :func:`~greeksmargin.io.symbols.parse_expiry`); optional ``expiry_session``
    (``am``: 09:30 New York, AM-settled; ``pm``: 16:00 New York; default: the venue's rule,
    :func:`~greeksmargin.io.symbols.venue_expiry`; coin-settled rows without a venue 08:00 UTC),
    ``position_id`` (default ``row<N>``),
    ``multiplier`` (required unless ``venue`` gives a default: ``"occ"`` 100 per option,
    ``"deribit"`` 1), ``exercise`` (european/american), ``settlement`` (linear/inverse; Deribit
    names set it). Extra columns are ignored by the book (the CLI reads ``vol`` and
    ``option_price`` from them as market data).

    Parameters
    ----------
    on_invalid : {"raise", "exclude"}
        Raise one InputError listing every bad row, or leave bad rows out and list them in
        ``LoadResult.failures``.
    row_numbers : array of int, optional
        The rows' numbers in the user's file, when the frame is a part of it (a batch
        partition); default ``1..n``. Errors and ``Book.source_row`` use them.
    allow_empty : bool, default False
        With ``on_invalid="exclude"``, return an empty book (and the failures) when every row is
        refused, instead of raising (the batch front reports such accounts as not margined).
    """
    import pandas as pd

    frame = source if isinstance(source, pd.DataFrame) else read_table(Path(source), "book")
    if row_numbers is not None and len(row_numbers) != len(frame):
        raise InputError(f"row_numbers must have one entry per row ({len(frame)}); got"
                         f" {len(row_numbers)}")
    return _from_frame(frame, venue, on_invalid, row_numbers, allow_empty)


def _text(value: object) -> str:
    import pandas as pd

    if isinstance(value, Decimal):  # pd.isna raises on a signalling NaN
        return "" if value.is_nan() else str(value).strip()
    if isinstance(value, bytes):  # a Parquet binary column: its text, or its repr (refused later)
        return value.decode("ascii").strip() if value.isascii() else repr(value)
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):  # type: ignore[arg-type, call-overload]  # any cell: None, NaN, NaT
        return ""
    return str(value).strip()


def _from_frame(frame: pd.DataFrame, venue: str | None,
                on_invalid: Literal["raise", "exclude"],
                row_numbers: np.ndarray | None = None, allow_empty: bool = False) -> LoadResult:
    if on_invalid not in ("raise", "exclude"):
        raise InputError(f"on_invalid must be 'raise' or 'exclude'; got {on_invalid!r}")
    if venue is not None and venue not in VENUE_MULTIPLIER:
        raise InputError(f"unknown venue {venue!r}; known: {', '.join(VENUE_MULTIPLIER)}")
    columns = set(map(str, frame.columns))
    required = ["quantity"] + (["symbol"] if "symbol" in columns else ["underlying", "kind"])
    if "multiplier" not in columns and venue is None and "symbol" not in columns:
        raise InputError("book has no 'multiplier' column; add one or pass venue='occ' (100 per"
                         " option) or venue='deribit' (1)")
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(f"book is missing column(s) {', '.join(missing)}; columns:"
                         f" {', '.join(map(str, frame.columns))}")
    rows: list[dict[str, object]] = []
    failures: list[Failure] = []
    numbers = (range(1, len(frame) + 1) if row_numbers is None
               else [int(x) for x in row_numbers])
    for number, rec in zip(numbers, frame.to_dict("records"), strict=True):
        pid = _text(rec.get("position_id")) or f"row{number}"
        try:
            row = _parse_row({str(k): v for k, v in rec.items()}, pid, venue, columns)
            row["source_row"] = number
            rows.append(row)
        except _RowError as exc:
            failures.append(Failure(number, pid, exc.field, exc.reason))
    if failures and on_invalid == "raise":
        raise InputError(f"{len(failures)} invalid book row(s):\n"
                         + "\n".join(str(f) for f in failures))
    if not rows and not allow_empty:
        raise InputError("book has no valid positions" + (
            f" ({len(failures)} rows excluded)" if failures else ""))
    ids = [str(r["position_id"]) for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({x for x in ids if ids.count(x) > 1})
        raise InputError(f"position_id must be unique; duplicated: {', '.join(dup[:5])}")

    def col(key: str, dtype: Any = None) -> np.ndarray:
        return np.array([r[key] for r in rows], dtype=dtype)

    book = Book(col("position_id"), col("underlying"), col("kind", np.int8),
                col("strike", float), col("expiry", "datetime64[s]"), col("quantity", float),
                col("multiplier", float), col("exercise", np.int8), col("settlement", np.int8),
                col("source_row", np.int64))
    return LoadResult(book, tuple(failures))


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _number(rec: Mapping[str, object], key: str) -> float:
    value = rec.get(key)
    if isinstance(value, str) and not value.strip().isascii():
        raise _RowError(key, f"must be a number in ASCII digits; got {value!r}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except OverflowError:  # a 400-digit integer
        raise _RowError(key, f"is out of range; got {_short(value)}") from None
    except (TypeError, ValueError, ArithmeticError):  # ArithmeticError: Decimal('sNaN')
        raise _RowError(key, f"must be a number; got {_short(value)}") from None
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def _parse_row(rec: Mapping[str, object], pid: str, venue: str | None,
               columns: set[str]) -> dict[str, object]:
    nat = np.datetime64("NaT", "s")
    row: dict[str, object] = {"position_id": pid}
    symbol = _text(rec.get("symbol"))
    if "symbol" in columns and symbol:
        try:
            parsed = parse_symbol(symbol)
        except InputError as exc:
            raise _RowError("symbol", str(exc)) from None
        row.update(underlying=parsed.underlying, kind=int(parsed.kind), strike=parsed.strike,
                   expiry=parsed.expiry, settlement=int(parsed.settlement),
                   exercise=int(parsed.exercise))
        venue = venue or parsed.venue
    else:
        underlying = _text(rec.get("underlying"))
        if not underlying:
            raise _RowError("underlying", "is empty" + (" (and no symbol)" if "symbol" in columns
                                                        else ""))
        word = _text(rec.get("kind")).lower()
        if word in ("c", "call"):
            kind = OptionKind.CALL
        elif word in ("p", "put"):
            kind = OptionKind.PUT
        elif word in _LINEAR_WORDS:
            kind = OptionKind.LINEAR
        else:
            raise _RowError("kind", f"must be call, put, underlying, future or perpetual; got"
                            f" {rec.get('kind')!r}")
        strike = float("nan")
        if kind != OptionKind.LINEAR:
            strike = _number(rec, "strike")
            if not (strike > 0 and np.isfinite(strike)):
                raise _RowError("strike", f"must be > 0 and finite; got {rec.get('strike')!r}")
        expiry: np.datetime64 = nat
        expiry_text = _text(rec.get("expiry"))
        if expiry_text:
            session = _text(rec.get("expiry_session")).lower() or None
            if session not in (None, "am", "pm"):
                raise _RowError("expiry_session", f"must be am or pm; got"
                                f" {rec.get('expiry_session')!r}")
            if session is None and venue is None and \
                    _text(rec.get("settlement")).lower() == "inverse":
                session = "deribit"  # coin-settled: Deribit's 08:00 UTC
            try:
                expiry = parse_expiry(rec.get("expiry"), venue, underlying, session)
            except InputError as exc:
                raise _RowError("expiry", str(exc)) from None
        if kind != OptionKind.LINEAR and np.isnat(expiry):
            raise _RowError("expiry", "an option needs an expiry date")
        if word in ("perpetual", "perp", "underlying", "stock", "spot", "etf", "index") and \
                not np.isnat(expiry):
            raise _RowError("expiry", f"a {word} has no expiry; got {rec.get('expiry')!r}")
        if word in ("future", "futures") and np.isnat(expiry):
            raise _RowError("expiry", "a future needs an expiry date")
        row.update(underlying=underlying, kind=int(kind), strike=strike, expiry=expiry,
                   settlement=int(Settlement.LINEAR), exercise=int(ExerciseStyle.EUROPEAN))
    quantity = _number(rec, "quantity")
    if not abs(quantity) <= MAX_QUANTITY:
        raise _RowError("quantity", f"must be finite and at most {MAX_QUANTITY:.0e} contracts"
                        f" either way; got {_short(rec.get('quantity'))}")
    row["quantity"] = quantity
    if "multiplier" in columns and _text(rec.get("multiplier")):
        multiplier = _number(rec, "multiplier")
    elif venue is not None:
        kind_key = "linear" if row["kind"] == OptionKind.LINEAR else "option"
        multiplier = VENUE_MULTIPLIER[venue][kind_key]
    else:
        raise _RowError("multiplier", "is empty and no venue default applies")
    if not 0 < multiplier <= MAX_MULTIPLIER:
        raise _RowError("multiplier", f"must be > 0 and at most {MAX_MULTIPLIER:.0e}; got"
                        f" {_short(rec.get('multiplier'))}")
    row["multiplier"] = multiplier
    text = _text(rec.get("exercise")).lower()
    if text:
        if text not in ("european", "american", "e", "a"):
            raise _RowError("exercise", f"must be european or american; got {rec.get('exercise')!r}")
        row["exercise"] = int(ExerciseStyle.AMERICAN if text[0] == "a" else ExerciseStyle.EUROPEAN)
    text = _text(rec.get("settlement")).lower()
    if text:
        if text not in ("linear", "inverse"):
            raise _RowError("settlement", f"must be linear or inverse; got {rec.get('settlement')!r}")
        row["settlement"] = int(Settlement.INVERSE if text == "inverse" else Settlement.LINEAR)
    return row
