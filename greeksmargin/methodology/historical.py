"""Historical-simulation margin (the SPAN 2 / Eurex Prisma / OCC STANS family), as data.

A :class:`HistoricalModel` holds joint historical scenarios of every risk factor: for each start
date ``t`` of the lookback, the overlapping MPOR-day move ``P_{t+h} / P_t - 1`` of every price
column (and of every implied-vol column, relatively), all columns on the same dates so the
scenarios keep the factors' joint behaviour. Optionally each date's moves are filtered by EWMA
volatility (filtered historical simulation, Hull and White 1998: a log return is scaled by
``sigma_now / sigma_t``, the EWMA vol of daily returns today over the one known at ``t``). A
separate set of unfiltered scenarios from a stress period gives the floor (Eurex Prisma's
stress-period VaR as "a prudent margin floor"). The reduction, VaR or expected shortfall of the
whole book's joint P&L at a stated confidence, is ``greeksmargin.margin.historical``.

Empirical quantile convention: with ``n`` scenarios and confidence ``c``, ``k = ceil(n (1 -
c))``; VaR is the ``k``-th largest loss and ES the mean of the ``k`` largest losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..enums import ShiftType
from ..errors import InputError, MethodologyError
from ..io.history import price_values
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HistoricalModel", "historical"]

TRADING_DAYS = 252.0


@dataclass(frozen=True, slots=True)
class HistoricalModel:
    """Joint historical scenarios and the parameters of the VaR/ES reduction.

    Attributes
    ----------
    name, version, source : str
        Identify the model and the sources it follows.
    columns : tuple of str
        The risk factors (price columns of the history).
    factor_of : mapping of str to str
        Book underlying -> its column (an underlying with no entry uses the column of its own
        name).
    dates : ndarray of datetime64[D], shape (n,)
        Start date of each lookback scenario.
    spot_moves, vol_moves : ndarray, shape (n, n_columns)
        Relative moves over the MPOR per scenario and column (vol 0 where no vol history).
    stress_dates, stress_spot_moves, stress_vol_moves : ndarray
        The stress-period scenarios (unfiltered), possibly empty.
    mpor_days : int
        Margin period of risk in trading days (the clock advances ``mpor_days / 252`` years).
    confidence : float
        VaR/ES confidence in (0, 1).
    measure : {"es", "var"}
        The risk measure of the joint P&L.
    parameters : dict
        Every parameter value used, reported with the result.
    labels, stress_labels : tuple of str
        The scenario dates as ISO strings (derived from the dates when not given).
    """

    name: str
    version: str
    source: str
    columns: tuple[str, ...]
    factor_of: Mapping[str, str]
    dates: np.ndarray
    spot_moves: np.ndarray
    vol_moves: np.ndarray
    stress_dates: np.ndarray
    stress_spot_moves: np.ndarray
    stress_vol_moves: np.ndarray
    mpor_days: int
    confidence: float
    measure: Literal["es", "var"]
    parameters: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    stress_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate the fields and label the scenarios by date (see the class docstring)."""
        if not self.labels:
            object.__setattr__(self, "labels", tuple(np.datetime_as_string(self.dates, "D")))
        if not self.stress_labels:
            object.__setattr__(self, "stress_labels",
                               tuple(np.datetime_as_string(self.stress_dates, "D")))
        if not (0.0 < self.confidence < 1.0):
            raise MethodologyError(f"{self.name}: confidence must be in (0, 1); got"
                                   f" {self.confidence!r}")
        if self.measure not in ("es", "var"):
            raise MethodologyError(f"{self.name}: measure must be 'es' or 'var'; got"
                                   f" {self.measure!r}")
        for label, moves in (("spot", self.spot_moves), ("stress spot", self.stress_spot_moves)):
            if moves.size and not (np.all(np.isfinite(moves)) and np.all(moves > -1)):
                raise MethodologyError(f"{self.name}: {label} moves must be finite and > -1")

    def column(self, underlying: str) -> int:
        """Index of the history column that moves ``underlying``."""
        name = self.factor_of.get(underlying, underlying)
        try:
            return self.columns.index(name)
        except ValueError:
            raise InputError(f"no history for underlying {underlying!r} (column {name!r}); the"
                             f" history has {', '.join(self.columns)}: map it with"
                             f" factor_of={{{underlying!r}: COLUMN}}") from None

    def grid(self, underlying: str, stress: bool = False) -> ScenarioGrid:
        """Return the joint scenarios as ``underlying``'s grid (scenario ``j`` = date ``j``)."""
        k = self.column(underlying)
        dates = self.stress_dates if stress else self.dates
        spot = (self.stress_spot_moves if stress else self.spot_moves)[:, k]
        vol = (self.stress_vol_moves if stress else self.vol_moves)[:, k]
        n = dates.size
        return ScenarioGrid(spot, vol, np.full(n, ShiftType.RELATIVE, np.int8),
                            np.full(n, self.mpor_days / TRADING_DAYS),
                            np.ones(n), self.stress_labels if stress else self.labels,
                            name=f"{self.name}{' stress' if stress else ''}: {underlying}")

    def describe(self) -> dict[str, Any]:
        """Name, version, source and parameters, for reports and ``--format json``."""
        return {"name": self.name, "version": self.version, "source": self.source,
                "parameters": dict(self.parameters)}


