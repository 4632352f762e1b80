"""Integer codes shared by the kernels and the public API.

Kernels receive these as plain ``int8`` arrays; strings such as ``"call"`` or ``"C"`` are accepted
only at the I/O edge (:func:`OptionKind.parse`).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["OptionKind", "IVStatus", "ExerciseStyle", "Settlement", "ShiftType", "VolSource"]


class NamedIntEnum(IntEnum):
    """An integer code that prints as its name (``print(State.HEALTHY)`` shows ``HEALTHY``, not 0).

    The integer value is what the kernels and files use; ``str`` and ``f"{x}"`` give the name,
    a format spec (``f"{x:d}"``) the number.
    """

    def __str__(self) -> str:
        """Return the name."""
        return self.name

    def __format__(self, spec: str) -> str:
        """Return the name for an empty spec, else format the integer."""
        return self.name if not spec else format(int(self), spec)


class OptionKind(NamedIntEnum):
    """Instrument kind code: ``LINEAR`` (the underlying itself, a future, a perpetual), ``CALL``, ``PUT``."""

    LINEAR = 0
    CALL = 1
    PUT = 2

    @classmethod
    def parse(cls, text: str) -> OptionKind:
        """Parse an I/O-edge spelling (``c``, ``call``, ``p``, ``put``, ``linear``...).

        Raises
        ------
        ValueError
            If the text is not a known spelling.

        Examples
        --------
        >>> OptionKind.parse("C") is OptionKind.CALL
        True
        """
        key = text.strip().lower()
        if key in ("c", "call"):
            return cls.CALL
        if key in ("p", "put"):
            return cls.PUT
        if key in ("linear", "underlying", "future", "perpetual", "spot", "stock"):
            return cls.LINEAR
        raise ValueError(f"unknown option kind {text!r}; expected call/c, put/p or linear")


class ExerciseStyle(NamedIntEnum):
    """Exercise style code."""

    EUROPEAN = 0
    AMERICAN = 1


class IVStatus(NamedIntEnum):
    """Per-row outcome of an implied-volatility solve.

    ``OK``: solved (a price exactly at intrinsic value gives vol 0).
    ``BELOW_INTRINSIC``: the price is below the discounted forward intrinsic value (no vol reproduces it).
    ``ABOVE_MAXIMUM``: the price is at or above the no-arbitrage maximum (discounted forward for a
    call, discounted strike for a put), reached only as vol goes to infinity.
    ``NOT_CONVERGED``: the solver did not reach its tolerance.
    ``UNDETERMINED``: expiry is 0 and the price equals intrinsic value, so every vol reproduces it.
    """

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_MAXIMUM = 2
    NOT_CONVERGED = 3
    UNDETERMINED = 4


class Settlement(NamedIntEnum):
    """How a contract settles.

    ``LINEAR``: in the quote currency (USD for SPY options, USDC for linear crypto contracts).
    ``INVERSE``: in the underlying coin (Deribit BTC options and inverse futures): value in coin =
    value in quote currency / spot, and P&L in coin is taken at the scenario spot.
    """

    LINEAR = 0
    INVERSE = 1


class ShiftType(NamedIntEnum):
    """How a scenario's vol shift applies: ``ABSOLUTE`` sigma + v, ``RELATIVE`` sigma * (1 + v)."""

    ABSOLUTE = 0
    RELATIVE = 1


class VolSource(NamedIntEnum):
    """Where a resolved position's vol came from.

    Where a resolved position's vol came from (:attr:`ResolvedBook.vol_source`), in the order
    :meth:`Book.resolve` looks: a vol given for the position, one implied from its option price,
    the underlying's surface, the underlying's flat vol. ``NONE`` for linear instruments.
    """

    NONE = 0
    POSITION = 1
    PRICE = 2
    SURFACE = 3
    FLAT = 4
