"""The sample book and market that ship with the package (used by ``--sample`` and the docs).

>>> from greeksmargin.io.samples import load_sample
>>> book, market = load_sample()
>>> book.position_id.size, sorted(market.underlyings)
(10, ['AAPL', 'QQQ', 'SPX', 'SPY'])
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..model.book import Book
from ..model.market import MarketData
from .books import read_book
from .markets import read_market
from .tables import read_table


def sample_paths() -> tuple[Path, Path]:
    """Return the paths of the sample margin book and its market file.

    Paths of the sample margin book (OSI symbols, SPX/SPY iron condor and put spread, AAPL
    covered call, QQQ straddle) and of its market file (spot, rate, dividend yield, vol, class
    and product groups, valuation time).
    """
    base = resources.files("greeksmargin") / "data"
    return Path(str(base / "sample_book.csv")), Path(str(base / "sample_market.csv"))


def load_sample() -> tuple[Book, MarketData]:
    """Load the sample book and its market data, as ``greeksmargin margin --sample`` reads them."""
    book_path, market_path = sample_paths()
    book = read_book(read_table(book_path, "book"), venue="occ").value
    return book, read_market(market_path)
