"""Strategy-based (Reg T) margin rules, as versioned data with their rule numbers.

What most US option accounts pay: each recognised strategy has its own requirement (Cboe Rule
10.3, FINRA Rule 4210(c)-(f), Regulation T 12 CFR 220.12), and a book's requirement depends on
how its legs are paired into strategies (:mod:`greeksmargin.margin.strategy` finds the pairing
that needs least). This module owns the formulas, per contract (options) or per share (stock),
in the quote currency; ``premium`` is an option's current value per contract (price x
multiplier). Parameters: ``methodology/data/regt/<version>.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MethodologyError
from .base import load_parameters

__all__ = ["RegTRules", "regt", "DEFAULT_VERSION"]

NAME = "regt"
DEFAULT_VERSION = "2024.1"


@dataclass(frozen=True, slots=True)
class RegTRules:
    """The strategy-based requirements (see the module docstring and docs/methodology.md).

    Attributes
    ----------
    name, version, source : str
        Identify the rule set.
    naked_rate : mapping of str to float
        Share of the underlying value charged on a short option, per product class
        (``equity``/``narrow_index`` 20%, ``broad_index``/``high_cap_index`` 15%).
    call_minimum, put_minimum : float
        Minimum, as a share of the underlying value (calls) or of the exercise price (puts).
    long_option_rate : float
        Share of a long option's premium paid (1: in full, options of 9 months or less).
    stock_rate : float
        Reg T initial rate on stock, long or short.
    rules : mapping of str to str
        Each strategy's rule text and number, reported with the result.
    """

    name: str
    version: str
    source: str
    naked_rate: Mapping[str, float]
    call_minimum: float
    put_minimum: float
    long_option_rate: float
    stock_rate: float
    rules: Mapping[str, str] = field(default_factory=dict)

    def rate(self, product_class: str) -> float:
        """Naked short-option rate of ``product_class``."""
        try:
            return float(self.naked_rate[product_class])
        except KeyError:
            raise MethodologyError(f"Reg T has no rate for product class {product_class!r};"
                                   f" known: {', '.join(self.naked_rate)}") from None

    def long_option(self, premium: np.ndarray) -> np.ndarray:
        """Long call or put: the premium paid (``long_option_rate`` of it)."""
        return self.long_option_rate * np.asarray(premium, dtype=float)

    def short_option(self, is_call: np.ndarray, spot: np.ndarray, strike: np.ndarray,
                     premium: np.ndarray, multiplier: np.ndarray, rate: np.ndarray
                     ) -> np.ndarray:
        """Naked short call or put, per contract.

        ``premium + max(rate x S m - OTM m, minimum)``; OTM = ``max(K - S, 0)`` for calls,
        ``max(S - K, 0)`` for puts; minimum = ``call_minimum x S m`` (calls) or
        ``put_minimum x K m`` (puts).
        """
        call = np.asarray(is_call, dtype=bool)
        s, k, m = (np.asarray(x, dtype=float) for x in (spot, strike, multiplier))
        otm = np.where(call, np.maximum(k - s, 0.0), np.maximum(s - k, 0.0))
        floor = np.where(call, self.call_minimum * s, self.put_minimum * k)
        return np.asarray(premium, dtype=float) + m * np.maximum(rate * s - otm, floor)

    def stock(self, spot: np.ndarray) -> np.ndarray:
        """Long or short stock, per share."""
        return self.stock_rate * np.asarray(spot, dtype=float)

    def spread(self, is_call: bool, short_strike: float, long_strike: float,
               short_premium: float, long_premium: float, multiplier: float) -> float:
        """Vertical (or diagonal, the long expiring with or after the short) spread, per unit.

        A credit spread (calls: long strike above the short's; puts: below) needs the strike
        difference; a debit spread the net debit, paid in full.
        """
        width = (long_strike - short_strike) if is_call else (short_strike - long_strike)
        if width > 0:
            return width * multiplier
        return max(long_premium - short_premium, 0.0)

    def straddle(self, call_requirement: float, put_requirement: float, call_premium: float,
                 put_premium: float) -> float:
        """Short straddle or strangle, per unit: the greater side + the other's premium."""
        if call_requirement >= put_requirement:
            return call_requirement + put_premium
        return put_requirement + call_premium

    def iron_condor(self, put_width: float, call_width: float, multiplier: float) -> float:
        """Short iron condor or iron butterfly, per unit: the wider credit spread."""
        return max(put_width, call_width) * multiplier

    def butterfly(self, wing_premiums: float, body_premium: float) -> float:
        """Long butterfly (1 x -2 x 1, equal distances), per unit: the net debit."""
        return max(wing_premiums - 2.0 * body_premium, 0.0)

    def describe(self) -> dict[str, Any]:
        """Name, version, source and parameters, for reports and ``--format json``."""
        return {"name": self.name, "version": self.version, "source": self.source,
                "parameters": {"naked_rate": dict(self.naked_rate),
                               "call_minimum": self.call_minimum,
                               "put_minimum": self.put_minimum,
                               "long_option_rate": self.long_option_rate,
                               "stock_rate": self.stock_rate}}


def regt(version: str = DEFAULT_VERSION) -> RegTRules:
    """Load the strategy-based (Reg T) rules of ``version``."""
    data = load_parameters(NAME, version)
    rates = {str(k): float(v) for k, v in data["naked_rate"].items()}
    values = [*rates.values(), data["call_minimum_rate_of_underlying"],
              data["put_minimum_rate_of_strike"], data["long_option_rate"],
              data["stock_initial_rate"]]
    if not all(np.isfinite(v) and 0 <= v <= 1 for v in values):
        raise MethodologyError(f"Reg T {version}: every rate must be in [0, 1]")
    return RegTRules(NAME, version, str(data["source"]), rates,
                     float(data["call_minimum_rate_of_underlying"]),
                     float(data["put_minimum_rate_of_strike"]), float(data["long_option_rate"]),
                     float(data["stock_initial_rate"]), dict(data["rules"]))
