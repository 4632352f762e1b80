"""SPAN's spreads, formed from deltas: intra-commodity and delivery charges, inter-commodity credits.

Per combined commodity (a class group; one per account in a batch), after the scan
(``docs/methodology.md``, "SPAN spreads"; CME's pubspan report definitions and its spread
calculation examples):

1. **Deltas.** Each position's composite delta in futures-equivalent contracts: the change of
   its value per unit of its underlying's price (a central difference of the revaluation
   itself, so every model and settlement is covered) over the contract size. Deltas are summed
   per tier (a tier is a range of contract months).
2. **Intra-commodity spreads**, in priority order: a spread needs, on every leg, delta of the
   leg's side (A long and B short, or A short and B long) in the leg's ratio; the number formed
   is the least of ``available delta / |ratio|`` over its legs (fractional, as SPAN forms spreads
   from deltas); each costs ``rate``; the delta is used up.
3. **Delivery charge**: ``spread_rate x`` the delivery tier's delta used in spreads ``+
   outright_rate x`` its remaining delta.
4. **Inter-commodity spreads** between the class groups of one account, in priority order, on
   each group's remaining delta (its delivery tier left out), formed as in step 2; the credit of
   each leg is ``rate x spreads x |ratio| x WPR``, the weighted price risk ``WPR = price risk /
   |net delta|``, ``price risk = scan risk - time risk - volatility risk``; time risk is the mean
   loss of the scenarios at an unchanged price, volatility risk half the loss difference between
   the worst scenario and its pair (same price move, opposite vol move; 0 when unpaired).

The deltas per group and tier (:func:`tier_deltas`) are facts that add up
(``GroupFacts.tier_delta``: a held book plus an order's legs); the spreads formed from them do
not, so ``GroupRules.spreads_of`` forms them anew before every reduction, and the group's
charge ``intra + delivery - inter`` enters the one reduction before the minimums
(``kernels._margin``): requirement = ``max(scan + intra + delivery - inter, SOM)``. Below, the
risk arrays of contracts (:func:`span_risk_arrays`) and the margin of positions on them
(:func:`margin_from_risk_arrays`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._arrays import distinct_objects
from ..errors import CurrencyError, InputError, MethodologyError
from ..io.span_arrays import RiskArrays, text_cells
from ..methodology.base import Methodology
from ..methodology.span import SpanGrids
from ..methodology.span_spreads import SpanSpreads
from ..model.book import Book, ResolvedBook
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    import pandas as pd

    from .result import MarginResult

__all__ = ["SpanPositions", "SpreadParts", "spread_parts", "tier_deltas", "tier_width",
           "tier_columns", "composite_deltas", "contract_sizes", "span_risk_arrays",
           "margin_from_risk_arrays", "DELTA_STEP", "DELTA_GRID"]

DELTA_STEP = 1e-4  # relative spot step of the composite delta's central difference


@dataclass(frozen=True, slots=True)
class SpanPositions:
    """What the spreads need of each position (dimension ``position``).

    Attributes
    ----------
    group : ndarray of int
        The position's group (row of the P&L).
    month : ndarray of datetime64[M]
        Its contract month (NaT: none, e.g. a perpetual or the underlying itself).
    delta : ndarray of float
        Its composite delta, signed, in futures-equivalent contracts.
    group_account : ndarray of int
        The account of each group (-1: none); inter-commodity spreads form within one account.
    """

    group: np.ndarray
    month: np.ndarray
    delta: np.ndarray
    group_account: np.ndarray

    @classmethod
    def from_resolved(cls, resolved: ResolvedBook, spreads: SpanSpreads, *,
                      one_size: bool = True) -> SpanPositions:
        """Deltas and months of every position of ``resolved`` (sorted rows).

        A delta counts contracts of ``spreads.contract_size`` (per class group), else of the
        position's own multiplier; with ``one_size`` a group's multipliers must then agree (its
        deltas are added).

        Raises
        ------
        MethodologyError
            With ``one_size``, a group whose positions have several multipliers and no
            ``contract_size``.
        """
        from ..measures.revalue import revalue

        size = contract_sizes(resolved, spreads, one_size)
        moved = revalue(resolved, DELTA_GRID, keep_positions=True).position_values
        assert moved is not None
        spot = np.asarray(resolved.market.spot, float)
        delta = composite_deltas(moved[resolved.order], spot[resolved.underlying_index], size)
        return cls(np.asarray(resolved.group_index, np.intp),
                   resolved.expiry_dates().astype("datetime64[M]"), delta,
                   np.asarray(resolved.group_account, np.intp))


DELTA_GRID = ScenarioGrid.product([-DELTA_STEP, DELTA_STEP], name="composite delta")


def composite_deltas(moved: np.ndarray, spot: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Return each position's delta in contracts from its P&L under :data:`DELTA_GRID`.

    ``moved`` (positions x 2) is the P&L at ``-DELTA_STEP`` and ``+DELTA_STEP``, ``spot`` each
    position's underlying price, ``size`` the units of underlying one delta counts.
    """
    return (moved[:, 1] - moved[:, 0]) / (2 * DELTA_STEP * spot) / size


