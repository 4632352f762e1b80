"""Many accounts: vectorised batch equals each account alone; Dask (threads, processes, a real
LocalCluster with worker processes, a worker killed mid-run); CLI batch; the synthetic generator."""

from __future__ import annotations

import os
import signal
import threading
import time

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from greeksmargin import MarketData, compute_margin, methodology, read_book
from greeksmargin.errors import InputError
from greeksmargin.front.batch import margin_accounts, margin_batch
from greeksmargin.front.cli import main
from greeksmargin.io.markets import read_market
from greeksmargin.io.synthetic import Universe, generate_accounts

RTOL = 1e-12


@pytest.fixture(scope="module")
def sample():
    positions, market_frame = generate_accounts(120, seed=5)
    return positions, read_market(market_frame), market_frame


@pytest.mark.parametrize("method", [methodology.occ_tims(), methodology.span(0.07, 0.35)],
                         ids=["occ", "span"])
def test_batch_equals_each_account_margined_alone(sample, method):
    positions, market, _ = sample
    result = margin_accounts(positions, market, method).set_index("account")
    assert len(result) == positions["account"].nunique()
    for account, rows in positions.groupby("account"):
        alone = compute_margin(read_book(rows.drop(columns="account")).value, market, method)
        got = result.loc[account]
        assert got["initial_margin"] == pytest.approx(alone.total, rel=RTOL, abs=1e-9)
        assert got["maintenance_margin"] == pytest.approx(alone.total_maintenance, rel=RTOL,
                                                          abs=1e-9)
        assert got["n_positions"] == len(rows)
        # the parts and the worst group (the first with the largest initial margin) as alone
        assert got["scan_risk"] == pytest.approx(float(np.sum(alone.scan_risk * alone.to_quote)),
                                                 rel=RTOL, abs=1e-9)
        for name, values in alone.addons.items():
            assert got[name] == pytest.approx(float(np.sum(values * alone.to_quote)), rel=RTOL,
                                              abs=1e-9)
        worst = int(np.argmax(alone.initial * alone.to_quote))
        assert got["worst_group"] == alone.group_labels[worst]
        assert got["worst_scenario"] == alone.worst_label[worst]


def test_deribit_accounts_in_coin_convert_to_the_quote_currency():
    positions = pd.DataFrame({
        "account": ["a", "a", "b"],
        "symbol": ["BTC-28JUN24-60000-P", "BTC-PERPETUAL", "ETH-28JUN24-4000-C"],
        "quantity": [-2.0, 0.5, -10.0]})
    market = MarketData("2024-06-17T10:00:00", ["BTC", "ETH"], [66_500.0, 3_550.0], 0.0, 0.0,
                        [0.55, 0.65])
    result = margin_accounts(positions, market, methodology.deribit(), venue="deribit")
    result = result.set_index("account")
    for account, rows in positions.groupby("account"):
        alone = compute_margin(read_book(rows.drop(columns="account"), venue="deribit").value,
                               market, methodology.deribit())
        assert result.loc[account, "initial_margin"] == pytest.approx(
            alone.total * (66_500.0 if account == "a" else 3_550.0), rel=RTOL)
    assert result.loc["a", "roll_shock"] > 0


def test_dask_schedulers_and_parquet_agree_and_never_split_accounts(sample, tmp_path):
    positions, market, _ = sample
    expected = margin_accounts(positions, market, methodology.occ_tims())
    # shuffled rows over many partitions: accounts are spread across partitions on input
    shuffled = positions.sample(frac=1.0, random_state=3)
    ddf = dd.from_pandas(shuffled, npartitions=7, sort=False)
    for scheduler in ("threads", "processes", "synchronous"):
        got = margin_batch(ddf, market, methodology.occ_tims(), scheduler=scheduler)
        assert got["account"].is_unique
        pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
    path = tmp_path / "positions.parquet"
    positions.to_parquet(path)
    got = margin_batch(str(path), market, methodology.occ_tims())
    pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
    indexed = dd.from_pandas(positions.set_index("account").sort_index(), npartitions=4)
    pd.testing.assert_frame_equal(margin_batch(indexed, market, methodology.occ_tims()),
                                  expected, rtol=RTOL)
    with pytest.raises(InputError, match="need an 'account' column"):
        margin_batch(dd.from_pandas(positions.drop(columns="account"), npartitions=2), market,
                     methodology.occ_tims())


