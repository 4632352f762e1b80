"""Real price history that ships in a registry package: the ``arch`` datasets.

``arch`` (an optional dependency: ``pip install "greeksmargin[data]"``) bundles daily S&P 500 and
NASDAQ prices (1999-2018) and the VIX (2014-2019), loaded here through arch's own loaders. The
S&P 500 series is the adjusted close; the VIX is divided by 100 to an annualised decimal vol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sp500", "nasdaq", "vix"]


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
