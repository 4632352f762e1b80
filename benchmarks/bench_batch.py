"""Batch margining throughput: accounts/s in one process and on a LocalCluster of 1 and 2
worker processes, against the plain in-process loop (one compute_margin per account).

Synthetic accounts from ``greeksmargin.io.synthetic`` (about 6 positions each), OCC TIMS preset.
Results are checked equal (1e-12) before timing. Appends a "Batch margining" section to
``docs/benchmarks.md``. Run: ``python benchmarks/bench_batch.py [--max 100000]``.
"""

from __future__ import annotations

import argparse
import time

import dask.dataframe as dd
import numpy as np
from common import replace_section  # same folder: run as benchmarks/<name>.py

from greeksmargin import compute_margin, methodology, read_book
from greeksmargin.front.batch import margin_accounts, margin_batch
from greeksmargin.io.markets import read_market
from greeksmargin.io.synthetic import generate_accounts


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=100_000)
    args = parser.parse_args()
    occ = methodology.occ_tims()
    sizes = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= args.max]
    data = {}
    rows = []
    for n in sizes:
        positions, market_frame = generate_accounts(n, seed=1)
        market = read_market(market_frame)
        start = time.perf_counter()
        expected = margin_accounts(positions, market, occ)
        vectorised = time.perf_counter() - start
        # the plain loop, on a sample of accounts (it is the slow reference)
        sample = positions[positions["account"].isin(expected["account"].iloc[:200])]
        start = time.perf_counter()
        for account, frame in sample.groupby("account"):
            total = compute_margin(read_book(frame.drop(columns="account")).value, market,
                                   occ).total
            got = expected.loc[expected["account"] == account, "initial_margin"].iloc[0]
            assert abs(total - got) <= 1e-12 * max(abs(total), 1.0)
        loop = (time.perf_counter() - start) / sample["account"].nunique()
        rows.append({"accounts": n, "positions": len(positions),
                     "in-process vectorised": n / vectorised, "plain loop": 1 / loop})
        data[n] = (positions, market, expected)
    for workers in (1, 2):  # one cluster at a time
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            # warm the workers: import the package, load the cached kernels
            client.run(lambda: __import__("greeksmargin.front.batch"))
            for row in rows:
                positions, market, expected = data[row["accounts"]]
                ddf = dd.from_pandas(positions, npartitions=max(2, row["accounts"] // 5_000),
                                     sort=False)
                start = time.perf_counter()
                got = margin_batch(ddf, market, occ, scheduler=client)
                row[f"dask {workers} worker(s)"] = row["accounts"] / (time.perf_counter() - start)
                assert np.allclose(got["initial_margin"], expected["initial_margin"], rtol=1e-12)
    for row in rows:
        print({k: (round(v) if isinstance(v, float) else v) for k, v in row.items()})
    cols = ["in-process vectorised", "plain loop", "dask 1 worker(s)", "dask 2 worker(s)"]
    lines = ["## Batch margining (`python benchmarks/bench_batch.py`)", "",
             "Accounts per second, synthetic accounts (about 6 positions each), OCC TIMS;"
             " every path checked equal to the in-process result (1e-12) before timing. The plain"
             " loop is one `compute_margin` per account (measured on 200 accounts). Dask runs a"
             " LocalCluster of worker processes (1 thread each) on this 2-core machine; its"
             " overhead is the gap to the in-process column.", "",
             "| accounts | positions | " + " | ".join(cols) + " |",
             "|---:|---:|" + "---:|" * len(cols)]
    for row in rows:
        lines.append(f"| {row['accounts']:,} | {row['positions']:,} | "
                     + " | ".join(f"{row[c]:,.0f}" for c in cols) + " |")
    replace_section(lines)


if __name__ == "__main__":
    main()
