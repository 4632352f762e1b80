"""Price history: a user's file of daily closes, and the ``arch`` package's real datasets.

:func:`read_prices` reads a CSV/Parquet of daily closes (a ``date`` column, one column per
underlying or risk factor), refusing, with file, row, column and value, anything that is not a
date or a finite price > 0. ``arch`` (an optional dependency: ``pip install
"greeksmargin[data]"``) bundles daily S&P 500 and NASDAQ prices (1999-2018) and the VIX
(2014-2019), loaded here through arch's own loaders. The S&P 500 series is the adjusted close;
the VIX is divided by 100 to an annualised decimal vol.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_prices", "price_values", "sp500", "nasdaq", "vix"]


def price_values(prices: pd.DataFrame | pd.Series) -> np.ndarray:
    """Return the prices as floats after checking every one is finite and > 0.

    The one check of a price history in memory (backtests, estimates, historical scenarios):
    the first bad value is named with its column (a DataFrame's) and date; nothing is dropped.
    """
    values = prices.to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r, c = (np.argwhere(bad)[0] if values.ndim == 2 else (int(np.flatnonzero(bad)[0]), None))
        when = prices.index[r]
        when = when.date() if hasattr(when, "date") else when
        where = "" if c is None else f" for {prices.columns[c]!r}"
        value = values[r, c] if c is not None else values[r]
        raise InputError(f"prices must be > 0 and finite; got {float(value)!r}{where} on {when}")
    return values


def read_prices(path: str | Path) -> pd.DataFrame:
    """Read daily closes: a ``date`` column and one price column per underlying.

    Returns a DataFrame indexed by date (increasing, unique), float prices. Every date must
    parse (ISO ``YYYY-MM-DD``) and every price be finite and > 0: an empty cell is refused,
    not dropped or filled (a gap in one column would otherwise shift the joint scenarios).
    """
    import pandas as pd

    source = Path(path)
    frame = read_table(source, "price history")
    if "date" not in frame.columns:
        raise InputError(f"price history {source}: no 'date' column; columns:"
                         f" {', '.join(map(str, frame.columns))}")
    if frame.shape[1] < 2 or len(frame) < 3:
        raise InputError(f"price history {source}: need a date column, at least one price column"
                         f" and 3 rows; got {frame.shape[1]} columns, {len(frame)} rows")
    dates = pd.to_datetime(frame["date"].astype(str), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError(f"price history {source}, row {row + 1}: date {frame['date'].iloc[row]!r}"
                         f" is not a date (YYYY-MM-DD)")
    if not dates.is_monotonic_increasing or dates.duplicated().any():
        raise InputError(f"price history {source}: dates must be increasing and unique")
    prices = frame.drop(columns="date")
    values = prices.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"price history {source}, row {r + 1}: {prices.columns[c]!r} ="
                         f" {str(prices.iloc[r, c])!r} is not a finite price > 0")
    return pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"),
                        columns=[str(c) for c in prices.columns])


def _arch_data():  # type: ignore[no-untyped-def]
    try:
        from arch import data
    except ImportError:
        raise InputError("real history needs the optional 'arch' package: pip install"
                         " 'greeksmargin[data]' (or pip install arch)") from None
    return data


def sp500() -> pd.Series:
    """S&P 500 daily adjusted close, 1999-01-04 .. 2018-12-31 (arch.data.sp500)."""
    _arch_data()
    from arch.data import sp500 as source

    return source.load()["Adj Close"].rename("SP500")


def nasdaq() -> pd.Series:
    """NASDAQ Composite daily adjusted close, 1999-01-04 .. 2018-12-31 (arch.data.nasdaq)."""
    _arch_data()
    from arch.data import nasdaq as source

    return source.load()["Adj Close"].rename("NASDAQ")


def vix() -> pd.Series:
    """VIX close / 100 (annualised decimal implied vol), 2014-01-03 .. 2019-01-03."""
    _arch_data()
    from arch.data import vix as source

    return (source.load()["vix"] / 100.0).rename("VIX")
