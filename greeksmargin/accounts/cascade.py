"""Liquidation cascades: many accounts along a stressed path, forced sales moving prices.

At every step of a path of spot multipliers (per underlying) and relative vol shifts, each
account is revalued; linear positions settle their variation into cash (they are marked to
market), options keep their value in the book. Accounts below maintenance margin are liquidated
(:func:`greeksmargin.accounts.liquidation.liquidate`): closed positions turn into cash at mid less the
liquidation cost. The delta-equivalent notional that liquidations sell moves each underlying's
price by ``-impact x notional`` (relative), which can push other accounts under in the next round
of the same step (contagion); rounds repeat until no account is liquidated. An account whose
equity stays negative after closing everything has a shortfall (a loss beyond its collateral).

Options that expire during the path settle at the step that passes their expiry: the payoff at
that step's spot (``quantity x multiplier x max(S - K, 0)`` for calls, ``max(K - S, 0)`` for puts,
in the quote currency; coin-settled options pay the same value in coin) is paid into the cash,
the position leaves the book, and the path goes on; an expired future leaves the book after its
last variation. With an ``insurance_fund``, each step's shortfall (equity below zero once an
account has nothing left to close) is covered by the fund while it lasts; what it cannot cover is
the amount auto-deleveraging would take from profitable accounts, reported per step
(:attr:`CascadeResult.uncovered`). :func:`cascade_distribution` runs many paths and summarises
the shortfall.

Accounting identity, per account and in total (checked by the tests to the cent):
``final equity = initial equity + option value change + variation - costs + insurance paid``
(an expired option's payoff is part of its value change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..enums import OptionKind
from ..errors import InputError
from ..measures.revalue import position_values_in_quote
from ..model.book import Book
from ..model.market import MarketData
from ..pricing import greeks
from .account import Account, Collateral, State
from .liquidation import SpreadCost, liquidate

__all__ = ["CascadeResult", "AccountPath", "simulate_cascade", "ShortfallDistribution",
           "cascade_distribution"]

MAX_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class AccountPath:
    """What happened to one account along the path."""

    account_id: str
    initial_equity: float
    final_equity: float
    variation: float  # linear positions' settled P&L
    option_value_change: float  # mark-to-market change of option positions, incl. closed ones
    costs: float  # liquidation costs paid
    liquidated_at: tuple[int, ...]  # steps with a liquidation
    shortfall: float  # max(0, -final equity) after everything was closed
    insurance_paid: float = 0.0  # paid in by the insurance fund (part of the final equity)


@dataclass(frozen=True, slots=True)
class CascadeResult:
    """Per account outcome, per step prices, and totals."""

    accounts: tuple[AccountPath, ...]
    spot_path: np.ndarray  # (n_steps + 1, n_underlyings), after impact
    liquidations_per_step: np.ndarray  # (n_steps,) accounts liquidated at each step
    sold_notional: np.ndarray  # (n_steps, n_underlyings) delta notional sold by liquidations
    events: tuple[str, ...] = field(default=())
    shortfall_per_step: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_steps,)
    covered: np.ndarray = field(default_factory=lambda: np.zeros(0))  # by the fund, per step
    uncovered: np.ndarray = field(default_factory=lambda: np.zeros(0))  # left for ADL, per step
    insurance_fund_left: float = 0.0

    @property
    def n_liquidated(self) -> int:
        """Accounts liquidated at least once."""
        return sum(1 for a in self.accounts if a.liquidated_at)

    @property
    def total_shortfall(self) -> float:
        """Sum of losses beyond collateral."""
        return float(sum(a.shortfall for a in self.accounts))


def _market_at(base: MarketData, spot: np.ndarray, vol_shift: float, days: float) -> MarketData:
    valuation = base.valuation + np.timedelta64(int(round(days * 86400)), "s")
    return MarketData(valuation, base.underlyings, spot, base.rate, base.carry,
                      base.vol * (1.0 + vol_shift) if base.vol is not None else None,
                      base.surfaces, {k: v * (1.0 + vol_shift) for k, v in base.position_vol.items()},
                      {}, base.group_of, base.quote_currency)


def _linear_value(book: Book, market: MarketData) -> np.ndarray:
    # value per position of linear instruments: notional x (S or S e^{bT}); options 0
    out = np.zeros(book.n_positions)
    idx = np.array([market.index_of(u) for u in book.underlying.tolist()], dtype=np.intp)
    seconds = (book.expiry - market.valuation).astype("timedelta64[s]").astype(float)
    t = np.where(np.isnat(book.expiry), 0.0, np.maximum(seconds, 0.0) / (365 * 86400))
    linear = book.kind == OptionKind.LINEAR
    unit = market.spot[idx] * np.exp(market.carry[idx] * t)
    out[linear] = (book.quantity * book.multiplier * unit)[linear]
    return out


def _option_value(book: Book, market: MarketData) -> np.ndarray:
    state_value = np.zeros(book.n_positions)
    option = book.kind != OptionKind.LINEAR
    if option.any():
        resolved = book.resolve(market)
        values = np.empty(book.n_positions)
        values[resolved.order] = position_values_in_quote(resolved)  # coin options at spot
        state_value[option] = values[option]
    return state_value


def _expired(book: Book, market: MarketData) -> np.ndarray:
    """Positions whose expiry is at or before the market's valuation."""
    return ~np.isnat(book.expiry) & (book.expiry <= market.valuation)