def contract_sizes(resolved: ResolvedBook, spreads: SpanSpreads, one_size: bool = True
                   ) -> np.ndarray:
    """Return the units of underlying one delta counts, per sorted row of ``resolved``.

    ``spreads.contract_size`` of the row's class group, else its own multiplier (with
    ``one_size``, one value per group, or a MethodologyError naming the group).
    """
    size = np.array(resolved.multiplier, float)
    keys = np.asarray(resolved.group_class, dtype=object)
    given = np.array([spreads.contract_size.get(k, np.nan) for k in keys.tolist()], float)
    row_given = given[resolved.group_index] if given.size else np.zeros(0)
    size = np.where(np.isnan(row_given), size, row_given)
    offsets = np.asarray(resolved.group_offsets)
    filled = np.flatnonzero(offsets[1:] > offsets[:-1])
    if one_size and filled.size:
        low = np.minimum.reduceat(size, offsets[filled])
        high = np.maximum.reduceat(size, offsets[filled])
        if np.any(low != high):
            g = int(filled[np.flatnonzero(low != high)[0]])
            rows = slice(offsets[g], offsets[g + 1])
            raise MethodologyError(
                f"SPAN deltas of group {resolved.group_labels[g]!r} count futures-equivalent"
                f" contracts, but its positions have multipliers"
                f" {np.unique(size[rows]).tolist()}; give its contract size (SpanSpreads("
                f"contract_size=...), \"contract_size\" in a spreads file)")
    return size


@dataclass(frozen=True, slots=True)
class SpreadParts:
    """The spread parts per group (group currency) and the evidence behind the credits."""

    intra: np.ndarray  # intra-commodity spread charge
    delivery: np.ndarray  # delivery (spot) month charge
    inter: np.ndarray  # inter-commodity credit (>= 0; subtracted)
    net_delta: np.ndarray  # the group's net composite delta
    price_risk: np.ndarray  # scan risk - time risk - volatility risk (>= 0)
    time_risk: np.ndarray
    volatility_risk: np.ndarray

    @property
    def charge(self) -> np.ndarray:
        """Return ``intra + delivery - inter`` per group: what the reduction adds to the scan."""
        return self.intra + self.delivery - self.inter