def test_local_cluster_with_worker_processes_survives_a_killed_worker(tmp_path):
    from distributed import Client, LocalCluster

    positions, market_frame = generate_accounts(6000, seed=9)
    market = read_market(market_frame)
    expected = margin_accounts(positions, market, methodology.occ_tims())
    # a partitioned Parquet dataset, as in production: its reads are tasks that can be redone
    # (an in-memory dd.from_pandas frame is scattered data, lost with the worker that held it)
    dataset = tmp_path / "positions"
    dataset.mkdir()
    bounds = np.linspace(0, len(positions), 25).astype(int)
    for k in range(24):
        positions.iloc[bounds[k]:bounds[k + 1]].to_parquet(dataset / f"part.{k:02d}.parquet",
                                                          index=False)
    ddf = dd.read_parquet(dataset)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        got = margin_batch(ddf, market, methodology.occ_tims(), scheduler=client)
        pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
        # now kill one worker process (SIGKILL) while the work runs: its nanny restarts it and
        # the scheduler recomputes the lost tasks
        nanny = next(iter(cluster.workers.values()))
        pid = nanny.process.process.pid
        killed = []

        def kill():
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        start = time.perf_counter()
        threading.Thread(target=kill, daemon=True).start()
        again = margin_batch(ddf, market, methodology.occ_tims(), scheduler=client)
        assert killed == [pid] and time.perf_counter() - start > 0.3  # killed during the run
        assert again["account"].is_unique and len(again) == len(expected)
        pd.testing.assert_frame_equal(again, expected, rtol=RTOL)


def test_cli_batch_writes_parquet_and_reports_errors(sample, tmp_path, capsys):
    positions, _, market_frame = sample
    src = tmp_path / "positions.parquet"
    positions.to_parquet(src)
    mkt = tmp_path / "market.csv"
    market_frame.to_csv(mkt, index=False)
    out = tmp_path / "results.parquet"
    assert main(["batch", str(src), "--market", str(mkt), "--out", str(out), "--quiet"]) == 0
    result = pd.read_parquet(out)
    assert len(result) == positions["account"].nunique()
    assert capsys.readouterr().out == ""
    assert main(["batch", str(tmp_path / "none.parquet"), "--market", str(mkt), "--out",
                 str(out)]) == 2
    assert "positions dataset not found" in capsys.readouterr().err


