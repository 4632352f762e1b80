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

from .._arrays import distinct_rows
from ..enums import ExerciseStyle, OptionKind, Settlement
from ..errors import Failure, InputError
from ..model.book import MAX_MULTIPLIER, MAX_QUANTITY, Book
from .symbols import VENUE_MULTIPLIER, parse_expiry, parse_symbol
from .tables import fixed_width_text, read_table

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
    numbers = (np.arange(1, len(frame) + 1, dtype=np.int64) if row_numbers is None
               else np.array(row_numbers, np.int64))  # a copy: the book takes it over
    try:
        fields, failures = _columns(frame, venue, columns, numbers)
    except _NotColumnar:  # cells pandas cannot factorise (unhashable, a signalling NaN)
        fields, failures = _rows(frame, venue, columns, numbers)
    if failures and on_invalid == "raise":
        raise InputError(f"{len(failures)} invalid book row(s):\n"
                         + "\n".join(str(f) for f in failures))
    if not fields["position_id"].size and not allow_empty:
        raise InputError("book has no valid positions" + (
            f" ({len(failures)} rows excluded)" if failures else ""))
    # every column is an array built here (none is a view of the caller's frame): the book
    # takes them over instead of copying them (the ids alone are ~80 bytes a row)
    book = Book(fields["position_id"], fields["underlying"], fields["kind"], fields["strike"],
                fields["expiry"], fields["quantity"], fields["multiplier"], fields["exercise"],
                fields["settlement"], fields["source_row"], copy=False)
    return LoadResult(book, tuple(failures))


_FIELD_TYPES: dict[str, Any] = {
    "position_id": np.str_, "underlying": np.str_, "kind": np.int8, "strike": np.float64,
    "expiry": "datetime64[s]", "quantity": np.float64, "multiplier": np.float64,
    "exercise": np.int8, "settlement": np.int8, "source_row": np.int64}


def _rows(frame: pd.DataFrame, venue: str | None, columns: set[str], numbers: np.ndarray
          ) -> tuple[dict[str, np.ndarray], list[Failure]]:
    # the reference: one row at a time (the columnar path must give the same, tested)
    rows: list[dict[str, object]] = []
    failures: list[Failure] = []
    for number, rec in zip(numbers.tolist(), frame.to_dict("records"), strict=True):
        pid = _text(rec.get("position_id")) or f"row{number}"
        try:
            row = _parse_row({str(k): v for k, v in rec.items()}, pid, venue, columns)
            row["source_row"] = number
            rows.append(row)
        except _RowError as exc:
            failures.append(Failure(number, pid, exc.field, exc.reason))
    return {k: np.array([r[k] for r in rows], dtype=t) for k, t in _FIELD_TYPES.items()}, failures


class _NotColumnar(Exception):
    pass


# the cells that decide an instrument and its terms: parsed once per distinct combination
_KEY_COLUMNS = ("symbol", "underlying", "kind", "strike", "expiry", "expiry_session",
                "settlement", "multiplier", "exercise")