def _form(available: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    # spreads formed (per row) on legs' available deltas with signed ratios, both orientations;
    # uses up the delta in place
    formed = np.zeros(available.shape[0])
    for side in (1.0, -1.0):
        need = side * ratios
        n = np.min(np.maximum(available * np.sign(need), 0.0) / np.abs(need), axis=1)
        available -= n[:, None] * need
        formed += n
    return formed


def _risk_split(values: np.ndarray, grids: Sequence[ScenarioGrid], scan: np.ndarray,
                worst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # time risk (mean loss at an unchanged price) and volatility risk (half the loss difference
    # of the worst scenario and its opposite-vol pair) per group, one pass per distinct grid
    n = values.shape[0]
    time_risk, vol_risk = np.zeros(n), np.zeros(n)
    distinct, index = distinct_objects(grids)
    for d, grid in enumerate(distinct):
        rows = np.flatnonzero(index == d)
        loss = -values[rows]
        flat = (grid.spot_shift == 0) & (grid.weight == 1)
        if flat.any():
            time_risk[rows] = loss[:, flat].mean(axis=1)
        pair = np.full(grid.n_scenarios, -1, np.intp)  # each scenario's opposite-vol pair
        for j in range(grid.n_scenarios):
            if grid.vol_shift[j] != 0:
                match = np.flatnonzero((grid.spot_shift == grid.spot_shift[j])
                                       & (grid.vol_shift == -grid.vol_shift[j]))
                pair[j] = match[0] if match.size else -1
        active = worst[rows]
        paired = (pair[active] >= 0) & (scan[rows] > 0)
        at = np.arange(rows.size)
        gap = (loss[at, active] - loss[at, np.maximum(pair[active], 0)]) / 2.0
        vol_risk[rows] = np.where(paired, np.maximum(gap, 0.0), 0.0)
    return time_risk, vol_risk


def tier_width(spreads: SpanSpreads) -> int:
    """Return the columns of a tier-delta matrix: the most tiers of a class group, plus one."""
    return max((len(t) for t in spreads.tiers.values()), default=0) + 1


def tier_columns(spreads: SpanSpreads, group: np.ndarray, month: np.ndarray,
                 group_class: Sequence[str]) -> np.ndarray:
    """Return each position's column of a tier-delta matrix (:func:`tier_deltas`)."""
    width = tier_width(spreads)
    column = np.full(np.size(group), width - 1, np.intp)
    keys = np.asarray(group_class, dtype=object)[group] if len(group_class) else \
        np.zeros(0, object)
    for key, tiers in spreads.tiers.items():
        mine = keys == key
        for t, tier in enumerate(tiers):
            first, last = tier.months()
            column[mine & (month >= first) & (month <= last)] = t
    return column


def tier_deltas(spreads: SpanSpreads, positions: SpanPositions, group_class: Sequence[str],
                column: np.ndarray | None = None) -> np.ndarray:
    """Sum the positions' deltas per group and tier: ``(n_groups, tier_width(spreads))``.

    Column ``t`` holds the delta of the group's class's ``t``-th tier (in the order
    ``spreads.tiers`` gives them), the last column the delta in no tier. Deltas add up, so the
    matrix of a combined book is the sum of its parts' (an order's legs, a held book).
    ``column`` is the positions' :func:`tier_columns` when the caller has them already.
    """
    out = np.zeros((len(group_class), tier_width(spreads)))
    if column is None:
        column = tier_columns(spreads, positions.group, positions.month, group_class)
    np.add.at(out, (positions.group, column), positions.delta)
    return out


def spread_parts(spreads: SpanSpreads, tier_delta: np.ndarray, values: np.ndarray,
                 grids: Sequence[ScenarioGrid], scan: np.ndarray, worst: np.ndarray,
                 group_class: Sequence[str], group_account: np.ndarray) -> SpreadParts:
    """Form every group's spreads and price them (module docstring).

    ``tier_delta`` is the groups' deltas per tier (:func:`tier_deltas`), ``values`` their
    scenario P&L, ``scan`` and ``worst`` the scan risk and worst scenario of each group without
    spreads, ``group_account`` each group's account (-1: none; inter-commodity spreads form
    within one account).
    """
    n = values.shape[0]
    keys = np.asarray(group_class, dtype=object)
    intra, delivery, remaining = np.zeros(n), np.zeros(n), np.zeros(n)
    net_delta = tier_delta.sum(axis=1) if n else np.zeros(0)
    for key in sorted(set(group_class)):
        groups = np.flatnonzero(keys == key)
        tiers = spreads.tiers.get(key, ())
        tier = tier_delta[groups][:, :len(tiers)].copy()
        original = tier.copy()
        number = {t.number: k for k, t in enumerate(tiers)}
        for calendar in spreads.intra.get(key, ()):
            cols = np.array([number[t] for t, _ in calendar.legs])
            legs = tier[:, cols]
            intra[groups] += calendar.rate * _form(legs, np.array([r for _, r in calendar.legs]))
            tier[:, cols] = legs
        left = tier.sum(axis=1) + tier_delta[groups, -1]  # what the calendars left, and no tier
        charge = spreads.delivery.get(key)
        if charge is not None:
            col = number[charge.tier]
            used = np.abs(original[:, col]) - np.abs(tier[:, col])
            delivery[groups] = (charge.spread_rate * used
                                + charge.outright_rate * np.abs(tier[:, col]))
            left = left - tier[:, col]
        remaining[groups] = left
    time_risk, vol_risk = _risk_split(values, grids, scan, worst)
    price_risk = np.maximum(scan - time_risk - vol_risk, 0.0)
    wpr = np.divide(price_risk, np.abs(net_delta), out=np.zeros(n), where=net_delta != 0)
    inter = np.zeros(n)
    if spreads.inter and n:
        _, account_row = np.unique(np.asarray(group_account, np.intp), return_inverse=True)
        n_accounts = int(account_row.max()) + 1
        for spread in spreads.inter:
            leg_group = np.full((n_accounts, len(spread.legs)), -1, np.intp)
            for k, (leg_key, _) in enumerate(spread.legs):
                at = np.flatnonzero(keys == leg_key)
                leg_group[account_row[at], k] = at
            full = np.all(leg_group >= 0, axis=1)
            if not full.any():
                continue
            members = leg_group[full]
            ratios = np.array([r for _, r in spread.legs])
            legs = remaining[members]
            formed = _form(legs, ratios)
            remaining[members] = legs
            np.add.at(inter, members, spread.rate * formed[:, None] * np.abs(ratios)
                      * wpr[members])
    return SpreadParts(intra, delivery, inter, net_delta, price_risk, time_risk, vol_risk)


def _contract_names(resolved: ResolvedBook, rows: np.ndarray) -> np.ndarray:
    # "<underlying> <YYYY-MM-DD> <C|P> <strike>", "<underlying> <date> F" or the underlying
    # itself (no expiry), with "#2", "#3" ... where contracts differ only in what the name leaves out (multiplier,
    # exercise, settlement, vol)
    market = resolved.market
    day = resolved.expiry_dates()[rows].astype("datetime64[D]")
    names = []
    seen: dict[str, int] = {}
    letter = {1: "C", 2: "P"}
    for k, r in enumerate(rows.tolist()):
        date = str(day[k]) if not np.isnat(day[k]) else "-"
        kind = int(resolved.kind[r])
        underlying = market.underlyings[int(resolved.underlying_index[r])]
        text = (f"{underlying} {date} {letter[kind]} {float(resolved.strike[r]):g}"
                if kind in letter else f"{underlying} {date} F" if date != "-" else underlying)
        seen[text] = seen.get(text, 0) + 1
        names.append(text if seen[text] == 1 else f"{text} #{seen[text]}")
    return np.array(names, dtype=np.str_)


def span_risk_arrays(book: Book, market: MarketData, methodology: Methodology
                     ) -> tuple[RiskArrays, pd.DataFrame]:
    """Compute the risk arrays of every contract of ``book`` under a SPAN ``methodology``.

    Returns the arrays (one long contract each: its scenario losses, extreme scenarios already
    times their coverage, and its composite delta, CME's conventions; ``io.span_arrays``; without
    spreads a delta counts contracts of the contract's own multiplier) and
    the book's positions on them (``position_id``, ``contract``, ``quantity``), so that
    :func:`margin_from_risk_arrays` margins the book from a file of the arrays exactly as
    :func:`~greeksmargin.margin.result.compute_margin` does from the book.
    """
    import pandas as pd

    from ..measures.revalue import position_values, revalue
    from .concentration import margin_grids

    resolved = book.resolve(market)
    instrument, first = resolved.instruments()
    # one long contract per instrument, in a book of its own: its P&L is the array
    unit = book.take(np.asarray(resolved.order)[first])
    unit = dataclasses.replace(unit, quantity=np.ones(first.size),
                               position_id=np.array([f"u{k}" for k in range(first.size)]))
    unit_resolved = unit.resolve(market)
    built = margin_grids(methodology, unit_resolved)
    grids = built if isinstance(built, tuple) else (built,) * unit_resolved.n_groups
    pnl = revalue(unit_resolved, grids, keep_positions=True)
    assert pnl.position_values is not None and pnl.position_group is not None
    weight = np.array([g.weight for g in grids], float).reshape(len(grids), -1)
    loss = -pnl.position_values * weight[pnl.position_group] + 0.0  # + 0.0: no -0.0 in files
    found = SpanPositions.from_resolved(unit_resolved, methodology.spreads or SpanSpreads(),
                                        one_size=methodology.spreads is not None)
    delta = np.empty(first.size)
    delta[unit_resolved.order] = found.delta
    month = np.empty(first.size, "datetime64[M]")
    month[unit_resolved.order] = found.month
    value = np.empty(first.size)
    value[unit_resolved.order] = position_values(unit_resolved)
    names = _contract_names(resolved, first)
    arrays = RiskArrays(names, np.asarray(unit_resolved.group_class, dtype=np.str_)[
        pnl.position_group], np.asarray(pnl.currency, dtype=np.str_)[pnl.position_group],
        resolved.kind[first], month, resolved.multiplier[first], delta, value, loss)
    row_contract = np.empty(resolved.position_id.size, np.intp)
    row_contract[resolved.order] = instrument
    positions = pd.DataFrame({"position_id": book.position_id, "contract": names[row_contract],
                              "quantity": book.quantity})
    return arrays, positions


def margin_from_risk_arrays(arrays: RiskArrays, positions: pd.DataFrame,
                            methodology: Methodology) -> MarginResult:
    """Margin positions held on contracts whose risk arrays are given (a SPAN file's).

    ``positions`` has a ``contract`` column (names of ``arrays``), ``quantity`` (signed
    contracts) and optionally ``account``. Each account's positions are grouped by class group
    (labels ``account/class``, or the class alone without accounts) and netted per contract;
    a group's scenario P&L is ``-sum quantity x loss`` (its value now, for the net option
    value, ``sum quantity x value``); the add-ons (SOM) count the net
    contracts and SPAN's spreads form from ``quantity x delta``, as for a book
    (:func:`~greeksmargin.margin.result.compute_margin`). Every group must settle in one
    currency, and the file in one (there is no market here to convert).

    Raises
    ------
    InputError
        Positions without the columns, a contract not in ``arrays``, a quantity that is not
        finite (each named by its row), or a methodology whose scenarios differ in number.
    CurrencyError
        Arrays in several currencies.
    """
    import pandas as pd
    import scipy.sparse

    from ..kernels._margin import Counts
    from ..measures.revalue import PnLMatrix
    from .result import margin_from_pnl
    from .rules import GroupFacts, count_positions

    for column in ("contract", "quantity"):
        if column not in positions.columns:
            raise InputError(f"positions need a {column!r} column; got"
                             f" {', '.join(map(str, positions.columns))}")
    if not isinstance(methodology.grid_rule, SpanGrids):
        raise MethodologyError(f"risk arrays are SPAN's; got methodology {methodology.name!r}")
    grid = methodology.grid_rule.risk_array_grid()
    if grid.n_scenarios != arrays.n_scenarios:
        raise InputError(f"risk arrays have {arrays.n_scenarios} scenarios; {methodology.name}"
                         f" {methodology.version} has {grid.n_scenarios}")
    currencies = np.unique(arrays.currency)
    if currencies.size > 1:
        raise CurrencyError(f"risk arrays in several currencies {currencies.tolist()}; margin"
                            " each currency's contracts apart (no market here to convert)")
    names = text_cells(positions["contract"]).to_numpy(dtype=np.str_)
    order = np.argsort(arrays.contract)
    at = np.minimum(np.searchsorted(arrays.contract[order], names), max(order.size - 1, 0))
    known = order.size > 0
    contract = order[at] if known else np.zeros(names.size, np.intp)
    unknown = ~(arrays.contract[contract] == names) if known else np.ones(names.size, bool)
    if unknown.any():
        r = int(np.flatnonzero(unknown)[0])
        raise InputError(f"positions row {r + 1}: contract {str(names[r])!r} has no risk array")
    quantity = pd.to_numeric(positions["quantity"], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(quantity)):
        r = int(np.flatnonzero(~np.isfinite(quantity))[0])
        raise InputError(f"positions row {r + 1}: quantity {positions['quantity'].iloc[r]!r} is"
                         " not a finite number")
    if "account" in positions.columns:
        found, account_code = np.unique(positions["account"].astype(str).to_numpy(dtype=np.str_),
                                        return_inverse=True)
        account_names: np.ndarray | None = np.asarray(found, dtype=object)
    else:
        account_code, account_names = np.zeros(names.size, np.intp), None
    class_names, class_code = np.unique(arrays.class_group[contract], return_inverse=True)
    pair = account_code.astype(np.int64) * max(len(class_names), 1) + class_code
    keys, group = np.unique(pair, return_inverse=True)
    group_account, group_class = np.divmod(keys, max(len(class_names), 1))
    classes = tuple(str(c) for c in np.asarray(class_names, dtype=object)[group_class])
    labels = classes if account_names is None else tuple(
        f"{a}/{c}" for a, c in zip(account_names[group_account], classes, strict=True))
    n_groups = keys.size
    held = scipy.sparse.csr_matrix((quantity, (group, contract)),
                                   shape=(n_groups, arrays.contract.size))
    values = -np.asarray(held @ arrays.loss)
    net = held.tocoo()
    counts = count_positions(net.row, arrays.kind[net.col], net.data,
                             arrays.multiplier[net.col], n_groups)
    currency = tuple(str(currencies[0]) for _ in range(n_groups))
    facts = GroupFacts(Counts(*counts), np.ones(n_groups), np.ones(n_groups), currency[0]
                       if n_groups else "")
    pnl = PnLMatrix(values, labels, np.asarray(held @ arrays.value), currency,
                    (grid,) * n_groups, group_class=classes)
    span_positions = SpanPositions(net.row.astype(np.intp), arrays.month[net.col],
                                   net.data * arrays.delta[net.col],
                                   np.asarray(group_account, np.intp))
    if methodology.spreads is not None:
        facts = facts.with_tier_delta(tier_deltas(methodology.spreads, span_positions, classes))
    return margin_from_pnl(pnl, methodology=methodology, facts=facts,
                           span_positions=span_positions)