def _payoff(book: Book, market: MarketData) -> np.ndarray:
    """Value at expiry, per position, in the quote currency (linear: 0, settled as variation)."""
    idx = np.array([market.index_of(u) for u in book.underlying.tolist()], dtype=np.intp)
    s = market.spot[idx] if idx.size else np.zeros(0)
    k = np.nan_to_num(book.strike)
    intrinsic = np.where(book.kind == OptionKind.CALL, np.maximum(s - k, 0.0),
                         np.where(book.kind == OptionKind.PUT, np.maximum(k - s, 0.0), 0.0))
    return book.quantity * book.multiplier * intrinsic


def _delta_notional(book: Book, market: MarketData) -> np.ndarray:
    # delta-equivalent notional per position, quote currency, per underlying index
    idx = np.array([market.index_of(u) for u in book.underlying.tolist()], dtype=np.intp)
    out = np.zeros(book.n_positions)
    linear = book.kind == OptionKind.LINEAR
    out[linear] = (book.quantity * book.multiplier * market.spot[idx])[linear]
    option = ~linear
    if option.any():
        resolved = book.resolve(market)
        rows = np.empty(book.n_positions, np.intp)
        rows[resolved.order] = np.arange(book.n_positions)
        r = rows[option]
        g = greeks(market.spot[idx][option], book.strike[option],
                   expiry_years=resolved.expiry_years[r], vol=resolved.vol[r],
                   rate=market.rate[idx][option], carry=market.carry[idx][option],
                   kind=book.kind[option])
        out[option] = (book.quantity * book.multiplier)[option] * g.delta * market.spot[idx][option]
    return out


