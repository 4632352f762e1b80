"""SPAN's spread parameters: tiers, intra-commodity spreads, delivery charges, inter-commodity spreads.

What CME publishes per combined commodity (a class group here) beside the risk arrays
(``docs/methodology.md``, "SPAN spreads"): the **tiers** (consecutive contract months grouped
for spreading), the **intra-commodity spreads** (legs by tier, side and delta ratio, a charge per
spread formed, in priority order), the **delivery (spot) month charge** (per delta of the
delivery tier, one rate for delta used in spreads and one for what remains outright), and the
**inter-commodity spreads** between combined commodities (legs by class group, side and delta
ratio, a credit rate applied to each leg's weighted price risk, in priority order). The rules
that form the spreads and price them are ``greeksmargin.margin.span``.

A leg's ratio carries its side: legs with a positive ratio are side A, negative side B; "A versus
B" means long versus short, so a spread forms with side A long and B short or A short and B
long (legs all on one side form with all long or all short). CME's example "Corn vs. Soybeans
(2:1)" is ``InterSpread(0.55, (("C", 2), ("S", -1)))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from ..errors import MethodologyError

__all__ = ["SpanTier", "IntraSpread", "DeliveryCharge", "InterSpread", "SpanSpreads"]

T = TypeVar("T")


def _month(text: str, what: str) -> np.datetime64:
    try:
        month = np.datetime64(str(text), "M")
    except ValueError:
        raise MethodologyError(f"{what} must be a month 'YYYY-MM'; got {text!r}") from None
    if np.isnat(month):
        raise MethodologyError(f"{what} must be a month 'YYYY-MM'; got {text!r}")
    return month


def _legs(legs: tuple[tuple[object, float], ...], what: str) -> tuple[tuple[object, float], ...]:
    out = tuple((key, float(ratio)) for key, ratio in legs)
    if len(out) < 2:
        raise MethodologyError(f"{what} needs at least two legs; got {legs!r}")
    ratios = np.array([r for _, r in out])
    if not np.all(np.isfinite(ratios) & (ratios != 0)):
        raise MethodologyError(f"{what}: leg ratios must be finite and non-zero (the sign is the"
                               f" side); got {legs!r}")
    if len({key for key, _ in out}) != len(out):
        raise MethodologyError(f"{what}: a tier or class group appears in two legs: {legs!r}")
    return out


@dataclass(frozen=True, slots=True)
class SpanTier:
    """A tier: contract months ``first_month`` .. ``last_month`` ('YYYY-MM', inclusive)."""

    number: int
    first_month: str
    last_month: str

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        if _month(self.first_month, "tier first_month") > _month(self.last_month,
                                                                  "tier last_month"):
            raise MethodologyError(f"tier {self.number}: first_month {self.first_month!r} is after"
                                   f" last_month {self.last_month!r}")

    def months(self) -> tuple[np.datetime64, np.datetime64]:
        """Return the first and last month as ``datetime64[M]``."""
        return _month(self.first_month, "first_month"), _month(self.last_month, "last_month")


@dataclass(frozen=True, slots=True)
class IntraSpread:
    """A calendar spread: ``rate`` (currency) per spread formed; legs ``(tier number, ratio)``."""

    rate: float
    legs: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        if not (np.isfinite(self.rate) and self.rate >= 0):
            raise MethodologyError(f"intra-commodity spread rate must be >= 0 and finite; got"
                                   f" {self.rate!r}")
        object.__setattr__(self, "legs", tuple((int(str(t)), r) for t, r in _legs(
            self.legs, "intra-commodity spread")))


@dataclass(frozen=True, slots=True)
class DeliveryCharge:
    """The delivery (spot) month charge of tier ``tier``, per delta (currency).

    ``spread_rate`` applies to the tier's delta used in intra-commodity spreads,
    ``outright_rate`` to what remains; the tier's delta takes no part in inter-commodity spreads
    (CME: "Inter-commodity spreads are not allowed when either contract is in the delivery
    month").
    """

    tier: int
    spread_rate: float
    outright_rate: float

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        for name in ("spread_rate", "outright_rate"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise MethodologyError(f"delivery charge {name} must be >= 0 and finite; got"
                                       f" {value!r}")


@dataclass(frozen=True, slots=True)
class InterSpread:
    """A spread between class groups: credit ``rate`` (0..1) of each leg's weighted price risk."""

    rate: float
    legs: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        if not (np.isfinite(self.rate) and 0 <= self.rate <= 1):
            raise MethodologyError(f"inter-commodity credit rate must be in [0, 1]; got"
                                   f" {self.rate!r}")
        object.__setattr__(self, "legs", tuple((str(k), r) for k, r in _legs(
            self.legs, "inter-commodity spread")))


@dataclass(frozen=True, slots=True)
class SpanSpreads:
    """Every spread parameter, by class group (spreads in priority order: first formed first).

    Attributes
    ----------
    tiers : mapping of str to tuple of SpanTier
        Per class group; a contract whose month falls in no tier (or has no expiry) takes part
        in no intra-commodity spread, and in inter-commodity spreads as part of its group.
    intra : mapping of str to tuple of IntraSpread
        Per class group, in priority order.
    delivery : mapping of str to DeliveryCharge
        Per class group.
    inter : tuple of InterSpread
        In priority order.
    contract_size : mapping of str to float
        Per class group: the units of underlying one delta counts (the futures contract's
        multiplier); by default each position's own multiplier, which must then be one value per
        group.
    """

    tiers: Mapping[str, tuple[SpanTier, ...]] = field(default_factory=dict)
    intra: Mapping[str, tuple[IntraSpread, ...]] = field(default_factory=dict)
    delivery: Mapping[str, DeliveryCharge] = field(default_factory=dict)
    inter: tuple[InterSpread, ...] = ()
    contract_size: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        object.__setattr__(self, "tiers", {str(k): tuple(v) for k, v in self.tiers.items()})
        object.__setattr__(self, "intra", {str(k): tuple(v) for k, v in self.intra.items()})
        object.__setattr__(self, "delivery", dict(self.delivery))
        object.__setattr__(self, "inter", tuple(self.inter))
        object.__setattr__(self, "contract_size", {str(k): float(v)
                                                   for k, v in self.contract_size.items()})
        for key, tiers in self.tiers.items():
            numbers = [t.number for t in tiers]
            if len(set(numbers)) != len(numbers):
                raise MethodologyError(f"class group {key!r}: tier numbers repeat: {numbers}")
            spans = sorted(t.months() for t in tiers)
            for (_, last), (first, _) in zip(spans, spans[1:], strict=False):
                if first <= last:
                    raise MethodologyError(f"class group {key!r}: tiers overlap at {first}")
        for key, spreads in self.intra.items():
            known = {t.number for t in self.tiers.get(key, ())}
            for spread in spreads:
                unknown = sorted({t for t, _ in spread.legs} - known)
                if unknown:
                    raise MethodologyError(f"class group {key!r}: intra-commodity spread legs name"
                                           f" tiers {unknown} not in its tiers {sorted(known)}")
        for key, charge in self.delivery.items():
            if charge.tier not in {t.number for t in self.tiers.get(key, ())}:
                raise MethodologyError(f"class group {key!r}: delivery tier {charge.tier} is not"
                                       " one of its tiers")
        for key, size in self.contract_size.items():
            if not (np.isfinite(size) and size > 0):
                raise MethodologyError(f"contract size of {key!r} must be > 0; got {size!r}")

    @classmethod
    def from_mapping(cls, data: object, where: str = "spreads") -> SpanSpreads:
        """Build the spreads from plain data (a parsed JSON file), naming the key of any fault.

        ``{"tiers": {class: [[number, "YYYY-MM", "YYYY-MM"], ...]}, "intra": {class:
        [{"rate": r, "legs": [[tier, ratio], ...]}, ...]}, "delivery": {class: {"tier": t,
        "spread_rate": r, "outright_rate": r}}, "inter": [{"rate": r, "legs": [[class, ratio],
        ...]}, ...], "contract_size": {class: size}}``; every key optional, none other allowed.

        Raises
        ------
        MethodologyError
            A missing or unknown key, a wrong type or a value out of range, named by its path
            (``where`` first, e.g. the file name).
        """
        def fail(path: str, why: str) -> MethodologyError:
            return MethodologyError(f"{where}: {path}: {why}")

        def mapping(value: object, path: str) -> Mapping[str, object]:
            if not isinstance(value, Mapping):
                raise fail(path, f"must be an object; got {type(value).__name__}")
            return value

        def listing(value: object, path: str) -> list[object]:
            if not isinstance(value, list):
                raise fail(path, f"must be a list; got {type(value).__name__}")
            return value

        def number(value: object, path: str) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise fail(path, f"must be a number; got {value!r}")
            return float(value)

        def legs(value: object, path: str) -> tuple[tuple[object, float], ...]:
            out = []
            for k, leg in enumerate(listing(value, path)):
                pair = listing(leg, f"{path}[{k}]")
                if len(pair) != 2:
                    raise fail(f"{path}[{k}]", f"must be [key, ratio]; got {leg!r}")
                out.append((pair[0], number(pair[1], f"{path}[{k}][1]")))
            return tuple(out)

        def tier_number(value: object, path: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(path, f"must be a tier number; got {value!r}")
            return value

        def built(path: str, make: Callable[..., T], *args: object) -> T:
            try:
                return make(*args)
            except MethodologyError as exc:
                raise fail(path, str(exc)) from None

        top = mapping(data, "(top)")
        unknown = sorted(set(top) - {"tiers", "intra", "delivery", "inter", "contract_size"})
        if unknown:
            raise fail("(top)", f"unknown keys {unknown}; known: tiers, intra, delivery, inter,"
                       " contract_size")
        tiers: dict[str, tuple[SpanTier, ...]] = {}
        for key, rows in mapping(top.get("tiers", {}), "tiers").items():
            made = []
            for k, row in enumerate(listing(rows, f"tiers.{key}")):
                path = f"tiers.{key}[{k}]"
                cells = listing(row, path)
                if len(cells) != 3 or not isinstance(cells[0], int) or isinstance(cells[0], bool):
                    raise fail(path, f"must be [number, \"YYYY-MM\", \"YYYY-MM\"]; got {row!r}")
                made.append(built(path, SpanTier, int(str(cells[0])), str(cells[1]),
                                  str(cells[2])))
            tiers[str(key)] = tuple(made)
        intra: dict[str, tuple[IntraSpread, ...]] = {}
        for key, rows in mapping(top.get("intra", {}), "intra").items():
            made_intra = []
            for k, row in enumerate(listing(rows, f"intra.{key}")):
                path = f"intra.{key}[{k}]"
                spread = mapping(row, path)
                rate = number(spread.get("rate"), f"{path}.rate")
                pairs = legs(spread.get("legs"), f"{path}.legs")
                made_intra.append(built(path, IntraSpread, rate, tuple(
                    (tier_number(t, f"{path}.legs[{j}][0]"), q)
                    for j, (t, q) in enumerate(pairs))))
            intra[str(key)] = tuple(made_intra)
        delivery: dict[str, DeliveryCharge] = {}
        for key, row in mapping(top.get("delivery", {}), "delivery").items():
            path = f"delivery.{key}"
            charge = mapping(row, path)
            tier = tier_number(charge.get("tier"), f"{path}.tier")
            spread_rate = number(charge.get("spread_rate"), f"{path}.spread_rate")
            outright_rate = number(charge.get("outright_rate"), f"{path}.outright_rate")
            delivery[str(key)] = built(path, DeliveryCharge, tier, spread_rate, outright_rate)
        inter = []
        for k, row in enumerate(listing(top.get("inter", []), "inter")):
            path = f"inter[{k}]"
            spread = mapping(row, path)
            rate = number(spread.get("rate"), f"{path}.rate")
            pairs = legs(spread.get("legs"), f"{path}.legs")
            inter.append(built(path, InterSpread, rate, tuple((str(c), q) for c, q in pairs)))
        sizes = {str(key): number(value, f"contract_size.{key}") for key, value in
                 mapping(top.get("contract_size", {}), "contract_size").items()}
        return built("(top)", cls, tiers, intra, delivery, tuple(inter), sizes)

    def describe(self) -> dict[str, object]:
        """Plain parameters, for reports."""
        return {
            "tiers": {k: [(t.number, t.first_month, t.last_month) for t in v]
                      for k, v in self.tiers.items()},
            "intra": {k: [(s.rate, [list(leg) for leg in s.legs]) for s in v]
                      for k, v in self.intra.items()},
            "delivery": {k: (c.tier, c.spread_rate, c.outright_rate)
                         for k, c in self.delivery.items()},
            "inter": [(s.rate, [list(leg) for leg in s.legs]) for s in self.inter],
            "contract_size": dict(self.contract_size),
        }
