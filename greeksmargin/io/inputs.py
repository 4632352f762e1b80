"""A book file and its market file, read together the one way both the API and the CLI use.

Besides the positions, a book file may carry per-position market data (``vol``: an implied vol;
``option_price``: a price to invert) and a ``strategy`` column (for the isolated-vs-cross
comparison); the market file carries the snapshot and each underlying's reference data
(``group``, ``product_class``, ``product_group``). :func:`read_inputs` returns all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import Failure, InputError
from ..model.book import Book
from ..model.market import MarketData
from .books import read_book
from .markets import market_from_frame
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Inputs", "read_inputs"]


@dataclass(frozen=True, slots=True)
class Inputs:
    """A book, its market (with the book file's per-position vols and prices), refused rows."""

    book: Book
    market: MarketData
    failures: tuple[Failure, ...]
    strategy_of: dict[str, str] | None  # position id -> strategy (book column), None without one

    @property
    def product_group_of(self) -> dict[str, str] | None:
        """Class group -> product group from the market's reference data (None without any)."""
        market = self.market
        if not market.product_group:
            return None
        return {market.group_of.get(u, u): g for u, g in market.product_group.items()}


def read_inputs(book: str | Path | pd.DataFrame, market: str | Path | pd.DataFrame, *,
                venue: str | None = None, valuation: object = None,
                on_invalid: Literal["raise", "exclude"] = "raise") -> Inputs:
    """Read a book and its market file (CSV, Parquet or DataFrames).

    Parameters
    ----------
    book, market : path or DataFrame
        The positions (see :func:`~greeksmargin.io.books.read_book`) and the market (see
        :func:`~greeksmargin.io.markets.market_from_frame`).
    venue : {"occ", "deribit"}, optional
        Default multipliers for a book without a ``multiplier`` column.
    valuation : timestamp-like, optional
        Valuation timestamp when the market file has no ``valuation`` column.
    on_invalid : {"raise", "exclude"}
        Bad book rows raise, or are left out and listed in ``failures``: rows the book reader
        refuses and rows the market cannot value (no market data for the underlying, expired,
        no vol, an option price without an implied vol), each named by its row in the file.
    """
    import pandas as pd

    frame = book if isinstance(book, pd.DataFrame) else read_table(Path(book), "book")
    loaded = read_book(frame, venue=venue, on_invalid=on_invalid)
    market_frame = market if isinstance(market, pd.DataFrame) else read_table(Path(market), "market")
    snapshot = market_from_frame(market_frame, valuation=valuation)
    extra_columns = {"vol", "option_price", "strategy"} & set(map(str, frame.columns))
    kept = loaded.value.position_id.tolist() if extra_columns else []
    strategy_of = None
    if extra_columns & {"vol", "option_price"}:
        snapshot = _with_book_columns(snapshot, frame, kept)
    valued = loaded.value
    unvalued = valued.market_failures(snapshot)
    if unvalued and on_invalid == "raise":
        raise InputError(f"{len(unvalued)} book row(s) the market cannot value:\n"
                         + "\n".join(str(f) for f in unvalued))
    failures = loaded.failures
    if unvalued:
        bad = {f.position_id for f in unvalued}
        valued = valued.take(~np.isin(valued.position_id, list(bad)))
        if valued.n_positions == 0:
            raise InputError(f"book has no position the market can value ({len(unvalued)} rows"
                             " excluded):\n" + "\n".join(str(f) for f in unvalued))
        failures = tuple(sorted(failures + unvalued, key=lambda f: f.row))
    if "position_id" in frame.columns and "strategy" in frame.columns:
        by_id = frame.assign(position_id=frame["position_id"].astype(str)).set_index("position_id")
        strategy = by_id["strategy"].reindex(kept)
        strategy_of = {p: str(s) if pd.notna(s) else p for p, s in strategy.items()}
    return Inputs(valued, snapshot, failures, strategy_of)


def _with_book_columns(snapshot: MarketData, frame: pd.DataFrame, kept: list[str]) -> MarketData:
    # the book file's per-position vol and option_price columns, as market data
    import pandas as pd

    if "position_id" in frame.columns:
        by_id = frame.assign(position_id=frame["position_id"].astype(str)).set_index("position_id")
        extra = {}
        for col in ("vol", "option_price"):
            if col in by_id.columns:
                values = by_id[col].reindex(kept)
                extra[col] = {k: float(v) for k, v in values.items() if pd.notna(v)}
        snapshot = snapshot.with_position_data(extra.get("vol"), extra.get("option_price"))
    return snapshot
