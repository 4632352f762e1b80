"""Margining many accounts: in one process (vectorised across accounts) and on Dask.

:func:`margin_accounts` margins every account of a positions table in one kernel call: each
position's group becomes ``"<account>/<class group>"``, so the (group, scenario) cells of one
revaluation cover all accounts, and a margin per account is the sum of its groups'. It is the
function every Dask partition runs.

:func:`margin_batch` runs it over a partitioned dataset (Parquet or a Dask DataFrame) with a
shared market snapshot: the market and the methodology go to the workers once (one graph node,
or scattered with ``broadcast=True`` on a cluster), partitions never split an account (the data
is shuffled by account unless it is already indexed by it), and the Numba kernels load from the
on-disk cache on each worker. The scheduler is local by default (``"threads"`` or
``"processes"``); a ``dask.distributed`` address (``"tcp://host:8786"``) or ``Client`` switches
to a cluster without changing the call.

Result columns: ``account, n_positions, currency, initial_margin, maintenance_margin,
scan_risk, <add-ons>, worst_group, worst_scenario`` (quote currency totals).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..io.books import read_book
from ..margin.result import margin_from_pnl
from ..margin.rules import ADDONS
from ..measures.revalue import revalue
from ..methodology import Methodology
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["margin_accounts", "margin_batch", "RESULT_COLUMNS"]

RETRIES = 3  # resubmissions of a cancelled cluster run (see _run)
RESULT_COLUMNS = ["account", "n_positions", "currency", "initial_margin", "maintenance_margin",
                  "scan_risk", *ADDONS,
                  "worst_group", "worst_scenario"]


def _empty() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in RESULT_COLUMNS})
    for c in ("account", "currency", "worst_group", "worst_scenario"):
        frame[c] = frame[c].astype(object)
    frame["n_positions"] = frame["n_positions"].astype("int64")
    return frame


def margin_accounts(positions: pd.DataFrame, market: MarketData,
                    method: Methodology | ScenarioGrid, *, venue: str | None = None
                    ) -> pd.DataFrame:
    """Margin every account of a positions table in one revaluation.

    Margin of every account in ``positions`` (column ``account`` plus the book columns of
    :func:`greeksmargin.read_book`), one row per account, in one revaluation.

    Position ids need only be unique within an account (they are prefixed with the account).
    Bad rows raise one :class:`InputError` naming every row, as ``read_book`` does.
    """
    import pandas as pd

    if "account" not in positions.columns:
        raise InputError("positions need an 'account' column")
    if len(positions) == 0:
        return _empty()
    accounts = positions["account"].astype(str).to_numpy()
    frame = positions.drop(columns="account").copy()
    ids = (frame["position_id"].astype(str).to_numpy() if "position_id" in frame.columns
           else np.array([f"row{k}" for k in range(len(frame))]))
    frame["position_id"] = np.char.add(np.char.add(accounts.astype(str), "/"), ids.astype(str))
    book = read_book(frame, venue=venue).value
    resolved = book.resolve(market, accounts=accounts)
    if isinstance(method, Methodology):
        grids: Any = method.build_grids(resolved)
        rules: Methodology | None = method
    else:
        grids, rules = method, None
    pnl = revalue(resolved, grids)
    result = margin_from_pnl(pnl, methodology=rules, resolved=resolved)
    facts_to_quote = market.to_quote(result.currency)
    group_account = np.array(resolved.account_names)[resolved.group_account]
    per_group = pd.DataFrame({
        "account": group_account,
        "initial_margin": result.initial * facts_to_quote,
        "maintenance_margin": result.maintenance * facts_to_quote,
        "scan_risk": result.scan_risk * facts_to_quote,
        **{name: values * facts_to_quote for name, values in result.addons.items()},
        "worst_group": list(resolved.group_class),
        "worst_scenario": list(result.worst_label),
    })
    for name in ADDONS:
        if name not in per_group.columns:
            per_group[name] = 0.0
    sums = per_group.groupby("account", sort=True)[
        ["initial_margin", "maintenance_margin", "scan_risk", *ADDONS]].sum()
    top = per_group.sort_values("initial_margin", ascending=False, kind="stable") \
        .drop_duplicates("account").set_index("account")[["worst_group", "worst_scenario"]]
    counts = pd.Series(accounts).value_counts()
    out = sums.join(top)
    out["n_positions"] = counts.reindex(out.index).astype("int64")
    out["currency"] = market.quote_currency
    return out.reset_index()[RESULT_COLUMNS]


def _partition(frame: pd.DataFrame, market: MarketData, method: Methodology | ScenarioGrid,
               venue: str | None) -> pd.DataFrame:
    if frame.index.name == "account":
        frame = frame.reset_index()
    return margin_accounts(frame, market, method, venue=venue)


def margin_batch(positions: str | Path | Any, market: MarketData,
                 method: Methodology | ScenarioGrid, *, scheduler: str | Any = "threads",
                 venue: str | None = None, progress: bool = False,
                 as_dask: bool = False) -> Any:
    """Margin every account of a partitioned dataset on Dask.

    Parameters
    ----------
    positions : path or dask.dataframe.DataFrame
        Parquet file or directory (partitioned or sorted by account), or a Dask DataFrame with
        an ``account`` column (or indexed by account).
    market : MarketData
        The snapshot shared by all accounts (sent to the workers once).
    method : Methodology or ScenarioGrid
        The margin method.
    scheduler : str or distributed.Client
        ``"threads"`` (default), ``"processes"``, ``"synchronous"``, a ``dask.distributed``
        scheduler address, or a ``Client``.
    progress : bool
        Show a progress bar (the CLI turns it on for terminals).
    as_dask : bool
        Return the lazy Dask DataFrame instead of computing a pandas one.
    """
    client = None
    if isinstance(scheduler, str) and scheduler.startswith(("tcp://", "tls://", "inproc://")):
        from distributed import Client

        client = Client(scheduler)
    elif not isinstance(scheduler, str):
        client = scheduler
    # build and run the graph with this client as the current one (a shuffle would otherwise
    # bind to whatever client was created last in the process)
    current = client.as_current() if client is not None else nullcontext()
    with current:
        return _run(positions, market, method, client, scheduler, venue, progress, as_dask)


def _run(positions: Any, market: MarketData, method: Methodology | ScenarioGrid, client: Any,
         scheduler: Any, venue: str | None, progress: bool, as_dask: bool) -> Any:
    import dask
    import dask.dataframe as dd

    if isinstance(positions, str | Path):
        ddf = dd.read_parquet(str(positions))
    else:
        ddf = positions
    if ddf.index.name == "account" and ddf.known_divisions:
        prepared = ddf  # sorted by account: no partition splits an account
    elif "account" in ddf.columns:
        prepared = ddf.shuffle("account")  # all rows of an account in one partition
    else:
        raise InputError("positions need an 'account' column or index")

    def graph() -> Any:
        if client is not None:
            # scattered once to every worker, not per task; fresh keys each time, so a
            # resubmitted run never waits on a copy lost with a killed worker
            shared_market: Any = client.scatter(market, broadcast=True, hash=False)
            shared_method: Any = client.scatter(method, broadcast=True, hash=False)
        else:
            shared_market = dask.delayed(market, pure=True)
            shared_method = dask.delayed(method, pure=True)
        return prepared.map_partitions(_partition, shared_market, shared_method, venue,
                                       meta=_empty(), align_dataframes=False)

    if as_dask:
        return graph()
    try:
        if client is not None:
            from distributed.client import FutureCancelledError

            for attempt in range(RETRIES):
                future = client.compute(graph())
                if progress:
                    from distributed import progress as show

                    show(future)
                try:
                    out = future.result()
                    break
                except FutureCancelledError:
                    # dask.distributed cancels a run whose inputs it lost or is still releasing
                    # ("lost dependencies": a worker killed mid-shuffle, or a previous identical
                    # run); the graph is pure, so it is rebuilt (market and method scattered
                    # again) and resubmitted. (Positions scattered from memory, as
                    # dd.from_pandas does on a cluster, are lost for good with the worker that
                    # held them: read from Parquet, whose read tasks can be redone.)
                    del future
                    if attempt == RETRIES - 1:
                        raise
            return out.sort_values("account", kind="stable").reset_index(drop=True)
        bar: Any = nullcontext()
        if progress:
            from dask.diagnostics import ProgressBar

            bar = ProgressBar()
        with bar:
            out = graph().compute(scheduler=scheduler)
        return out.sort_values("account", kind="stable").reset_index(drop=True)
    finally:
        if client is not None and isinstance(scheduler, str):
            client.close()