def simulate_cascade(accounts: Sequence[Account], market: MarketData, spot_path: np.ndarray,
                     vol_shift: Sequence[float] | np.ndarray | None = None, *,
                     impact: Mapping[str, float] | float = 0.0,
                     step_days: float = 1.0, cost: SpreadCost | None = None,
                     target: str = "maintenance", insurance_fund: float = 0.0) -> CascadeResult:
    """Run the accounts along a stressed path (see the module docstring).

    Parameters
    ----------
    accounts : sequence of Account
        Collateral must include the quote currency cash (``market.quote_currency``), which
        receives variation and closing proceeds.
    market : MarketData
        The starting snapshot (vols per underlying or per position).
    spot_path : array_like, shape (n_steps, n_underlyings)
        Spot of each step as a multiple of the starting spot (before liquidation impact).
    vol_shift : array_like, shape (n_steps,), optional
        Relative vol shift of each step (0.5 = vols x 1.5).
    impact : float or mapping of str to float
        Relative price move per unit of quote-currency delta notional sold (e.g. 1e-9: selling
        100 million moves the price by -10%).
    step_days : float
        Calendar days between steps (options decay; options expiring on the way settle).
    insurance_fund : float
        Quote-currency amount that covers accounts' shortfalls as they happen (0: none).
    """
    path = np.asarray(spot_path, dtype=float)
    n_u = market.n_underlyings
    if path.ndim != 2 or path.shape[1] != n_u:
        raise InputError(f"spot_path must have shape (n_steps, {n_u}); got {path.shape}")
    if not np.all(np.isfinite(path) & (path > 0)):
        raise InputError("spot_path must be > 0 and finite (multiples of the starting spot)")
    shifts = np.zeros(path.shape[0]) if vol_shift is None else np.asarray(vol_shift, float)
    if shifts.shape != (path.shape[0],) or np.any(shifts <= -1):
        raise InputError(f"vol_shift must have shape ({path.shape[0]},) with values > -1")
    rates = np.array([impact.get(u, 0.0) if isinstance(impact, Mapping) else impact
                      for u in market.underlyings], dtype=float)
    if np.any(rates < 0) or not np.all(np.isfinite(rates)):
        raise InputError(f"impact must be >= 0 and finite; got {rates}")
    ids = [a.account_id for a in accounts]
    if len(set(ids)) != len(ids):
        raise InputError("account ids must be unique")
    if market.option_price:
        raise InputError("the cascade needs vols, not option prices: resolve them to position vols")
    if market.surfaces and np.any(shifts != 0):
        raise InputError("vol_shift applies to flat and per-position vols; this market has"
                         " surfaces: pass position vols instead")
    if not (np.isfinite(insurance_fund) and insurance_fund >= 0):
        raise InputError(f"insurance_fund must be >= 0 and finite; got {insurance_fund!r}")
    quote = market.quote_currency
    for a in accounts:
        if quote not in a.collateral.asset:
            raise InputError(f"account {a.account_id!r} has no {quote} cash collateral to settle"
                             " variation into")
    model = cost or SpreadCost()
    live = list(accounts)
    start = [a.evaluate(market) for a in live]
    initial_equity = [s.equity for s in start]
    variation = np.zeros(len(live))
    option_change = np.zeros(len(live))
    costs = np.zeros(len(live))
    paid_by_fund = np.zeros(len(live))
    liquidated: list[list[int]] = [[] for _ in live]
    impact_factor = np.ones(n_u)
    prev_market = market
    prev_linear = [_linear_value(a.book, market) for a in live]
    prev_option = [_option_value(a.book, market) for a in live]
    spots = [np.array(market.spot)]
    per_step = np.zeros(path.shape[0], np.intp)
    sold = np.zeros((path.shape[0], n_u))
    events: list[str] = []
    fund = float(insurance_fund)
    shortfall_step = np.zeros(path.shape[0])
    covered = np.zeros(path.shape[0])
    uncovered = np.zeros(path.shape[0])
    for step in range(path.shape[0]):
        for _round in range(MAX_ROUNDS):
            now = _market_at(market, market.spot * path[step] * impact_factor, float(shifts[step]),
                             (step + 1) * step_days)
            # expiries on the way: options pay their payoff at this step's spot into cash,
            # futures leave after their last variation (settled just below)
            for k, a in enumerate(live):
                gone = _expired(a.book, now)
                if not gone.any():
                    continue
                lin = _linear_value(a.book, now)
                variation[k] += float(np.sum((lin - prev_linear[k])[gone]))
                payoff = _payoff(a.book, now)
                option_change[k] += float(np.sum((payoff - prev_option[k])[gone]))
                cash = float(np.sum(payoff[gone] + (lin - prev_linear[k])[gone]))
                events.append(f"step {step}: {a.account_id} settled "
                              + ", ".join(str(p) for p in a.book.position_id[gone].tolist())
                              + f" at expiry for {cash:,.2f}")
                keep = ~gone
                live[k] = _with_cash(Account(a.account_id, a.book.take(np.flatnonzero(keep)),
                                             a.collateral, a.method, a.im_over_mm,
                                             a.collateral_at_risk), cash, quote)
                prev_linear[k] = prev_linear[k][keep]
                prev_option[k] = prev_option[k][keep]
            # settle variation and revalue options since the previous market
            for k, a in enumerate(live):
                lin = _linear_value(a.book, now)
                opt = _option_value(a.book, now)
                var = float(np.sum(lin - prev_linear[k]))
                variation[k] += var
                option_change[k] += float(np.sum(opt - prev_option[k]))
                live[k] = _with_cash(a, var, quote)
                prev_linear[k], prev_option[k] = lin, opt
            round_sold = np.zeros(n_u)
            any_liquidation = False
            for k, a in enumerate(live):
                if a.book.n_positions == 0:
                    continue
                state = a.evaluate(now)
                if state.state != State.LIQUIDATION:
                    continue
                any_liquidation = True
                result = liquidate(state, model, target=target)  # type: ignore[arg-type]
                if step not in liquidated[k]:
                    liquidated[k].append(step)
                    per_step[step] += 1
                deltas = _delta_notional(a.book, now)
                closed = result.closed
                fraction = np.array([closed.get(p, 0.0) for p in a.book.position_id.tolist()])
                idx = np.array([now.index_of(u) for u in a.book.underlying.tolist()], dtype=np.intp)
                np.add.at(round_sold, idx, fraction * deltas)
                proceeds = float(np.sum(fraction * prev_option[k]))  # options sold at mid
                paid = float(result.total_cost)
                costs[k] += paid
                events.append(f"step {step}: {a.account_id} closed "
                              + ", ".join(f"{p} {f:.0%}" for p, f in closed.items())
                              + f" for {paid:,.2f}")
                keep = 1.0 - fraction
                book = Book(a.book.position_id, a.book.underlying, a.book.kind, a.book.strike,
                            a.book.expiry, a.book.quantity * keep, a.book.multiplier,
                            a.book.exercise, a.book.settlement)
                alive = np.abs(book.quantity) > 1e-12
                book = book.take(alive)
                live[k] = _with_cash(Account(a.account_id, book, a.collateral, a.method,
                                             a.im_over_mm, a.collateral_at_risk),
                                     proceeds - paid, quote)
                prev_linear[k] = (prev_linear[k] * keep)[alive]
                prev_option[k] = (prev_option[k] * keep)[alive]
                if book.n_positions == 0:  # nothing left to close: a loss beyond collateral
                    left = float(live[k].collateral.value)
                    if left < 0:
                        shortfall_step[step] += -left
                        paid_in = min(fund, -left)
                        fund -= paid_in
                        covered[step] += paid_in
                        uncovered[step] += -left - paid_in
                        if paid_in > 0:
                            paid_by_fund[k] += paid_in
                            live[k] = _with_cash(live[k], paid_in, quote)
                            events.append(f"step {step}: insurance fund paid {paid_in:,.2f}"
                                          f" for {a.account_id}")
            if not any_liquidation:
                break
            sold[step] += round_sold
            # selling delta (positive notional closed) pushes prices down
            impact_factor = impact_factor * np.maximum(1.0 - rates * round_sold, 1e-6)
        prev_market = now
        spots.append(np.array(prev_market.spot))
    final = []
    for k, a in enumerate(live):
        equity = a.collateral.value + float(np.sum(prev_option[k]))
        final.append(AccountPath(a.account_id, initial_equity[k], equity, variation[k],
                                 option_change[k], costs[k], tuple(liquidated[k]),
                                 max(0.0, -equity), float(paid_by_fund[k])))
    return CascadeResult(tuple(final), np.array(spots), per_step, sold, tuple(events),
                         shortfall_step, covered, uncovered, fund)


