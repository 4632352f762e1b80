"""The CLI's SPAN doors: risk arrays to a file and back, and the price scan range per contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greeksmargin.front.cli import main


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_span_arrays_file_margins_as_the_book(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    arrays, positions = tmp_path / "arrays.csv", tmp_path / "positions.csv"
    assert main(["span-arrays", "--sample", "--psr", "0.08", "--out", str(arrays),
                 "--positions-out", str(positions), "-q"]) == 0
    from_book = _json(capsys, ["margin", "--sample", "--preset", "span", "--psr", "0.08",
                               "--format", "json"])
    from_file = _json(capsys, ["span-margin", str(arrays), "--positions", str(positions),
                               "--format", "json"])
    assert from_file["total_initial_margin"] == pytest.approx(from_book["total_initial_margin"],
                                                              rel=1e-12)
    assert sorted(g["group"] for g in from_file["groups"]) == sorted(
        g["group"] for g in from_book["groups"])


def test_psr_amount_sets_a_class_range_in_currency(capsys: pytest.CaptureFixture[str]) -> None:
    # the sample's QQQ options have multiplier 100 at spot 521.3: $5,000 a contract is 9.6%
    base = _json(capsys, ["margin", "--sample", "--preset", "span", "--format", "json"])
    wider = _json(capsys, ["margin", "--sample", "--preset", "span", "--psr", "0.07",
                           "--psr-amount", "QQQ=5000", "--format", "json"])
    qqq = {g["group"]: g["scan_risk"] for g in wider["groups"]}
    assert qqq["QQQ"] > {g["group"]: g["scan_risk"] for g in base["groups"]}["QQQ"]
    assert {g["group"]: g["scan_risk"] for g in wider["groups"]}["AAPL"] == pytest.approx(
        {g["group"]: g["scan_risk"] for g in base["groups"]}["AAPL"], rel=1e-12)


@pytest.mark.parametrize(("argv", "message"), [
    (["margin", "--sample", "--psr-amount", "QQQ=5000"], "applies to --preset span only"),
    (["margin", "--sample", "--preset", "span", "--psr-amount", "QQQ"], "CLASS=AMOUNT"),
    (["margin", "--sample", "--preset", "span", "--psr-amount", "QQQ=-1"], "CLASS=AMOUNT"),
    (["margin", "--sample", "--preset", "span", "--psr-amount", "=5"], "CLASS=AMOUNT"),
    (["margin", "--sample", "--preset", "span", "--psr-amount", "Q=1", "--psr-amount", "Q=2"],
     "twice"),
    (["margin", "--sample", "--preset", "span", "--psr-amount", "QQQ=5000"],
     "no SPAN price scan range for group"),
    (["margin", "--sample", "--preset", "span", "--psr", "0.07", "--psr-amount", "QQQ=50000"],
     "x the extreme multiple 2 moves the price to zero"),
    (["span-margin", "missing.csv", "--positions", "p.csv"], "not found"),
])
def test_bad_span_options_exit_2(argv: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_span_margin_names_a_bad_position(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    arrays = tmp_path / "arrays.parquet"
    assert main(["span-arrays", "--sample", "--out", str(arrays), "-q"]) == 0
    positions = tmp_path / "positions.csv"
    positions.write_text("contract,quantity\nQQQ 2025-07-18 C 999,1\n")
    assert main(["span-margin", str(arrays), "--positions", str(positions)]) == 2
    assert "row 1: contract 'QQQ 2025-07-18 C 999' has no risk array" in capsys.readouterr().err
    assert main(["span-arrays", "--sample", "--out", str(positions), "--positions-out",
                 str(positions)]) == 2


SPREADS = {"contract_size": {"AAPL": 100, "QQQ": 100, "SPX-basket": 100},
           "inter": [{"rate": 0.5, "legs": [["QQQ", 1], ["SPX-basket", 1]]},
                     {"rate": 0.3, "legs": [["AAPL", 1], ["SPX-basket", -1]]}]}


def test_spreads_file_margins_as_the_library_and_through_risk_arrays(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from greeksmargin import compute_margin
    from greeksmargin.front.cli import sample_margin_paths
    from greeksmargin.io.inputs import read_inputs
    from greeksmargin.methodology import SpanSpreads, span

    spreads = tmp_path / "spreads.json"
    spreads.write_text(json.dumps(SPREADS))
    cli = _json(capsys, ["margin", "--sample", "--preset", "span", "--spreads", str(spreads),
                         "--format", "json"])
    inputs = read_inputs(*sample_margin_paths())
    library = compute_margin(inputs.book, inputs.market,
                             span(0.07, 0.35, spreads=SpanSpreads.from_mapping(SPREADS)))
    assert cli["total_initial_margin"] == pytest.approx(float(library.total), rel=1e-12)
    assert sum(g["inter_credit"] for g in cli["groups"]) < -1000.0
    arrays, positions = tmp_path / "a.csv", tmp_path / "p.csv"
    assert main(["span-arrays", "--sample", "--spreads", str(spreads), "--out", str(arrays),
                 "--positions-out", str(positions), "-q"]) == 0
    from_file = _json(capsys, ["span-margin", str(arrays), "--positions", str(positions),
                               "--spreads", str(spreads), "--format", "json"])
    assert from_file["total_initial_margin"] == pytest.approx(cli["total_initial_margin"],
                                                              rel=1e-12)


@pytest.mark.parametrize(("content", "message"), [
    ('{"inter": 3}', "inter: must be a list; got int"),
    ('{"tiers": {"C": [[1, "2025-13", "2025-12"]]}}', "tiers.C[0]: tier first_month"),
    ('{"inter": [{"rate": 0.5, "legs": [["QQQ", "one"], ["SPX", -1]]}]}',
     "inter[0].legs[0][1]: must be a number"),
    ('{"tier": {}}', "unknown keys ['tier']"),
    ('{"inter": [', "is not JSON"),
    (None, "not found"),
])
def test_bad_spreads_files_exit_2_naming_the_key(tmp_path: Path, content: str | None,
                                                 message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spreads.json"
    if content is not None:
        path.write_text(content)
    assert main(["margin", "--sample", "--preset", "span", "--spreads", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "spreads.json" in err
    assert main(["margin", "--sample", "--spreads", str(path)]) == 2
    assert "--spreads applies to --preset span only" in capsys.readouterr().err


def test_report_with_spreads_and_cash_says_it_does_not_attribute(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spreads = tmp_path / "spreads.json"
    spreads.write_text(json.dumps(SPREADS))
    out = tmp_path / "r.html"
    assert main(["report", "--sample", "--preset", "span", "--spreads", str(spreads), "--cash",
                 "100000", "--out", str(out), "-q"]) == 0
    text = out.read_text()
    assert "no attribution to positions" in text and "inter_credit" in text


@pytest.mark.parametrize(("argv", "som"), [
    (["--som", "3000"], 3000.0),
    (["--som", "QQQ=2500", "--som", "AAPL=0"], {"QQQ": 2500.0, "AAPL": 0.0}),
])
def test_som_for_every_class_or_per_class_as_the_library(
        argv: list[str], som: object, capsys: pytest.CaptureFixture[str]) -> None:
    from greeksmargin import compute_margin
    from greeksmargin.front.cli import sample_margin_paths
    from greeksmargin.io.inputs import read_inputs
    from greeksmargin.methodology import span

    cli = _json(capsys, ["margin", "--sample", "--preset", "span", *argv, "--format", "json"])
    inputs = read_inputs(*sample_margin_paths())
    library = compute_margin(inputs.book, inputs.market,
                             span(0.07, 0.35, short_option_minimum=som))  # type: ignore[arg-type]
    assert cli["total_initial_margin"] == pytest.approx(float(library.total), rel=1e-12)
    assert any(g["short_option_minimum"] > 0 for g in cli["groups"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--som", "x"], "--som takes AMOUNT or CLASS=AMOUNT"),
    (["--som", "-5"], "--som takes AMOUNT or CLASS=AMOUNT"),
    (["--som", "QQQ=-1"], "--som takes CLASS=AMOUNT"),
    (["--som", "QQQ=1", "--som", "QQQ=2"], "gives class 'QQQ' twice"),
])
def test_bad_som_exits_2(argv: list[str], message: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", "--sample", "--preset", "span", *argv]) == 2
    assert message in capsys.readouterr().err
