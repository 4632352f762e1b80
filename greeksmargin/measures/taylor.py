"""Greeks-based margin: scenario P&L from a Taylor expansion of Greeks aggregated per underlying.

For an underlying with position-level Greeks summed over its positions, a scenario with spot move
``dS = S m``, vol move ``dv`` (absolute, or ``sigma v`` per position for relative shifts) and clock
advance ``dt`` gives

``P&L ~ delta dS + gamma dS^2 / 2 + vega dv + vanna dS dv + volga dv^2 / 2 + theta dt``.

Relative vol shifts act on each position's own vol, so the vol terms aggregate ``vega sigma``,
``vanna sigma`` and ``volga sigma^2`` instead. After one pass over the positions the cost per
scenario does not depend on the number of positions. :func:`taylor_margin` reports the expansion's
error against full revaluation per group and scenario: it is an approximation, and says how good.
European Greeks come from the pricing kernel; American positions use the Leisen-Reimer tree's
delta, gamma, vega and theta (no vanna or volga), so their error includes the tree-vs-BAW gap.
Linear (quote-settled) books only: coin-settled P&L is not a polynomial in the Greeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..enums import OptionKind, Settlement, ShiftType
from ..errors import InputError
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid
from ..pricing import american, greeks
from .revalue import PnLMatrix, _group_grids, vol_scale

__all__ = ["UnderlyingGreeks", "aggregate_greeks", "taylor_pnl"]

FIELDS = ("delta", "gamma", "vega", "vanna", "volga", "vega_rel", "vanna_rel", "volga_rel",
          "theta")


@dataclass(frozen=True, slots=True)
class UnderlyingGreeks:
    """Position-level Greeks summed per underlying (dimension ``underlying``), quote currency.

    ``vega_rel = sum vega sigma s``, ``vanna_rel = sum vanna sigma s``, ``volga_rel = sum volga
    sigma^2 s^2`` (``s`` the grid's vol scaling of the position, 1 without one) serve relative vol
    shifts; theta per year of calendar time.
    """

    underlyings: tuple[str, ...]
    spot: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray
    vega_rel: np.ndarray
    vanna_rel: np.ndarray
    volga_rel: np.ndarray
    theta: np.ndarray


def aggregate_greeks(resolved: ResolvedBook, rows: np.ndarray | slice | None = None,
                     vol_scale: np.ndarray | None = None) -> UnderlyingGreeks:
    """Sum position Greeks per underlying (all rows of ``resolved`` or the given sorted rows)."""
    if np.any(resolved.inverse == Settlement.INVERSE):
        raise InputError("Greeks-based (Taylor) margin supports linear (quote-settled) books only;"
                         " coin-settled P&L is not a polynomial in the Greeks")
    market = resolved.market
    sel = np.arange(resolved.position_id.size) if rows is None else np.arange(
        resolved.position_id.size)[rows]
    scale = np.ones(resolved.position_id.size) if vol_scale is None else vol_scale
    n_u = market.n_underlyings
    sums = {name: np.zeros(n_u) for name in FIELDS}
    u = resolved.underlying_index[sel]
    kind = resolved.kind[sel]
    size = resolved.notional[sel]
    t = resolved.expiry_years[sel]
    sigma = resolved.vol[sel]
    s = scale[sel]
    spot, rate, carry = market.spot[u], market.rate[u], market.carry[u]
    linear = kind == OptionKind.LINEAR
    future = linear & ~np.isnan(t)
    lin_delta = np.where(future, np.exp(carry * np.nan_to_num(t)), 1.0)
    np.add.at(sums["delta"], u[linear], (size * lin_delta)[linear])
    np.add.at(sums["theta"], u[future], (-size * carry * spot * lin_delta)[future])
    european = ~linear & (resolved.american[sel] == 0)
    if european.any():
        e = european
        g = greeks(spot[e], resolved.strike[sel][e], expiry_years=t[e], vol=sigma[e],
                   rate=rate[e], carry=carry[e], kind=kind[e])
        terms = {"delta": g.delta, "gamma": g.gamma, "vega": g.vega, "vanna": g.vanna,
                 "volga": g.volga, "theta": g.theta, "vega_rel": g.vega * sigma[e] * s[e],
                 "vanna_rel": g.vanna * sigma[e] * s[e],
                 "volga_rel": g.volga * (sigma[e] * s[e]) ** 2}
        for name, values in terms.items():
            np.add.at(sums[name], u[e], size[e] * values)
    amer = ~linear & (resolved.american[sel] == 1)
    if amer.any():
        a = amer
        g2 = american.greeks(spot[a], resolved.strike[sel][a], expiry_years=t[a], vol=sigma[a],
                             rate=rate[a], dividend_yield=rate[a] - carry[a], kind=kind[a])
        for name, values in {"delta": g2.delta, "gamma": g2.gamma, "vega": g2.vega,
                             "theta": g2.theta, "vega_rel": g2.vega * sigma[a] * s[a]}.items():
            np.add.at(sums[name], u[a], size[a] * values)
    return UnderlyingGreeks(market.underlyings, np.array(market.spot), **sums)


def taylor_pnl(resolved: ResolvedBook, grid: ScenarioGrid | Sequence[ScenarioGrid]) -> PnLMatrix:
    """Scenario P&L per group from the second-order expansion (see the module docstring).

    Vol floors and Deribit's ``min_vol_up`` are not applied: the expansion is local.
    """
    grids = _group_grids(resolved, grid)
    scale = vol_scale(resolved, grids)
    out = np.zeros((resolved.n_groups, grids[0].n_scenarios))
    for g, gr in enumerate(grids):
        rows = slice(resolved.group_offsets[g], resolved.group_offsets[g + 1])
        agg = aggregate_greeks(resolved, rows, scale)
        relative = gr.vol_shift_type == ShiftType.RELATIVE
        for u in np.unique(resolved.underlying_index[rows]):
            ds = agg.spot[u] * gr.spot_shift
            dv = gr.vol_shift
            vega = np.where(relative, agg.vega_rel[u], agg.vega[u])
            vanna = np.where(relative, agg.vanna_rel[u], agg.vanna[u])
            volga = np.where(relative, agg.volga_rel[u], agg.volga[u])
            out[g] += (agg.delta[u] * ds + 0.5 * agg.gamma[u] * ds**2 + vega * dv
                       + vanna * ds * dv + 0.5 * volga * dv**2
                       + agg.theta[u] * gr.time_shift_years)
    from .revalue import group_currency

    return PnLMatrix(out, resolved.group_labels, np.zeros(resolved.n_groups),
                     group_currency(resolved), grids)
