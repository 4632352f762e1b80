"""Full revaluation: a resolved book under a scenario grid, P&L per group x scenario.

``revalue(resolved, grid)`` runs one Numba kernel over (group, scenario) cells, in parallel for
large books, and returns a :class:`PnLMatrix` (positive = gain, settlement currency: quote currency,
or coin for inverse contracts). Each group may have its own grid (a methodology that scales ranges
per product class builds one per group); all grids then have the same number of scenarios.

See Also
--------
greeksmargin.reference.revalue : a slow, independent loop that the tests compare against.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._arrays import distinct_objects, distinct_rows, kernel_array, small_table
from ..enums import Settlement
from ..errors import InputError
from ..kernels import _revalue, _rows
from ..kernels._jit import n_chunks, parallel_allowed
from ..kernels._revalue import Positions, Scenarios, Underlyings, WorkItems
from ..model.book import ResolvedBook
from ..model.scenarios import ScenarioGrid

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PnLMatrix", "RevaluationPlan", "revalue", "revalue_arrays"]

PARALLEL_CELLS = 256  # below this many (group, scenario) cells x positions/group, run serially
ITEM_POSITIONS = 4096  # positions per work item of the revaluation kernel ...
FEW_ROWS = 32  # up to this many positions, values now are computed one row at a time
MAX_ITEMS_PER_GROUP = 64  # ... and at most this many items per group (memory: items x scenarios)


@dataclass(frozen=True, slots=True)
class PnLMatrix:
    """P&L (positive = gain) per row and scenario; rows are groups, or positions on request.

    Attributes
    ----------
    values : ndarray, shape (n_groups, n_scenarios)
        Sum over the group's positions of value under the scenario minus value now.
    row_labels : tuple of str
        Group names.
    base_value : ndarray, shape (n_groups,)
        Value now of each group (linear instruments count 0: they are marked to market).
    currency : tuple of str
        Settlement currency of each group (the coin for inverse-settled groups).
    grids : tuple of ScenarioGrid
        The grid of each group (one object repeated when all groups share it).
    position_values : ndarray, shape (n_positions, n_scenarios), optional
        Per-position P&L in Book row order, only with ``keep_positions=True``.
    position_id : ndarray of str, shape (n_positions,), optional
        Book row order ids of ``position_values``.
    position_group : ndarray of int, shape (n_positions,), optional
        Group (row of ``values``) of each position, Book row order.
    group_class : tuple of str, optional
        The class group of each row (the key of per-group methodology parameters); by default
        the row labels themselves.
    """

    values: np.ndarray
    row_labels: tuple[str, ...]
    base_value: np.ndarray
    currency: tuple[str, ...]
    grids: tuple[ScenarioGrid, ...]
    position_values: np.ndarray | None = None
    position_id: np.ndarray | None = None
    position_group: np.ndarray | None = None
    group_class: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        if not self.group_class:
            object.__setattr__(self, "group_class", tuple(self.row_labels))

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios."""
        return int(self.values.shape[1])

    @property
    def labels(self) -> tuple[str, ...]:
        """Scenario labels of the first group's grid."""
        return self.grids[0].labels

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, grid: ScenarioGrid | None = None,
                   currency: str = "USD") -> PnLMatrix:
        """Build a P&L matrix supplied directly, e.g. an exchange's published risk arrays.

        ``frame``: one row per group (the index names the groups), one column per scenario, values
        = P&L (gain > 0) in ``currency``. Risk arrays that show losses as positive numbers (SPAN)
        must be negated first. ``grid`` gives weights and labels; by default every scenario has
        weight 1 and the column names as labels (spot shifts 0: the grid only labels them).
        """
        values = np.asarray(frame.to_numpy(), dtype=float) if len(frame) else np.zeros((0, 0))
        if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
            raise InputError(f"a P&L matrix needs at least one group and one scenario; got shape"
                             f" {values.shape}")
        if grid is None:
            n = values.shape[1]
            grid = ScenarioGrid(np.zeros(n), np.zeros(n), np.zeros(n, np.int8), np.zeros(n),
                                np.ones(n), tuple(map(str, frame.columns)), name="supplied")
        elif grid.n_scenarios != values.shape[1]:
            raise InputError(f"the grid has {grid.n_scenarios} scenarios but the P&L matrix"
                             f" {values.shape[1]} columns")
        labels = tuple(map(str, frame.index))
        return cls(values, labels, np.zeros(len(labels)), (currency,) * len(labels),
                   (grid,) * len(labels))

    def to_frame(self) -> pd.DataFrame:
        """Return groups x scenarios as a DataFrame (scenario labels of the first grid as columns)."""
        import pandas as pd

        return pd.DataFrame(self.values, index=pd.Index(self.row_labels, name="group"),
                            columns=pd.Index(self.labels, name="scenario"))


