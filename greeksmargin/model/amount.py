"""Amounts that know their currency.

An :class:`Amount` is a ``float`` with a ``currency``: arithmetic and formatting work as for a
float, but adding, subtracting, dividing or comparing two amounts in different currencies raises
:class:`~greeksmargin.errors.CurrencyError` instead of giving a number. A plain number combined
with an amount takes the amount's currency (a factor, or a figure known to be in it), so
``number / amount`` is a ratio; multiplying two amounts is refused. :meth:`Amount.to` converts at an explicit rate.

Fiat currencies print with 2 decimals; coins (BTC, ETH, ...) with enough decimals to show four
significant digits, up to 8 (a satoshi): ``0.1169 BTC``, not ``0.12``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, SupportsFloat

from ..errors import CurrencyError, InputError

__all__ = ["Amount", "FIAT", "decimals_for", "format_amount"]

# ISO 4217 codes the package treats as fiat (2 decimals); anything else is a coin or a token.
FIAT = frozenset({"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "HKD", "SGD", "SEK",
                  "NOK", "DKK", "CNY", "CNH", "KRW", "INR", "BRL", "MXN", "ZAR", "USDC", "USDT"})
SIGNIFICANT_DIGITS = 4
MAX_COIN_DECIMALS = 8


def decimals_for(currency: str, values: Iterable[float] = ()) -> int:
    """Return the decimals to print amounts of a currency.

    Decimals to print amounts of ``currency``: 2 for fiat; for a coin, enough to show
    ``SIGNIFICANT_DIGITS`` significant digits of the smallest non-zero of ``values`` (at least 4,
    at most 8).
    """
    if currency.upper() in FIAT:
        return 2
    smallest = min((abs(float(v)) for v in values if v and math.isfinite(float(v))), default=1.0)
    needed = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(smallest))
    return max(SIGNIFICANT_DIGITS, min(MAX_COIN_DECIMALS, needed))


def format_amount(value: float, currency: str, decimals: int | None = None) -> str:
    """``value`` with thousands separators and the digits its currency needs, then the code."""
    digits = decimals_for(currency, (value,)) if decimals is None else decimals
    return f"{float(value):,.{digits}f} {currency}"


def _currency_of(other: object) -> str | None:
    return other.currency if isinstance(other, Amount) else None


class Amount(float):
    """A float in one currency (see the module docstring for the rules)."""

    __slots__ = ("currency",)
    currency: str

    def __new__(cls, value: SupportsFloat, currency: str) -> Amount:
        """Create an amount of ``value`` in ``currency`` (a non-empty code such as ``"USD"``)."""
        if currency.__class__ is not str or not currency or currency != currency.strip():
            raise InputError(f"an amount needs a currency code (no spaces); got {currency!r}")
        obj = float.__new__(cls, value)
        obj.currency = currency
        return obj

    @classmethod
    def trusted(cls, value: float, currency: str) -> Amount:
        """Create an amount without checking the code (hot paths whose code is already checked)."""
        obj = float.__new__(cls, value)
        obj.currency = currency
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the currency."""
        return (Amount, (float(self), self.currency))

    def _same(self, other: object, what: str) -> None:
        theirs = _currency_of(other)
        if theirs is not None and theirs != self.currency:
            raise CurrencyError(f"cannot {what} {format_amount(self, self.currency)} and"
                                f" {format_amount(other, theirs)}: convert one first"  # type: ignore[arg-type]
                                " (Amount.to)")

    def _wrap(self, value: float) -> Amount:
        obj = float.__new__(Amount, value)  # the currency is known good
        obj.currency = self.currency
        return obj

    def __add__(self, other: object) -> Amount:  # type: ignore[override]
        """Add an amount of the same currency (or a plain number)."""
        self._same(other, "add")
        return self._wrap(float(self) + float(other))  # type: ignore[arg-type]

    __radd__ = __add__

    def __sub__(self, other: object) -> Amount:  # type: ignore[override]
        """Subtract an amount of the same currency (or a plain number)."""
        self._same(other, "subtract")
        return self._wrap(float(self) - float(other))  # type: ignore[arg-type]

    def __rsub__(self, other: object) -> Amount:  # type: ignore[override]
        """Subtract from a plain number or an amount of the same currency."""
        self._same(other, "subtract")
        return self._wrap(float(other) - float(self))  # type: ignore[arg-type]

    def __mul__(self, other: object) -> Amount:  # type: ignore[override]
        """Scale by a plain number; two amounts do not multiply."""
        if isinstance(other, Amount):
            raise CurrencyError(f"cannot multiply two amounts ({self.currency} x {other.currency})")
        return self._wrap(float(self) * float(other))  # type: ignore[arg-type]

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Any:  # type: ignore[override]
        """Divide by a number (an amount) or by an amount of the same currency (a ratio)."""
        if isinstance(other, Amount):  # a ratio of two amounts of one currency is a number
            self._same(other, "divide")
            return float(self) / float(other)
        return self._wrap(float(self) / float(other))  # type: ignore[arg-type]

    def __rtruediv__(self, other: object) -> float:  # type: ignore[override]
        """Divide a plain number by this amount (a ratio)."""
        # a plain number over an amount: the number is taken in the amount's currency (a ratio)
        self._same(other, "divide")
        return float(other) / float(self)  # type: ignore[arg-type]

    def __neg__(self) -> Amount:
        """Negate."""
        return self._wrap(-float(self))

    def __pos__(self) -> Amount:
        """Return self."""
        return self

    def __abs__(self) -> Amount:
        """Return the absolute amount."""
        return self._wrap(abs(float(self)))

    def __eq__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        self._same(other, "compare")
        return float(self) == other

    def __ne__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        return not self.__eq__(other)

    __hash__ = float.__hash__

    def __lt__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        self._same(other, "compare")
        return float(self) < float(other)  # type: ignore[arg-type]

    def __le__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        self._same(other, "compare")
        return float(self) <= float(other)  # type: ignore[arg-type]

    def __gt__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        self._same(other, "compare")
        return float(self) > float(other)  # type: ignore[arg-type]

    def __ge__(self, other: object) -> bool:
        """Compare with an amount of the same currency or a plain number."""
        self._same(other, "compare")
        return float(self) >= float(other)  # type: ignore[arg-type]

    def to(self, currency: str, rate: float) -> Amount:
        """Convert to ``currency``, at ``rate`` units of ``currency`` per unit of this one.

        Raises
        ------
        InputError
            A rate that is not > 0 and finite.
        """
        if currency == self.currency:
            return self
        if not (math.isfinite(rate) and rate > 0):
            raise InputError(f"conversion rate {self.currency}->{currency} must be > 0 and finite;"
                             f" got {rate!r}")
        return Amount(float(self) * rate, currency)

    def __repr__(self) -> str:
        """Show value and currency."""
        return f"Amount({float(self)!r}, {self.currency!r})"

    def __str__(self) -> str:
        """Format with the digits the currency needs and its code."""
        return format_amount(self, self.currency)
