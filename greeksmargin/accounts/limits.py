"""Risk limits beside margin: leverage and Greeks in desk units, checked pre-trade.

- leverage = gross notional / equity, gross notional = ``sum |quantity x multiplier| x spot``
  over every position (options at their underlying's notional);
- per underlying, in the account currency: delta notional ``sum delta x quantity x multiplier x
  S``; gamma per 1% ``sum gamma x quantity x multiplier x S^2 / 100`` (the delta notional's change
  for a 1% move); vega per vol point ``sum vega x quantity x multiplier / 100``.

Greeks are the pricing layer's (European closed form, American by the tree), summed per
underlying by :func:`greeksmargin.measures.taylor.aggregate_greeks`; coin-settled books have
no such polynomial Greeks and are refused for Greek limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..measures.taylor import aggregate_greeks
from ..model.book import Book
from .account import AccountState

__all__ = ["Limits", "Breach", "exposures", "limit_breaches"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds on absolute exposures (None: no limit).

    Greek limits are one value for every underlying or a mapping per underlying (an
    underlying not in the mapping is unlimited).
    """

    max_leverage: float | None = None
    max_delta: float | Mapping[str, float] | None = None
    max_gamma: float | Mapping[str, float] | None = None
    max_vega: float | Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        """Validate the bounds (see the class docstring)."""
        for name in ("max_leverage", "max_delta", "max_gamma", "max_vega"):
            value = getattr(self, name)
            values = (value.values() if isinstance(value, Mapping)
                      else () if value is None else (value,))
            for v in values:
                if not (np.isfinite(v) and v >= 0):
                    raise InputError(f"Limits.{name} must be >= 0 and finite; got {v!r}")

    def bound(self, name: str, underlying: str) -> float | None:
        """Return the limit ``name`` (delta, gamma, vega) of ``underlying``; None: unlimited."""
        value = getattr(self, f"max_{name}")
        if isinstance(value, Mapping):
            return None if underlying not in value else float(value[underlying])
        return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Breach:
    """One limit broken: which, for which underlying (``""`` for the account), value and bound."""

    limit: str
    underlying: str
    value: float
    bound: float

    def __str__(self) -> str:
        """One line for a desk: the limit, where, the value and the bound."""
        where = f" {self.underlying}" if self.underlying else ""
        return f"{self.limit}{where}: {self.value:,.2f} exceeds {self.bound:,.2f}"


def exposures(book: Book, state: AccountState) -> dict[str, dict[str, float]]:
    """Delta notional, gamma per 1% and vega per vol point per underlying, and gross notional.

    ``book`` at ``state``'s market (the account's own book, or the book after an order).
    """
    market = state.market
    resolved = book.resolve(market)
    g = aggregate_greeks(resolved)
    spot = np.asarray(market.spot, dtype=float)
    names = market.underlyings
    idx = np.array([market.index_of(u) for u in book.underlying.tolist()], dtype=np.intp)
    gross = float(np.sum(np.abs(book.quantity * book.multiplier) * spot[idx])) if idx.size else 0.0
    return {"delta": dict(zip(names, (g.delta * spot).tolist(), strict=True)),
            "gamma": dict(zip(names, (g.gamma * spot**2 / 100.0).tolist(), strict=True)),
            "vega": dict(zip(names, (g.vega / 100.0).tolist(), strict=True)),
            "gross_notional": {"": gross}}


def limit_breaches(state: AccountState, limits: Limits, order: Book | None = None,
                   equity: float | None = None) -> list[Breach]:
    """List the limits the account breaks, after ``order`` when given (legs added to the book).

    ``equity`` for the leverage: the account's (after the order's cost, if the caller has
    one) by default.
    """
    book = state.account.book if order is None else state.account.book.concat(order)
    exposure = exposures(book, state)
    out = []
    for name in ("delta", "gamma", "vega"):
        if getattr(limits, f"max_{name}") is None:
            continue
        for u, value in exposure[name].items():
            bound = limits.bound(name, u)
            if bound is not None and abs(value) > bound:
                out.append(Breach(name, u, value, bound))
    if limits.max_leverage is not None:
        eq = float(state.equity) if equity is None else float(equity)
        gross = exposure["gross_notional"][""]
        leverage = gross / eq if eq > 0 else float("inf")
        if leverage > limits.max_leverage:
            out.append(Breach("leverage", "", leverage, limits.max_leverage))
    return out