def _columns(frame: pd.DataFrame, venue: str | None, columns: set[str], numbers: np.ndarray
             ) -> tuple[dict[str, np.ndarray], list[Failure]]:
    """Parse a book frame column by column (no per-row Python on valid input).

    Each distinct combination of the instrument cells (symbol, or underlying/kind/strike/expiry,
    and the terms) is parsed once, quantities and ids as arrays; the row parser's checks, order
    and messages (the same functions run per combination). Raises _NotColumnar for cells pandas
    cannot factorise.
    """
    import pandas as pd

    n = len(frame)
    keys = [c for c in _KEY_COLUMNS if c in columns]
    # a numeric strike column is checked as an array, not as part of the combinations: books
    # with continuous strikes would make every row its own combination (per-row Python)
    split_strike = ("strike" in keys and "symbol" not in columns
                    and frame["strike"].dtype.kind in "iuf")
    if split_strike:
        keys.remove("strike")
    key = np.zeros(n, np.int64)
    radix = 1
    per_row = np.zeros(n, bool)  # rows the combination cannot stand for: parsed alone
    try:
        for c in keys:
            series = frame[c]
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            if series.dtype == object:  # None and NaN differ in messages: such rows alone
                per_row |= codes < 0
            size = len(uniques) + 1
            if radix > (2**62) // size:
                raise _NotColumnar
            key = key * size + (codes + 1)
            radix *= size
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise _NotColumnar from exc
    # the combinations by hashing (first appearance order; a sort took 56 ms for 1.2M rows)
    inverse, first = distinct_rows(key)
    representatives = frame.iloc[first][keys].to_dict("records") if keys else [{}] * first.size
    fields_of = ("underlying", "kind", "strike", "expiry", "settlement", "exercise", "multiplier")
    parsed: dict[str, list[object]] = {f: [] for f in fields_of}
    instrument_error: list[_RowError | None] = []
    terms_error: list[_RowError | None] = []
    option_of: list[bool] = []  # the combination names an option (its strike is checked)
    defaults = {"underlying": "", "kind": 0, "strike": np.nan,
                "expiry": np.datetime64("NaT", "s"), "settlement": 0, "exercise": 0,
                "multiplier": np.nan}
    for rec in representatives:
        if split_strike:
            rec = {**rec, "strike": 1.0}  # a valid stand-in: the column is checked below
        row: dict[str, object] = {}
        error_a = error_c = None
        try:
            used_venue = _instrument(rec, venue, columns, row)
            try:
                _terms(rec, used_venue, columns, row)
            except _RowError as exc:
                error_c = exc
        except _RowError as exc:
            error_a = exc
        instrument_error.append(error_a)
        terms_error.append(error_c)
        if split_strike:
            try:
                option_of.append(_kind(rec)[1] != OptionKind.LINEAR)
            except _RowError:
                option_of.append(False)
        for f in fields_of:
            parsed[f].append(row.get(f, defaults[f]))
    # quantities: an array check, or once per distinct cell
    values = frame["quantity"]
    quantity = np.full(n, np.nan)
    quantity_error: dict[int, _RowError] = {}
    if values.dtype.kind in "iuf":
        quantity = values.to_numpy(np.float64, copy=True)  # the book takes it over
        for i in np.flatnonzero(~(np.abs(quantity) <= MAX_QUANTITY)).tolist():
            try:
                _quantity(values.iloc[[i]].tolist()[0])
            except _RowError as exc:
                quantity_error[i] = exc
    else:
        try:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _NotColumnar from exc
        cells = pd.Series(uniques, dtype=object).tolist()
        results: list[float | _RowError] = []
        for cell in cells:
            try:
                results.append(_quantity(cell))
            except _RowError as exc:
                results.append(exc)
        na_rows = np.flatnonzero(codes < 0)
        per_row[na_rows] = True  # a missing quantity: its own message (None or nan)
        for k, result in enumerate(results):
            rows_k = np.flatnonzero(codes == k)
            if isinstance(result, _RowError):
                for i in rows_k.tolist():
                    quantity_error[i] = result
            else:
                quantity[rows_k] = result
    ids = _position_ids(frame, columns, numbers)
    # the rows' outcome: the first error in the row parser's order, else the parsed row
    a_err = np.array([e is not None for e in instrument_error], bool)[inverse]
    c_err = np.array([e is not None for e in terms_error], bool)[inverse]
    q_err = np.zeros(n, bool)
    q_err[list(quantity_error)] = True
    kind = np.array(parsed["kind"], dtype=np.int8)[inverse]
    strike = np.array(parsed["strike"], dtype=np.float64)[inverse]
    strike_err = np.zeros(n, bool)
    if split_strike:
        # the row parser checks the strike of an option after its underlying and kind
        cells = frame["strike"]
        strike_values = cells.to_numpy(np.float64)
        option = np.array(option_of, bool)[inverse]
        reached = ~np.array([e is not None and e.field in ("underlying", "kind")
                             for e in instrument_error], bool)[inverse]
        strike_err = option & reached & ~((strike_values > 0) & np.isfinite(strike_values))
        strike = np.where(option, strike_values, np.nan)
        a_err = a_err | strike_err
    bad = a_err | q_err | c_err
    failures: list[Failure] = []
    for i in np.flatnonzero(bad & ~per_row).tolist():
        u = int(inverse[i])
        error = (_RowError("strike", f"must be > 0 and finite; got {cells.iloc[i].item()!r}")
                 if strike_err[i] else None) \
            or instrument_error[u] or quantity_error.get(i) or terms_error[u]
        assert error is not None
        failures.append(Failure(int(numbers[i]), str(ids[i]), error.field, error.reason))
    ok = ~bad & ~per_row
    every = bool(ok.all())  # then no copy of the columns (the ids alone are ~80 bytes a row)
    fields = {name: column if every else column[ok] for name, column in (
        ("position_id", ids),
        ("underlying", np.array(parsed["underlying"], dtype=np.str_)[inverse]),
        ("kind", kind),
        ("strike", strike),
        ("expiry", np.array(parsed["expiry"], dtype="datetime64[s]")[inverse]),
        ("quantity", quantity),
        ("multiplier", np.array(parsed["multiplier"], dtype=np.float64)[inverse]),
        ("exercise", np.array(parsed["exercise"], dtype=np.int8)[inverse]),
        ("settlement", np.array(parsed["settlement"], dtype=np.int8)[inverse]),
        ("source_row", numbers))}
    alone = np.flatnonzero(per_row)
    if alone.size:  # the rows no combination stands for, by the row parser, merged in order
        extra, extra_failures = _rows(frame.iloc[alone], venue, columns, numbers[alone])
        order = np.argsort(np.concatenate([fields["source_row"], extra["source_row"]]),
                           kind="stable")
        fields = {k: np.concatenate([fields[k], extra[k].astype(fields[k].dtype)])[order]
                  for k in fields}
        failures = sorted(failures + extra_failures, key=lambda f: f.row)
    return fields, failures


