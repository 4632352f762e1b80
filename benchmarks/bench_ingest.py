"""From the user's file to the margin: 10^6 OSI positions (CSV and Parquet) and 2 x 10^5 accounts.

The end-to-end split a user feels (read the file with pandas, parse the book, resolve it
against the market, revalue under OCC TIMS, reduce to the margin) and the ratio of the whole to
``pandas.read_csv`` / ``read_parquet`` of the same file. The book parser is timed two ways on
the same frame: the columnar reader (``read_book``: each distinct instrument parsed once) and
the row-by-row reference it replaced (``greeksmargin.io.books._rows``, kept as the reference the
tests compare it with; timed on 100,000 rows and scaled). The CLI row is one subprocess
``greeksmargin margin FILE --market M``, wall time with interpreter start-up. The peer of the
revalue step is the same revaluation without netting (each row priced). Last, ``greeksmargin
batch`` on 10^6 accounts from Parquet, with its peak memory.
Run: ``python benchmarks/bench_ingest.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (  # same folder: run as benchmarks/<name>.py
    best_time,
    cli_with_peak_memory,
    interleaved,
    replace_section,
)

from greeksmargin import methodology, read_book
from greeksmargin.front.batch import margin_accounts
from greeksmargin.io import books
from greeksmargin.io.markets import read_market
from greeksmargin.io.synthetic import generate_accounts
from greeksmargin.margin.result import margin_from_pnl
from greeksmargin.measures.revalue import revalue

N = 1_000_000
SPOT = {"SPY": 590.0, "QQQ": 520.0, "AAPL": 200.0, "MSFT": 450.0, "IWM": 210.0, "SPX": 5900.0}


def osi_book(n: int, seed: int = 0) -> pd.DataFrame:
    """n positions on a few thousand OSI contracts: 6 roots, 5 expiries, 41 strikes each."""
    rng = np.random.default_rng(seed)
    roots = np.array(list(SPOT))
    r = rng.integers(0, len(roots), n)
    expiries = np.array(["250718", "250815", "250919", "251017", "251219"])
    strike = np.round(np.array(list(SPOT.values()))[r] * (1 + rng.integers(-20, 21, n) * 0.01))
    symbol = (pd.Series(roots[r]).str.ljust(6) + pd.Series(expiries[rng.integers(0, 5, n)])
              + pd.Series(np.where(rng.random(n) < 0.5, "C", "P"))
              + pd.Series((strike * 1000).astype(np.int64)).astype(str).str.zfill(8))
    quantity = rng.integers(-20, 21, n)
    quantity[quantity == 0] = 1
    return pd.DataFrame({"position_id": "p" + pd.Series(np.arange(n)).astype(str),
                         "symbol": symbol, "quantity": quantity, "multiplier": 100})


def split(read, path: Path, market) -> dict[str, float]:
    """Seconds of each step from the file to the margin total (best of 3)."""
    method = methodology.occ_tims()
    steps: dict[str, float] = {}
    frame = None
    book = resolved = pnl = None

    def step(name, fn):
        nonlocal frame, book, resolved, pnl
        steps[name] = best_time(fn, 3)

    step("read (pandas)", lambda: read(path))
    frame = read(path)
    step("parse (read_book)", lambda: read_book(frame))
    book = read_book(frame).value
    step("resolve", lambda: book.resolve(market))
    resolved = book.resolve(market)
    grids = method.build_grids(resolved)
    step("revalue", lambda: revalue(resolved, grids))
    pnl = revalue(resolved, grids)
    step("reduce", lambda: margin_from_pnl(pnl, methodology=method, resolved=resolved))
    # the peer: every row revalued (no netting); checked equal first, not part of the total
    each = revalue(resolved, grids, net=False)
    assert np.allclose(each.values, pnl.values, rtol=1e-9, atol=1e-9 * np.abs(each.values).max())
    PEERS["revalue each row (no netting)"] = best_time(lambda: revalue(resolved, grids, net=False), 3)
    PEERS["scenarios"] = grids[0].n_scenarios
    return steps


PEERS: dict[str, float] = {}


def batch_cli_lines(folder: Path, n_accounts: int = 1_000_000) -> list[str]:
    """``greeksmargin batch`` on 10^6 accounts from Parquet (grouped by account, as written):
    wall time and the process's peak resident memory (``VmHWM``, Linux)."""
    positions, market_frame = generate_accounts(n_accounts, seed=5)
    path, market_path = folder / "accounts_1m.parquet", folder / "accounts_1m_market.csv"
    positions.to_parquet(path, index=False)
    market_frame.to_csv(market_path, index=False)
    n_positions, size_mb = len(positions), path.stat().st_size / 1e6
    del positions
    seconds, peak_mb = cli_with_peak_memory(
        "batch", str(path), "--market", str(market_path), "--preset", "occ-tims", "--out",
        str(folder / "out.parquet"), "--quiet")
    peak_gb = peak_mb / 1e3
    return [f"Broker scale: `greeksmargin batch` on {n_accounts:,} accounts ({n_positions:,}"
            f" positions, {size_mb:.0f} MB of Parquet written account by account), OCC TIMS, a"
            f" fresh process: {seconds:.1f} s, peak resident memory {peak_gb:.2f} GB"
            " (`VmHWM`). Targets: 60 s and 3 GB."]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="greeksmargin-ingest-"))
    book = osi_book(N)
    csv, parquet = folder / "book.csv", folder / "book.parquet"
    book.to_csv(csv, index=False)
    book.to_parquet(parquet, index=False)
    market_path = folder / "market.csv"
    pd.DataFrame({"underlying": list(SPOT), "spot": list(SPOT.values()), "rate": 0.04,
                  "dividend_yield": 0.01, "vol": 0.2,
                  "valuation": "2025-06-02T15:00:00"}).to_csv(market_path, index=False)
    market = read_market(market_path)
    csv_steps = split(lambda p: pd.read_csv(p, dtype={"symbol": str}), csv, market)
    parquet_steps = split(pd.read_parquet, parquet, market)
    frame = pd.read_csv(csv, dtype={"symbol": str})
    sub = frame.iloc[:100_000]
    columns = set(map(str, sub.columns))
    numbers = np.arange(1, len(sub) + 1)
    started = time.perf_counter()
    books._rows(sub, None, columns, numbers)
    row_parser = (time.perf_counter() - started) * N / len(sub)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "greeksmargin.front.cli", "margin", str(csv),
                           "--market", str(market_path)], capture_output=True, text=True,
                          check=True)
    cli = time.perf_counter() - started
    total_line = next(x for x in done.stdout.splitlines() if x.startswith("total"))
    n_scen = int(PEERS["scenarios"])
    each_row = PEERS["revalue each row (no netting)"]
    # many accounts: 2 x 10^5 accounts from Parquet, every account margined in-process
    positions, market_frame = generate_accounts(200_000, seed=2)
    accounts_path = folder / "accounts.parquet"
    positions.to_parquet(accounts_path, index=False)
    accounts_market = read_market(market_frame)
    def margin_all() -> None:
        margin_accounts(pd.read_parquet(accounts_path), accounts_market, methodology.occ_tims())

    accounts_first = best_time(margin_all, 1)  # this process's first call on this size
    # the read and the margin round robin: the machine's drift (the read varies 0.06-0.10 s
    # from run to run here) hits both alike
    paired = interleaved({"read": lambda: pd.read_parquet(accounts_path),
                          "margin": margin_all}, rounds=5)
    read_accounts, accounts = paired["read"], paired["margin"]
    lines = ["## From the file to the margin (`python benchmarks/bench_ingest.py`)", "",
             f"{N:,} positions on {book['symbol'].nunique():,} OSI contracts (6 roots, 5"
             " expiries, 41 strikes), OCC TIMS, 2 threads; best of 3 per step. The parse row"
             " is the columnar reader (each distinct instrument combination parsed once);"
             f" the row-by-row parser it replaced takes {row_parser:.1f} s on the same rows"
             " (timed on 100,000, scaled).", "",
             "| step | CSV seconds | Parquet seconds |", "|---|---:|---:|"]
    for name in csv_steps:
        lines.append(f"| {name} | {csv_steps[name]:.3f} | {parquet_steps[name]:.3f} |")
    csv_total, parquet_total = sum(csv_steps.values()), sum(parquet_steps.values())
    lines += [f"| **file to margin** | **{csv_total:.3f}** | **{parquet_total:.3f}** |",
              f"| x the pandas read | {csv_total / csv_steps['read (pandas)']:.1f} |"
              f" {parquet_total / parquet_steps['read (pandas)']:.1f} |", "",
              f"The CLI on the CSV (`greeksmargin margin book.csv --market market.csv`, a fresh"
              f" process, warm kernel cache): {cli:.2f} s; `{total_line.strip()}`.", "",
              f"Netting: the revalue step prices each of the {book['symbol'].nunique():,} distinct"
              f" contracts once and sums the quantities (`Q @ V`); revaluing every row instead"
              f" (`net=False`, equal to 1e-9) takes {each_row:.3f} s (Parquet book) ="
              f" {each_row / parquet_steps['revalue']:.1f}x; effective rate"
              f" {N * n_scen / parquet_steps['revalue'] / 1e6:,.0f} M position-scenarios/s"
              f" ({n_scen} scenarios).", "",
              f"Many accounts: {positions['account'].nunique():,} synthetic accounts"
              f" ({len(positions):,} positions) from Parquet, `margin_accounts` in-process:"
              f" {accounts:.2f} s = {accounts / read_accounts:.1f}x `pandas.read_parquet`"
              f" ({read_accounts:.3f} s), best of 5 rounds, read and margin in turn; the first"
              " call of the process on this size"
              f" {accounts_first:.2f} s ({accounts_first / read_accounts:.1f}x: fresh memory,"
              " its page faults are system time). Target of issue 24: 20x.", "",
              *batch_cli_lines(folder)]
    for line in lines:
        print(line)
    replace_section(lines)


if __name__ == "__main__":
    main()
