"""Margin backtests against history.

Would the margin have covered the losses?

Each day ``t`` of a price history the book (legs re-struck at every roll, strikes as a multiple
of spot, expiries a tenor ahead) is margined with the chosen method at that day's market, then
its realised P&L over the margin period of risk (``mpor_days`` trading days, positions held fixed)
is computed by full revaluation at the market of day ``t + mpor`` (one realised scenario: the
spot move, the vol move, the calendar days that passed). A loss above the margin is an
exceedance. Reported: coverage, exceedance dates and sizes, Kupiec's proportion-of-failures test,
Christoffersen's independence test (``scipy.stats.chi2``), and procyclicality (the largest
margin increase over ``n`` days).

Vols: implied where given (e.g. VIX / 100 for an S&P 500 book), else EWMA realised vol of the
history (RiskMetrics lambda 0.94, annualised with 252 days); every day records which.
Market conventions of the backtest (documented defaults): rate 2%, dividend yield 1.8%.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ..enums import OptionKind, ShiftType
from ..errors import InputError
from ..io.history import price_values
from ..margin.result import compute_margin
from ..measures.revalue import revalue
from ..methodology import Methodology
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Leg", "Strategy", "STRATEGIES", "BacktestResult", "backtest", "kupiec",
           "christoffersen", "procyclicality", "ewma_vol", "dynamic_range_grid", "static_grid"]

TRADING_DAYS = 252.0
RATE = 0.02
DIVIDEND_YIELD = 0.018


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a rolled strategy.

    One leg of a rolled strategy: kind ("call", "put", "underlying"), strike as a multiple of
    spot at the roll, tenor in calendar days, signed quantity, multiplier.
    """

    kind: str
    moneyness: float
    tenor_days: int
    quantity: float
    multiplier: float = 100.0


@dataclass(frozen=True, slots=True)
class Strategy:
    """Legs re-struck every ``roll_days`` trading days."""

    name: str
    legs: tuple[Leg, ...]
    roll_days: int = 21


STRATEGIES = {
    "long-index": Strategy("long index", (Leg("underlying", 1.0, 0, 100.0, 1.0),)),
    "short-put": Strategy("short index puts, 5% out of the money, 1 month",
                          (Leg("put", 0.95, 30, -1.0),)),
    "short-strangle": Strategy("short strangle, 5% wings, 1 month",
                               (Leg("put", 0.95, 30, -1.0), Leg("call", 1.05, 30, -1.0))),
}


def ewma_vol(prices: pd.Series, lam: float = 0.94) -> pd.Series:
    """Compute the EWMA realised vol known at each close.

    EWMA realised vol (annualised) known at the close of each day, from log returns up to
    that day; NaN for the first day.
    """
    r = np.log(prices).diff()
    var = np.full(len(r), np.nan)
    acc = float(r.iloc[1:21].var()) if len(r) > 21 else float(r.iloc[1:].var())
    for i in range(1, len(r)):
        acc = lam * acc + (1 - lam) * float(r.iloc[i]) ** 2
        var[i] = acc
    import pandas as pd

    return pd.Series(np.sqrt(var * TRADING_DAYS), index=prices.index)


def static_grid(spot_range: float, points: int = 11, vol_shift: Sequence[float] = (0.0,)
                ) -> Callable[[int], ScenarioGrid]:
    """Return the same +-``spot_range`` grid every day."""
    grid = ScenarioGrid.product(np.linspace(-spot_range, spot_range, points), vol_shift,
                                vol_shift_type=ShiftType.RELATIVE, name=f"static +-{spot_range:.0%}")
    return lambda _t: grid


def dynamic_range_grid(vol: pd.Series, *, k: float = 3.0, mpor_days: int = 2,
                       floor: float = 0.0, buffer: float = 0.0, stress_lookback: int = 0,
                       points: int = 11) -> Callable[[int], ScenarioGrid]:
    """Build a scan range that follows the market.

    A scan range that follows the market: ``R_t = max(floor, k vol_t sqrt(mpor/252))``, with
    anti-procyclicality tools: a ``buffer`` (the range is ``(1 + buffer) R``, and the buffer is
    released, not added, on days the raw range rose above its 1-year median), a ``floor``, and a
    ``stress_lookback`` (the range is at least the largest raw range of the last N days).
    """
    raw = k * vol.to_numpy() * np.sqrt(mpor_days / TRADING_DAYS)
    known = np.isfinite(raw)  # the first day of an EWMA series has no vol yet

    def trailing(fn: Callable[[np.ndarray], float], width: int) -> np.ndarray:
        out = np.full(raw.size, np.nan)
        for t in range(raw.size):
            window = raw[max(0, t - width):t + 1]
            window = window[np.isfinite(window)]
            if window.size:
                out[t] = fn(window)
        return out

    median = trailing(np.median, 252)
    ranges = np.where(known, np.maximum(raw, floor), np.nan)
    if stress_lookback:
        ranges = np.maximum(ranges, trailing(np.max, stress_lookback))
    ranges = np.where(raw > median, ranges, ranges * (1 + buffer))
    if np.any(~np.isfinite(ranges[1:])) or np.any(ranges[1:] >= 1):
        raise InputError("dynamic scan range is not finite or reaches 100%; check k and the vols")

    def grid(t: int) -> ScenarioGrid:
        r = float(ranges[t])
        return ScenarioGrid.product(np.linspace(-r, r, points), name=f"dynamic +-{r:.2%}")

    return grid