def _position_ids(frame: pd.DataFrame, columns: set[str], numbers: np.ndarray) -> np.ndarray:
    # each row's id: the position_id cell as text (as _text reads it), or row<N> when empty
    import pandas as pd

    def default(rows: np.ndarray) -> np.ndarray:
        return ("row" + pd.Series(rows).astype(str)).to_numpy(dtype=np.str_)

    if "position_id" not in columns:
        return default(numbers)
    values = frame["position_id"]
    if values.dtype.kind in "iu":
        text = values.astype(str).to_numpy(dtype=np.str_)
    elif values.dtype != object and pd.api.types.is_string_dtype(values.dtype):
        # pandas' text dtypes: strip as _text does; missing cells are empty
        text = fixed_width_text(values.str.strip())
    else:
        text = np.array([_text(v) for v in values.tolist()], dtype=np.str_)
    empty = text == ""
    if empty.any():
        text = text.astype(object)
        text[empty] = default(numbers[empty])
        text = text.astype(np.str_)
    return text


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
    # one row, checked in the order the errors are reported: instrument, quantity, terms
    row: dict[str, object] = {"position_id": pid}
    venue = _instrument(rec, venue, columns, row)
    row["quantity"] = _quantity(rec.get("quantity"))
    _terms(rec, venue, columns, row)
    return row


def _instrument(rec: Mapping[str, object], venue: str | None, columns: set[str],
                row: dict[str, object]) -> str | None:
    # symbol, or underlying, kind, strike, expiry: fills row, returns the venue in effect
    nat = np.datetime64("NaT", "s")
    symbol = _text(rec.get("symbol"))
    if "symbol" in columns and symbol:
        try:
            parsed = parse_symbol(symbol)
        except InputError as exc:
            raise _RowError("symbol", str(exc)) from None
        row.update(underlying=parsed.underlying, kind=int(parsed.kind), strike=parsed.strike,
                   expiry=parsed.expiry, settlement=int(parsed.settlement),
                   exercise=int(parsed.exercise))
        return venue or parsed.venue
    underlying = _text(rec.get("underlying"))
    if not underlying:
        raise _RowError("underlying", "is empty" + (" (and no symbol)" if "symbol" in columns
                                                    else ""))
    word, kind = _kind(rec)
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
    return venue


def _kind(rec: Mapping[str, object]) -> tuple[str, OptionKind]:
    # the kind cell: its word and the kind it names
    word = _text(rec.get("kind")).lower()
    if word in ("c", "call"):
        return word, OptionKind.CALL
    if word in ("p", "put"):
        return word, OptionKind.PUT
    if word in _LINEAR_WORDS:
        return word, OptionKind.LINEAR
    raise _RowError("kind", f"must be call, put, underlying, future or perpetual; got"
                    f" {rec.get('kind')!r}")


def _quantity(value: object) -> float:
    quantity = _number({"quantity": value}, "quantity")
    if not abs(quantity) <= MAX_QUANTITY:
        raise _RowError("quantity", f"must be finite and at most {MAX_QUANTITY:.0e} contracts"
                        f" either way; got {_short(value)}")
    return quantity


def _terms(rec: Mapping[str, object], venue: str | None, columns: set[str],
           row: dict[str, object]) -> None:
    # multiplier (or the venue's default), exercise and settlement overrides
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
