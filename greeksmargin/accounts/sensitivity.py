"""How an account's margin moves: attribution to positions, margin Greeks, distance to liquidation.

- :func:`attribution`: each position's share of the initial margin (Euler allocation at each
  group's worst scenario: the position's weighted loss there; each add-on shared out by what it
  counts), summing to the total;
- :func:`margin_greeks`: dIM/dS and dIM/dsigma per underlying, by central differences on the
  compiled tick path (what frees margin for a hedging tool);
- :func:`distance_to_liquidation`: the smallest move of each underlying's spot, of all spots
  together, and of all flat vols together, that takes the equity to the maintenance margin
  (root found with ``scipy.optimize.brentq`` on the tick path; applying it lands the account on
  its maintenance margin, tested against a full evaluation).

All amounts in the account currency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize

from ..enums import OptionKind
from ..errors import InputError
from ..kernels import _margin
from ..margin.rules import GroupFacts
from .account import AccountState, MarginTicker, refuse_spreads

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["attribution", "MarginGreeks", "margin_greeks", "Distance", "distance_to_liquidation"]


def attribution(state: AccountState) -> pd.Series:
    """Each position's contribution to the initial margin (account currency), by position id.

    Within a group, the scan risk is the weighted loss at the worst scenario ``j*``: position
    ``i`` contributes ``-w_j* P_ij*`` (a hedge contributes a negative amount); the per-contract
    minimum, the short-option minimum, the roll shock and the liquidity add-on are shared out in
    proportion to what each counts (option contracts, the binding side.s short options, linear notional,
    underlying units). The group's parts
    convert at its rate to the account currency and scale to the initial margin (house factor
    and maintenance factor included), so the contributions sum to ``state.initial``.
    """
    import pandas as pd

    refuse_spreads(state, "attribution")
    pnl = state.pnl
    assert pnl.position_values is not None and pnl.position_group is not None
    book = state.account.book
    group = pnl.position_group
    parts = state.rules_arrays.reduce(pnl.values, state.facts)
    worst = parts[_margin.WORST].astype(np.int64)
    weight = state.rules_arrays.weight_by_group()
    n = book.n_positions
    share = np.zeros(n)
    scan = parts[_margin.SCAN]
    at_worst = pnl.position_values[np.arange(n), worst[group]]
    with np.errstate(invalid="ignore", divide="ignore"):
        # the scan: -w P_i at the group's worst scenario (a dampened scenario's credit is shared
        # in proportion, so the parts still sum to the group's scan)
        raw = -weight[group, worst[group]] * at_worst
        raw_total = np.zeros(pnl.values.shape[0])
        np.add.at(raw_total, group, raw)
        share += np.where(scan[group] > 0, raw * scan[group] / np.where(raw_total[group] != 0,
                                                                        raw_total[group], 1.0),
                          0.0)
    one = [state.facts.position(int(group[i]), int(book.kind[i]), float(book.quantity[i]),
                                float(book.multiplier[i])) for i in range(n)]
    def size(facts: GroupFacts) -> np.ndarray:
        return np.asarray(facts.option_contracts + facts.linear_notional)

    for part, count in ((_margin.CONTRACT_MINIMUM, "option_contracts"),
                        (_margin.SHORT_OPTION_MINIMUM, "short_option_quantity"),
                        (_margin.ROLL_SHOCK, "linear_notional"),
                        (_margin.LIQUIDITY, "size")):
        if count == "size":  # the liquidity add-on: shared by underlying units
            mine = np.array([size(one[i])[group[i]] for i in range(n)])
            total = size(state.facts)[group]
        elif count == "short_option_quantity":  # SOM: by the binding side's short options
            c = state.facts.counts
            calls = (c.short_call_quantity >= c.short_put_quantity)[group]
            mine = np.array([(one[i].counts.short_call_quantity if calls[i] else
                              one[i].counts.short_put_quantity)[group[i]] for i in range(n)])
            total = np.where(calls, c.short_call_quantity[group], c.short_put_quantity[group])
        else:
            mine = np.array([getattr(one[i], count)[group[i]] for i in range(n)])
            total = getattr(state.facts, count)[group]
        share += np.where(total > 0, parts[part][group] * mine / np.where(total > 0, total, 1.0),
                          0.0)
    quote = share * state.facts.to_quote[group]
    requirement = float((parts[_margin.REQUIREMENT] * state.facts.to_quote).sum())
    scale = float(state.initial) / requirement if requirement > 0 else 0.0
    return pd.Series(quote * scale, index=pd.Index(book.position_id, name="position_id"),
                     name="initial_margin")


@dataclass(frozen=True, slots=True)
class MarginGreeks:
    """dIM/dS (per unit of spot) and dIM/dsigma (per 1.00 of vol) per underlying."""

    underlyings: tuple[str, ...]
    delta: np.ndarray
    vega: np.ndarray


def margin_greeks(state: AccountState, bump: float = 1e-4) -> MarginGreeks:
    """Central differences of the initial margin in each underlying's spot and flat vol.

    Spot bumps are relative (``bump`` x spot), vol bumps absolute (``bump`` x 1.00); the
    margin is piecewise smooth, so a derivative at a kink is the average of its two sides.
    """
    if not (0 < bump < 0.1):
        raise InputError(f"bump must be in (0, 0.1); got {bump!r}")
    ticker = state.ticker()
    market = state.market
    spot = np.asarray(market.spot, dtype=float)
    vol = np.asarray(market.vol, dtype=float) if market.vol is not None else None
    delta = np.empty(spot.size)
    vega = np.zeros(spot.size)
    for u in range(spot.size):
        up, down = spot.copy(), spot.copy()
        h = bump * spot[u]
        up[u] += h
        down[u] -= h
        delta[u] = (float(ticker.tick(up).initial) - float(ticker.tick(down).initial)) / (2 * h)
        if vol is not None and np.isfinite(vol[u]):
            vu, vd = vol.copy(), vol.copy()
            vu[u] += bump
            vd[u] = max(vd[u] - bump, 1e-6)
            vega[u] = ((float(ticker.tick(spot, vu).initial) - float(ticker.tick(spot, vd).initial))
                       / (vu[u] - vd[u]))
    return MarginGreeks(tuple(market.underlyings), delta, vega)


@dataclass(frozen=True, slots=True)
class Distance:
    """The smallest moves that take equity to the maintenance margin.

    ``down`` / ``up``: relative spot moves (``-0.12``: a 12% fall) of each underlying alone, by
    name, and of all together (``"joint"``, each by its beta); NaN when no move within the
    searched range reaches it. ``vol_up``: the relative rise of every flat vol together (NaN
    when none within range). 0 when the account is already below its maintenance margin.
    """

    down: dict[str, float]
    up: dict[str, float]
    vol_up: float
    equity: float
    maintenance: float


def _first_root(f: Callable[[float], float], limit: float, points: int = 64) -> float:
    """Find the smallest |x| in (0, limit] (limit may be < 0) where f crosses 0 from above."""
    grid = limit * (np.arange(1, points + 1) / points) ** 2  # finer near 0
    previous_x, previous = 0.0, f(0.0)
    if previous <= 0:
        return 0.0
    for x in grid:
        value = f(float(x))
        if value <= 0:
            return float(optimize.brentq(f, previous_x, float(x), xtol=1e-12, rtol=1e-12))
        previous_x, previous = float(x), value
    return float("nan")


def distance_to_liquidation(state: AccountState | MarginTicker, *, max_fall: float = 0.95,
                            max_rise: float = 5.0, max_vol_rise: float = 5.0,
                            betas: Mapping[str, float] | None = None) -> Distance:
    """Find the smallest spot (and vol) moves that take the account to its maintenance margin.

    Searches relative moves down to ``-max_fall`` and up to ``+max_rise`` for each underlying
    alone and for all together (``betas`` scale the joint move per underlying, 1 unless
    given), and a joint relative vol rise up to ``max_vol_rise``, on the tick path (linear
    instruments' P&L included). Pass a ticker to refresh the distance on every tick cheaply.
    """
    ticker = state if isinstance(state, MarginTicker) else state.ticker()
    market = ticker.state.market
    spot = np.asarray(market.spot, dtype=float)
    names = tuple(market.underlyings)
    if not (0 < max_fall < 1 and max_rise > 0 and max_vol_rise > 0):
        raise InputError("need 0 < max_fall < 1, max_rise > 0 and max_vol_rise > 0")
    beta = np.array([float((betas or {}).get(u, 1.0)) for u in names])

    def excess(moves: np.ndarray, vol: np.ndarray | None = None) -> float:
        tick = ticker.tick(spot * (1.0 + moves), vol)
        return float(tick.equity) - float(tick.maintenance)

    down, up = {}, {}
    def along(direction: np.ndarray) -> Callable[[float], float]:
        return lambda x: excess(x * direction)

    for k, name in enumerate(names):
        unit = np.zeros(spot.size)
        unit[k] = 1.0
        down[name] = _first_root(along(unit), -max_fall)
        up[name] = _first_root(along(unit), max_rise)
    fall = max_fall / max(float(np.max(np.abs(beta))), 1.0)
    down["joint"] = _first_root(lambda x: excess(x * beta), -fall)
    up["joint"] = _first_root(lambda x: excess(x * beta), max_rise / max(float(np.max(beta)), 1.0))
    vol_up = float("nan")
    resolved = ticker.state.resolved
    if market.vol is not None and np.any(resolved.kind != OptionKind.LINEAR):
        vol = np.asarray(market.vol, dtype=float)
        vol_up = _first_root(lambda x: excess(np.zeros(spot.size), vol * (1.0 + x)),
                             max_vol_rise)
    tick = ticker.tick(spot)
    return Distance(down, up, vol_up, float(tick.equity), float(tick.maintenance))
