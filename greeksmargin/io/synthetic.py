"""Realistic synthetic books for many accounts, to measure scale-out without private data.

:func:`generate_accounts` draws, per account, a number of strategies (Poisson, mean
``strategies_per_account``), each a known multi-leg shape on an underlying drawn from
``underlyings`` with the given weights, strikes a few percent from spot on the underlying's strike
grid, expiries from a list of tenors, and sizes from a lognormal. It returns a positions table
(``account`` plus book columns) and the matching market table, both seeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Universe", "DEFAULT_UNIVERSE", "STRATEGY_SHAPES", "generate_accounts"]

# strategy -> legs (kind, strike offset in strike steps, quantity sign x units)
STRATEGY_SHAPES: dict[str, tuple[tuple[str, int, int], ...]] = {
    "long stock": (("stock", 0, 100),),
    "covered call": (("stock", 0, 100), ("call", 2, -1)),
    "short put": (("put", -2, -1),),
    "vertical": (("call", 0, 1), ("call", 2, -1)),
    "straddle": (("call", 0, -1), ("put", 0, -1)),
    "strangle": (("call", 2, -1), ("put", -2, -1)),
    "iron condor": (("put", -4, 1), ("put", -2, -1), ("call", 2, -1), ("call", 4, 1)),
    "collar": (("stock", 0, 100), ("put", -2, 1), ("call", 2, -1)),
    "long call": (("call", 1, 1),),
}


@dataclass(frozen=True, slots=True)
class Universe:
    """Underlyings (spot, vol, dividend yield, strike step, weight) and the draw parameters."""

    spot: Mapping[str, float] = field(default_factory=lambda: {
        "SPY": 590.0, "QQQ": 520.0, "AAPL": 200.0, "MSFT": 450.0, "NVDA": 130.0, "IWM": 210.0})
    vol: Mapping[str, float] = field(default_factory=lambda: {
        "SPY": 0.15, "QQQ": 0.19, "AAPL": 0.27, "MSFT": 0.24, "NVDA": 0.5, "IWM": 0.22})
    weight: Mapping[str, float] = field(default_factory=lambda: {
        "SPY": 0.3, "QQQ": 0.2, "AAPL": 0.15, "MSFT": 0.1, "NVDA": 0.15, "IWM": 0.1})
    strike_step_pct: float = 0.025
    tenors_days: tuple[int, ...] = (7, 30, 60, 90, 180)
    strategy_weight: Mapping[str, float] = field(default_factory=lambda: {
        "long stock": 0.1, "covered call": 0.15, "short put": 0.15, "vertical": 0.15,
        "straddle": 0.05, "strangle": 0.1, "iron condor": 0.15, "collar": 0.05,
        "long call": 0.1})
    strategies_per_account: float = 3.0
    size_median: float = 2.0
    size_sigma: float = 0.8
    rate: float = 0.04
    dividend_yield: float = 0.01


DEFAULT_UNIVERSE = Universe()


def generate_accounts(n_accounts: int, *, universe: Universe = DEFAULT_UNIVERSE,
                      valuation: str = "2025-06-02T15:00:00", seed: int = 0
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(positions, market)`` tables for ``n_accounts`` synthetic accounts (seeded).

    Every account holds at least one strategy; quantities are whole contracts (or shares).
    """
    import pandas as pd

    if n_accounts < 1:
        raise InputError(f"n_accounts must be >= 1; got {n_accounts}")
    names = list(universe.spot)
    for mapping, label in ((universe.vol, "vol"), (universe.weight, "weight")):
        missing = [u for u in names if u not in mapping]
        if missing:
            raise InputError(f"universe {label} lacks {missing}")
    shapes = [s for s in universe.strategy_weight if s in STRATEGY_SHAPES]
    unknown = [s for s in universe.strategy_weight if s not in STRATEGY_SHAPES]
    if unknown:
        raise InputError(f"unknown strategies {unknown}; known: {sorted(STRATEGY_SHAPES)}")
    rng = np.random.default_rng(seed)
    w_u = np.array([universe.weight[u] for u in names], float)
    w_s = np.array([universe.strategy_weight[s] for s in shapes], float)
    counts = np.maximum(1, rng.poisson(universe.strategies_per_account, n_accounts))
    n_strat = int(counts.sum())
    account = np.repeat(np.arange(n_accounts), counts)
    und = rng.choice(len(names), n_strat, p=w_u / w_u.sum())
    strat = rng.choice(len(shapes), n_strat, p=w_s / w_s.sum())
    tenor = rng.choice(universe.tenors_days, n_strat)
    size = np.maximum(1, np.round(rng.lognormal(np.log(universe.size_median), universe.size_sigma,
                                                 n_strat)))
    stamp = pd.Timestamp(valuation)
    rows: dict[str, list[object]] = {k: [] for k in ("account", "position_id", "underlying", "kind",
                                                     "strike", "expiry", "quantity", "multiplier")}
    for k in range(n_strat):
        u = names[und[k]]
        spot = universe.spot[u]
        step = max(round(spot * universe.strike_step_pct), 1)
        atm = round(spot / step) * step
        expiry = (stamp.normalize() + pd.Timedelta(days=int(tenor[k]))).replace(hour=20)
        for j, (kind, offset, units) in enumerate(STRATEGY_SHAPES[shapes[strat[k]]]):
            rows["account"].append(f"acct{account[k]:07d}")
            rows["position_id"].append(f"s{k}l{j}")
            rows["underlying"].append(u)
            rows["kind"].append(kind)
            rows["strike"].append(np.nan if kind == "stock" else float(atm + offset * step))
            rows["expiry"].append(pd.NaT if kind == "stock" else expiry)
            rows["quantity"].append(float(units * size[k]))
            rows["multiplier"].append(1.0 if kind == "stock" else 100.0)
    positions = pd.DataFrame(rows)
    market = pd.DataFrame({
        "underlying": names, "spot": [universe.spot[u] for u in names],
        "rate": universe.rate, "dividend_yield": universe.dividend_yield,
        "vol": [universe.vol[u] for u in names], "valuation": valuation})
    return positions, market