def _moves(log_prices: np.ndarray, h: int) -> np.ndarray:
    return np.exp(log_prices[h:] - log_prices[:-h]) - 1.0


def _ewma_vol(log_prices: np.ndarray, lam: float) -> np.ndarray:
    """EWMA vol of daily log returns known at each date (the first date: the first return)."""
    r = np.diff(log_prices, axis=0)
    var = np.empty_like(log_prices)
    var[0] = r[0] ** 2
    var[1] = r[0] ** 2
    for t in range(1, r.shape[0]):
        var[t + 1] = lam * var[t] + (1 - lam) * r[t] ** 2
    return np.sqrt(var)


def historical(prices: pd.DataFrame, *, vols: pd.DataFrame | None = None,
               factor_of: Mapping[str, str] | None = None, mpor_days: int = 2,
               lookback_days: int = 2520, confidence: float = 0.99,
               measure: Literal["es", "var"] = "es", ewma_lambda: float | None = None,
               stress_period: tuple[object, object] | None = None,
               as_of: object = None) -> HistoricalModel:
    """Build a historical-simulation model from daily closes.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, one column per risk factor (an index, a stock, a coin), DatetimeIndex
        increasing; every value finite and > 0 on the dates used (rows with a missing price in
        any column are refused, not dropped).
    vols : pandas.DataFrame, optional
        Annualised implied vols (e.g. VIX / 100) per column of ``prices`` where known; their
        relative MPOR moves shift the book's vols. Dates must match ``prices`` where given.
    factor_of : mapping of str to str, optional
        Book underlying -> price column (e.g. ``{"SPX": "SP500", "SPY": "SP500"}``).
    mpor_days : int
        Margin period of risk in trading days (overlapping windows).
    lookback_days : int
        Number of scenario start dates (default 10 years of 252 days; SPAN 2 uses at least
        10 years); fewer when the history is shorter than ``lookback_days + mpor_days + 1``.
    confidence : float
        VaR/ES confidence (0.99; Prisma's stress floor is calibrated to a 99% VaR).
    measure : {"es", "var"}
        Expected shortfall (OCC STANS) or VaR.
    ewma_lambda : float, optional
        Filter the lookback scenarios by EWMA vol (e.g. 0.97); unfiltered when None.
    stress_period : (start, end), optional
        Dates of a stress period (e.g. ``("2008-09-01", "2009-03-31")``) whose unfiltered
        MPOR moves floor the requirement.
    as_of : date, optional
        Last date of history used (default: the last row); the lookback ends ``mpor_days``
        before it so every move is realised by then.
    """
    import pandas as pd

    if not isinstance(prices, pd.DataFrame) or not isinstance(prices.index, pd.DatetimeIndex):
        raise InputError("prices must be a pandas DataFrame with a DatetimeIndex")
    if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
        raise InputError("prices must have increasing, unique dates")
    if mpor_days < 1 or lookback_days < 10:
        raise InputError(f"mpor_days must be >= 1 and lookback_days >= 10; got {mpor_days},"
                         f" {lookback_days}")
    if ewma_lambda is not None and not (0.0 < ewma_lambda < 1.0):
        raise InputError(f"ewma_lambda must be in (0, 1); got {ewma_lambda!r}")
    frame = prices if as_of is None else prices.loc[:pd.Timestamp(as_of)]  # type: ignore[arg-type, misc]
    values = price_values(frame)
    n_rows = values.shape[0]
    if n_rows < mpor_days + 12:
        raise InputError(f"the history has {n_rows} dates; need at least {mpor_days + 12}")
    logs = np.log(values)
    columns = tuple(str(c) for c in frame.columns)
    vol_logs = np.full_like(logs, np.nan)
    if vols is not None:
        unknown = [c for c in vols.columns if c not in frame.columns]
        if unknown:
            raise InputError(f"vols has columns with no price history: {unknown}")
        aligned = vols.reindex(frame.index)
        for c in vols.columns:
            v = aligned[c].to_numpy(dtype=float)
            given = np.isfinite(v)
            if np.any(given & ~(v > 0)):
                raise InputError(f"vols for {c!r} must be > 0 where given")
            vol_logs[:, columns.index(str(c))] = np.where(given, np.log(np.where(given, v, 1)),
                                                          np.nan)
    spot_all = _moves(logs, mpor_days)
    vol_all = np.nan_to_num(_moves(vol_logs, mpor_days), nan=0.0)  # no vol history: vol fixed
    starts = np.arange(n_rows - mpor_days)
    lookback = starts[-lookback_days:]
    spot, vol = spot_all[lookback], vol_all[lookback]
    if ewma_lambda is not None:
        sigma = _ewma_vol(logs, ewma_lambda)
        scale = sigma[-1] / sigma[lookback]
        spot = np.exp(np.log1p(spot) * scale) - 1.0
    dates = frame.index.to_numpy()[lookback].astype("datetime64[D]")
    stress_index = np.zeros(0, np.int64)
    if stress_period is not None:
        start, end = (pd.Timestamp(stress_period[0]),  # type: ignore[arg-type]
                      pd.Timestamp(stress_period[1]))  # type: ignore[arg-type]
        index = frame.index[starts]
        stress_index = starts[(index >= start) & (index <= end)]
        if stress_index.size < 10:
            raise InputError(f"stress period {start.date()} .. {end.date()} holds"
                             f" {stress_index.size} scenario dates in the history; need >= 10")
    return HistoricalModel(
        name="historical simulation", version="1",
        source="docs/methodology.md#historical-simulation: CME SPAN 2, Eurex Prisma, OCC STANS;"
               " Hull and White (1998) volatility filtering",
        columns=columns, factor_of=dict(factor_of or {}), dates=dates, spot_moves=spot,
        vol_moves=vol,
        stress_dates=frame.index.to_numpy()[stress_index].astype("datetime64[D]"),
        stress_spot_moves=spot_all[stress_index], stress_vol_moves=vol_all[stress_index],
        mpor_days=int(mpor_days), confidence=float(confidence), measure=measure,
        parameters={"mpor_days": int(mpor_days), "lookback_scenarios": int(lookback.size),
                    "first_date": str(dates[0]), "last_date": str(dates[-1]),
                    "confidence": float(confidence), "measure": measure,
                    "ewma_lambda": ewma_lambda,
                    "stress_period": None if stress_period is None else
                    [str(stress_period[0]), str(stress_period[1])],
                    "stress_scenarios": int(stress_index.size),
                    "vol_columns": [] if vols is None else [str(c) for c in vols.columns]})
