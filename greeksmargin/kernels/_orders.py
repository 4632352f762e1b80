"""A pre-trade order's legs against an evaluated account, compiled: resolution and facts.

The real-time order path (``greeksmargin.accounts.account.AccountState.prepare_order``) resolves a
handful of legs against an account it has cached: each leg's year fraction, flat vol, margin group
(the account's group row), then, once the legs are priced on the account's scenario arrays
(``kernels._revalue``), which of them trade a contract the account holds, the counts of the new
contracts and the order's P&L per group. The general path (``Book.resolve``, a revaluation plan,
hashing the legs with the account's contracts) does the same in ~20 NumPy steps of 5-35 us each;
here it is one compiled call (two with vol surfaces or scaled vol shifts). Whatever these kernels
cannot settle (an unknown group, an expiry in the past, a missing vol) they hand back to the
general path, which names the culprit.

Units as in ``kernels._revalue``: year fractions ACT/365 from the valuation second; vol
annualised decimal; notional = signed quantity x multiplier.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.core import sigutils

from ..enums import VolSource
from ._elementary import inline_jit
from ._jit import array_jit
from ._margin import count_row
from ._revalue import (
    FIRST_ROW,
    ITEMS_TYPE,
    NO,
    SCENARIOS_TYPE,
    SECONDS_PER_YEAR,
    UNDERLYINGS_TYPE,
    base_rows,
    pnl_range,
)

NAT = np.iinfo(np.int64).min  # datetime64's NaT as int64
SOURCE_NONE, SOURCE_SURFACE, SOURCE_FLAT = (int(VolSource.NONE), int(VolSource.SURFACE),
                                            int(VolSource.FLAT))

_I8 = types.Array(types.int64, 1, "C")
_F8 = types.Array(types.float64, 1, "C")
_B1 = types.Array(types.boolean, 1, "C")
_RO_I8 = types.Array(types.int64, 1, "C", readonly=True)
_RO_F8 = types.Array(types.float64, 1, "C", readonly=True)
_RO_I1 = types.Array(types.int8, 1, "C", readonly=True)
_F8_2D = types.Array(types.float64, 2, "C")
_I1_2D = types.Array(types.int8, 2, "C")

# rows of the legs' buffers order_legs fills (the caller allocates them: a compiled call pays
# ~0.4 us to return a new array, ~0.05 us to take one)
STRIKE, YEARS, VOL, NOTIONAL, VOL_SCALE, QUANTITY, MULTIPLIER = range(7)  # floats (7, n)
KIND, AMERICAN, INVERSE, SOURCE = range(4)  # int8 (4, n)
RESOLVED, ON_SURFACE = -1, -2  # order_legs' status when every leg is resolved
# rows of order_facts' ``held``: the columns of ResolvedBook.contract_columns, then the quantity
HELD_ROWS = ("group", "underlying", "code", "vol_source", "strike", "expiry_years", "vol",
             "multiplier", "quantity")
HELD_ROWS_NAMING = 8  # the rows that name a contract (the quantity's row comes after them)

# a Book's columns are read-only arrays: declared as such, so the legs pass without a copy
_LEGS = (_I8, _RO_I1, _RO_F8, _RO_I8, _RO_F8, _RO_F8, _RO_I1, _RO_I1, types.int64, _I8, _F8)
_LEGS_SIGNATURE = types.int64(*_LEGS, _B1, _I8, _F8_2D, _I1_2D)


def _declared(text: str) -> types.Type:
    # a Numba type written as in a signature string (the revaluation kernels' bundles)
    return sigutils.normalize_signature(f"void({text})")[0][0]


_PREPARE_SIGNATURE = types.Tuple((types.int64, types.float64))(
    *_LEGS, _declared(UNDERLYINGS_TYPE), _I8, _I8, _declared(SCENARIOS_TYPE), _F8_2D, _F8, _I8,
    _F8_2D, _I1_2D, _F8, _F8_2D, _F8_2D, _F8_2D, _F8_2D, _I8)


@array_jit(_LEGS_SIGNATURE)
def order_legs(underlying, kind, strike, expiry_seconds, quantity, multiplier, exercise,  # type: ignore[no-untyped-def]
               settlement, valuation_seconds, group_row, flat_vol, has_surface, row, floats,
               smalls):
    """Resolve an order's legs into ``row`` (group row), ``floats`` and ``smalls`` (see the rows).

    Per leg: its group row (``group_row`` of its underlying), strike, year fraction (NaN without
    an expiry), vol (the underlying's flat vol; NaN for a surface's, the caller's to fill; 0 for
    a linear leg), notional, vol scale 1, quantity, multiplier; kind, American and inverse
    codes, ``VolSource`` code. Returns :data:`RESOLVED`, :data:`ON_SURFACE` (resolved but for
    the vols of the legs on a surface), or the first leg this path cannot resolve: no group row
    (-1), an expiry before the valuation, an option whose underlying has neither a surface nor
    a finite flat vol.
    """
    return _resolve_legs(underlying, kind, strike, expiry_seconds, quantity, multiplier,
                         exercise, settlement, valuation_seconds, group_row, flat_vol,
                         has_surface, row, floats, smalls)


@inline_jit
def _resolve_legs(underlying, kind, strike, expiry_seconds, quantity, multiplier, exercise,  # type: ignore[no-untyped-def]
                  settlement, valuation_seconds, group_row, flat_vol, has_surface, row, floats,
                  smalls):
    # order_legs' work (see it)
    status = RESOLVED
    for k in range(underlying.shape[0]):
        u = underlying[k]
        row[k] = group_row[u]
        floats[STRIKE, k] = strike[k]
        if expiry_seconds[k] == NAT:
            floats[YEARS, k] = math.nan
        else:
            floats[YEARS, k] = float(expiry_seconds[k] - valuation_seconds) / SECONDS_PER_YEAR
        floats[NOTIONAL, k] = quantity[k] * multiplier[k]
        floats[VOL_SCALE, k] = 1.0
        floats[QUANTITY, k] = quantity[k]
        floats[MULTIPLIER, k] = multiplier[k]
        smalls[KIND, k] = kind[k]
        smalls[AMERICAN, k] = exercise[k]
        smalls[INVERSE, k] = settlement[k]
        if kind[k] == 0:
            floats[VOL, k] = 0.0
            smalls[SOURCE, k] = SOURCE_NONE
        elif has_surface[u]:
            floats[VOL, k] = math.nan
            smalls[SOURCE, k] = SOURCE_SURFACE
            if status == RESOLVED:
                status = ON_SURFACE
        else:
            floats[VOL, k] = flat_vol[u]
            smalls[SOURCE, k] = SOURCE_FLAT
        bad_vol = smalls[SOURCE, k] == SOURCE_FLAT and not math.isfinite(floats[VOL, k])
        if status < 0 and (row[k] < 0 or floats[YEARS, k] < 0.0 or bad_vol):
            status = k
    return status


@array_jit(f"f8(i8[::1], {UNDERLYINGS_TYPE}, {ITEMS_TYPE}, {SCENARIOS_TYPE}, f8[:, ::1], i1[:, ::1],"
           " f8[:, ::1], f8[::1], f8[::1], f8[:, ::1], f8[:, ::1], f8[:, ::1], f8[:, ::1],"
           " i8[::1])")
def order_values(underlying, underlyings_fields, items_fields, scenarios_fields, floats, smalls,  # type: ignore[no-untyped-def]
                 held, to_quote, base, leg_pnl, group_pnl, counts, out, held_rows):
    """Price the legs :func:`order_legs` resolved on the account's scenarios, then :func:`order_facts`.

    ``base`` gets each leg's value now, ``leg_pnl`` its P&L per scenario (``kernels._revalue``:
    :func:`base_rows`, :func:`pnl_range` with one work item per leg, ``items_fields``, whose
    groups are the legs' rows); one compiled call for both, and the facts. Returns the order's
    value now (quote currency).
    """
    return _price_legs(underlying, underlyings_fields, items_fields, scenarios_fields, floats,
                       smalls, held, to_quote, base, leg_pnl, group_pnl, counts, out, held_rows)


@inline_jit
def _price_legs(underlying, underlyings_fields, items_fields, scenarios_fields, floats, smalls,  # type: ignore[no-untyped-def]
                held, to_quote, base, leg_pnl, group_pnl, counts, out, held_rows):
    # order_values' work (see it); the positions (kernels._revalue.Positions' order) are views
    # of the legs' buffers
    positions_fields = (underlying, smalls[KIND], floats[STRIKE], floats[YEARS], floats[VOL],
                        floats[NOTIONAL], smalls[AMERICAN], smalls[INVERSE], floats[VOL_SCALE])
    n = base.shape[0]
    base_rows(positions_fields, underlyings_fields, base, FIRST_ROW, n)  # a few rows
    not_kept = np.empty((0, 0))  # the position x scenario P&L (leg_pnl is that already)
    pnl_range(positions_fields, underlyings_fields, items_fields, scenarios_fields, base, leg_pnl,
              NO, not_kept, FIRST_ROW, n)
    return order_facts(items_fields[0], underlying, floats, smalls, leg_pnl, base, held, to_quote,
                       group_pnl, counts, out, held_rows)


@array_jit(_PREPARE_SIGNATURE)
def order_prepare(underlying, kind, strike, expiry_seconds, quantity, multiplier, exercise,  # type: ignore[no-untyped-def]
                  settlement, valuation_seconds, group_row, flat_vol, underlyings_fields,
                  item_start, item_stop, scenarios_fields, held, to_quote, row, floats, smalls,
                  base, leg_pnl, group_pnl, counts, out, held_rows):
    """:func:`order_legs` then :func:`order_values`, in one call, for legs on flat vols.

    For an account whose grids do not scale vol shifts and whose market has no surface (the
    steps between the two calls then do nothing). Returns ``(status, value now)``: the status
    of :func:`order_legs`; the value is NaN, and nothing priced, unless it is
    :data:`RESOLVED`. ``item_start``/``item_stop`` are ``0..n-1``/``1..n`` (one item a leg).
    """
    no_surface = np.zeros(flat_vol.shape[0], np.bool_)
    status = _resolve_legs(underlying, kind, strike, expiry_seconds, quantity, multiplier,
                           exercise, settlement, valuation_seconds, group_row, flat_vol,
                           no_surface, row, floats, smalls)
    if status != RESOLVED:
        return status, math.nan
    total = _price_legs(underlying, underlyings_fields, (row, item_start, item_stop),
                        scenarios_fields, floats, smalls, held, to_quote, base, leg_pnl,
                        group_pnl, counts, out, held_rows)
    return status, total


@inline_jit
def order_facts(row, und, floats, smalls, leg_pnl, leg_value, held, to_quote, group_pnl, counts,  # type: ignore[no-untyped-def]
                out, held_rows):
    """Write the order's facts on the account to the outputs; return its value now.

    A leg trades a contract the account holds when it agrees with the account's net position on
    every column that names a contract (group, underlying, kind x 4 + American x 2 + inverse,
    vol source, strike, year fraction, vol, multiplier; NaN equals NaN), as
    ``ResolvedBook.contracts`` has it; ``held`` holds those columns of the account's net
    positions as rows (:data:`HELD_ROWS`, the codes as floats), and their quantities.

    Writes the order's P&L per account group to ``group_pnl`` (zeros in: ``leg_pnl`` rows
    added in leg order); the :class:`~._margin.Counts` rows of the contracts the account does
    not hold to ``counts`` (zeros in; legs on one contract counted once, their quantities
    summed in leg order, in the order of their first legs); to the rows of ``out`` (3, n_legs)
    each leg's value now in the quote currency (``leg_value`` x ``to_quote`` of its group),
    each leg's held quantity (0: none), and the quantity traded on each held position the order
    trades; those positions to ``held_rows`` (ascending, -1 after the last). ``floats`` and
    ``smalls`` are :func:`order_legs`' buffers.
    """
    n = row.shape[0]
    kind, quantity, multiplier = smalls[KIND], floats[QUANTITY], floats[MULTIPLIER]
    value, leg_held, traded = out[0], out[1], out[2]
    n_held = held.shape[1]
    # the legs' contract columns, laid out as the held ones (HELD_ROWS, the quantity left out)
    mine = np.empty((HELD_ROWS_NAMING, n))
    for k in range(n):
        mine[0, k] = row[k]
        mine[1, k] = und[k]
        mine[2, k] = kind[k] * 4 + smalls[AMERICAN, k] * 2 + smalls[INVERSE, k]
        mine[3, k] = smalls[SOURCE, k]
        mine[4, k] = floats[STRIKE, k]
        mine[5, k] = floats[YEARS, k]
        mine[6, k] = floats[VOL, k]
        mine[7, k] = multiplier[k]
    total = 0.0
    on = np.full(n, -1, np.int64)  # the held position of each leg
    for k in range(n):
        g = row[k]
        for j in range(leg_pnl.shape[1]):
            group_pnl[g, j] += leg_pnl[k, j]
        value[k] = leg_value[k] * to_quote[g]
        total += value[k]
        leg_held[k] = 0.0
        for p in range(n_held):
            if _same_contract(held, p, mine, k):
                on[k] = p
                leg_held[k] = held[HELD_ROWS_NAMING, p]
                break
    traded_on = np.zeros(n_held)
    touched = np.zeros(n_held, np.bool_)
    for k in range(n):
        if on[k] >= 0:
            traded_on[on[k]] += quantity[k]
            touched[on[k]] = True
            continue
        first = True  # the first leg of its contract counts the contract's summed quantity
        for i in range(k):
            if on[i] < 0 and _same_contract(mine, i, mine, k):
                first = False
                break
        if not first:
            continue
        q = quantity[k]
        for i in range(k + 1, n):
            if on[i] < 0 and _same_contract(mine, i, mine, k):
                q += quantity[i]
        count_row(counts, row[k], kind[k], q, multiplier[k])
    m = 0
    for p in range(n_held):
        if touched[p]:
            held_rows[m] = p
            traded[m] = traded_on[p]
            m += 1
    for k in range(m, n):
        held_rows[k] = -1
    return total


@inline_jit
def _same_contract(a, i, b, k):  # type: ignore[no-untyped-def]
    # column i of a and column k of b name one contract: their first HELD_ROWS_NAMING rows
    # equal, NaN equal to NaN (ResolvedBook.contracts' equality; codes are exact as floats)
    for r in range(HELD_ROWS_NAMING):
        x, y = a[r, i], b[r, k]
        if not (x == y or (x != x and y != y)):
            return False
    return True
