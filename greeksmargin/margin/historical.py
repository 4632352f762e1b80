"""Historical-simulation margin: full revaluation of the whole book under joint historical moves.

Every underlying of the book moves by its history column's MPOR move of the same date (one
joint scenario per date, :class:`~greeksmargin.methodology.historical.HistoricalModel`); the
book's P&L per date is summed across underlyings in the quote currency (a coin-settled group's
P&L converts at the coin's spot *in that scenario*, so a BTC crash also shrinks BTC-settled
gains); the requirement is the VaR or expected shortfall of that joint P&L, floored by the same
measure over the stress-period scenarios. Add-ons are reported separately: a liquidity add-on
(half the bid-ask spread on every position's value, closed out) when ``half_spread`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING

import numpy as np

from ..enums import OptionKind
from ..errors import InputError
from ..measures.revalue import PnLMatrix, group_currency, position_values_in_quote, revalue
from ..methodology.historical import HistoricalModel
from ..model.amount import Amount
from ..model.book import Book, ResolvedBook
from ..model.market import MarketData

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HistoricalResult", "historical_margin", "tail_measures"]


def tail_measures(losses: np.ndarray, confidence: float) -> tuple[float, float, np.ndarray]:
    """VaR, ES and the tail's indices of ``losses`` (> 0 = loss) at ``confidence``.

    ``k = ceil(n (1 - confidence))``; VaR is the ``k``-th largest loss, ES the mean of the ``k``
    largest (ties broken by position); the tail is returned worst first.
    """
    x = np.asarray(losses, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise InputError("losses must be a non-empty 1-D array of finite values")
    if not (0.0 < confidence < 1.0):
        raise InputError(f"confidence must be in (0, 1); got {confidence!r}")
    k = max(1, ceil(x.size * (1.0 - confidence) - 1e-9))
    order = np.argsort(-x, kind="stable")[:k]
    return float(x[order[-1]]), float(x[order].mean()), order


@dataclass(frozen=True, slots=True)
class HistoricalResult:
    """Historical-simulation margin and its parts, in the market's quote currency.

    Attributes
    ----------
    total : Amount
        ``max(market_risk, stress) + sum(addons)`` (>= 0).
    market_risk : Amount
        VaR or ES of the lookback scenarios' joint loss (>= 0).
    stress : Amount
        The same measure over the stress-period scenarios (0 without a stress period).
    addons : dict of str to Amount
        Add-ons, each reported separately.
    var, es : float
        Both measures on the lookback scenarios (quote currency, may be < 0 for a book that
        gains in every tail scenario; ``market_risk`` is floored at 0).
    tail : tuple of str
        Dates of the tail scenarios, worst first.
    scenario_pnl : pandas.Series
        Joint P&L per lookback date (quote currency).
    pnl : PnLMatrix
        Per underlying P&L on the lookback scenarios (settlement currency), the evidence.
    model : dict
        ``HistoricalModel.describe()``.
    """

    total: Amount
    market_risk: Amount
    stress: Amount
    addons: dict[str, Amount]
    var: float
    es: float
    tail: tuple[str, ...]
    scenario_pnl: pd.Series
    pnl: PnLMatrix
    model: dict[str, object]

    @property
    def stress_binding(self) -> bool:
        """Whether the stress-period floor sets the requirement."""
        return self.stress > self.market_risk


def _joint_pnl(resolved: ResolvedBook, model: HistoricalModel, stress: bool
               ) -> tuple[np.ndarray, PnLMatrix]:
    market = resolved.market
    grids = tuple(model.grid(u, stress) for u in resolved.group_labels)
    pnl = revalue(resolved, grids)
    currency = group_currency(resolved)
    rates = np.ones_like(pnl.values)
    for g, code in enumerate(currency):
        if code != market.quote_currency:
            coin = market.index_of(code)
            move = model.grid(market.underlyings[coin], stress).spot_shift
            rates[g] = market.spot[coin] * (1.0 + move)
    if not np.all(np.isfinite(pnl.values)):
        raise InputError("scenario P&L is not finite; margin the book with compute_margin first"
                         " to name the positions")
    return (pnl.values * rates).sum(axis=0), pnl


def historical_margin(book: Book, market: MarketData, model: HistoricalModel, *,
                      half_spread: float | Mapping[str, float] | None = None
                      ) -> HistoricalResult:
    """Margin ``book`` by historical simulation (see the module docstring).

    Parameters
    ----------
    book, market : Book, MarketData
        The positions and today's market (the scenarios move it).
    model : HistoricalModel
        Scenarios and parameters (:func:`greeksmargin.methodology.historical.historical`).
    half_spread : float or mapping of str to float, optional
        Relative half bid-ask spread, one for all or per underlying: the liquidity add-on is
        ``sum |quantity x multiplier x value|  x half_spread`` over positions (value = the
        option's price, or spot for linear positions), in the quote currency.
    """
    import pandas as pd

    resolved = book.resolve(market, by="underlying")  # once: scenarios, stress floor, add-ons
    base_pnl, pnl = _joint_pnl(resolved, model, stress=False)
    var, es, tail = tail_measures(-base_pnl, model.confidence)
    measure = es if model.measure == "es" else var
    stress_value = 0.0
    if model.stress_dates.size:
        stress_pnl, _ = _joint_pnl(resolved, model, stress=True)
        s_var, s_es, _ = tail_measures(-stress_pnl, model.confidence)
        stress_value = max(0.0, s_es if model.measure == "es" else s_var)
    quote = market.quote_currency
    addons: dict[str, Amount] = {}
    if half_spread is not None:
        addons["liquidity"] = Amount(_liquidity(resolved, half_spread), quote)
    market_risk = max(0.0, measure)
    total = max(market_risk, stress_value) + sum(float(a) for a in addons.values())
    labels = model.labels
    return HistoricalResult(Amount(total, quote), Amount(market_risk, quote),
                            Amount(stress_value, quote), addons, var, es,
                            tuple(labels[j] for j in tail),
                            pd.Series(base_pnl, index=pd.Index(model.dates, name="date"),
                                      name="pnl"),
                            pnl, model.describe())


def _liquidity(resolved: ResolvedBook, half_spread: float | Mapping[str, float]) -> float:
    market = resolved.market
    notional = np.abs(resolved.quantity * resolved.multiplier)
    spot = market.spot[resolved.underlying_index]
    linear = resolved.kind == OptionKind.LINEAR
    # options: their value now; linear: the notional, spot x size (an inverse contract's size
    # is in coin, docs/conventions.md)
    value = np.where(linear, notional * spot, np.abs(position_values_in_quote(resolved)))
    names = np.array(market.underlyings)[resolved.underlying_index]
    if isinstance(half_spread, Mapping):
        missing = sorted(set(names.tolist()) - set(half_spread))
        if missing:
            raise InputError(f"half_spread has no value for underlyings {missing}")
        spread = np.array([half_spread[u] for u in names.tolist()], dtype=float)
    else:
        spread = np.full(names.size, float(half_spread))
    if not np.all(np.isfinite(spread) & (spread >= 0)):
        raise InputError(f"half_spread must be >= 0 and finite; got {half_spread!r}")
    return float((value * spread).sum())
