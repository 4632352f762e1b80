"""Strategy-based (Reg T) margin of a book: the least-margin pairing of its legs into strategies.

The rules (:mod:`greeksmargin.methodology.regt`) price each recognised strategy; which legs form
which strategies is the broker's choice, and brokers optimise it. This module states it as an
integer program and solves it exactly with ``scipy.optimize.milp`` (HiGHS): one integer
variable per candidate strategy (a specific set of positions: a vertical or diagonal spread, a
short straddle or strangle, a short iron condor, a long butterfly, a covered call or put), the
number of units formed; each position's contracts (shares for stock) used by all strategies at
most its quantity; every leg left over margined alone (long options paid in full, short options
naked, stock at the Reg T rate). The objective, total requirement, is minimised, so the result
is never above any other decomposition into the same strategies.

Amounts are in the quote currency; premiums are each option's current value (the market's
quoted price where given, else the model value at the market's vol). Futures and coin-settled
contracts are not securities under these rules and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING

import numpy as np

from ..enums import OptionKind, Settlement
from ..errors import InputError
from ..measures.revalue import position_values
from ..methodology.regt import RegTRules, regt
from ..model.amount import Amount
from ..model.book import Book
from ..model.market import MarketData

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Pairing", "StrategyResult", "strategy_margin"]

MAX_CANDIDATES = 200_000


@dataclass(frozen=True, slots=True)
class Pairing:
    """Units of one strategy formed from specific positions.

    ``legs`` are ``(position_id, contracts or shares per unit)``, signed like the positions;
    ``requirement`` is for all ``units`` together, in the quote currency.
    """

    strategy: str
    underlying: str
    legs: tuple[tuple[str, float], ...]
    units: float
    requirement: float


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """Strategy-based requirement of a book and the pairing that gives it.

    Attributes
    ----------
    total : Amount
        Sum of ``pairings`` and ``alone`` requirements.
    pairings : tuple of Pairing
        The strategies formed.
    alone : tuple of Pairing
        Each position's leftover, margined alone (strategy ``long option``, ``short option``,
        ``stock``).
    unpaired : Amount
        The requirement with every position alone (no strategy recognised).
    rules : dict
        ``RegTRules.describe()``.
    """

    total: Amount
    pairings: tuple[Pairing, ...]
    alone: tuple[Pairing, ...]
    unpaired: Amount
    rules: dict[str, object]

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy formed and per leftover: strategy, underlying, legs, requirement."""
        import pandas as pd

        rows = [{"strategy": p.strategy, "underlying": p.underlying,
                 "legs": ", ".join(f"{q:+g} {i}" for i, q in p.legs), "units": p.units,
                 "requirement": p.requirement} for p in (*self.pairings, *self.alone)]
        return pd.DataFrame(rows, columns=["strategy", "underlying", "legs", "units",
                                           "requirement"])


@dataclass(frozen=True, slots=True)
class _Legs:
    """Per position (book order): what the pairing needs."""

    ids: np.ndarray
    underlying: np.ndarray
    kind: np.ndarray
    strike: np.ndarray
    expiry: np.ndarray
    quantity: np.ndarray
    multiplier: np.ndarray
    premium: np.ndarray  # per contract (options), quote currency
    spot: np.ndarray
    product_class: np.ndarray
    alone: np.ndarray  # requirement per contract (options) or per share (stock)


def _legs(book: Book, market: MarketData, rules: RegTRules) -> _Legs:
    resolved = book.resolve(market, by="underlying")
    if np.any(resolved.inverse == Settlement.INVERSE):
        raise InputError("strategy-based (Reg T) margin covers securities: coin-settled"
                         " positions are refused")
    row = np.empty_like(resolved.order)
    row[resolved.order] = np.arange(resolved.order.size)  # book row -> sorted row
    values = position_values(resolved)[row]
    kind = resolved.kind[row]
    futures = (kind == OptionKind.LINEAR) & ~np.isnat(book.expiry)
    if np.any(futures):
        first = int(np.flatnonzero(futures)[0])
        raise InputError(f"position {str(book.position_id[first])!r} is a future; strategy-based"
                         f" (Reg T) margin covers options and stock")
    quantity = book.quantity.astype(float)
    multiplier = book.multiplier.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        premium = np.where(quantity != 0, np.abs(values / quantity), 0.0)
    premium = np.where(kind == OptionKind.LINEAR, 0.0, premium)
    underlying = np.asarray(book.underlying)
    spot = market.spot[[market.index_of(u) for u in underlying.tolist()]]
    classes = np.array([market.product_class.get(u, "equity") for u in underlying.tolist()])
    rate = np.array([rules.rate(c) for c in classes.tolist()]) if classes.size else np.zeros(0)
    short = quantity < 0
    alone = np.where(
        kind == OptionKind.LINEAR, rules.stock(spot),
        np.where(short, rules.short_option(kind == OptionKind.CALL, spot, book.strike, premium,
                                           multiplier, rate),
                 rules.long_option(premium)))
    return _Legs(np.asarray(book.position_id), underlying, kind, book.strike.astype(float),
                 resolved.expiry_years[row], quantity, multiplier, premium, spot, classes, alone)


