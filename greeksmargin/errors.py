"""Exception hierarchy of greeksmargin.

Every error the package raises on bad input is an :class:`InputError` (a :class:`ValueError`)
whose message names the field, the constraint, the offending value and where it was found.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GreeksMarginError",
    "InputError",
    "MarketDataError",
    "MethodologyError",
    "ImpliedVolError",
    "CurrencyError",
    "Failure",
]


class GreeksMarginError(Exception):
    """Base class of every exception raised by greeksmargin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InputError(GreeksMarginError, ValueError):
    """An input failed validation; the message names field, value and row."""


class MarketDataError(InputError):
    """Market data is missing or invalid (unknown underlying, non-positive spot, ...)."""


class MethodologyError(GreeksMarginError):
    """A margin methodology or preset is unknown or inconsistent."""


class ImpliedVolError(InputError):
    """An implied volatility could not be found for at least one row.

    Attributes
    ----------
    status : numpy.ndarray
        The per-row :class:`~greeksmargin.enums.IVStatus` codes of the whole call.
    """

    def __init__(self, message: str, status: object) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Failure:
    """One rejected input row: where, which field, and why."""

    row: int  # 1-based data row (the header is not counted)
    position_id: str
    field: str
    reason: str

    def __str__(self) -> str:
        """Format for one line of an error report."""
        return f"row {self.row} (position {self.position_id!r}): {self.field}: {self.reason}"


class MissingInputWarning(UserWarning):
    """Some rows had NaN inputs (a missing value, e.g. an unsolved implied vol); their outputs are NaN.

    The message counts them; every other row is computed as usual.
    """


class CurrencyError(InputError):
    """Two amounts in different currencies were added or compared without a conversion."""
