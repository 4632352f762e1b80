"""Reading market data: one row per underlying, from CSV, Parquet or a DataFrame.

The market file carries the snapshot (spot or futures price, rate, carry or dividend yield, vol,
valuation) and the reference data of each underlying that the margin needs: its class group
(``group``), its OCC product class (``product_class``) and its product group
(``product_group``). The API and the command line read the same columns through
:func:`read_market`, so both margin the same file to the same number.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MarketDataError
from ..model.market import MarketData, to_timestamp
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_market", "market_from_frame", "read_correlation"]


def read_market(source: str | Path | pd.DataFrame, valuation: object = None,
                group_of: Mapping[str, str] | None = None,
                quote_currency: str = "USD") -> MarketData:
    """Market data from a CSV or Parquet file, or a DataFrame (see :func:`market_from_frame`)."""
    import pandas as pd

    frame = source if isinstance(source, pd.DataFrame) else read_table(Path(source), "market")
    return market_from_frame(frame, valuation, group_of, quote_currency)


def _text_column(frame: pd.DataFrame, column: str) -> dict[str, str]:
    # underlying -> text of an optional reference-data column (blank cells: no entry)
    if column not in frame.columns:
        return {}
    out = {}
    for u, value in zip(frame["underlying"], frame[column], strict=True):
        if isinstance(value, str) and value.strip():
            out[str(u)] = value.strip()
        elif value is not None and not (isinstance(value, float) and np.isnan(value)):
            raise MarketDataError(f"market column {column} must be text; got {value!r} for"
                                  f" underlying {u!r}")
    return out


def market_from_frame(frame: pd.DataFrame, valuation: object = None,
                  group_of: Mapping[str, str] | None = None,
                  quote_currency: str = "USD") -> MarketData:
    """Market data from a table, one row per underlying.

    Columns: ``underlying``, ``spot`` (or ``futures_price`` for a Black-76 underlying, which
    sets carry 0), ``rate``, then ``carry`` or ``dividend_yield`` (carry = rate - yield; both
    absent means carry = rate), optional ``vol``, optional ``group`` (class group),
    ``product_class`` (OCC TIMS class) and ``product_group`` (cross-margin product group), and
    ``valuation`` when the argument is not given. Errors name the column, the value and the row.
    """
    for col in ("underlying", "rate"):
        if col not in frame.columns:
            raise MarketDataError(f"market data is missing column {col!r}; columns: "
                                  + ", ".join(map(str, frame.columns)))
    if valuation is None:
        if "valuation" not in frame.columns:
            raise MarketDataError("market data needs a valuation timestamp: a 'valuation'"
                                  " column or the valuation argument (--valuation)")
        stamps = {str(v) for v in frame["valuation"]}
        if len(stamps) != 1:
            raise MarketDataError(f"market data has several valuation timestamps: {sorted(stamps)}")
        valuation = stamps.pop()

    def numeric(col: str) -> np.ndarray:
        values = np.full(len(frame), np.nan)
        for row, value in enumerate(frame[col]):
            try:
                values[row] = float(value)
            except (TypeError, ValueError, ArithmeticError):  # ArithmeticError: Decimal('sNaN'), 10**400
                raise MarketDataError(f"market column {col} must be numeric; got {value!r} at"
                                      f" row {row + 1} ({frame['underlying'].iloc[row]!r})"
                                      ) from None
        return values

    rate = numeric("rate")
    if "futures_price" in frame.columns:
        futures = numeric("futures_price")
        spot = numeric("spot") if "spot" in frame.columns else np.full(len(frame), np.nan)
        is_future = ~np.isnan(futures)
        spot = np.where(is_future, futures, spot)
    elif "spot" in frame.columns:
        spot = numeric("spot")
        is_future = np.zeros(len(frame), bool)
    else:
        raise MarketDataError("market data is missing column 'spot' (or 'futures_price')")
    if "carry" in frame.columns:
        carry = numeric("carry")
    elif "dividend_yield" in frame.columns:
        carry = rate - numeric("dividend_yield")
    else:
        carry = rate.copy()
    carry = np.where(is_future, 0.0, carry)
    vol = numeric("vol") if "vol" in frame.columns else None
    groups = dict(group_of or {})
    if "group" in frame.columns:
        for u, g in zip(frame["underlying"], frame["group"], strict=True):
            if isinstance(g, str) and g:
                groups.setdefault(str(u), g)
    return MarketData(to_timestamp(valuation), tuple(map(str, frame["underlying"])), spot, rate,
                      carry, vol,
                      group_of=groups, quote_currency=quote_currency,
                      product_class=_text_column(frame, "product_class"),
                      product_group=_text_column(frame, "product_group"))


def read_correlation(source: str | Path | pd.DataFrame, underlyings: tuple[str, ...]
                     ) -> np.ndarray:
    """Read a correlation matrix from a square table (first column: the row names), in the order of ``underlyings``.

    Raises
    ------
    MarketDataError
        An underlying missing from the rows or the columns, or a value that is not numeric.
    """
    import pandas as pd

    raw = source if isinstance(source, pd.DataFrame) else read_table(Path(source), "correlation")
    table = raw.set_index(raw.columns[0])
    table.index = table.index.map(str)
    missing = [u for u in underlyings if u not in table.index or u not in table.columns]
    if missing:
        raise MarketDataError(f"correlation file lacks underlyings {missing}")
    try:
        return table.loc[list(underlyings), list(underlyings)].to_numpy(float)
    except ValueError as exc:
        raise MarketDataError(f"correlation file has a value that is not numeric: {exc}") from None
