"""Stress scenarios and reports; CLI stress and backtest with plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greeksmargin import Book, MarketData, ScenarioGrid, Settlement, methodology
from greeksmargin.analysis.stress import LIBRARY, StressScenario, read_scenarios, stress_report
from greeksmargin.errors import CurrencyError, InputError
from greeksmargin.front.cli import main
from greeksmargin.io import history
from greeksmargin.pricing import price

MARKET = MarketData("2025-06-02T15:00:00", ["SPX", "BTC"], [5900.0, 60_000.0], 0.04, 0.03,
                    [0.16, 0.6])
EXP = np.datetime64("2025-07-18T20:00:00", "s")


def test_library_2008_moves_are_the_arch_data():
    returns = history.sp500().pct_change()
    for day in ("2008-10-15", "2008-09-29"):
        assert LIBRARY[day].spot_shift["*"] == pytest.approx(returns.loc[day], abs=5e-5)


def test_report_revalues_each_scenario_and_measures_the_margin_consumed():
    book = Book(["put"], ["SPX"], [2], [5800.0], [EXP], [-2.0], [100.0])
    scenario = StressScenario("crash", {"SPX": -0.2}, {"SPX": 1.0}, time_shift_days=1)
    report = stress_report(book, MARKET, [scenario, LIBRARY["vol-crush"]],
                           method=ScenarioGrid.product([-0.1, 0.1]))
    t = (EXP - MARKET.valuation).astype(float) / (365 * 86400)
    now = price(5900.0, 5800.0, expiry_years=t, vol=0.16, rate=0.04, carry=0.03, kind=2)
    later = price(5900 * 0.8, 5800.0, expiry_years=t - 1 / 365, vol=0.32, rate=0.04, carry=0.03,
                  kind=2)
    assert report.pnl.loc["crash", "SPX"] == pytest.approx(-200 * (later - now), rel=1e-12)
    assert report.worst == "crash"
    assert report.margin_consumed == pytest.approx(report.worst_loss / report.margin.total)
    assert report.margin_consumed > 1  # a 20% crash is beyond a +-10% grid


def test_betas_and_star_moves_and_file_scenarios(tmp_path):
    book = Book(["a", "b"], ["SPX", "BTC"], [0, 0], [np.nan] * 2, [np.datetime64("NaT")] * 2,
                [1.0, 1.0], [1.0, 1.0])
    s = StressScenario("index-10", {"*": -0.1})
    report = stress_report(book, MARKET, [s], betas={"BTC": 2.0})
    assert report.pnl.loc["index-10", "BTC"] == pytest.approx(-0.2 * 60_000)
    assert report.pnl.loc["index-10", "SPX"] == pytest.approx(-0.1 * 5900)
    path = tmp_path / "s.csv"
    pd.DataFrame({"scenario": ["x", "x"], "underlying": ["SPX", "*"], "spot_shift": [-0.05, -0.3],
                  "vol_shift": [0.5, 1.0], "description": ["mine", "mine"]}).to_csv(path, index=False)
    (mine,) = read_scenarios(path)
    assert mine.moves("SPX") == (-0.05, 0.5) and mine.moves("BTC") == (-0.3, 1.0)
    with pytest.raises(InputError, match="missing column 'spot_shift'"):
        read_scenarios(pd.DataFrame({"scenario": ["x"], "underlying": ["*"]}))
    with pytest.raises(InputError, match="row 1: spot_shift, vol_shift and time_shift_days"):
        read_scenarios(pd.DataFrame({"scenario": ["x"], "underlying": ["*"], "spot_shift": ["a"]}))
    with pytest.raises(InputError, match="scenario file not found"):
        read_scenarios(tmp_path / "none.csv")
    with pytest.raises(InputError, match="spot_shift for 'SPX' must be > -1"):
        StressScenario("bad", {"SPX": -1.0})
    # a scenario naming only SPX leaves BTC unchanged, and says so
    only = stress_report(book, MARKET, [StressScenario("spx", {"SPX": -0.1})])
    assert only.pnl.loc["spx", "BTC"] == 0.0 and only.unmoved == {"spx": ("BTC",)}
    with pytest.raises(InputError, match="no stress scenarios"):
        stress_report(book, MARKET, [])


def test_library_days_move_their_own_asset_class_by_beta():
    # SPX and an equity at beta 1.5 (quote-settled: equity), BTC coin-settled (crypto)
    market = MarketData("2025-06-02T15:00:00", ["SPX", "AAPL", "BTC"], [5900.0, 200.0, 60_000.0],
                        0.04, 0.03, [0.16, 0.3, 0.6])
    book = Book(["spx", "aapl", "btc"], ["SPX", "AAPL", "BTC"], [0, 0, 0], [np.nan] * 3,
                [np.datetime64("NaT")] * 3, [1.0, 10.0, 1.0], [1.0, 1.0, 1.0],
                settlement=[Settlement.LINEAR, Settlement.LINEAR, Settlement.INVERSE])
    report = stress_report(book, market, [LIBRARY["1987-10-19"], LIBRARY["crypto-2020-03-12"],
                                          LIBRARY["spot-30-vol-x3"]], betas={"AAPL": 1.5})
    assert report.asset_class == {"AAPL": "equity", "BTC": "crypto", "SPX": "equity"}
    pnl = report.pnl
    assert pnl.loc["1987-10-19", "SPX"] == pytest.approx(-0.2047 * 5900, rel=1e-12)
    assert pnl.loc["1987-10-19", "AAPL"] == pytest.approx(-1.5 * 0.2047 * 2000, rel=1e-12)
    assert pnl.loc["1987-10-19", "BTC"] == 0.0  # an equity day does not move crypto
    assert pnl.loc["crypto-2020-03-12", "SPX"] == 0.0 and pnl.loc["crypto-2020-03-12", "AAPL"] == 0
    assert pnl.loc["crypto-2020-03-12", "BTC"] != 0.0
    assert report.unmoved["1987-10-19"] == ("BTC",) and report.unmoved["spot-30-vol-x3"] == ()
    # the sample equity book's worst library day is an equity day
    from greeksmargin.io.samples import load_sample
    sample, sample_market = load_sample()
    worst = stress_report(sample, sample_market, list(LIBRARY.values())).worst
    assert not worst.startswith("crypto")
    # an explicit class map wins over the settlement default
    moved = stress_report(book, market, [LIBRARY["crypto-2020-03-12"]],
                          asset_class_of={"SPX": "crypto"})
    assert moved.pnl.loc["crypto-2020-03-12", "SPX"] == pytest.approx(-0.39 * 5900, rel=1e-12)


def test_cli_stress_and_backtest_with_plots(tmp_path, capsys):
    png = tmp_path / "stress.png"
    assert main(["stress", "--sample", "--format", "json", "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["worst"] in LIBRARY and out["margin_consumed"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot = tmp_path / "bt.png"
    assert main(["backtest", "--strategy", "long-index", "--start", "2018-01-01", "--format",
                 "json", "--plot", str(plot)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["days"] > 200 and set(result["vol_sources"]) == {"implied"}
    assert plot.stat().st_size > 10_000
    assert main(["backtest", "--strategy", "short-put", "--dynamic", "3", "--floor", "0.03",
                 "--start", "2008-06-01", "--end", "2008-12-31", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "dynamic 3 x EWMA vol" in text and "ewma" in text


def test_stress_ratio_of_a_coin_book_divides_usd_by_usd():
    # one short inverse BTC call: the stress loss is in USD, the Deribit margin in BTC; the ratio
    # divides the loss by the margin converted at spot (it divided USD by BTC: 217,255 x)
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    book = Book(["c1"], ["BTC"], [1], [110_000.0], [exp], [-1.0], [1.0],
                settlement=[Settlement.INVERSE])
    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.55])
    report = stress_report(book, market, list(LIBRARY.values()),
                                  method=methodology.deribit())
    assert report.worst_loss.currency == "USD" and report.margin.total.currency == "BTC"
    by_hand = float(report.worst_loss) / (float(report.margin.total) * 100_000.0)
    assert abs(report.margin_consumed - by_hand) < 1e-12
    assert 0.1 < report.margin_consumed < 10
    with pytest.raises(CurrencyError):
        report.worst_loss / report.margin.total  # noqa: B018 (the mistake the type now refuses)
