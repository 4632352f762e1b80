"""CLI: the bundled sample runs (in-process and as the installed console script), its figures
equal the library's, and bad rows give one readable line each with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greeksmargin import OptionKind
from greeksmargin.front.cli import main, sample_path
from greeksmargin.pricing import american, black_scholes_merton
from tests.conftest import run_console_script


def test_sample_json_matches_library(capsys):
    assert main(["greeks", "--sample", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    book = pd.read_csv(sample_path())
    kinds = np.array([OptionKind.parse(k) for k in book["kind"]], dtype=np.int8)
    g = black_scholes_merton.greeks(book["spot"].to_numpy(), book["strike"].to_numpy(),
                                    expiry_years=book["expiry_years"].to_numpy(),
                                    vol=book["vol"].to_numpy(), rate=book["rate"].to_numpy(),
                                    dividend_yield=book["dividend_yield"].to_numpy(), kind=kinds)
    rows = out["positions"]
    assert len(rows) == len(book) >= 8
    size = book["quantity"].to_numpy() * book["multiplier"].to_numpy()
    assert [r["price"] for r in rows] == g.price.tolist()
    assert [r["position_vega_per_vol_point"] for r in rows] == (g.vega * 0.01 * size).tolist()
    totals = {t["underlying"]: t for t in out["totals_by_underlying"]}
    spy = book["underlying"] == "SPY"
    assert totals["SPY"]["position_delta"] == pytest.approx(float((g.delta * size)[spy].sum()),
                                                            rel=1e-14)


def test_american_table_and_csv(capsys):
    assert main(["greeks", "--sample", "--american", "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    book = pd.read_csv(sample_path())
    kinds = np.array([OptionKind.parse(k) for k in book["kind"]], dtype=np.int8)
    expected = american.price(book["spot"].to_numpy(), book["strike"].to_numpy(),
                              expiry_years=book["expiry_years"].to_numpy(),
                              vol=book["vol"].to_numpy(), rate=book["rate"].to_numpy(),
                              dividend_yield=book["dividend_yield"].to_numpy(), kind=kinds)
    assert np.allclose(frame["price"], expected, rtol=1e-15, atol=0)
    assert main(["greeks", "--sample"]) == 0
    assert "totals by underlying" in capsys.readouterr().out


def test_bad_rows_one_line_each_exit_2(tmp_path, capsys):
    book = pd.read_csv(sample_path())
    book.loc[1, "vol"] = 25.0
    book.loc[3, "kind"] = "straddle"
    book.loc[5, "strike"] = -1.0
    book.loc[6, "multiplier"] = 0.0
    path = tmp_path / "bad.csv"
    book.to_csv(path, index=False)
    assert main(["greeks", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4
    assert "row 3 (position 'SPY-P430')" in err[0] and "looks like a percentage" in err[0]
    assert "row 5" in err[1] and "unknown option kind 'straddle'" in err[1]
    assert "row 7" in err[2] and "strike must be > 0" in err[2]
    assert "row 8" in err[3] and "multiplier must be > 0" in err[3]
    assert "Traceback" not in "\n".join(err)


def test_missing_file_and_columns(tmp_path, capsys):
    assert main(["greeks", str(tmp_path / "nope.csv")]) == 2
    assert "book file not found" in capsys.readouterr().err
    path = tmp_path / "cols.csv"
    path.write_text("position_id,strike\nA,100\n")
    assert main(["greeks", str(path)]) == 2
    assert "missing column(s) underlying, kind" in capsys.readouterr().err


def test_console_script_installed():
    # the installed script (not the source tree) also proves the package data was installed
    done = run_console_script("greeks", "--sample")
    assert done.returncode == 0, done.stderr
    assert "SPY-C450" in done.stdout
    assert run_console_script("--version").stdout.startswith("greeksmargin ")