def _candidates(legs: _Legs, rules: RegTRules) -> list[tuple[str, str, dict[int, float], float]]:
    """Every recognised strategy the book's positions could form: (name, underlying, use, r)."""
    out: list[tuple[str, str, dict[int, float], float]] = []
    for u in dict.fromkeys(legs.underlying.tolist()):
        here = [int(i) for i in np.flatnonzero(legs.underlying == u)]
        opt = [i for i in here if legs.kind[i] != OptionKind.LINEAR and legs.quantity[i] != 0]
        short = [i for i in opt if legs.quantity[i] < 0]
        long_ = [i for i in opt if legs.quantity[i] > 0]
        stock_long = [i for i in here if legs.kind[i] == OptionKind.LINEAR and legs.quantity[i] > 0]
        stock_short = [i for i in here if legs.kind[i] == OptionKind.LINEAR
                       and legs.quantity[i] < 0]
        k, t, m, p = legs.strike, legs.expiry, legs.multiplier, legs.premium
        spreads = []
        for s, lg in product(short, long_):
            if legs.kind[s] == legs.kind[lg] and m[s] == m[lg] and t[lg] >= t[s] - 1e-12:
                call = legs.kind[s] == OptionKind.CALL
                r = rules.spread(bool(call), k[s], k[lg], p[s], p[lg], m[s])
                spreads.append((s, lg, r))
                width = (k[lg] - k[s]) if call else (k[s] - k[lg])
                out.append(("credit spread" if width > 0 else "debit spread", u,
                            {s: -1.0, lg: 1.0}, r))
        calls = [i for i in short if legs.kind[i] == OptionKind.CALL]
        puts = [i for i in short if legs.kind[i] == OptionKind.PUT]
        for c, q in product(calls, puts):
            if m[c] == m[q]:
                name = "short straddle" if k[c] == k[q] else "short strangle"
                r = rules.straddle(legs.alone[c], legs.alone[q], p[c], p[q])
                out.append((name, u, {c: -1.0, q: -1.0}, r))
        put_credit = [(s, lg) for s, lg, _ in spreads if legs.kind[s] == OptionKind.PUT
                      and k[lg] < k[s]]
        call_credit = [(s, lg) for s, lg, _ in spreads if legs.kind[s] == OptionKind.CALL
                       and k[lg] > k[s]]
        for (ps, pl), (cs, cl) in product(put_credit, call_credit):
            if (len({t[ps], t[pl], t[cs], t[cl]}) == 1 and len({m[ps], m[cs]}) == 1
                    and k[ps] <= k[cs]):
                r = rules.iron_condor(k[ps] - k[pl], k[cl] - k[cs], m[ps])
                out.append(("iron condor", u, {ps: -1.0, pl: 1.0, cs: -1.0, cl: 1.0}, r))
        for body in short:
            wings = [i for i in long_ if legs.kind[i] == legs.kind[body] and t[i] == t[body]
                     and m[i] == m[body]]
            for low, high in product(wings, wings):
                if k[low] < k[body] < k[high] and np.isclose(k[body] - k[low], k[high] - k[body]):
                    r = rules.butterfly(p[low] + p[high], p[body])
                    out.append(("long butterfly", u, {low: 1.0, body: -2.0, high: 1.0}, r))
        if legs.product_class[here[0]] == "equity":
            for s, c in product(stock_long, calls):
                out.append(("covered call", u, {s: m[c], c: -1.0}, rules.stock(legs.spot[s])
                            * m[c]))
            for s, q in product(stock_short, puts):
                out.append(("covered put", u, {s: -m[q], q: -1.0}, rules.stock(legs.spot[s])
                            * m[q]))
        if len(out) > MAX_CANDIDATES:
            raise InputError(f"underlying {u!r}: more than {MAX_CANDIDATES:,} candidate"
                             f" strategies; split the book")
    return out