def kupiec(n: int, exceedances: int, p: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its chi-square(1) p-value."""
    if not (0 < p < 1) or n <= 0 or not (0 <= exceedances <= n):
        raise InputError(f"kupiec needs n > 0, 0 <= exceedances <= n, 0 < p < 1; got {n},"
                         f" {exceedances}, {p}")
    x = exceedances
    phat = x / n
    log_null = (n - x) * np.log1p(-p) + x * np.log(p)
    log_alt = ((n - x) * np.log1p(-phat) if x < n else 0.0) + (x * np.log(phat) if x > 0 else 0.0)
    lr = float(-2.0 * (log_null - log_alt))
    return lr, float(stats.chi2.sf(lr, 1))


def christoffersen(exceed: Sequence[bool] | np.ndarray) -> tuple[float, float]:
    """Christoffersen's independence likelihood ratio (first-order Markov) and its p-value."""
    e = np.asarray(exceed, dtype=bool)
    if e.size < 2:
        raise InputError("christoffersen needs at least two observations")
    prev, cur = e[:-1], e[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))

    def ll(count0: int, count1: int, q: float) -> float:
        out = 0.0
        if count0:
            out += count0 * np.log1p(-q) if q < 1 else -np.inf
        if count1:
            out += count1 * np.log(q) if q > 0 else -np.inf
        return out

    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    lr = max(0.0, float(-2.0 * (ll(n00 + n10, n01 + n11, pi) - ll(n00, n01, pi0)
                                - ll(n10, n11, pi1))))
    return lr, float(stats.chi2.sf(lr, 1))