@dataclass(frozen=True, slots=True)
class ShortfallDistribution:
    """Shortfall (losses beyond collateral) over many paths, in the quote currency.

    ``total[p]`` is path ``p``'s total shortfall, ``uncovered[p]`` what the insurance fund could
    not cover; ``quantiles`` maps 0.5, 0.9, 0.99 to the total's quantiles.
    """

    total: np.ndarray
    uncovered: np.ndarray
    liquidated: np.ndarray
    quantiles: dict[float, float]

    @property
    def probability_of_loss(self) -> float:
        """Share of paths with any shortfall."""
        return float(np.mean(self.total > 0)) if self.total.size else 0.0


def cascade_distribution(accounts: Sequence[Account], market: MarketData, paths: np.ndarray,
                         vol_shifts: np.ndarray | None = None, **options: object
                         ) -> ShortfallDistribution:
    """Run :func:`simulate_cascade` on each of ``paths`` (n_paths, n_steps, n_underlyings).

    ``vol_shifts`` (n_paths, n_steps) per path; ``options`` pass through (impact, step_days,
    cost, target, insurance_fund, a fresh fund per path).
    """
    p = np.asarray(paths, dtype=float)
    if p.ndim != 3:
        raise InputError(f"paths must have shape (n_paths, n_steps, n_underlyings); got {p.shape}")
    shifts = None if vol_shifts is None else np.asarray(vol_shifts, dtype=float)
    if shifts is not None and shifts.shape != p.shape[:2]:
        raise InputError(f"vol_shifts must have shape {p.shape[:2]}; got {shifts.shape}")
    total, uncovered, liquidated = (np.zeros(p.shape[0]) for _ in range(3))
    for k in range(p.shape[0]):
        result = simulate_cascade(accounts, market, p[k], None if shifts is None else shifts[k],
                                  **options)  # type: ignore[arg-type]
        total[k] = float(result.shortfall_per_step.sum())
        uncovered[k] = float(result.uncovered.sum())
        liquidated[k] = result.n_liquidated
    quantiles = {q: float(np.quantile(total, q)) for q in (0.5, 0.9, 0.99)}
    return ShortfallDistribution(total, uncovered, liquidated, quantiles)


