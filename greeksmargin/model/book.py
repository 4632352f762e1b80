"""Positions as validated columns of arrays, and their resolution.

Positions as validated columns of arrays (dimension ``position``), and their resolution against one market snapshot.
:class:`Book` holds what the trader owns: underlying, kind (call, put, or linear: the underlying
itself, a future, a perpetual), strike, expiry, signed quantity, multiplier, exercise style and
settlement. :meth:`Book.resolve` binds it to a :class:`~greeksmargin.model.market.MarketData`: year
fractions from the valuation timestamp (ACT/365), the vol of every option, margin groups, and the
rows sorted by group with CSR offsets, which is all the revaluation kernel needs.

Within a group (one account's class group) rows that hold the same contract are one position: a
broker's account holds one net position per contract. :meth:`ResolvedBook.contracts` finds them,
:meth:`ResolvedBook.netted` merges them; the add-ons count net contracts and the revaluation
prices each contract once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._arrays import SMALL_ROWS, distinct_rows, frozen_array, kernel_array, small_table
from ..enums import ExerciseStyle, OptionKind, Settlement, VolSource
from ..errors import Failure, ImpliedVolError, InputError, MarketDataError
from ..kernels._revalue import MAX_MULTIPLIER, MAX_QUANTITY, SECONDS_PER_YEAR
from ..kernels._rows import group_contracts
from ..kernels._text import fnv_rows
from .market import MarketData

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Book", "ResolvedBook"]


def _unique(ids: np.ndarray) -> bool:
    # FNV-1a of each id's code units, 64 bits, in one compiled pass (kernels._text): no two
    # equal hashes (pandas' hash table of the integers: 42 ms for 1.2M, sorting them 67)
    # proves the ids distinct (10x faster than hashing them as Python strings); any equal pair
    # (a duplicate, or a collision) is settled exactly
    import pandas as pd

    width = ids.itemsize // 4
    if width:
        h = fnv_rows(np.ascontiguousarray(ids).view(np.uint32).reshape(ids.size, width))
        if pd.Index(h, copy=False).is_unique:
            return True
    return bool(pd.Index(ids).is_unique)


def _index_of(names: np.ndarray, known: Sequence[str]) -> np.ndarray:
    # each name's position in known, -1 when absent: a binary search of the column in the sorted
    # names (numpy compares fixed-width strings in C; no Python object per row); a dict for a
    # handful of rows
    if names.size < 64:
        lookup = {u: k for k, u in enumerate(known)}
        return np.fromiter((lookup.get(u, -1) for u in names.tolist()), np.intp, names.size)
    table = np.asarray(list(known), dtype=np.str_)
    if table.size == 0:
        return np.full(names.shape, -1, np.intp)
    order = np.argsort(table, kind="stable")
    sorted_table = table[order]
    at = np.minimum(np.searchsorted(sorted_table, names), table.size - 1)
    return np.where(sorted_table[at] == names, order[at], -1).astype(np.intp)


def _dense_codes(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    # np.unique(key, return_inverse=True) for integer keys in [0, bound): a table of the
    # bound's size when it is small beside the keys (one pass, no sort), else a sort
    if not small_table(bound, key.size):
        return np.unique(key, return_inverse=True)
    present = np.zeros(bound, bool)
    present[key] = True
    keys = np.flatnonzero(present)
    code = np.empty(bound, np.intp)
    code[keys] = np.arange(keys.size)
    return keys, code[key]


def _text_array(value: object) -> np.ndarray:
    # text as a numpy str array: as it is when it already is one, else str() of each entry
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind == "U":
        return arr
    return np.asarray([str(x) for x in arr.reshape(-1)], dtype=np.str_).reshape(arr.shape)




@dataclass(frozen=True, slots=True)
class Book:
    """Positions as a structure of arrays, one row per position (dimension ``position``).

    Parameters
    ----------
    position_id : array_like of str, shape (n_positions,)
        Unique ids.
    underlying : array_like of str, shape (n_positions,)
        Underlying symbol, resolved against ``MarketData.underlyings``.
    kind : array_like of int, shape (n_positions,)
        ``OptionKind``: LINEAR 0 (underlying, future, perpetual), CALL 1, PUT 2.
    strike : array_like of float, shape (n_positions,)
        Strike (> 0) for options; NaN for linear instruments.
    expiry : array_like of datetime64, shape (n_positions,)
        Expiry timestamp (naive UTC); NaT for the underlying and perpetuals; a linear instrument
        with an expiry is a future on ``S e^{bT}``.
    quantity : array_like of float, shape (n_positions,)
        Signed: + long, - short; contracts (or coin for Deribit inverse contracts).
    multiplier : array_like of float, shape (n_positions,)
        Contract size (> 0): 100 for US equity options, 1 for Deribit.
    exercise : array_like of int, shape (n_positions,), optional
        ``ExerciseStyle`` code; default European.
    settlement : array_like of int, shape (n_positions,), optional
        ``Settlement`` code; default linear (quote currency).
    source_row : array_like of int, shape (n_positions,), optional
        Each position's 1-based data row in the user's file (set by the readers), so errors
        name the row the user sees; default ``1..n``.
    copy : bool, default True
        False: the caller hands its arrays over (a reader's, built for this book): those of
        the right dtype are frozen in place instead of copied (1.2 million ids are ~100 MB).
    """

    position_id: np.ndarray
    underlying: np.ndarray
    kind: np.ndarray
    strike: np.ndarray
    expiry: np.ndarray
    quantity: np.ndarray
    multiplier: np.ndarray
    exercise: np.ndarray | None = None
    settlement: np.ndarray | None = None
    source_row: np.ndarray | None = None
    copy: InitVar[bool] = True

    def __post_init__(self, copy: bool) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        ids = frozen_array(_text_array(self.position_id), np.str_, "position_id", copy)
        n = ids.size
        object.__setattr__(self, "position_id", ids)

        def column(name: str, dtype: object, default: object = None) -> np.ndarray:
            value = getattr(self, name)
            if value is None:
                value = default
            arr = np.atleast_1d(np.asarray(value) if dtype != np.str_ else _text_array(value))
            if arr.shape != (n,):
                arr = np.broadcast_to(arr, (n,)) if arr.size == 1 else arr
            if arr.shape != (n,):
                raise InputError(f"{name} must have one entry per position ({n}); got shape"
                                 f" {arr.shape}")
            out = frozen_array(arr, dtype, name, copy)  # type: ignore[arg-type]
            object.__setattr__(self, name, out)
            return out

        column("underlying", np.str_)
        kind = column("kind", np.int8)
        strike = column("strike", np.float64)
        expiry = column("expiry", "datetime64[s]")
        quantity = column("quantity", np.float64)
        multiplier = column("multiplier", np.float64)
        exercise = column("exercise", np.int8, ExerciseStyle.EUROPEAN)
        settlement = column("settlement", np.int8, Settlement.LINEAR)
        column("source_row", np.int64, np.arange(1, n + 1))
        # a set for a small book (cheap to build), a hash index for a large one
        if n > 1 and (len(set(ids.tolist())) != n if n < 4096 else not _unique(ids)):
            import pandas as pd

            index = pd.Index(ids)
            if not index.is_unique:
                dup = sorted(set(ids[index.duplicated(keep=False)].tolist()))
                raise InputError(f"position_id must be unique; duplicated: {', '.join(dup[:5])}"
                                 + (f" and {len(dup) - 5} more" if len(dup) > 5 else ""))
        option = (kind == OptionKind.CALL) | (kind == OptionKind.PUT)
        self._check(kind, option | (kind == OptionKind.LINEAR), "kind",
                    "OptionKind LINEAR (0), CALL (1) or PUT (2)")
        self._check(strike, ~option | ((strike > 0) & np.isfinite(strike)), "strike",
                    "> 0 and finite for an option")
        self._check(strike, option | np.isnan(strike), "strike", "empty (NaN) for a linear"
                    " instrument (underlying, future, perpetual)")
        self._check(expiry, ~option | ~np.isnat(expiry), "expiry", "a timestamp for an option")
        self._check(quantity, np.abs(quantity) <= MAX_QUANTITY, "quantity",
                    f"finite and at most {MAX_QUANTITY:.0e} contracts either way (signed)")
        self._check(multiplier, (multiplier > 0) & (multiplier <= MAX_MULTIPLIER), "multiplier",
                    f"> 0 and at most {MAX_MULTIPLIER:.0e}")
        self._check(exercise, np.isin(exercise, (0, 1)), "exercise",
                    "ExerciseStyle EUROPEAN (0) or AMERICAN (1)")
        self._check(settlement, np.isin(settlement, (0, 1)), "settlement",
                    "Settlement LINEAR (0) or INVERSE (1)")

    def _check(self, values: np.ndarray, ok: np.ndarray, name: str, constraint: str) -> None:
        if not np.all(ok):
            bad = np.flatnonzero(~ok)
            first = int(bad[0])
            raise InputError(f"{name} must be {constraint}; got {values[first].item()!r} at"
                             f" {self._where(first)}"
                             + (f"; {bad.size} rows invalid" if bad.size > 1 else ""))

    def netted(self, rows: np.ndarray, position_id: np.ndarray, quantity: np.ndarray) -> Book:
        """Return the net positions whose first rows are ``rows``: ids and summed quantities given.

        The other columns are this book's, already checked; only the summed quantities are
        checked again (a sum of valid quantities may exceed the bound). Rebuilding a Book would
        check every column again (about 200 us for an account: the what-if path's cost).
        """
        net = object.__new__(Book)
        for name in ("underlying", "kind", "strike", "expiry", "multiplier", "exercise",
                     "settlement", "source_row"):
            column = np.asarray(getattr(self, name))[rows]
            column.flags.writeable = False
            object.__setattr__(net, name, column)
        object.__setattr__(net, "position_id", frozen_array(position_id, np.str_, "position_id"))
        object.__setattr__(net, "quantity", frozen_array(quantity, np.float64, "quantity"))
        net._check(net.quantity, np.abs(net.quantity) <= MAX_QUANTITY, "quantity",
                   f"finite and at most {MAX_QUANTITY:.0e} contracts either way (signed, net)")
        return net

    @property
    def n_positions(self) -> int:
        """Number of positions."""
        return int(self.position_id.size)

    def take(self, rows: np.ndarray) -> Book:
        """Return the positions at ``rows`` (indices or a boolean mask), as a new Book."""
        return Book(self.position_id[rows], self.underlying[rows], self.kind[rows],
                    self.strike[rows], self.expiry[rows], self.quantity[rows],
                    self.multiplier[rows], self.exercise[rows], self.settlement[rows],  # type: ignore[index]
                    self.source_row[rows], copy=False)  # type: ignore[index]

    def concat(self, other: Book) -> Book:
        """Return this book's positions followed by ``other``'s (ids must stay unique)."""
        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(self, name), getattr(other, name)])

        return Book(cat("position_id"), cat("underlying"), cat("kind"), cat("strike"),
                    cat("expiry"), cat("quantity"), cat("multiplier"), cat("exercise"),
                    cat("settlement"), cat("source_row"), copy=False)  # new arrays

    def scaled(self, factor: float) -> Book:
        """Return the same positions with every quantity multiplied by ``factor``."""
        return Book(self.position_id, self.underlying, self.kind, self.strike, self.expiry,
                    self.quantity * factor, self.multiplier, self.exercise, self.settlement,
                    self.source_row)

    def to_frame(self) -> pd.DataFrame:
        """Return the book as a DataFrame, one row per position, kinds and styles as text."""
        import pandas as pd

        kind_text = np.array(["linear", "call", "put"])[self.kind]
        return pd.DataFrame({
            "position_id": self.position_id, "underlying": self.underlying, "kind": kind_text,
            "strike": self.strike, "expiry": self.expiry, "quantity": self.quantity,
            "multiplier": self.multiplier,
            "exercise": np.array(["european", "american"])[self.exercise],  # type: ignore[index]
            "settlement": np.array(["linear", "inverse"])[self.settlement],  # type: ignore[index]
        })

    def resolve(self, market: MarketData, *, by: Literal["group", "underlying"] = "group",
                accounts: Sequence[str] | np.ndarray | pd.Series | None = None) -> ResolvedBook:
        """Bind the book to ``market``: year fractions, vols, groups, rows sorted by group.

        Parameters
        ----------
        market : MarketData
            The snapshot; every underlying of the book must be in it.
        by : {"group", "underlying"}
            Margin groups: ``market.group_of`` (default: each underlying its own group), or one
            group per underlying regardless of ``group_of``.
        accounts : sequence of str or pandas.Series, optional
            The account of each position (a pandas text column is hashed as it is): groups
            are then (account, class group) pairs, keyed by index arrays (``group_account``,
            ``group_class``), so many accounts are margined in one call (the batch front)
            without mixing their positions.

        Raises
        ------
        MarketDataError
            An underlying without market data; an option without any vol source.
        InputError
            An expiry before the valuation timestamp; an option price without implied vol.
        """
        n = self.n_positions
        und_index = _index_of(self.underlying, market.underlyings)
        if n and und_index.min() < 0:
            i = int(np.flatnonzero(und_index < 0)[0])
            raise MarketDataError(f"no market data for underlying {str(self.underlying[i])!r} of"
                                  f" {self._where(i)}; known: {', '.join(market.underlyings)}")
        seconds = (self.expiry - market.valuation).astype("timedelta64[s]").astype(np.float64)
        expiry_years = np.where(np.isnat(self.expiry), np.nan, seconds / SECONDS_PER_YEAR)
        past = expiry_years < 0
        if past.any():
            i = int(np.flatnonzero(past)[0])
            raise InputError(f"expiry {self.expiry[i]} is before the valuation timestamp"
                             f" {market.valuation} at {self._where(i)}; remove expired positions")
        vol, source = _resolve_vols(self, market, und_index, expiry_years)
        if by not in ("group", "underlying"):
            raise InputError(f"by must be 'group' or 'underlying'; got {by!r}")
        # class group of each underlying of the market, then of each position
        names = [market.group_of.get(u, u) if by == "group" else u for u in market.underlyings]
        used = np.zeros(len(names), bool)
        used[und_index] = True
        classes = tuple(sorted({names[k] for k in np.flatnonzero(used)}))
        lookup = {g: k for k, g in enumerate(classes)}
        class_index = np.array([lookup.get(g, -1) for g in names], np.intp)[und_index]
        if accounts is None:
            labels, group_class = classes, classes
            group_index = class_index
            group_account = np.full(len(classes), -1, np.intp)
            account_names: tuple[str, ...] = ()
        else:
            import pandas as pd

            # hash, sort the names: on pandas' string column (Arrow's kernels where pandas has
            # them, 5x faster than on NumPy text; a pandas column is taken as it is); a
            # missing name is text, as str() has it
            if isinstance(accounts, pd.Series):
                shape: tuple[int, ...] = (len(accounts),)
                text = accounts.astype("str").reset_index(drop=True)
            else:
                account_of = np.asarray(accounts)
                shape = account_of.shape
                text = pd.Series(account_of, dtype="str", copy=False)
            if shape != (n,):
                raise InputError(f"accounts must have one entry per position ({n}); got shape"
                                 f" {shape}")
            if text.isna().any():
                text = pd.Series(np.asarray(accounts).astype(str), dtype="str")
            account_index, names_a = pd.factorize(text, sort=True)
            account_names = tuple(names_a.tolist())
            keys, group_index = _dense_codes(account_index * max(len(classes), 1) + class_index,
                                             len(account_names) * max(len(classes), 1))
            group_account, class_of_group = np.divmod(keys, max(len(classes), 1))
            group_class = tuple(np.array(classes, dtype=object)[class_of_group].tolist())
            # "account/class": one concatenation per group (each class's "/class" made once)
            suffix = np.array([f"/{c}" for c in classes], dtype=object)
            labels = tuple((np.array(account_names, dtype=object)[group_account]
                            + suffix[class_of_group]).tolist())
            group_index = group_index.astype(np.intp)
        order = np.argsort(group_index, kind="stable")
        offsets = np.zeros(len(labels) + 1, np.intp)
        np.cumsum(np.bincount(group_index, minlength=len(labels)), out=offsets[1:])
        return ResolvedBook(
            position_id=self.position_id[order], group_labels=tuple(labels),
            group_class=tuple(group_class),
            group_account=np.asarray(group_account, np.intp), account_names=account_names,
            group_index=group_index[order], underlying_index=und_index[order],
            kind=self.kind[order], strike=self.strike[order], expiry_years=expiry_years[order],
            vol=vol[order], quantity=self.quantity[order], multiplier=self.multiplier[order],
            american=self.exercise[order], inverse=self.settlement[order],  # type: ignore[index]
            order=order, group_offsets=offsets, market=market, vol_source=source[order])

    def _where(self, i: int) -> str:
        return f"position {str(self.position_id[i])!r} (row {int(self.source_row[i])})"  # type: ignore[index]

    def market_failures(self, market: MarketData) -> tuple[Failure, ...]:
        """Every position :meth:`resolve` would refuse against ``market``, one Failure each.

        An underlying without market data, an expiry before the valuation, an option with no
        vol source, an option price with no implied vol; rows named by ``source_row``. Empty
        when the book resolves.
        """
        n = self.n_positions
        failures: dict[int, Failure] = {}

        def fail(rows: np.ndarray, field_name: str, reason: Callable[[int], str]) -> None:
            for i in rows.tolist():
                if i not in failures:
                    failures[i] = Failure(int(self.source_row[i]), str(self.position_id[i]),  # type: ignore[index]
                                          field_name, reason(i))

        und_index = _index_of(self.underlying, market.underlyings)
        fail(np.flatnonzero(und_index < 0), "underlying",
             lambda i: f"no market data for {str(self.underlying[i])!r}")
        seconds = (self.expiry - market.valuation).astype("timedelta64[s]").astype(np.float64)
        fail(np.flatnonzero((seconds < 0) & ~np.isnat(self.expiry)), "expiry",
             lambda i: f"{self.expiry[i]} is before the valuation timestamp {market.valuation}")
        ok = np.ones(n, bool)
        ok[list(failures)] = False
        option = ok & (self.kind != OptionKind.LINEAR)
        given_vol = np.isin(self.position_id, list(market.position_vol))
        priced = np.isin(self.position_id, list(market.option_price)) & ~given_vol
        surface = np.isin(self.underlying, list(market.surfaces))
        flat = np.full(n, np.nan)
        flat[und_index >= 0] = np.asarray(market.vol)[und_index[und_index >= 0]]
        fail(np.flatnonzero(option & ~given_vol & ~priced & ~surface & ~np.isfinite(flat)), "vol",
             lambda i: f"no volatility for {str(self.underlying[i])!r}: give a flat vol, a"
                       " surface, or a vol or price for the position")
        price_rows = np.flatnonzero(option & priced)
        if price_rows.size:
            try:  # one call; row by row only to name the prices without an implied vol
                self.take(price_rows).resolve(market)
            except (MarketDataError, InputError):
                for i in price_rows.tolist():
                    try:
                        self.take(np.array([i])).resolve(market)
                    except (MarketDataError, InputError) as exc:
                        fail(np.array([i]), "option_price", lambda _i, e=exc: str(e))  # type: ignore[misc]
        return tuple(failures[i] for i in sorted(failures))


def _resolve_vols(book: Book, market: MarketData, und_index: np.ndarray,
                  expiry_years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # vol and VolSource per position: the position's own vol, then its option price, then the
    # underlying's surface, then its flat vol (vectorised; Python only for the given entries)
    from ..pricing import american as american_pricing
    from ..pricing import implied_vol

    n = book.n_positions
    vol = np.zeros(n)
    source = np.zeros(n, np.int8)
    open_rows = book.kind != OptionKind.LINEAR
    prices = np.full(n, np.nan)
    for code, given, out in ((VolSource.POSITION, market.position_vol, vol),
                             (VolSource.PRICE, market.option_price, prices)):
        if given:
            rows = np.flatnonzero(open_rows & np.isin(book.position_id, list(given)))
            out[rows] = [given[str(p)] for p in book.position_id[rows].tolist()]
            source[rows] = code
            open_rows[rows] = False
    if market.surfaces:
        has_surface = np.array([u in market.surfaces for u in market.underlyings])
        source[open_rows & has_surface[und_index]] = VolSource.SURFACE
        open_rows &= ~has_surface[und_index]
    rows = np.flatnonzero(open_rows)
    flat = np.asarray(market.vol)[und_index[rows]]  # an array once MarketData is built
    if not np.all(np.isfinite(flat)):
        i = int(rows[np.flatnonzero(~np.isfinite(flat))[0]])
        raise MarketDataError(f"no volatility for option {book._where(i)}: give a flat vol for"
                              f" {str(book.underlying[i])!r}, a surface, or a vol or price for the"
                              " position")
    vol[rows] = flat
    source[rows] = VolSource.FLAT
    surface_vols(vol, source, book.underlying, book.strike, expiry_years, market)
    rows = np.flatnonzero(source == VolSource.PRICE)
    for style in (ExerciseStyle.EUROPEAN, ExerciseStyle.AMERICAN):
        sub = rows[book.exercise[rows] == style]  # type: ignore[index]
        if sub.size == 0:
            continue
        under = und_index[sub]
        try:
            if style == ExerciseStyle.EUROPEAN:
                iv = implied_vol(prices[sub], market.spot[under], book.strike[sub],
                                 expiry_years=expiry_years[sub], rate=market.rate[under],
                                 carry=market.carry[under], kind=book.kind[sub], on_error="raise")
            else:
                iv = american_pricing.implied_vol(
                    prices[sub], market.spot[under], book.strike[sub],
                    expiry_years=expiry_years[sub], rate=market.rate[under],
                    dividend_yield=market.rate[under] - market.carry[under], kind=book.kind[sub],
                    method="alo", on_error="raise")
        except ImpliedVolError as exc:
            # the revaluation values American options by the fixed point, so their IV is its too
            bad = np.flatnonzero(np.asarray(exc.status) != 0)
            names = ", ".join(book._where(int(sub[b])) for b in bad[:5]) or "some positions"
            raise InputError(f"option_price has no implied vol for {names}: {exc}") from None
        vol[sub] = iv.vol
    return vol, source


def surface_vols(vol: np.ndarray, source: np.ndarray, underlying: np.ndarray, strike: np.ndarray,
                 expiry_years: np.ndarray, market: MarketData) -> None:
    """Set, in place, the ``vol`` of the rows whose ``source`` is SURFACE from their surface."""
    for u, surface in market.surfaces.items():
        rows = np.flatnonzero((source == VolSource.SURFACE) & (underlying == u))
        if rows.size:
            vol[rows] = surface.vol(strike[rows], expiry_years[rows])


@dataclass(frozen=True, slots=True)
class ResolvedBook:
    """A Book bound to one MarketData: the kernels' only input. Rows are sorted by group.

    ``order[k]`` is the Book row of sorted row ``k``; ``group_offsets`` (n_groups + 1,) are CSR
    offsets into the sorted rows; ``group_class`` names each group's class group (the key of
    per-group methodology parameters) and ``group_account`` its account (an index into
    ``account_names``; -1 when the book was resolved without accounts); ``expiry_years`` is NaN
    for the underlying and perpetuals; ``vol``
    is 0 for linear instruments; ``american`` and ``inverse`` are 0/1 codes; ``vol_source`` the
    :class:`~greeksmargin.enums.VolSource` of each vol.
    """

    position_id: np.ndarray
    group_labels: tuple[str, ...]
    group_class: tuple[str, ...]
    group_account: np.ndarray
    account_names: tuple[str, ...]
    group_index: np.ndarray
    underlying_index: np.ndarray
    kind: np.ndarray
    strike: np.ndarray
    expiry_years: np.ndarray
    vol: np.ndarray
    quantity: np.ndarray
    multiplier: np.ndarray
    american: np.ndarray
    inverse: np.ndarray
    order: np.ndarray
    group_offsets: np.ndarray
    market: MarketData
    vol_source: np.ndarray
    _contracts: dict[str, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False)  # computed once

    @property
    def n_groups(self) -> int:
        """Number of margin groups."""
        return len(self.group_labels)

    @property
    def notional(self) -> np.ndarray:
        """Signed quantity x multiplier, shape (n_positions,)."""
        return self.quantity * self.multiplier

    def instruments(self) -> tuple[np.ndarray, np.ndarray]:
        """Each sorted row's instrument and each instrument's first row: ``(instrument, first_row)``.

        Two rows hold one instrument when they agree on underlying, kind, strike, expiry, vol
        and its source, multiplier, exercise and settlement: everything the revaluation reads
        except the quantity, so under one grid the instrument's P&L per unit is the same
        wherever it is held. Numbered in the order of first rows; computed once per resolved
        book (hashing each column, no sort).
        """
        if "instruments" not in self._contracts:
            self._contracts["instruments"] = distinct_rows(*self.contract_columns()[1:])
        return self._contracts["instruments"]

    def contracts(self) -> tuple[np.ndarray, np.ndarray]:
        """Each sorted row's contract and each contract's first row: ``(contract, first_row)``.

        A contract is an instrument (:meth:`instruments`) held in one group: rows of a group on
        one instrument are one position, their P&L and counts those of their summed quantity.
        Contracts are numbered in the order of their first rows, hence sorted by group as the
        rows are.
        """
        cache = self._contracts
        if "contracts" not in cache:
            if "instruments" in cache or self.quantity.size > SMALL_ROWS:
                instrument, first = self.instruments()
                # rows sorted by group: one compiled pass with a table of the instruments
                ok, code, first_row = group_contracts(kernel_array(self.group_index, np.int64),
                                                      kernel_array(instrument, np.int64),
                                                      first.size)
                cache["contracts"] = ((code.astype(np.intp, copy=False),
                                       first_row.astype(np.intp, copy=False)) if ok
                                      else distinct_rows(self.group_index, instrument))
            else:  # a small book (an account): one pass over all the columns
                cache["contracts"] = distinct_rows(*self.contract_columns())
        return cache["contracts"]

    def contract_columns(self, group_index: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Return the columns that name a row's contract: group (``group_index``), then instrument."""
        return (self.group_index if group_index is None else group_index, self.underlying_index,
                self.kind.astype(np.int64) * 4 + self.american * 2 + self.inverse,
                self.vol_source, self.strike, self.expiry_years, self.vol, self.multiplier)

    def netted(self, *, join_ids: bool = False) -> ResolvedBook:
        """One position per contract of each group (:meth:`contracts`), quantities summed.

        Contracts whose rows net to zero are dropped (they neither gain nor lose, nor count in
        any add-on); groups stay, possibly empty. A merged position keeps its first row's id and
        Book row (``order``), or with ``join_ids`` the ids of all its rows joined by ``+``.
        Returns ``self`` when there is nothing to merge or drop.
        """
        contract, first = self.contracts()
        quantity = np.bincount(contract, weights=self.quantity, minlength=first.size)
        keep = quantity != 0
        if first.size == self.quantity.size and keep.all():
            return self
        rows = first[keep]
        ids = self.position_id[rows]
        if join_ids:
            by_contract = np.argsort(contract, kind="stable")
            bounds = np.searchsorted(contract[by_contract], np.arange(first.size + 1))
            every = self.position_id[by_contract]
            ids = np.array(["+".join(every[bounds[c]:bounds[c + 1]].tolist())
                            for c in np.flatnonzero(keep).tolist()], dtype=object).astype(str)
        group_index = self.group_index[rows]
        offsets = np.searchsorted(group_index, np.arange(self.n_groups + 1)).astype(np.intp)
        netted = ResolvedBook(
            position_id=ids, group_labels=self.group_labels, group_class=self.group_class,
            group_account=self.group_account, account_names=self.account_names,
            group_index=group_index, underlying_index=self.underlying_index[rows],
            kind=self.kind[rows], strike=self.strike[rows], expiry_years=self.expiry_years[rows],
            vol=self.vol[rows], quantity=quantity[keep], multiplier=self.multiplier[rows],
            american=self.american[rows], inverse=self.inverse[rows], order=self.order[rows],
            group_offsets=offsets, market=self.market, vol_source=self.vol_source[rows])
        # known already: each net position is its own contract, on its first row's instrument
        every = np.arange(rows.size, dtype=np.intp)
        netted._contracts["contracts"] = (every, every)
        if "instruments" in self._contracts:
            netted._contracts["instruments"] = distinct_rows(self.instruments()[0][rows])
        return netted

    def expiry_dates(self) -> np.ndarray:
        """Return each sorted row's expiry timestamp (datetime64[s]; NaT where none).

        The year fractions back to timestamps, to the second (ACT/365 from the valuation).
        """
        valuation = np.asarray(self.market.valuation).astype("datetime64[s]")
        years = np.asarray(self.expiry_years, float)
        seconds = np.where(np.isfinite(years), years * SECONDS_PER_YEAR, 0.0)
        out = valuation + np.round(seconds).astype("timedelta64[s]")
        out[~np.isfinite(years)] = np.datetime64("NaT")
        return out

    def group_first_underlying(self) -> np.ndarray:
        """Underlying index of each group's first sorted row (0 for an empty group)."""
        starts = self.group_offsets[:-1]
        return np.array(self.underlying_index[np.minimum(starts, max(self.position_id.size - 1,
                                                                     0))], np.int64)

    def group_underlyings(self) -> list[tuple[str, ...]]:
        """Return the underlyings in each group."""
        names = self.market.underlyings
        pairs = np.unique(self.group_index * len(names) + self.underlying_index)
        group, underlying = np.divmod(pairs, len(names))
        starts = np.searchsorted(group, np.arange(self.n_groups + 1))
        return [tuple(sorted(names[u] for u in underlying[starts[g]:starts[g + 1]].tolist()))
                for g in range(self.n_groups)]