def strategy_margin(book: Book, market: MarketData, rules: RegTRules | None = None
                    ) -> StrategyResult:
    """Strategy-based (Reg T) requirement of ``book``: the least over all pairings.

    Every candidate strategy that saves margin against its legs alone enters the integer
    program; ``milp`` returns the optimal units (whole units; a fractional position's fraction
    stays alone). Raises InputError for futures and coin-settled positions.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    rules = rules or regt()
    legs = _legs(book, market, rules)
    capacity = np.abs(legs.quantity)
    unpaired = float((capacity * legs.alone).sum())
    candidates = []
    for name, u, use, r in _candidates(legs, rules):
        saving = sum(abs(q) * legs.alone[i] for i, q in use.items()) - r
        if saving > 1e-9 * max(r, 1.0):
            candidates.append((name, u, use, r, saving))
    units = np.zeros(len(candidates))
    if candidates:
        a = np.zeros((legs.ids.size, len(candidates)))
        for j, (_, _, use, _, _) in enumerate(candidates):
            for i, q in use.items():
                a[i, j] = abs(q)
        upper = np.array([min(np.floor(capacity[i] / abs(q) + 1e-9) for i, q in c[2].items())
                          for c in candidates])
        solved = milp(-np.array([c[4] for c in candidates]),
                      constraints=LinearConstraint(a, -np.inf, capacity + 1e-9),
                      integrality=np.ones(len(candidates)), bounds=Bounds(0, upper))
        if not solved.success:  # pragma: no cover - a bounded feasible ILP (0 is feasible)
            raise InputError(f"the strategy pairing failed: {solved.message}")
        units = np.round(solved.x)
    used = np.zeros(legs.ids.size)
    pairings = []
    for (name, u, use, r, _), n in zip(candidates, units, strict=True):
        if n > 0:
            for i, q in use.items():
                used[i] += abs(q) * n
            pairings.append(Pairing(name, u, tuple((str(legs.ids[i]), q) for i, q in use.items()),
                                    float(n), float(r * n)))
    alone = []
    for i in range(legs.ids.size):
        left = capacity[i] - used[i]
        if left > 1e-12:
            kind = ("stock" if legs.kind[i] == OptionKind.LINEAR
                    else "short option" if legs.quantity[i] < 0 else "long option")
            alone.append(Pairing(kind, str(legs.underlying[i]),
                                 ((str(legs.ids[i]), float(np.sign(legs.quantity[i]))),),
                                 float(left), float(left * legs.alone[i])))
    total = sum(p.requirement for p in pairings) + sum(p.requirement for p in alone)
    quote = market.quote_currency
    return StrategyResult(Amount(float(total), quote), tuple(pairings), tuple(alone),
                          Amount(unpaired, quote), rules.describe())


def decomposition_requirement(book: Book, market: MarketData,
                              pairs: Sequence[tuple[str, dict[str, float], float]],
                              rules: RegTRules | None = None) -> float:
    """Price one given decomposition: ``(strategy, {position_id: per unit}, units)`` triples.

    The strategies are priced by the same rules as :func:`strategy_margin` (the candidate with
    those legs); leftovers alone. For checking that the optimum is never above a decomposition
    a user (or a test) proposes.
    """
    rules = rules or regt()
    legs = _legs(book, market, rules)
    index = {str(p): i for i, p in enumerate(legs.ids.tolist())}
    priced = {(name, tuple(sorted(use.items()))): r for name, _, use, r in _candidates(legs, rules)}
    used = np.zeros(legs.ids.size)
    total = 0.0
    for name, use_by_id, n in pairs:
        use = {index[p]: q for p, q in use_by_id.items()}
        key = (name, tuple(sorted(use.items())))
        if key not in priced:
            raise InputError(f"{name} with legs {use_by_id} is not a recognised strategy")
        total += priced[key] * n
        for i, q in use.items():
            used[i] += abs(q) * n
    left = np.abs(legs.quantity) - used
    if np.any(left < -1e-9):
        raise InputError("the decomposition uses more contracts than a position holds")
    return float(total + (np.maximum(left, 0.0) * legs.alone).sum())