def _with_cash(account: Account, amount: float, currency: str) -> Account:
    """Pay ``amount`` into the account's cash at par.

    Flows settle into a cash line without haircut (``"<currency> settled"``, added when the
    deposited cash carries one), so a flow of ``x`` changes the equity by exactly ``x`` and the
    accounting identity holds whatever haircut the deposit has.
    """
    c = account.collateral
    assets, amounts = list(c.asset), np.array(c.amount)
    prices, haircuts = np.array(c.price), np.array(c.haircut)
    k = c.asset.index(currency)
    if haircuts[k] > 0:
        line = f"{currency} settled"
        if line not in assets:
            assets.append(line)
            amounts = np.append(amounts, 0.0)
            prices = np.append(prices, prices[k])
            haircuts = np.append(haircuts, 0.0)
        k = assets.index(line)
    # cash may go negative inside the simulation (a loss beyond collateral): keep the number
    # and report it as a shortfall rather than refusing the state
    amounts[k] += amount / prices[k]
    return Account(account.account_id, account.book,
                   _Cash(tuple(assets), amounts, prices, haircuts),
                   account.method, account.im_over_mm, account.collateral_at_risk)


class _Cash(Collateral):
    """Collateral whose cash line may be negative (simulation state, not user input)."""

    def __post_init__(self) -> None:
        for name in ("amount", "price", "haircut"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