def procyclicality(margin: np.ndarray, window: int, absolute: bool = False) -> float:
    """Measure the largest margin increase over a window.

    Largest margin increase over ``window`` days: relative ``max_t M_t / min(M_{t-w..t}) - 1``
    or, with ``absolute``, ``max_t M_t - min(M_{t-w..t})`` (the relative figure explodes for
    books whose margin passes near zero, such as far out-of-the-money short options).
    """
    m = np.asarray(margin, dtype=float)
    best = 0.0
    for t in range(m.size):
        low = np.min(m[max(0, t - window):t + 1])
        if absolute:
            best = max(best, m[t] - low)
        elif low > 0:
            best = max(best, m[t] / low - 1.0)
    return float(best)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Daily margin against realised MPOR loss, and the test statistics."""

    frame: pd.DataFrame  # date, spot, vol, vol_source, margin, pnl, exceed
    coverage: float
    n: int
    exceedances: int
    kupiec: tuple[float, float]
    christoffersen: tuple[float, float]
    procyclicality: float
    procyclicality_abs: float
    confidence: float
    mpor_days: int
    method: str

    def summary(self) -> dict[str, object]:
        """Return the headline numbers."""
        return {"method": self.method, "days": self.n, "exceedances": self.exceedances,
                "coverage": self.coverage, "expected_coverage": self.confidence,
                "kupiec_lr": self.kupiec[0], "kupiec_p": self.kupiec[1],
                "christoffersen_lr": self.christoffersen[0], "christoffersen_p": self.christoffersen[1],
                "max_margin_increase": self.procyclicality,
                "max_margin_increase_abs": self.procyclicality_abs}


def _book(strategy: Strategy, spot: float, date: np.datetime64, roll: int) -> Book:
    ids: list[str] = []
    kinds: list[int] = []
    strikes: list[float] = []
    expiries: list[np.datetime64] = []
    qty: list[float] = []
    mult: list[float] = []
    for k, leg in enumerate(strategy.legs):
        ids.append(f"{leg.kind}{k}-roll{roll}")
        if leg.kind == "underlying":
            kinds.append(OptionKind.LINEAR)
            strikes.append(np.nan)
            expiries.append(np.datetime64("NaT", "s"))
        else:
            kinds.append(OptionKind.CALL if leg.kind == "call" else OptionKind.PUT)
            strikes.append(round(spot * leg.moneyness, 2))
            expiries.append(date + np.timedelta64(leg.tenor_days, "D"))
        qty.append(leg.quantity)
        mult.append(leg.multiplier)
    return Book(np.array(ids), np.array(["IDX"] * len(ids)), np.array(kinds, np.int8),
                np.array(strikes), np.array(expiries, "datetime64[s]"), np.array(qty),
                np.array(mult))


def backtest(prices: pd.Series, strategy: Strategy, method: Methodology | Callable[[int], object],
             *, implied_vol: pd.Series | None = None, mpor_days: int = 2,
             confidence: float = 0.99, procyclicality_window: int = 20,
             start: object = None, end: object = None, label: str = "",
             progress: bool = False) -> BacktestResult:
    """Roll ``strategy`` over ``prices`` and compare each day's margin with the realised loss.

    Parameters
    ----------
    prices : pandas.Series
        Daily closes (DatetimeIndex, increasing), > 0.
    strategy : Strategy
        The legs and the roll.
    method : Methodology or callable
        A preset, or ``i -> ScenarioGrid or Methodology`` called with the position ``i`` of the
        day in ``prices`` (dynamic margin, e.g. :func:`dynamic_range_grid` of the same series).
    implied_vol : pandas.Series, optional
        Annualised decimal implied vols by date; realised EWMA vol where absent.
    mpor_days : int
        Margin period of risk in trading days.
    confidence : float
        The coverage the margin targets (for Kupiec's test).
    progress : bool, default False
        Show a progress bar on stderr (the CLI turns it on for terminals).
    """
    import pandas as pd

    if not isinstance(prices, pd.Series) or not isinstance(prices.index, pd.DatetimeIndex):
        raise InputError("prices must be a pandas Series with a DatetimeIndex")
    if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
        raise InputError("prices must have increasing, unique dates")
    values = price_values(prices)
    if mpor_days < 1:
        raise InputError(f"mpor_days must be >= 1; got {mpor_days}")
    realised = ewma_vol(prices)
    vol = realised.copy()
    source = np.array(["ewma"] * len(prices), dtype=object)
    if implied_vol is not None:
        iv = implied_vol.reindex(prices.index)
        have = iv.notna().to_numpy()
        vol[have] = iv[have]
        source[have] = "implied"
    import pandas as pd

    bounds = []
    for name, value in (("start", start), ("end", end)):
        try:
            bounds.append(None if value is None else pd.Timestamp(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a date (YYYY-MM-DD); got {value!r}") from None
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise InputError(f"start {bounds[0].date()} is after end {bounds[1].date()}")
    window = prices.loc[bounds[0]:bounds[1]] if (start is not None or end is not None) else prices
    if len(window) == 0:
        raise InputError(f"no prices between {start or 'the first date'} and {end or 'the last'};"
                         f" the history covers {prices.index[0].date()} to"
                         f" {prices.index[-1].date()}")
    first = max(int(prices.index.get_indexer(window.index[:1])[0]), 21)
    last = int(prices.index.get_indexer(window.index[-1:])[0]) - mpor_days
    if last <= first:
        raise InputError("the window is too short for the margin period of risk")
    dates = prices.index.to_numpy().astype("datetime64[s]")
    rows = []
    roll_at = first
    book = _book(strategy, values[first], dates[first] + np.timedelta64(16, "h"), 0)
    from tqdm import tqdm

    for t in tqdm(range(first, last + 1), desc="backtest", unit="day", disable=not progress,
                  file=sys.stderr, leave=False):
        stamp = dates[t] + np.timedelta64(16, "h")  # the close
        options = ~np.isnat(book.expiry)
        # roll on schedule, or before an option could expire inside the margin period of risk
        expiring = bool(np.any(book.expiry[options]
                               <= stamp + np.timedelta64(2 * mpor_days + 3, "D")))
        if t - roll_at >= strategy.roll_days or expiring:
            roll_at = t
            book = _book(strategy, values[t], stamp, t)
        market = MarketData(stamp, ("IDX",), np.array([values[t]]), np.array([RATE]),
                            np.array([RATE - DIVIDEND_YIELD]), np.array([float(vol.iloc[t])]))
        chosen = method(t) if callable(method) and not isinstance(method, Methodology) else method
        margin = compute_margin(book, market, chosen).total  # type: ignore[arg-type]
        later = t + mpor_days
        days = float((dates[later] - dates[t]).astype("timedelta64[s]").astype(float)) / 86400
        move = ScenarioGrid(np.array([values[later] / values[t] - 1.0]),
                            np.array([float(vol.iloc[later]) / float(vol.iloc[t]) - 1.0]),
                            np.array([ShiftType.RELATIVE], np.int8), np.array([days / 365.0]),
                            np.ones(1), ("realised",))
        pnl = float(revalue(book.resolve(market), move).values.sum())
        rows.append((prices.index[t], values[t], float(vol.iloc[t]), source[t], margin, pnl))
    frame = pd.DataFrame(rows, columns=["date", "spot", "vol", "vol_source", "margin", "pnl"])
    frame["loss"] = -frame["pnl"]
    frame["exceed"] = frame["loss"] > frame["margin"]
    n = len(frame)
    x = int(frame["exceed"].sum())
    name = label or (method.name if isinstance(method, Methodology) else "custom")
    return BacktestResult(frame, 1 - x / n, n, x, kupiec(n, x, 1 - confidence),
                          christoffersen(frame["exceed"].to_numpy()),
                          procyclicality(frame["margin"].to_numpy(), procyclicality_window),
                          procyclicality(frame["margin"].to_numpy(), procyclicality_window, True),
                          confidence, mpor_days, name)