def _group_grids(resolved: ResolvedBook,
                 grid: ScenarioGrid | Sequence[ScenarioGrid]) -> tuple[ScenarioGrid, ...]:
    if isinstance(grid, ScenarioGrid):
        return (grid,) * resolved.n_groups
    grids = tuple(grid)
    if len(grids) != resolved.n_groups:
        raise InputError(f"one grid per group expected ({resolved.n_groups}: "
                         f"{', '.join(resolved.group_labels)}); got {len(grids)}")
    sizes = {g.n_scenarios for g in distinct_objects(grids)[0]}
    if len(sizes) != 1:
        raise InputError(f"per-group grids must have the same number of scenarios; got {sorted(sizes)}")
    return grids


def work_items(group_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work items of the revaluation kernel: ``(group, first position, end position)``.

    A group with many positions is split into pieces of about ``ITEM_POSITIONS`` (at most
    ``MAX_ITEMS_PER_GROUP``), so one big book keeps every thread busy; the split depends only on
    the group sizes, never on the thread count, so the serial and parallel builds add the same
    numbers in the same order.
    """
    sizes = np.diff(group_offsets)
    if sizes.size == 0 or sizes.max() <= ITEM_POSITIONS:  # one item per group
        return (np.arange(sizes.size, dtype=np.int64), np.array(group_offsets[:-1], np.int64),
                np.array(group_offsets[1:], np.int64))
    pieces = np.clip(-(-sizes // ITEM_POSITIONS), 1, MAX_ITEMS_PER_GROUP)
    item_group = np.repeat(np.arange(sizes.size, dtype=np.int64), pieces)
    first_item = np.concatenate([[0], np.cumsum(pieces)[:-1]])
    piece = np.arange(item_group.size) - first_item[item_group]
    n_pieces = pieces[item_group]
    size = sizes[item_group]
    start = group_offsets[item_group] + piece * size // n_pieces
    stop = group_offsets[item_group] + (piece + 1) * size // n_pieces
    return item_group, start.astype(np.int64), stop.astype(np.int64)


def group_currency(resolved: ResolvedBook) -> tuple[str, ...]:
    """Settlement currency per group; a group cannot mix settlement currencies.

    A group with no position (its rows netted to nothing) settles in the quote currency: it
    gains and loses nothing in any.
    """
    market = resolved.market
    # currency code per position: -1 the quote currency, else the index of the coin underlying
    code = np.where(resolved.inverse == Settlement.INVERSE, resolved.underlying_index, -1)
    offsets = resolved.group_offsets
    if code.size and np.all(offsets[1:] > offsets[:-1]):  # no empty group: one pass
        low = np.minimum.reduceat(code, offsets[:-1])
        if np.array_equal(low, np.maximum.reduceat(code, offsets[:-1])):
            by_code = np.array([market.quote_currency, *market.underlyings], dtype=object)
            return tuple(by_code[low + 1].tolist())  # code -1: the quote currency
    out = []
    for g, label in enumerate(resolved.group_labels):
        codes = np.unique(code[resolved.group_offsets[g]:resolved.group_offsets[g + 1]])
        if codes.size == 0:  # a group whose rows net to nothing: 0 in the quote currency
            out.append(market.quote_currency)
            continue
        names = sorted(market.quote_currency if c < 0 else market.underlyings[c] for c in codes)
        if len(names) != 1:
            raise InputError(f"group {label!r} mixes settlement currencies {names}; margin"
                             " linear and inverse contracts in separate groups")
        out.append(names[0])
    return tuple(out)


def vol_scale(resolved: ResolvedBook, grids: Sequence[ScenarioGrid]) -> np.ndarray:
    """Compute each position's multiplier of relative vol shifts.

    Multiplier of each position's relative vol shifts (sorted rows): the group grid's
    ``VolScaling`` of its time to expiry, 1 without one (and for linear instruments).
    """
    return vol_scale_of(resolved.expiry_years, resolved.group_offsets, grids)


def vol_scale_of(expiry_years: np.ndarray, group_offsets: np.ndarray,
                 grids: Sequence[ScenarioGrid]) -> np.ndarray:
    """Multiplier of relative vol shifts of rows sorted by group (CSR ``group_offsets``).

    The group grid's ``VolScaling`` of each row's time to expiry, 1 without one or without an
    expiry: the one home of the rule (:func:`vol_scale`, the order path's legs).
    """
    scale = np.ones(expiry_years.size)
    for g, grid in enumerate(grids):
        if grid.vol_scaling is not None:
            rows = slice(group_offsets[g], group_offsets[g + 1])
            t = expiry_years[rows]
            scale[rows] = np.where(np.isnan(t), 1.0, grid.vol_scaling.scale(np.nan_to_num(t)))
    return scale


def kernel_inputs(resolved: ResolvedBook, vol_scale: np.ndarray, rows: np.ndarray | None = None,
                  notional: np.ndarray | None = None) -> tuple[Positions, Underlyings]:
    """Return the kernels' named bundles of ``resolved`` (its sorted ``rows``, default all).

    Writeable copies, because the model's arrays are read-only and the kernels' signatures take
    plain ones; ``notional`` replaces quantity x multiplier (one unit: the multiplier).
    """
    market = resolved.market

    def take(a: np.ndarray, dtype: type) -> np.ndarray:
        return np.array(a if rows is None else a[rows], dtype)

    positions = Positions(
        underlying_index=take(resolved.underlying_index, np.int64),
        kind=take(resolved.kind, np.int8),
        strike=take(resolved.strike, np.float64),
        expiry_years=take(resolved.expiry_years, np.float64),
        vol=take(resolved.vol, np.float64),
        notional=(take(resolved.notional, np.float64) if notional is None
                  else np.array(notional, np.float64)),
        american=take(resolved.american, np.int8),
        inverse=take(resolved.inverse, np.int8),
        vol_scale=np.array(vol_scale, np.float64),
    )
    return positions, Underlyings(np.array(market.spot), np.array(market.rate),
                                  np.array(market.carry))


def position_values(resolved: ResolvedBook) -> np.ndarray:
    """Value each position now in its settlement currency.

    Value now of each position, in the sorted row order of ``resolved``: notional x unit
    value in the settlement currency (coin for inverse contracts; linear instruments 0). The same
    numbers :func:`revalue` subtracts from every scenario.
    """
    n = resolved.position_id.size
    positions, underlyings = kernel_inputs(resolved, np.ones(n))
    out = np.empty(n)
    _base_values(tuple(positions), tuple(underlyings), out)
    return out


def _base_values(position_fields: tuple[np.ndarray, ...],
                 underlying_fields: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    # each position's value now, serially: one row at a time for a few rows (the same bits as
    # the vectorised pass, which a handful of rows does not repay, nor its compile time)
    n = out.size
    if n <= FEW_ROWS:
        _revalue.base_rows(position_fields, underlying_fields, out, 0, n)
    else:
        _revalue.base_range(position_fields, underlying_fields, out, 0, n)


def position_values_in_quote(resolved: ResolvedBook) -> np.ndarray:
    """Value each position now in the quote currency.

    Value now of each position in the market's quote currency (sorted rows): coin values of
    inverse contracts converted at their coin's spot; otherwise :func:`position_values`.
    """
    spot = np.asarray(resolved.market.spot)[resolved.underlying_index]
    to_quote = np.where(resolved.inverse == Settlement.INVERSE, spot, 1.0)
    return position_values(resolved) * to_quote


def runs_serially(n_positions: int, n_scenarios: int) -> bool:
    """Whether a plan of ``n_positions`` x ``n_scenarios`` runs on one thread ("auto")."""
    return n_positions * n_scenarios < PARALLEL_CELLS * 64


@dataclass(frozen=True, slots=True)
class RevaluationPlan:
    """The kernels' arguments for one resolved book under its grids, built once.

    :func:`revalue` builds one per call; a caller that revalues the same book again and again at
    moving spots and vols (:class:`greeksmargin.accounts.account.MarginTicker`) keeps it and calls
    :meth:`run` with the new market arrays. ``positions`` are the per-position arrays in sorted
    row order, ``scenarios`` the per-group scenario arrays, ``items`` the work items (named
    bundles of ``kernels._revalue``).
    """

    positions: Positions
    rate: np.ndarray
    carry: np.ndarray
    scenarios: Scenarios
    items: WorkItems
    first_items: np.ndarray  # first work item of each group
    group_offsets: np.ndarray  # int64 CSR offsets of the groups' sorted rows
    parallel: bool

    @property
    def n_scenarios(self) -> int:
        """Scenarios per group."""
        return int(self.scenarios.spot_shift.shape[1])

    @classmethod
    def build(cls, resolved: ResolvedBook, grids: Sequence[ScenarioGrid],
              parallel: bool | Literal["auto"] = "auto") -> RevaluationPlan:
        """Plan ``resolved`` under one grid per group (see :func:`revalue`)."""
        positions, underlyings = kernel_inputs(resolved, vol_scale(resolved, grids))
        return cls.from_bundles(positions, underlyings, resolved.group_offsets, grids, parallel)

    @classmethod
    def from_bundles(cls, positions: Positions, underlyings: Underlyings,
                     group_offsets: np.ndarray, grids: Sequence[ScenarioGrid],
                     parallel: bool | Literal["auto"] = "auto") -> RevaluationPlan:
        """Plan positions already in the kernels' bundles (sorted by group, CSR offsets)."""
        return cls.with_scenarios(positions, underlyings, group_offsets, scenario_bundle(grids),
                                  parallel)

    @classmethod
    def with_scenarios(cls, positions: Positions, underlyings: Underlyings,
                       group_offsets: np.ndarray, scenarios: Scenarios,
                       parallel: bool | Literal["auto"] = "auto") -> RevaluationPlan:
        """Plan positions on scenario arrays already laid out per group (:func:`scenario_bundle`)."""
        n_groups, n_scen = scenarios.spot_shift.shape
        offsets = np.ascontiguousarray(group_offsets, np.int64)
        items = WorkItems(*work_items(offsets))
        use_parallel = not runs_serially(positions.kind.size, n_scen) \
            if parallel == "auto" else bool(parallel)
        return cls(positions, underlyings.rate, underlyings.carry, scenarios, items,
                   np.searchsorted(items.group, np.arange(n_groups)), offsets, use_parallel)

    def run(self, spot: np.ndarray, keep_positions: bool = False, vol: np.ndarray | None = None,
            scenarios: Scenarios | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Revalue the planned book at a spot and vols.

        Revalue at ``spot`` (per underlying, float64, contiguous) and ``vol`` (per position in
        sorted row order; default ``positions.vol``): ``(partial, base, position_out)``, the
        P&L per work item x scenario, each position's value now, and the position x scenario P&L
        (empty unless kept). ``scenarios`` replaces the planned ones (same shapes).
        """
        scenario_fields = tuple(self.scenarios if scenarios is None else scenarios)
        positions = self.positions if vol is None else self.positions._replace(vol=vol)
        position_fields = tuple(positions)
        underlying_fields = (spot, self.rate, self.carry)
        n = positions.kind.size
        base = np.empty(n)
        partial = np.empty((self.items.group.size, self.n_scenarios))
        position_out = np.empty((n, self.n_scenarios) if keep_positions else (0, 0))
        if self.parallel and parallel_allowed():  # a plan made before a fork runs serially after
            _revalue.base_parallel(position_fields, underlying_fields, base, n_chunks())
            _revalue.pnl_parallel(position_fields, underlying_fields, tuple(self.items),
                                  scenario_fields, base, partial, keep_positions,
                                  position_out, self.items.group.size)  # one chunk per item
        else:
            _base_values(position_fields, underlying_fields, base)
            _revalue.pnl_range(position_fields, underlying_fields, tuple(self.items),
                               scenario_fields, base, partial, keep_positions, position_out,
                               0, self.items.group.size)
        return partial, base, position_out


def scenario_bundle(grids: Sequence[ScenarioGrid]) -> Scenarios:
    """Lay the grids of every group out as the kernel's per-group scenario arrays.

    Groups share a few grid objects (one per class): the distinct ones are stacked and indexed.
    A subset of groups is the bundle's rows taken (``Scenarios(*(f[rows] for f in bundle))``).
    """
    distinct, index = distinct_objects(grids)

    def stack(name: str, dtype: type) -> np.ndarray:
        return np.ascontiguousarray(
            np.array(np.stack([getattr(g, name) for g in distinct]), dtype=dtype)[index])

    min_vol_up = np.array([g.vol_scaling.min_vol_up if g.vol_scaling is not None else 0.0
                           for g in distinct])[index]
    time_shift = stack("time_shift_years", np.float64)
    # the kernel visits each group's scenarios sorted by time shift (once per chunk and shift)
    order = np.ascontiguousarray(np.argsort(time_shift, axis=1, kind="stable"), np.int64)
    return Scenarios(stack("spot_shift", np.float64), stack("linear_spot_shift", np.float64),
                     stack("vol_shift", np.float64), stack("vol_shift_type", np.int8),
                     time_shift, min_vol_up, order)


def revalue(resolved: ResolvedBook, grid: ScenarioGrid | Sequence[ScenarioGrid], *,
            keep_positions: bool = False, parallel: bool | Literal["auto"] = "auto",
            net: bool = True) -> PnLMatrix:
    """Revalue every position under every scenario; P&L summed per group.

    With ``net`` (unless positions are kept) each instrument held in many rows, groups or
    accounts (:meth:`ResolvedBook.instruments`) is revalued once per grid, and the groups' P&L
    is the sparse product of their net quantities with those unit P&Ls (``Q @ V``, as clearing
    houses compute one risk array per contract): the same sums to rounding, at the cost of one
    pass hashing the instrument columns (about 70 ns a row).

    Parameters
    ----------
    resolved : ResolvedBook
        The book bound to its market (:meth:`Book.resolve`).
    grid : ScenarioGrid or sequence of ScenarioGrid
        One grid for all groups, or one per group (same number of scenarios).
    keep_positions : bool, default False
        Also return the position x scenario matrix. It costs 8 bytes x n_positions x n_scenarios
        (800 MB for 10^6 positions x 100 scenarios); off by default, never built otherwise.
    parallel : bool or "auto"
        Use the parallel kernel build; "auto" does so for large books.
    net : bool, default True
        Revalue each distinct instrument once per grid (ignored with ``keep_positions``).

    Returns
    -------
    PnLMatrix
        P&L per group x scenario (gain > 0) in each group's settlement currency.
    """
    started = time.perf_counter()
    grids = _group_grids(resolved, grid)
    currency = group_currency(resolved)
    if net and not keep_positions:
        shared = _revalue_instruments(resolved, grids, parallel)
        if shared is not None:
            return PnLMatrix(shared[0], resolved.group_labels, shared[1], currency, grids,
                             group_class=resolved.group_class)
    plan = RevaluationPlan.build(resolved, grids, parallel)
    partial, base, position_out = plan.run(np.array(resolved.market.spot), keep_positions)
    n, n_scen = base.size, plan.n_scenarios
    seconds = time.perf_counter() - started
    _log.debug("revalue: %d positions x %d scenarios, %d work items, %s: %.4f s (%.1f M/s)",
               n, n_scen, partial.shape[0], "parallel" if plan.parallel else "serial", seconds,
               n * n_scen / max(seconds, 1e-9) / 1e6)
    out, base_value = group_sums(partial, plan.first_items, base, plan.group_offsets)
    position_values = position_id = position_group = None
    if keep_positions:
        position_group = np.empty_like(resolved.group_index)
        position_group[resolved.order] = resolved.group_index
        position_values = position_out  # put in Book row order in place (no second copy)
        _revalue.scatter_rows(position_values, np.ascontiguousarray(resolved.order, np.int64))
        position_id = np.empty_like(resolved.position_id)
        position_id[resolved.order] = resolved.position_id
    return PnLMatrix(out, resolved.group_labels, base_value, currency, grids, position_values,
                     position_id, position_group, resolved.group_class)


def _revalue_instruments(resolved: ResolvedBook, grids: Sequence[ScenarioGrid],
                         parallel: bool | Literal["auto"]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per group P&L and value now as ``Q @ V``: each instrument revalued once per grid.

    ``V`` (instruments x scenarios) is the P&L of one unit of each instrument
    (:meth:`ResolvedBook.instruments`) under each distinct grid it is held under, ``Q`` (groups
    x instruments, scipy.sparse) the groups' net quantities. ``None`` when fewer than a quarter
    of the rows repeat an instrument (revaluing each row is then as cheap).
    """
    import pandas as pd
    import scipy.sparse

    n = resolved.quantity.size
    if n == 0 or pd.unique(resolved.strike).size > 0.75 * n:
        return None  # at least as many instruments as strikes: too few repeats (cheap test first)
    instrument, instrument_row = resolved.instruments()
    distinct, grid_of_group = distinct_objects(grids)
    unit_of_row = grid_of_group[resolved.group_index]
    if small_table(len(distinct) * instrument_row.size, n):  # a few grids: a table of pairs
        key, first = _rows.pair_codes(kernel_array(unit_of_row, np.int64),
                                      kernel_array(instrument, np.int64), len(distinct),
                                      instrument_row.size)
    else:
        key, first = distinct_rows(unit_of_row, instrument)
    if first.size > 0.75 * n:
        return None
    unit_grid = grid_of_group[resolved.group_index[first]]
    by_grid = np.argsort(unit_grid, kind="stable")
    rows = first[by_grid]
    offsets = np.searchsorted(unit_grid[by_grid], np.arange(len(distinct) + 1))
    positions, underlyings = kernel_inputs(
        resolved, vol_scale_of(resolved.expiry_years[rows], offsets, distinct), rows=rows,
        notional=resolved.multiplier[rows])  # one unit of each instrument
    plan = RevaluationPlan.from_bundles(positions, underlyings, offsets, distinct, parallel)
    _, base_sorted, unit_sorted = plan.run(underlyings.spot, keep_positions=True)
    unit_pnl, unit_base = np.empty_like(unit_sorted), np.empty_like(base_sorted)
    unit_pnl[by_grid], unit_base[by_grid] = unit_sorted, base_sorted
    held = scipy.sparse.csr_matrix((resolved.quantity, (resolved.group_index, key)),
                                   shape=(resolved.n_groups, first.size))
    return np.asarray(held @ unit_pnl), np.asarray(held @ unit_base)


def group_sums(partial: np.ndarray, first_items: np.ndarray, base: np.ndarray,
               group_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the scenario P&L (its work items added in order) and the value now (0 for an empty group)."""
    n_groups = first_items.size
    if partial.shape[0] == n_groups:  # one work item per group
        out = partial
    else:
        out = np.add.reduceat(partial, first_items, axis=0) if n_groups else \
            np.empty((0, partial.shape[1]))
    # an empty group's offset may be the end of base (a trailing group netted to nothing): a
    # zero appended keeps every offset an index for reduceat (and adds nothing to a sum)
    padded = np.append(np.asarray(base, float), 0.0)
    base_value = np.add.reduceat(padded, group_offsets[:-1]) if n_groups else np.zeros(0)
    base_value[group_offsets[:-1] == group_offsets[1:]] = 0.0
    return out, base_value


_CONSTRAINTS = ("0 (linear), 1 (call) or 2 (put), or 'c'/'p' text",
                f"> 0 and at most {_revalue.MAX_SPOT:.0e}",
                "> 0 and finite for an option",
                ">= 0 and finite (years; NaN only for the underlying or a perpetual)",
                f"in [0, {_revalue.MAX_VOL}] for an option (annualised decimal)",
                "finite (continuously compounded decimal)",
                "finite (cost of carry, decimal)",
                f"finite and at most {_revalue.MAX_QUANTITY:.0e} either way",
                f"> 0 and at most {_revalue.MAX_MULTIPLIER:.0e}",
                "0 or 1 (1: American exercise, options only)",
                "0 (linear) or 1 (inverse: coin-settled)",
                "an integer in [0, number of groups)")


def revalue_arrays(*, kind: object, spot: object, strike: object, expiry_years: object,
                   vol: object, rate: object, carry: object, quantity: object,
                   grid: ScenarioGrid, multiplier: object = 1.0, group: object = None,
                   american: object = 0, inverse: object = 0,
                   parallel: bool | Literal["auto"] = "auto") -> np.ndarray:
    """Revalue positions given as plain arrays under a grid: P&L per group x scenario.

    The array-in front door for hedging tools: one row per position, every argument an array
    (or a scalar broadcast to all rows), validated in one compiled pass; no Book, MarketData or
    id strings are built. Same kernels and numbers as :func:`revalue` on the equivalent book.

    Parameters
    ----------
    kind : array_like of int or str
        0 linear (the underlying, a future, a perpetual), 1 call, 2 put; or ``"c"``/``"p"``
        (``"call"``/``"put"``, any case) for options.
    spot, strike, expiry_years, vol, rate, carry : array_like of float
        Each row's market and terms (strike and vol are ignored for linear rows, whose expiry
        is NaN for the underlying or a perpetual and a time for a future on ``S e^{b T}``).
    quantity, multiplier : array_like of float
        Signed quantity and contract size; P&L is per ``quantity x multiplier`` units.
    grid : ScenarioGrid
        The scenarios (one grid for every group).
    group : array_like of int, optional
        Group of each row, ``0 .. n_groups - 1`` (default: one group). A group may not mix
        linear and inverse settlement.
    american, inverse : array_like of int
        1 for American exercise; 1 for coin settlement (P&L in coin, value / spot).
    parallel : bool or "auto"
        As in :func:`revalue`.

    Returns
    -------
    numpy.ndarray, shape (n_groups, n_scenarios)
        P&L (gain > 0) of each group under each scenario, in its settlement currency.

    Raises
    ------
    InputError
        Naming the first bad row, its field and value, and how many rows are bad.
    """
    from ..pricing._validate import to_kind

    if not isinstance(grid, ScenarioGrid):
        raise InputError(f"grid must be a ScenarioGrid; got {type(grid).__name__}")
    named = {"kind": to_kind(kind), "spot": spot, "strike": strike, "expiry_years": expiry_years,
             "vol": vol, "rate": rate, "carry": carry, "quantity": quantity,
             "multiplier": multiplier, "american": american, "inverse": inverse,
             "group": 0 if group is None else group}
    dtypes = {"kind": np.int8, "american": np.int8, "inverse": np.int8, "group": np.int64}
    try:
        arrays = np.broadcast_arrays(*(np.asarray(v) for v in named.values()))
    except ValueError:
        shapes = ", ".join(f"{k}{np.asarray(v).shape}" for k, v in named.items())
        raise InputError(f"inputs do not broadcast together: {shapes}") from None
    flat: dict[str, np.ndarray] = {}
    for key, arr in zip(named, arrays, strict=True):
        dtype = dtypes.get(key, np.float64)
        if dtype != np.float64 and arr.dtype.kind not in "iub":
            raise InputError(f"{key} must be integers; got dtype {arr.dtype}")
        if dtype == np.float64 and arr.dtype.kind not in "iubf":
            raise InputError(f"{key} must be numeric; got dtype {arr.dtype}")
        if dtype == np.int8 and arr.size and (arr.min() < -128 or arr.max() > 127):
            raise InputError(f"{key} must be small integer codes; got {arr.max()!r}")
        out = np.empty(arr.size, dtype)  # the kernels take plain writeable arrays
        out[...] = arr.reshape(-1)
        flat[key] = out
    n = flat["kind"].size
    n_groups = int(flat["group"].max()) + 1 if n else 0
    first, code, count = _revalue.first_invalid(*flat.values(), max(n_groups, 1))
    if first >= 0:
        name = _revalue.ROW_FIELDS[code]
        raise InputError(f"{name} must be {_CONSTRAINTS[code]}; got {flat[name][first].item()!r}"
                         f" at row {first}" + (f" ({count} rows invalid)" if count > 1 else ""))
    if n == 0:
        raise InputError("no positions: the arrays are empty")
    order = np.argsort(flat["group"], kind="stable")
    offsets = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.bincount(flat["group"], minlength=n_groups), out=offsets[1:])
    inverse_sorted = flat["inverse"][order]
    starts = offsets[:-1][offsets[:-1] < offsets[1:]]
    if np.any(np.minimum.reduceat(inverse_sorted, starts)
              != np.maximum.reduceat(inverse_sorted, starts)):
        raise InputError("a group mixes linear and inverse settlement (their P&L is in different"
                         " currencies); give them different groups")
    t = flat["expiry_years"][order]
    scale = np.ones(n) if grid.vol_scaling is None else np.where(
        np.isnan(t), 1.0, grid.vol_scaling.scale(np.nan_to_num(t)))
    positions = Positions(
        underlying_index=order.astype(np.int64), kind=flat["kind"][order],
        strike=flat["strike"][order], expiry_years=t, vol=flat["vol"][order],
        notional=(flat["quantity"] * flat["multiplier"])[order],
        american=flat["american"][order], inverse=inverse_sorted, vol_scale=scale)
    underlyings = Underlyings(flat["spot"], flat["rate"], flat["carry"])
    plan = RevaluationPlan.from_bundles(positions, underlyings, offsets, (grid,) * n_groups,
                                        parallel)
    partial, base, _ = plan.run(flat["spot"])
    return group_sums(partial, plan.first_items, base, plan.group_offsets)[0]
