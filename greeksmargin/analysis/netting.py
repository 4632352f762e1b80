"""Backtests of netting assumptions across underlyings: would each cross-margin method hold.

A book on several underlyings (legs re-struck every ``roll_days`` trading days, sized by
notional) is margined on each evaluation day ``t`` by every method side by side, at that day's
market, and its realised loss over the margin period of risk (``mpor_days``; positions held,
full revaluation at day ``t + mpor``: both spots, both vols, the calendar days passed) is
compared with each margin. Methods (all from the same day's market and only past data):

- ``isolated``: each underlying alone (its own scan, summed);
- ``offsets theta``: TIMS product-group offsets between the underlyings, gains credit ``theta``;
- ``correlation``: direction-aware correlation margin with the trailing correlation of daily
  returns (``corr_window`` days);
- ``breakdown``: the correlation worst for the book (base, 50% towards +1 and towards the
  hedges failing, and the correlations of the stress windows already seen);
- ``joint grid``: each underlying moves by its trailing beta x the first underlying's move on
  one grid, plus its own residual move one name at a time, netted at each joint point
  (``crossmargin.factor_grids(own="each")``);
- ``historical``: expected shortfall of the joint MPOR moves of the lookback
  (``methodology.historical``), with the stress-period floor once the period is in the past.

Per method: exceedances, coverage, Kupiec and Christoffersen p-values (``analysis.backtest``),
mean and peak margin, and the capital against isolation — the table a risk committee asks for
before approving an offset. :func:`maintenance_ratio` calibrates a maintenance threshold (MM/IM)
to a target coverage from the same losses, with a distribution-free confidence interval.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import ceil
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ..enums import OptionKind, ShiftType
from ..errors import InputError
from ..io.history import price_values
from ..margin import crossmargin
from ..margin.historical import historical_margin
from ..margin.result import compute_margin
from ..measures.revalue import revalue
from ..methodology import Methodology
from ..methodology.historical import historical
from ..model.book import Book, ResolvedBook
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid
from .backtest import DIVIDEND_YIELD, RATE, christoffersen, ewma_vol, kupiec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CrossLeg", "CrossBook", "CROSS_BOOKS", "NettingResult", "netting_backtest",
           "maintenance_ratio"]


@dataclass(frozen=True, slots=True)
class CrossLeg:
    """One leg of a rolled cross-underlying book.

    ``underlying`` is a price column; ``kind`` "call", "put" or "underlying"; strike as a
    multiple of spot at the roll; tenor in calendar days; ``notional`` signed, in the quote
    currency at the roll (quantity = notional / (spot x multiplier)).
    """

    underlying: str
    kind: str
    moneyness: float
    tenor_days: int
    notional: float
    multiplier: float = 100.0


@dataclass(frozen=True, slots=True)
class CrossBook:
    """Legs on several underlyings, re-struck every ``roll_days`` trading days."""

    name: str
    legs: tuple[CrossLeg, ...]
    roll_days: int = 21


CROSS_BOOKS = {
    "index-pair": CrossBook("long S&P 500 vs short NASDAQ, equal notional", (
        CrossLeg("SP500", "underlying", 1.0, 0, 1_000_000.0, 1.0),
        CrossLeg("NASDAQ", "underlying", 1.0, 0, -1_000_000.0, 1.0))),
    "calls-pair": CrossBook("long S&P 500 calls vs short NASDAQ calls, at the money, 1 month", (
        CrossLeg("SP500", "call", 1.0, 30, 1_000_000.0),
        CrossLeg("NASDAQ", "call", 1.0, 30, -1_000_000.0))),
    "two-strangles": CrossBook("short 5% strangles on both indices, 1 month", (
        CrossLeg("SP500", "put", 0.95, 30, -1_000_000.0),
        CrossLeg("SP500", "call", 1.05, 30, -1_000_000.0),
        CrossLeg("NASDAQ", "put", 0.95, 30, -1_000_000.0),
        CrossLeg("NASDAQ", "call", 1.05, 30, -1_000_000.0))),
}


@dataclass(frozen=True, slots=True)
class NettingResult:
    """Daily margins by method against realised MPOR losses, and the summary table.

    ``frame``: one row per evaluation day (date, loss, one margin column per method);
    ``summary``: one row per method (days, exceedances, coverage, Kupiec p, Christoffersen p,
    mean and peak margin, capital vs isolated).
    """

    frame: pd.DataFrame
    summary: pd.DataFrame
    methods: tuple[str, ...]
    confidence: float
    mpor_days: int
    book: str
    parameters: dict[str, object] = field(default_factory=dict)


def _book(cross: CrossBook, spots: Mapping[str, float], stamp: np.datetime64, roll: int) -> Book:
    ids: list[str] = []
    und: list[str] = []
    kinds: list[int] = []
    strikes: list[float] = []
    expiries: list[np.datetime64] = []
    qty: list[float] = []
    mult: list[float] = []
    for k, leg in enumerate(cross.legs):
        spot = spots[leg.underlying]
        ids.append(f"{leg.underlying}-{leg.kind}{k}-roll{roll}")
        und.append(leg.underlying)
        if leg.kind == "underlying":
            kinds.append(OptionKind.LINEAR)
            strikes.append(np.nan)
            expiries.append(np.datetime64("NaT", "s"))
        elif leg.kind in ("call", "put"):
            kinds.append(OptionKind.CALL if leg.kind == "call" else OptionKind.PUT)
            strikes.append(round(spot * leg.moneyness, 2))
            expiries.append(stamp + np.timedelta64(leg.tenor_days, "D"))
        else:
            raise InputError(f"leg kind must be call, put or underlying; got {leg.kind!r}")
        qty.append(leg.notional / (spot * leg.multiplier))
        mult.append(leg.multiplier)
    return Book(np.array(ids), np.array(und), np.array(kinds, np.int8), np.array(strikes),
                np.array(expiries, "datetime64[s]"), np.array(qty), np.array(mult))


def netting_backtest(prices: pd.DataFrame, cross: CrossBook,
                     scan: Methodology | ScenarioGrid, *,
                     implied_vol: Mapping[str, pd.Series] | None = None,
                     offsets: Sequence[float] = (0.5, 1.0), mpor_days: int = 2,
                     step_days: int = 5, corr_window: int = 252,
                     stress_windows: Mapping[str, tuple[str, str]] | None = None,
                     historical_lookback: int = 2520, min_history: int = 750,
                     confidence: float = 0.99, start: object = None, end: object = None,
                     progress: bool = False) -> NettingResult:
    """Margin ``cross`` every ``step_days`` by every method and compare with realised losses.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, one column per underlying of the book (the first column is the factor of
        the joint grid), DatetimeIndex, no missing values on the dates used.
    cross : CrossBook
        The legs and the roll.
    scan : Methodology or ScenarioGrid
        The scan of each underlying (isolated, offsets, correlation); e.g. OCC TIMS.
    implied_vol : mapping of str to pandas.Series, optional
        Implied vols by date per column (e.g. ``{"SP500": VIX / 100}``) where known, EWMA
        realised vol (lambda 0.94) elsewhere; the historical model moves vols by them too.
    offsets : sequence of float
        Gains-credit percentages of the offset methods.
    mpor_days, step_days : int
        Margin period of risk; days between evaluations (``step_days >= mpor_days`` makes the
        loss windows disjoint, as Christoffersen's test assumes).
    corr_window : int
        Trailing days of the base correlation and betas.
    stress_windows : mapping of str to (start, end), optional
        Stress periods: their correlations join the breakdown set, and the first one floors
        the historical model, once each has ended before the evaluation day.
    historical_lookback, min_history : int
        Scenario dates of the historical model; the first evaluation day needs
        ``min_history`` days of history before it.
    confidence : float
        Target coverage (Kupiec's test; the historical model's confidence).
    """
    import pandas as pd

    if not isinstance(prices, pd.DataFrame) or not isinstance(prices.index, pd.DatetimeIndex):
        raise InputError("prices must be a pandas DataFrame with a DatetimeIndex")
    names = tuple(str(c) for c in prices.columns)
    missing = sorted({leg.underlying for leg in cross.legs} - set(names))
    if missing:
        raise InputError(f"the book trades {missing} but prices has columns {list(names)}")
    values = price_values(prices)
    if step_days < 1 or mpor_days < 1 or corr_window < 20 or min_history < corr_window:
        raise InputError("need step_days >= 1, mpor_days >= 1, corr_window >= 20 and"
                         " min_history >= corr_window")
    logs = np.log(values)
    vol = np.column_stack([ewma_vol(prices[c]).to_numpy() for c in prices.columns])
    for column, series in (implied_vol or {}).items():
        if column not in names:
            raise InputError(f"implied_vol for {column!r}, which is not a price column")
        iv = series.reindex(prices.index).to_numpy(dtype=float)
        k = names.index(column)
        vol[:, k] = np.where(np.isfinite(iv), iv, vol[:, k])
    implied = (pd.DataFrame({c: s.reindex(prices.index) for c, s in implied_vol.items()})
               if implied_vol else None)
    returns = pd.DataFrame(np.diff(logs, axis=0), index=prices.index[1:], columns=list(names))
    dates = prices.index
    first = max(min_history, 1)
    if start is not None:
        first = max(first, int(dates.searchsorted(_date(start, "start"))))
    last = len(dates) - 1 - mpor_days
    if end is not None:
        last = min(last, int(dates.searchsorted(_date(end, "end"), side="right")) - 1)
    if last <= first:
        raise InputError("the window is too short for the history needed and the MPOR")
    stamps = dates.to_numpy().astype("datetime64[s]") + np.timedelta64(16, "h")
    windows = dict(stress_windows or {})
    floor_window = next(iter(windows.items()), None)
    from tqdm import tqdm

    rows = []
    roll_at = -10**9
    book = None
    for t in tqdm(range(first, last + 1, step_days), desc="netting backtest", unit="day",
                  disable=not progress, file=sys.stderr, leave=False):
        spots = dict(zip(names, values[t], strict=True))
        if book is None or t - roll_at >= cross.roll_days or _expiring(book, stamps[t], mpor_days):
            roll_at = t
            book = _book(cross, spots, stamps[t], t)
        n = len(names)
        market = MarketData(stamps[t], names, values[t], np.full(n, RATE),
                            np.full(n, RATE - DIVIDEND_YIELD), vol[t])
        row: dict[str, object] = {"date": dates[t]}
        per = compute_margin(book, market, scan, by="underlying")
        pnl = per.pnl
        assert pnl is not None
        addons = float(((per.initial - per.scan_risk) * per.to_quote).sum())
        row["isolated"] = float(per.initial_quote)
        for theta in offsets:
            result = crossmargin.offset_margin(pnl, {u: "all" for u in pnl.row_labels}, theta)
            row[f"offsets {theta:.0%}"] = result.total + addons
        past = returns.iloc[t - corr_window:t]
        order = list(pnl.row_labels)
        base = past[order].corr().to_numpy()
        row["correlation"] = crossmargin.correlation_margin(pnl, base).total + addons
        seen = {name: returns.loc[w[0]:w[1], order].corr().to_numpy()  # type: ignore[misc]
                for name, w in windows.items() if pd.Timestamp(w[1]) < dates[t]}
        row["breakdown"] = crossmargin.correlation_breakdown(
            pnl, base, stressed=seen, weights=(0.5,)).total + addons
        resolved = book.resolve(market, by="underlying")  # once: joint grid and realised loss
        row["joint grid"] = _joint_grid(resolved, past, order, mpor_days) + addons
        floor = (floor_window[1] if floor_window is not None
                 and pd.Timestamp(floor_window[1][1]) < dates[t] else None)
        model = historical(prices.iloc[:t + 1],
                           vols=None if implied is None else implied.iloc[:t + 1],
                           mpor_days=mpor_days, lookback_days=historical_lookback,
                           confidence=confidence, stress_period=floor)
        row["historical ES"] = float(historical_margin(book, market, model).total)
        later = t + mpor_days
        days = float((stamps[later] - stamps[t]).astype(float)) / 86400.0
        realised = tuple(ScenarioGrid(
            np.array([values[later, k] / values[t, k] - 1.0]),
            np.array([vol[later, k] / vol[t, k] - 1.0]), np.array([ShiftType.RELATIVE], np.int8),
            np.array([days / 365.0]), np.ones(1), ("realised",))
            for k in (names.index(u) for u in resolved.group_labels))
        row["loss"] = -float(revalue(resolved, realised).values.sum())
        rows.append(row)
    frame = pd.DataFrame(rows)
    methods = tuple(c for c in frame.columns if c not in ("date", "loss"))
    summary = _summary(frame, methods, confidence)
    return NettingResult(frame, summary, methods, confidence, mpor_days, cross.name,
                         {"step_days": step_days, "corr_window": corr_window,
                          "offsets": list(offsets), "stress_windows": windows,
                          "historical_lookback": historical_lookback,
                          "scan": scan.name if isinstance(scan, Methodology) else "grid"})


def _date(value: object, name: str) -> pd.Timestamp:
    import pandas as pd

    try:
        return pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a date (YYYY-MM-DD); got {value!r}") from None


def _expiring(book: Book, stamp: np.datetime64, mpor_days: int) -> bool:
    options = ~np.isnat(book.expiry)
    return bool(np.any(book.expiry[options] <= stamp + np.timedelta64(2 * mpor_days + 3, "D")))


def _joint_grid(resolved: ResolvedBook, past: pd.DataFrame, order: list[str],
                mpor_days: int) -> float:
    """Full netting on one grid: each underlying moves by its trailing beta x the factor's move.

    The factor (the first price column) moves -10% .. +10% in 11 points (the broad-index range
    of OCC TIMS); betas are the trailing ones of the same window as the base correlation; at
    every factor move each name also takes its own move, one name at a time (3 x its residual
    daily sd x sqrt(MPOR days), ``factor_grids(own="each")``).
    """
    factor = str(past.columns[0])
    variance = float(past[factor].var())
    betas = {u: float(past[u].cov(past[factor]) / variance) for u in order}
    # each name's own move on top, one at a time: 3 x its residual daily sd x sqrt(MPOR days)
    own = {u: float(3.0 * (past[u] - betas[u] * past[factor]).std() * np.sqrt(mpor_days))
           for u in order}
    grids = crossmargin.factor_grids(tuple(order), np.linspace(-0.1, 0.1, 11), betas,
                                     own_shocks=own, own="each")
    values = revalue(resolved, grids).values.sum(axis=0)
    return max(0.0, -float(values.min()))


def _summary(frame: pd.DataFrame, methods: Sequence[str], confidence: float) -> pd.DataFrame:
    import pandas as pd

    loss = frame["loss"].to_numpy()
    isolated = float(frame["isolated"].mean())
    out = []
    for m in methods:
        margin = frame[m].to_numpy(dtype=float)
        exceed = loss > margin
        n, x = exceed.size, int(exceed.sum())
        out.append({"method": m, "days": n, "exceedances": x, "coverage": 1 - x / n,
                    "kupiec_p": kupiec(n, x, 1 - confidence)[1],
                    "christoffersen_p": christoffersen(exceed)[1],
                    "mean_margin": float(margin.mean()), "peak_margin": float(margin.max()),
                    "capital_vs_isolated": float(margin.mean()) / isolated if isolated else 1.0,
                    "worst_shortfall": float(np.max(loss - margin, initial=0.0))})
    return pd.DataFrame(out)


def maintenance_ratio(initial: np.ndarray, loss: np.ndarray, target: float = 0.99,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Calibrate the maintenance ratio ``k = MM / IM`` that meets ``target`` coverage.

    The realised MPOR losses ``loss_t`` against the initial margins ``IM_t`` of the same days
    give ratios ``u_t = loss_t / IM_t``; the smallest ``k`` with ``u_t <= k`` on a ``target``
    share of days is their empirical ``target`` quantile (order statistic ``ceil(n target)``).
    The confidence interval at ``level`` is distribution-free: the order statistics ``(l, u)``
    with ``P(l <= rank of the true quantile < u) >= level`` under the binomial(n, target)
    law. Returns ``(k, lower, upper)``; ``upper`` is ``inf`` when too few days exist to bound
    it. A ``k`` above 1 says the initial margin itself missed the target.
    """
    im = np.asarray(initial, dtype=float)
    x = np.asarray(loss, dtype=float)
    if im.shape != x.shape or im.ndim != 1 or im.size < 10:
        raise InputError("initial and loss must be 1-D arrays of the same length (>= 10 days)")
    if not (np.all(np.isfinite(im)) and np.all(im > 0) and np.all(np.isfinite(x))):
        raise InputError("initial margins must be finite and > 0, losses finite")
    if not (0 < target < 1 and 0 < level < 1):
        raise InputError(f"target and level must be in (0, 1); got {target!r}, {level!r}")
    u = np.sort(x / im)
    n = u.size
    k = u[ceil(n * target - 1e-12) - 1]
    alpha = (1 - level) / 2
    lo = int(stats.binom.ppf(alpha, n, target))          # rank (1-based) lower bound
    hi = int(stats.binom.ppf(1 - alpha, n, target)) + 1  # rank upper bound
    lower = float(u[max(lo, 1) - 1])
    upper = float(u[hi - 1]) if hi <= n else float("inf")
    return float(k), lower, upper
