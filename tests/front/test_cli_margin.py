"""CLI ``margin`` and ``risk-matrix``: the sample runs, figures equal the library's, bad input
gives one line per problem and exit status 2, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greeksmargin import MarketData, compute_margin, methodology, read_book
from greeksmargin.front.cli import main, sample_margin_paths
from greeksmargin.io.markets import read_market
from tests.conftest import run_console_script


def _library_result(preset="occ-tims"):
    book_path, market_path = sample_margin_paths()
    market_frame = pd.read_csv(market_path)
    market = read_market(market_frame)
    classes = dict(zip(market_frame["underlying"], market_frame["product_class"], strict=True))
    method = methodology.occ_tims(classes) if preset == "occ-tims" else methodology.span(0.07)
    return compute_margin(read_book(book_path).value, market, method)


@pytest.mark.parametrize("preset", ["occ-tims", "span"])
def test_margin_json_equals_the_library(capsys, preset):
    assert main(["margin", "--sample", "--preset", preset, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = _library_result(preset)
    assert out["total_initial_margin"] == expected.total
    assert [g["group"] for g in out["groups"]] == list(expected.group_labels)
    assert out["methodology"]["name"] == expected.methodology["name"]


def test_margin_table_by_position_and_csv(capsys):
    assert main(["margin", "--sample"]) == 0
    text = capsys.readouterr().out
    assert "total initial margin:" in text and "SPX-basket" in text
    assert main(["margin", "--sample", "--by", "position", "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert len(table) == 10 and set(table.columns) >= {"position_id", "pnl_at_group_worst"}
    # the positions of a group add up to the group's worst-scenario P&L
    expected = _library_result()
    for g, label in enumerate(expected.group_labels):
        total = table.loc[table["group"] == label, "pnl_at_group_worst"].sum()
        assert total == pytest.approx(-expected.scan_risk[g], rel=1e-12)


def test_margin_with_user_grid_and_underlying_grouping(tmp_path, capsys):
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"spot_shift": [-0.1, 0.0, 0.1], "vol_shift": [0.05, 0.0, 0.05],
                  "vol_shift_type": ["absolute"] * 3, "time_shift_days": [1, 1, 1],
                  "weight": [1.0, 1.0, 1.0], "label": ["down", "flat", "up"]}).to_csv(grid, index=False)
    assert main(["margin", "--sample", "--grid", str(grid), "--by", "underlying",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {g["group"] for g in out["groups"]} == {"AAPL", "QQQ", "SPX", "SPY"}
    assert {g["worst_scenario"] for g in out["groups"]} <= {"down", "flat", "up"}


def test_risk_matrix_marks_the_worst_cell(capsys):
    assert main(["risk-matrix", "--sample", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pnl = np.array(out["pnl"])
    assert pnl.shape == (3, 7) and out["worst"]["pnl"] == pnl.min()
    assert main(["risk-matrix", "--sample", "--group", "QQQ"]) == 0
    text = capsys.readouterr().out
    assert text.count("*") == 2 and "group QQQ" in text  # the legend and the cell
    assert main(["risk-matrix", "--sample", "--group", "NOPE"]) == 2
    assert "unknown group 'NOPE'" in capsys.readouterr().err


def test_bad_rows_give_one_line_each_and_exit_2(tmp_path, capsys):
    book_path, market_path = sample_margin_paths()
    frame = pd.read_csv(book_path, dtype={"symbol": str})
    frame.loc[7, "strike"] = -5
    frame.loc[8, "kind"] = "straddle"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    assert main(["margin", str(bad), "--market", str(market_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "greeksmargin: error: 2 invalid book row(s):"
    assert "row 8 (position 'AAPL-CC'): strike: must be > 0" in err[1]
    assert "row 9 (position 'QQQ-STR-C'): kind:" in err[2]
    assert "Traceback" not in "\n".join(err)
    # exclude: the rest is margined and the result says what was left out
    assert main(["margin", str(bad), "--market", str(market_path), "--on-invalid", "exclude",
                 "--format", "json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert len(out["excluded"]) == 2 and "AAPL-CC" in out["excluded"][0]
    assert captured.err.count("excluded:") == 2


def test_market_and_methodology_errors_exit_2(tmp_path, capsys):
    book_path, market_path = sample_margin_paths()
    assert main(["margin", str(book_path)]) == 2
    assert "--market FILE is required" in capsys.readouterr().err
    market = pd.read_csv(market_path)
    market.loc[0, "spot"] = -1
    bad = tmp_path / "market.csv"
    market.to_csv(bad, index=False)
    assert main(["margin", str(book_path), "--market", str(bad)]) == 2
    assert "spot must be > 0 and at most 1e+15; got -1.0 for underlying 'SPY'" in capsys.readouterr().err
    assert main(["margin", "--sample", "--preset", "deribit"]) == 2
    assert "no Deribit parameters for group" in capsys.readouterr().err
    assert main(["margin", str(tmp_path / "nope.csv"), "--market", str(market_path)]) == 2
    assert "book file not found" in capsys.readouterr().err


def test_margin_console_script_runs_the_readme_main_command():
    done = run_console_script("margin", "--sample")
    assert done.returncode == 0, done.stderr
    assert "total initial margin:" in done.stdout


def test_compare_table_and_correlation_file(tmp_path, capsys):
    assert main(["compare", "--sample", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    methods = [r["method"] for r in rows]
    assert methods[:3] == ["each position alone", "strategy-based (Reg T, best pairing)",
                           "each strategy alone"]
    assert any(m.startswith("product-group offsets") for m in methods)
    assert {"portfolio margin: OCC TIMS", "portfolio margin: CME SPAN (PSR 7%, VSR 35%)"} <= set(
        methods)
    # the sample's Reg T requirement at its best pairing (the API's), and every row's saving
    from greeksmargin.io.samples import load_sample
    from greeksmargin.margin.strategy import strategy_margin
    regt = rows[1]["margin"]
    assert regt == pytest.approx(float(strategy_margin(*load_sample()).total), rel=1e-12)
    for r in rows:
        assert r["saving_vs_reg_t"] == pytest.approx(1 - r["margin"] / regt)
    margins = [r["margin"] for r in rows if r["method"] != methods[1]]
    assert all(m <= margins[0] + 1e-9 for m in margins)
    corr = tmp_path / "corr.csv"
    names = ["SPY", "SPX", "AAPL", "QQQ"]
    pd.DataFrame(np.ones((4, 4)), index=names, columns=names).to_csv(corr)
    assert main(["compare", "--sample", "--correlation", str(corr), "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    row = table[table["method"] == "correlation of underlyings (direction-aware)"].iloc[0]
    worst = table[table["method"] == "correlation breakdown (worst for the book)"].iloc[0]
    alone = table[table["method"] == "each underlying alone"].iloc[0]
    # all ones: the underlyings' signed edge losses net, curvature adds; add-ons on top
    from greeksmargin.io.samples import load_sample
    from greeksmargin.margin import crossmargin
    book, market = load_sample()
    per = compute_margin(book, market, methodology.occ_tims(), by="underlying")
    expected = (crossmargin.correlation_margin(per.pnl, np.ones((4, 4)), market=market).total
                + float(((per.initial - per.scan_risk) * per.to_quote).sum()))
    assert row["margin"] == pytest.approx(expected, rel=1e-9)
    assert row["margin"] <= worst["margin"] + 1e-6 <= alone["margin"] + 2e-6
    pd.DataFrame(np.ones((2, 2)), index=names[:2], columns=names[:2]).to_csv(corr)
    assert main(["compare", "--sample", "--correlation", str(corr)]) == 2
    assert "correlation file lacks underlyings" in capsys.readouterr().err


def test_api_and_cli_give_the_same_margin_on_the_same_files(tmp_path, capsys):
    # the README's API path (read_book, read_market, a preset with no arguments) and the CLI read
    # the same columns: the market file's product_class sets the OCC range for both
    book = tmp_path / "condor.csv"
    book.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier,strategy\n"
                    "p1,SPX,put,5600,2025-07-18,1,100,condor\np2,SPX,put,5700,2025-07-18,-1,100,condor\n"
                    "c1,SPX,call,6100,2025-07-18,-1,100,condor\nc2,SPX,call,6200,2025-07-18,1,100,condor\n"
                    "h1,SPY,underlying,,,-10,1,hedge\n")
    market = tmp_path / "market.csv"
    market.write_text("underlying,spot,rate,dividend_yield,vol,group,product_class,product_group,valuation\n"
                      "SPX,5912,0.043,0.013,0.16,SPX-basket,high_cap_index,US index,2025-06-02T15:00:00\n"
                      "SPY,590.1,0.043,0.012,0.15,SPX-basket,high_cap_index,US index,2025-06-02T15:00:00\n")
    api = compute_margin(read_book(book).value, read_market(market), methodology.occ_tims())
    explicit = compute_margin(read_book(book).value, read_market(market),
                              methodology.occ_tims({"SPX": "high_cap_index", "SPY": "high_cap_index"}))
    as_equity = compute_margin(read_book(book).value, read_market(market),
                               methodology.occ_tims({"SPX": "equity", "SPY": "equity"}))
    assert api.total == explicit.total and api.total != as_equity.total
    assert api.worst_label[0].startswith("spot-0.08") or api.worst_label[0].startswith("spot+0.06")
    assert main(["margin", str(book), "--market", str(market), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_initial_margin"] == api.total


def test_market_file_with_an_unknown_product_class_is_refused(tmp_path, capsys):
    book = tmp_path / "b.csv"
    book.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier\n"
                    "p1,SPX,put,5600,2025-07-18,-1,100\n")
    market = tmp_path / "m.csv"
    market.write_text("underlying,spot,rate,vol,product_class,valuation\n"
                      "SPX,5912,0.043,0.16,mega_cap,2025-06-02T15:00:00\n")
    assert main(["margin", str(book), "--market", str(market)]) == 2
    err = capsys.readouterr().err
    assert "unknown OCC product class 'mega_cap'" in err and "Traceback" not in err


def _coin_files(tmp_path):
    book = tmp_path / "btc.csv"
    book.write_text("position_id,symbol,quantity\nc1,BTC-27JUN25-110000-C,-1\n"
                    "p1,BTC-27JUN25-90000-P,-1\n")
    market = tmp_path / "btc_market.csv"
    market.write_text("underlying,spot,rate,vol,valuation\nBTC,100000,0.0,0.55,2025-06-02T08:00:00\n")
    return book, market


def test_coin_amounts_print_with_the_digits_they_need(tmp_path, capsys):
    book, market = _coin_files(tmp_path)
    assert main(["margin", str(book), "--market", str(market), "--preset", "deribit"]) == 0
    text = capsys.readouterr().out
    api = compute_margin(read_book(book).value, read_market(market), methodology.deribit())
    assert api.total.currency == "BTC" and 0.01 < api.total < 1
    assert f"total initial margin: {float(api.total):,.4f} BTC" in text
    assert f"(= {float(api.initial_quote):,.2f} USD" in text  # and beside it, in USD at spot
    assert main(["risk-matrix", str(book), "--market", str(market)]) == 0
    cells = capsys.readouterr().out.splitlines()[2:]
    numbers = [float(c.rstrip("*").replace(",", "")) for line in cells for c in line.split()[2:]]
    assert numbers and any(abs(v) > 0 for v in numbers)  # not every cell rounded to 0


def test_risk_matrix_is_library_data_and_refuses_mixed_currencies(tmp_path):
    # the CLI only formats greeksmargin.measures.risk_matrix; its cells are revalue's P&L
    from greeksmargin import ScenarioGrid, ShiftType, revalue
    from greeksmargin.errors import InputError as Refused
    from greeksmargin.measures.risk_matrix import risk_matrix

    book_path, market_path = sample_margin_paths()
    book, market = read_book(book_path).value, read_market(market_path)
    m = risk_matrix(book, market, spot_range=0.1, spot_points=5, vol_shifts=[-0.2, 0.0, 0.2],
                    days=1.0)
    grid = ScenarioGrid.product(np.linspace(-0.1, 0.1, 5), [-0.2, 0.0, 0.2],
                                vol_shift_type=ShiftType.RELATIVE, time_shift_years=1 / 365)
    full = revalue(book.resolve(market), grid).values.sum(axis=0).reshape(5, 3).T
    assert np.array_equal(m.pnl, full) and m.worst_pnl == full.min() and m.currency == "USD"
    coin_book, coin_market = _coin_files(tmp_path)
    both = read_book(book_path).value.concat(read_book(coin_book).value)
    mixed = MarketData(market.valuation, (*market.underlyings, "BTC"),
                       [*market.spot, 100_000.0], [*market.rate, 0.0], [*market.carry, 0.0],
                       [*market.vol, 0.55])
    with pytest.raises(Refused, match=r"groups settle in \['BTC', 'USD'\]; pick one group"):
        risk_matrix(both, mixed, spot_range=0.1, spot_points=3, vol_shifts=[0.0])
    btc = risk_matrix(both, mixed, spot_range=0.1, spot_points=3, vol_shifts=[0.0], group="BTC")
    assert btc.currency == "BTC"


@pytest.mark.parametrize("command", ["compare", "stress"])
def test_commands_that_need_the_whole_book_refuse_excluded_rows(tmp_path, capsys, command):
    book = tmp_path / "b.csv"
    book.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier\n"
                    "p1,SPX,put,5600,2025-07-18,-1,100\np2,SPX,put,-5,2025-07-18,1,100\n")
    market = tmp_path / "m.csv"
    market.write_text("underlying,spot,rate,vol,valuation\nSPX,5912,0.043,0.16,2025-06-02T15:00:00\n")
    assert main([command, str(book), "--market", str(market), "--on-invalid", "exclude"]) == 2
    err = capsys.readouterr().err
    assert f"{command} needs the whole book; 1 rows are invalid" in err and "Traceback" not in err


def test_exclude_leaves_out_every_row_the_market_cannot_value_by_its_file_row(tmp_path, capsys):
    # a bad strike (row 2), no market data (row 3), expired (row 4), no vol (row 6): excluded,
    # each named by its row in the file, not its index after earlier exclusions
    book = tmp_path / "book.csv"
    book.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier\n"
                    "r1,XYZ,call,100,2025-07-18,1,100\n"
                    "r2,XYZ,put,0,2025-07-18,1,100\n"
                    "r3,ABC,call,100,2025-07-18,1,100\n"
                    "r4,XYZ,call,100,2025-05-01,1,100\n"
                    "r5,XYZ,put,90,2025-07-18,-1,100\n"
                    "r6,NOVOL,put,90,2025-07-18,-1,100\n")
    market = tmp_path / "market.csv"
    market.write_text("valuation,underlying,spot,rate,dividend_yield,vol\n"
                      "2025-06-02T15:00:00,XYZ,100,0.04,0.0,0.3\n"
                      "2025-06-02T15:00:00,NOVOL,50,0.04,0.0,\n")
    assert main(["margin", str(book), "--market", str(market), "--on-invalid", "exclude",
                 "--format", "json"]) == 0
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if "excluded:" in x]
    assert [x.split("excluded: ")[1].split(":")[0] for x in lines] == [
        "row 2 (position 'r2')", "row 3 (position 'r3')", "row 4 (position 'r4')",
        "row 6 (position 'r6')"]
    assert "no market data for 'ABC'" in lines[1] and "before the valuation" in lines[2]
    assert "no volatility for 'NOVOL'" in lines[3]
    out = json.loads(captured.out)
    from greeksmargin.io.inputs import read_inputs

    inputs = read_inputs(book, market, on_invalid="exclude")
    assert inputs.book.position_id.tolist() == ["r1", "r5"]
    assert inputs.book.source_row.tolist() == [1, 5]
    expected = compute_margin(inputs.book, inputs.market, methodology.occ_tims())
    assert abs(out["total_initial_margin"] - float(expected.total)) < 1e-9
    # raise: every row the market cannot value, in one error, exit 2
    good = tmp_path / "good_rows.csv"
    good.write_text("\n".join(line for line in book.read_text().splitlines()
                              if not line.startswith("r2,")) + "\n")
    assert main(["margin", str(good), "--market", str(market)]) == 2
    err = capsys.readouterr().err
    assert "3 book row(s) the market cannot value" in err and "row 5 (position 'r6')" in err


def test_compare_with_a_price_history_adds_historical_simulation(tmp_path, capsys):
    dates = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(9)
    common = rng.normal(0, 0.01, dates.size)
    spots = {"SPY": 590.0, "SPX": 5900.0, "AAPL": 230.0, "QQQ": 520.0}
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d")}
                         | {u: s * np.exp(np.cumsum(common + rng.normal(0, 0.004, dates.size)))
                            for u, s in spots.items()})
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    assert main(["compare", "--sample", "--history", str(path), "--stress-period",
                 "2020-03-01:2020-06-30", "--format", "json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    hist = rows["historical simulation (ES 99%, 2-day)"]
    assert hist["margin"] > 0 and "flag" in hist
    # bad history files: exit 2, the row and column named
    frame.loc[5, "QQQ"] = np.nan
    frame.to_csv(path, index=False)
    assert main(["compare", "--sample", "--history", str(path)]) == 2
    assert "row 6: 'QQQ' = 'nan' is not a finite price > 0" in capsys.readouterr().err
    frame.loc[5, "QQQ"] = 500.0
    frame.loc[2, "date"] = "03/01/2020"
    frame.to_csv(path, index=False)
    assert main(["compare", "--sample", "--history", str(path)]) == 2
    assert "row 3: date '03/01/2020' is not a date" in capsys.readouterr().err
    frame.drop(columns="date").to_csv(path, index=False)
    assert main(["compare", "--sample", "--history", str(path)]) == 2
    assert "no 'date' column" in capsys.readouterr().err
    assert main(["compare", "--sample", "--history", str(tmp_path / "none.csv")]) == 2
    assert "price history file not found" in capsys.readouterr().err
    frame.loc[2, "date"] = dates[2].strftime("%Y-%m-%d")
    frame.to_csv(path, index=False)
    assert main(["compare", "--sample", "--history", str(path), "--stress-period", "2020"]) == 2
    assert "--stress-period must be START:END" in capsys.readouterr().err


def test_check_and_liquidate_from_files_match_the_api(tmp_path, capsys):
    from greeksmargin.accounts.account import Account, Collateral
    from greeksmargin.accounts.liquidation import SpreadCost, liquidate
    from greeksmargin.io.samples import load_sample

    order = tmp_path / "order.csv"
    order.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier\n"
                     "new-put,QQQ,put,480,2025-06-20,-5,100\n")
    assert main(["check", "--sample", "--cash", "150000", "--order", str(order),
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    book, market = load_sample()
    state = Account("x", book, Collateral.of({"USD": 150_000.0}, {"USD": 1.0}),
                    methodology.occ_tims()).evaluate(market)
    legs = read_book(order).value
    w = state.whatif(state.prepare_order(legs), per_leg=True)
    assert out["accepted"] is True and out["initial_after"] == pytest.approx(w.initial, rel=1e-12)
    assert out["incremental_initial"]["new-put"] == pytest.approx(w.incremental_initial[0])
    assert set(out["distance_after"]) == {"down", "up", "vol_up"}
    assert main(["check", "--sample", "--cash", "150000", "--order", str(order)]) == 0
    assert "ACCEPTED" in capsys.readouterr().out
    # a limit the order breaks: refused, the limit named (margin alone would accept it)
    assert main(["check", "--sample", "--cash", "150000", "--order", str(order),
                 "--max-leverage", "20", "--format", "json"]) == 0
    limited = json.loads(capsys.readouterr().out)
    assert limited["margin_ok"] is True and limited["accepted"] is False
    assert [b["limit"] for b in limited["limit_breaches"]] == ["leverage"]
    assert main(["check", "--sample", "--cash", "150000", "--order", str(order),
                 "--max-leverage", "20"]) == 0
    assert "limit broken: leverage" in capsys.readouterr().out
    # an account short of margin: the plan closes whole contracts and restores it
    assert main(["liquidate", "--sample", "--cash", "60000", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    poor = Account("x", book, Collateral.of({"USD": 60_000.0}, {"USD": 1.0}),
                   methodology.occ_tims()).evaluate(market)
    api = liquidate(poor, SpreadCost(option_half_spread=0.02))
    assert plan["state_before"] == "liquidation" and plan["restored"] is True
    assert plan["total_cost"] == pytest.approx(api.total_cost, rel=1e-12)
    assert [s["position_id"] for s in plan["steps"]] == [s.position_id for s in api.steps]
    assert all(s["quantity"] == round(s["quantity"]) for s in plan["steps"])
    assert main(["liquidate", "--sample", "--cash", "60000"]) == 0
    assert "restored: True" in capsys.readouterr().out
    assert main(["liquidate", "--sample", "--cash", "1e9", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("position_id,quantity")
    # bad input: exit 2, one clear line
    assert main(["liquidate", "--sample", "--cash", "60000", "--half-spread", "2"]) == 2
    assert "--half-spread must be in [0, 1)" in capsys.readouterr().err
    order.write_text("position_id,underlying,kind,strike,expiry,quantity,multiplier\n"
                     "bad,QQQ,put,480,2025-06-20,abc,100\n")
    assert main(["check", "--sample", "--cash", "1000", "--order", str(order)]) == 2
    assert "quantity" in capsys.readouterr().err
    assert main(["check", "--sample", "--cash", "-5", "--order", str(order)]) == 2
    assert "collateral amount must be >= 0" in capsys.readouterr().err