def test_generator_is_seeded_and_follows_its_distributions():
    a, market_a = generate_accounts(500, seed=1)
    b, _ = generate_accounts(500, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["account"].nunique() == 500
    shares = a.groupby("underlying")["account"].count() / len(a)
    assert shares["SPY"] > shares["MSFT"]
    assert set(market_a["underlying"]) == set(a["underlying"])
    book = read_book(a.drop(columns="account").assign(position_id=lambda f: a["account"] + f["position_id"]))
    assert book.failures == ()
    only_puts = Universe(strategy_weight={"short put": 1.0})
    c, _ = generate_accounts(50, universe=only_puts, seed=2)
    assert set(c["kind"]) == {"put"} and (c["quantity"] < 0).all()
    with pytest.raises(InputError, match="unknown strategies"):
        generate_accounts(5, universe=Universe(strategy_weight={"butterfly": 1.0}))
    with pytest.raises(InputError, match="n_accounts must be >= 1"):
        generate_accounts(0)
    assert np.all(a.loc[a["kind"] != "stock", "multiplier"] == 100.0)


def test_group_keys_are_indices_so_names_may_hold_any_character():
    # accounts and class groups are index arrays, not "<account>/<group>" strings split again:
    # a slash in an account or a group name no longer confuses (or is refused by) the batch
    positions = pd.DataFrame({
        "account": ["desk/1", "desk/1", "desk/2"],
        "underlying": ["SPX", "SPY", "SPX"], "kind": ["put", "underlying", "call"],
        "strike": [5600.0, np.nan, 6100.0], "expiry": ["2025-07-18", "", "2025-07-18"],
        "quantity": [-2.0, 100.0, -1.0], "multiplier": [100.0, 1.0, 100.0]})
    market = MarketData("2025-06-02T15:00:00", ["SPX", "SPY"], [5912.0, 590.1], 0.043, 0.03,
                        [0.16, 0.15], group_of={"SPX": "S&P/500", "SPY": "S&P/500"},
                        product_class={"SPX": "high_cap_index", "SPY": "high_cap_index"})
    result = margin_accounts(positions, market, methodology.occ_tims()).set_index("account")
    assert list(result.index) == ["desk/1", "desk/2"]
    assert set(result["worst_group"]) == {"S&P/500"}
    for account, rows in positions.groupby("account"):
        alone = compute_margin(read_book(rows.drop(columns="account")).value, market,
                               methodology.occ_tims())
        assert result.loc[account, "initial_margin"] == pytest.approx(alone.total, rel=RTOL)
    resolved = read_book(positions.drop(columns="account")).value.resolve(
        market, accounts=positions["account"].to_numpy())
    assert resolved.account_names == ("desk/1", "desk/2")
    assert resolved.group_account.tolist() == [0, 1] and resolved.group_class == ("S&P/500",) * 2


def test_a_bad_row_excludes_only_its_account_and_names_its_file_row(sample, tmp_path):
    positions, market, _ = sample
    bad = positions.copy()
    bad["quantity"] = bad["quantity"].astype(float)
    accounts = sorted(bad["account"].unique())
    row_a = int(np.flatnonzero(bad["account"] == accounts[0])[0])
    row_b = int(np.flatnonzero(bad["account"] == accounts[1])[-1])
    bad.iloc[row_a, bad.columns.get_loc("quantity")] = 1e300
    bad["account"] = bad["account"].astype(object)
    bad.iloc[row_b, bad.columns.get_loc("account")] = None
    path = tmp_path / "bad.parquet"
    bad.to_parquet(path, index=False)
    with pytest.raises(InputError) as info:
        margin_batch(path, market, methodology.occ_tims())
    text = str(info.value)
    assert f"bad.parquet: row {row_a + 1} (position '{accounts[0]}/" in text
    assert f"bad.parquet: row {row_b + 1} (position '(no account)/" in text
    assert "account: is empty" in text
    got = margin_batch(path, market, methodology.occ_tims(), on_invalid="exclude")
    got = got.set_index("account")
    assert np.isnan(got.loc[accounts[0], "initial_margin"])
    assert f"row {row_a + 1}" in got.loc[accounts[0], "excluded"]
    assert got.loc["(no account)", "n_positions"] == 1
    # rows per account, excluded or margined, as the input has them
    sizes = bad["account"].value_counts()
    assert got.loc[accounts[0], "n_positions"] == sizes[accounts[0]]
    margined = got[got["excluded"] == ""]
    assert len(margined) == len(sizes) - 1
    assert (margined["n_positions"] == sizes.reindex(margined.index)).all()
    # every other account as margined alone (the one that lost its row is margined without it)
    good = bad[(bad["account"] != accounts[0]) & bad["account"].notna()]
    expected = margin_accounts(good.astype({"account": str}), market,
                               methodology.occ_tims()).set_index("account")
    for account in expected.index:
        assert got.loc[account, "excluded"] == ""
        assert got.loc[account, "initial_margin"] == pytest.approx(
            expected.loc[account, "initial_margin"], rel=RTOL)


def test_margin_batch_takes_a_pandas_frame_and_margin_accounts_names_empty_accounts(sample):
    positions, market, _ = sample
    expected = margin_accounts(positions, market, methodology.occ_tims())
    got = margin_batch(positions, market, methodology.occ_tims(), scheduler="synchronous")
    pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
    holes = positions.astype({"account": object})
    holes.iloc[4, holes.columns.get_loc("account")] = float("nan")
    with pytest.raises(InputError, match=r"row 5 \(position '\(no account\)/.*account: is empty"):
        margin_accounts(holes, market, methodology.occ_tims())
    with pytest.raises(InputError, match="positions must be a pandas DataFrame"):
        margin_accounts(positions.to_dict("list"), market, methodology.occ_tims())


def test_a_dataset_of_files_names_each_bad_row_by_its_own_file(sample, tmp_path):
    positions, market, _ = sample
    folder = tmp_path / "dataset"
    folder.mkdir()
    accounts = sorted(positions["account"].unique())
    for k, name in enumerate(("a.parquet", "b.parquet")):
        part = positions[positions["account"].isin(accounts[k::2])].reset_index(drop=True)
        part = part.astype({"quantity": float})
        part.loc[2, "quantity"] = np.inf  # the same row number in both files
        part.to_parquet(folder / name, index=False)
    with pytest.raises(InputError, match=r"[ab]\.parquet: row 3 \(position"):
        margin_batch(folder, market, methodology.occ_tims())  # the first failing partition
    got = margin_batch(folder, market, methodology.occ_tims(), on_invalid="exclude")
    reasons = " ".join(got["excluded"])
    assert "a.parquet: row 3 (position" in reasons and "b.parquet: row 3 (position" in reasons
    assert (got["excluded"] != "").sum() == 2


def test_a_dataset_grouped_by_account_streams_in_chunks_and_equals_one_call(sample, tmp_path,
                                                                             monkeypatch):
    from greeksmargin.front import batch

    positions, market, _ = sample
    expected = margin_accounts(positions, market, methodology.occ_tims())
    ordered = positions.sort_values("account", kind="stable").reset_index(drop=True)
    folder = tmp_path / "grouped"
    folder.mkdir()
    cut = len(ordered) // 2 + 1  # one account's rows straddle the two files
    assert ordered["account"].iloc[cut - 1] == ordered["account"].iloc[cut]
    ordered.iloc[:cut].to_parquet(folder / "a.parquet", index=False)
    ordered.iloc[cut:].to_parquet(folder / "b.parquet", index=False)
    calls = []
    real = batch.margin_accounts
    monkeypatch.setattr(batch, "STREAM_ROWS", 7)  # record batches split accounts everywhere
    monkeypatch.setattr(batch, "margin_accounts",
                        lambda frame, *a, **k: calls.append(len(frame)) or real(frame, *a, **k))
    assert batch._grouped_files(folder) is not None
    got = margin_batch(folder, market, methodology.occ_tims())
    assert len(calls) > 20 and max(calls) < 7 + 30  # chunks, each a few batches at most
    pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
    # rows not grouped by account: shuffled by Dask instead, same result
    shuffled = tmp_path / "shuffled.parquet"
    positions.sample(frac=1.0, random_state=1).to_parquet(shuffled, index=False)
    assert batch._grouped_files(shuffled) is None
    calls.clear()
    pd.testing.assert_frame_equal(margin_batch(shuffled, market, methodology.occ_tims()),
                                  expected, rtol=RTOL)


def test_a_missing_position_id_is_named_by_its_row_and_does_not_cut_the_others(sample):
    # one empty id cell once made pandas cut every "<account>/<id>" to one character (a false
    # "position_id must be unique; duplicated: a"); it is now "row<N>", as read_book names it
    positions, market, _ = sample
    holes = positions.astype({"position_id": object})
    holes.iloc[2, holes.columns.get_loc("position_id")] = None
    holes.iloc[5, holes.columns.get_loc("position_id")] = "  "
    got = margin_accounts(holes, market, methodology.occ_tims())
    expected = margin_accounts(positions, market, methodology.occ_tims())
    pd.testing.assert_frame_equal(got, expected, rtol=RTOL)
    bad = holes.astype({"quantity": float})
    bad.iloc[2, bad.columns.get_loc("quantity")] = np.inf
    account = bad["account"].iloc[2]
    with pytest.raises(InputError, match=rf"row 3 \(position '{account}/row3'\): quantity"):
        margin_accounts(bad, market, methodology.occ_tims())
