"""Every bad input of the front-door review, run as the user runs it (a subprocess of the
installed script): exit status 2, one line per problem on stderr naming the file, row, field
and value, no traceback, and no file touched; plus the outputs that must say what they did."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from greeksmargin.io.samples import sample_paths
from tests.conftest import run_console_script


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("front")
    book_path, market_path = sample_paths()
    book = pd.read_csv(book_path, dtype={"symbol": str})
    (d / "book.csv").write_text(Path(book_path).read_text())
    (d / "market.csv").write_text(Path(market_path).read_text())
    accounts = book.assign(account=[f"A{k % 4}" for k in range(len(book))])
    accounts.to_parquet(d / "pos.parquet", index=False)
    accounts.to_csv(d / "pos.csv", index=False)
    (d / "fake.parquet").write_text(accounts.to_csv(index=False))
    accounts.drop(columns="quantity").to_parquet(d / "nocol.parquet", index=False)
    (d / "dataset").mkdir()
    accounts.to_parquet(d / "dataset" / "a.parquet", index=False)
    (d / "dataset" / "b.parquet").write_bytes(b"PAR1 not really")
    big = book.astype({"quantity": object})
    big.loc[0, "quantity"] = "1" + "0" * 400
    big.to_csv(d / "big.csv", index=False)
    huge = book.astype({"quantity": float})
    huge.loc[2, "quantity"] = 1e300
    huge.to_csv(d / "huge.csv", index=False)
    expiry = pd.DataFrame({"underlying": ["SPY"], "kind": ["put"], "strike": [500.0],
                           "expiry": ["06/07/2025"], "quantity": [1.0], "multiplier": [100.0]})
    expiry.to_csv(d / "ambiguous.csv", index=False)
    return d


def _stat(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in d.rglob("*") if p.is_file()}


CASES = {
    "batch given a CSV": (["batch", "pos.csv", "--market", "market.csv", "--out", "o.parquet"],
                          ["pos.csv is CSV; batch reads Parquet"]),
    "batch given a CSV named .parquet": (
        ["batch", "fake.parquet", "--market", "market.csv", "--out", "o.parquet"],
        ["fake.parquet is not a readable Parquet file"]),
    "batch file missing a column": (
        ["batch", "nocol.parquet", "--market", "market.csv", "--out", "o.parquet"],
        ["nocol.parquet lacks column(s) quantity"]),
    "a corrupt file in a batch dataset": (
        ["batch", "dataset", "--market", "market.csv", "--out", "o.parquet"],
        ["dataset/b.parquet is not a readable Parquet file"]),
    "batch output is its input": (
        ["batch", "pos.parquet", "--market", "market.csv", "--out", "pos.parquet"],
        ["--out pos.parquet is an input of this command"]),
    "--out into a missing directory": (
        ["report", "--sample", "--out", "missing/dir/r.html"],
        ["cannot write --out missing/dir/r.html: directory missing/dir does not exist"]),
    "--out is a directory": (["report", "--sample", "--out", "dataset"],
                             ["--out path dataset is a directory"]),
    "--plot into a missing directory": (
        ["stress", "--sample", "--plot", "nowhere/s.png"],
        ["cannot write --plot nowhere/s.png: directory nowhere does not exist"]),
    "backtest starting after the data": (["backtest", "--start", "2030-01-01"],
                                         ["no prices between 2030-01-01 and the last"]),
    "backtest start after end": (["backtest", "--start", "2010-01-01", "--end", "2005-01-01"],
                                 ["start 2010-01-01 is after end 2005-01-01"]),
    "a negative dynamic multiple": (["backtest", "--dynamic", "-3"],
                                    ["--dynamic must be in [0, 20]", "got -3"]),
    "--psr with occ-tims": (["margin", "--sample", "--psr", "0.1"],
                            ["--psr applies to --preset span only"]),
    "a 400-digit integer": (["margin", "big.csv", "--market", "market.csv"],
                            ["row 1 (position 'SPY-IC-1'): quantity: is out of range",
                             "(401 characters)"]),
    "quantity 1e300": (["margin", "huge.csv", "--market", "market.csv"],
                       ["row 3 (position 'SPY-IC-3'): quantity: must be finite and at most"
                        " 1e+09", "got 1e+300"]),
    "an ambiguous date": (["margin", "ambiguous.csv", "--market", "market.csv"],
                          ["row 1 (position 'row1'): expiry:", "'06/07/2025'", "ambiguous"]),
    "an unreachable scheduler": (
        ["batch", "pos.parquet", "--market", "market.csv", "--out", "o.parquet", "--scheduler",
         "tcp://127.0.0.1:9"], ["no Dask scheduler answered at tcp://127.0.0.1:9"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_clear_line_and_touches_nothing(files, case):
    argv, words = CASES[case]
    before = _stat(files)
    done = subprocess.run([sys.executable, "-m", "greeksmargin.front.cli", *argv], cwd=files,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == 2, (case, done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert all(x.startswith("greeksmargin: error: ") for x in lines), lines
    text = "\n".join(lines)
    for w in words:
        assert w in text, (case, w, text)
    assert _stat(files) == before, f"{case} touched a file"


def test_a_parquet_book_without_pyarrow_is_one_line(files, tmp_path):
    # pyarrow shadowed by a module that fails to import, as on a machine without it
    shadow = tmp_path / "shadow" / "pyarrow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    pd.read_csv(files / "book.csv", dtype={"symbol": str}).to_parquet(tmp_path / "book.parquet")
    done = subprocess.run([sys.executable, "-m", "greeksmargin.front.cli", "margin",
                           str(tmp_path / "book.parquet"), "--market", "market.csv"], cwd=files,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "shadow")})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "book.parquet is Parquet, which needs pyarrow: pip install" in done.stderr


def test_piping_json_into_head_ends_quietly(files):
    script = (f"{sys.executable} -m greeksmargin.front.cli margin --sample --format json"
              " | head -1")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.stdout.strip() == "{"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_outputs_say_what_they_wrote_and_print_names_and_percentages(files, tmp_path):
    plot = tmp_path / "stress.png"
    done = run_console_script("stress", "--sample", "--plot", str(plot))
    assert done.returncode == 0 and plot.stat().st_size > 0
    assert f"greeksmargin: plot written to {plot}" in done.stderr
    done = run_console_script("backtest", "--end", "2001-12-31")
    assert done.returncode == 0, done.stderr
    coverage = next(x for x in done.stdout.splitlines() if x.startswith("coverage"))
    assert coverage.split()[-1].endswith("%") and len(coverage.split()[-1]) <= 7


def test_a_failed_write_leaves_the_old_file(tmp_path):
    # the write goes to a temporary file and is renamed only when complete: a write that fails
    # half-way (a full disk) leaves the existing report as it was, and no temporary file
    from greeksmargin.errors import InputError
    from greeksmargin.io.writes import write_atomic

    target = tmp_path / "report.html"
    target.write_text("the good report")

    def half_then_full(tmp):
        tmp.write_text("half a rep")
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match="cannot write report .*report.html: No space left"):
        write_atomic(target, half_then_full, what="report")
    assert target.read_text() == "the good report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_position_ids_cannot_inject_spreadsheet_formulas(tmp_path):
    book_path, market_path = sample_paths()
    book = pd.read_csv(book_path, dtype={"symbol": str})
    book.loc[0, "position_id"] = '=HYPERLINK("http://example.com","x")'
    book.loc[1, "position_id"] = "@SUM(A1:A9)"
    path = tmp_path / "book.csv"
    book.to_csv(path, index=False)
    done = run_console_script("margin", str(path), "--market", str(market_path), "--by",
                              "position", "--format", "csv")
    assert done.returncode == 0, done.stderr
    ids = pd.read_csv(io.StringIO(done.stdout))["position_id"].tolist()
    assert "'=HYPERLINK(\"http://example.com\",\"x\")" in ids and "'@SUM(A1:A9)" in ids
