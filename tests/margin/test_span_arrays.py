"""SPAN risk arrays from a file: the same margin as from the book, hand cases, and bad files.

The round trip is the issue's check ("same margin from computed arrays and from a file holding
the same arrays"); the hand case margins a file written by hand from the rule's text (scan =
the worst sum of quantity x loss, SOM per short calls or puts); every reader error names the
file, row, column and value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greeksmargin import Book, MarketData, compute_margin
from greeksmargin.errors import CurrencyError, InputError, MethodologyError
from greeksmargin.front.batch import margin_accounts
from greeksmargin.io.span_arrays import RiskArrays, read_risk_arrays, write_risk_arrays
from greeksmargin.margin.span import margin_from_risk_arrays, span_risk_arrays
from greeksmargin.methodology import (
    DeliveryCharge,
    InterSpread,
    IntraSpread,
    SpanSpreads,
    SpanTier,
    occ_tims,
    span,
)

MARKET = MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.25, 0.2])
SPREADS = SpanSpreads(
    tiers={"C": (SpanTier(1, "2025-03", "2025-03"), SpanTier(2, "2025-05", "2025-07"))},
    intra={"C": (IntraSpread(150, ((1, 1), (2, -1))),)}, delivery={"C": DeliveryCharge(2, 10, 20)},
    inter=(InterSpread(0.5, (("C", 2), ("S", -1))),))
METHOD = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=300,
              spreads=SPREADS)


def _book() -> Book:
    d = np.datetime64
    return Book(["f1", "f2", "c1", "p1", "s1", "s2", "f3"],
                ["C", "C", "C", "C", "S", "S", "C"], [0, 0, 1, 2, 0, 1, 0],
                [np.nan, np.nan, 4.5, 4.0, np.nan, 10.5, np.nan],
                [d("2025-03-14"), d("2025-05-14"), d("2025-03-14"), d("2025-05-14"),
                 d("2025-03-14"), d("2025-03-14"), d("2025-03-14")],
                [5.0, -2.0, -5.0, 4.0, -2.0, -3.0, 1.0], [5000.0] * 7)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    fa, fb = a.to_frame(), b.to_frame()
    assert list(fa.index) == list(fb.index)
    for column in fa.columns:
        if fa[column].dtype.kind == "f":
            np.testing.assert_allclose(fb[column], fa[column], rtol=1e-12, atol=1e-9)
        else:
            assert list(fa[column]) == list(fb[column])
    assert float(a.total) == pytest.approx(float(b.total), rel=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_margin_from_a_file_of_the_arrays_equals_margin_from_the_book(tmp_path: Path,
                                                                      suffix: str) -> None:
    book = _book()
    direct = compute_margin(book, MARKET, METHOD)
    # the case exercises every part: a calendar, a delivery charge, an inter-commodity credit
    assert direct.addons["intra_spread"][0] > 0 and direct.addons["delivery"][0] > 0
    assert direct.addons["inter_credit"].sum() < -100.0  # March corn left vs beans: a credit
    arrays, positions = span_risk_arrays(book, MARKET, METHOD)
    path = write_risk_arrays(arrays, tmp_path / f"arrays{suffix}")
    _same(direct, margin_from_risk_arrays(read_risk_arrays(path), positions, METHOD))
    # the SOM binds when the book is only short calls
    calls = book.take(np.array([False, False, True, False, False, True, False]))
    som = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=3000,
               spreads=SPREADS)
    direct = compute_margin(calls, MARKET, som)
    arrays, positions = span_risk_arrays(calls, MARKET, som)
    assert direct.addons["short_option_minimum"].max() > 0
    _same(direct, margin_from_risk_arrays(arrays, positions, som))


def test_accounts_on_a_file_equal_the_batch(tmp_path: Path) -> None:
    book = _book()
    arrays, positions = span_risk_arrays(book, MARKET, METHOD)
    accounts = np.array(["a", "a", "b", "a", "a", "b", "b"])
    positions["account"] = accounts
    from_file = margin_from_risk_arrays(read_risk_arrays(write_risk_arrays(
        arrays, tmp_path / "a.csv")), positions, METHOD).to_frame()
    table = pd.DataFrame({
        "account": accounts, "position_id": book.position_id, "underlying": book.underlying,
        "kind": ["future", "future", "call", "put", "future", "call", "future"],
        "strike": book.strike, "expiry": book.expiry.astype(str),  # timestamps, not venue dates
        "quantity": book.quantity, "multiplier": book.multiplier})
    batch = margin_accounts(table, MARKET, METHOD).set_index("account")
    per_account = from_file.groupby(from_file.index.str.split("/").str[0])["initial_margin"].sum()
    np.testing.assert_allclose(per_account.loc[["a", "b"]], batch.loc[["a", "b"],
                               "initial_margin"], rtol=1e-12)


def test_hand_written_file_margins_by_the_rule(tmp_path: Path) -> None:
    # two contracts of one combined commodity, losses as CME publishes them (one long
    # contract; extremes already x 0.35): long 2 futures, short 3 calls
    future = [0, 0, -100, -100, 100, 100, -200, -200, 200, 200, -300, -300, 300, 300, -210, 210]
    call = [5, -4, -40, -50, 45, 30, -90, -110, 80, 55, -150, -170, 110, 75, -140, 60]
    header = ",".join(["contract", "class_group", "currency", "kind", "month", "multiplier",
                       "delta", "value"] + [f"scenario_{j}" for j in range(1, 17)])
    rows = [",".join(["ESH5", "ES", "USD", "future", "2025-03", "50", "1", "0"]
                     + list(map(str, future))),
            ",".join(["ESH5 C", "ES", "USD", "call", "2025-03", "50", "0.45", "1234.5"]
                     + list(map(str, call)))]
    path = tmp_path / "es.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    positions = pd.DataFrame({"contract": ["ESH5", "ESH5 C"], "quantity": [2.0, -3.0]})
    som = 80.0
    result = margin_from_risk_arrays(read_risk_arrays(path), positions,
                                     span(0.05, short_option_minimum=som))
    loss = 2 * np.array(future, float) - 3 * np.array(call, float)
    scan = max(loss.max(), 0.0)
    assert result.scan_risk[0] == pytest.approx(scan, abs=1e-12)
    assert float(result.total) == pytest.approx(max(scan, som * 3), abs=1e-12)
    assert result.worst_scenario[0] == int(np.argmax(loss))
    # net option value: the short calls' value, reported beside the requirement
    assert result.memo["net_option_value"][0] == pytest.approx(-3 * 1234.5, abs=1e-9)


def _good_frame() -> pd.DataFrame:
    frame = pd.DataFrame({"contract": ["A", "B"], "class_group": ["X", "X"],
                          "currency": ["USD", "USD"], "kind": ["future", "put"],
                          "month": ["2025-03", ""], "multiplier": [10.0, 10.0],
                          "delta": [1.0, -0.3], "value": [0.0, 55.0]})
    for j in range(1, 17):
        frame[f"scenario_{j}"] = [float(j), -float(j)]
    return frame


@pytest.mark.parametrize(("column", "value", "message"), [
    ("kind", "straddle", "kind = 'straddle' is not call, put or future"),
    ("month", "March", "month = 'March' is not a month YYYY-MM"),
    ("multiplier", "0", "multiplier = '0.0' is not a number > 0"),
    ("delta", "nan", "delta = 'nan' is not a finite number"),
    ("value", "inf", "value = 'inf' is not a finite number"),
    ("scenario_3", "x", "scenario_3 = 'x' is not a finite number"),
    ("contract", "", "is empty"),
    ("currency", " ", "is empty"),
])
def test_bad_cells_are_named_by_row_and_column(tmp_path: Path, column: str, value: str,
                                               message: str) -> None:
    frame = _good_frame().astype({column: object})
    frame.loc[1, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="row 2") as caught:
        read_risk_arrays(path)
    assert str(path) in str(caught.value)
    assert message.split(" = ")[0] in str(caught.value)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns="delta"), "missing columns"),
    (lambda f: f.drop(columns="scenario_2"), "scenario_1 ... scenario_N"),
    (lambda f: f.drop(columns=[f"scenario_{j}" for j in range(1, 17)]), "scenario_1"),
    (lambda f: f.assign(contract=["A", "A"]), "repeats row 1"),
])
def test_bad_files_are_refused(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    change(_good_frame()).to_csv(path, index=False)
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        read_risk_arrays(path)
    with pytest.raises(InputError, match="not found"):
        read_risk_arrays(tmp_path / "missing.csv")


def test_bad_positions_and_methodologies_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    _good_frame().to_csv(path, index=False)
    arrays = read_risk_arrays(path)
    method = span(0.05)
    with pytest.raises(InputError, match="row 2: contract 'Z' has no risk array"):
        margin_from_risk_arrays(arrays, pd.DataFrame({"contract": ["A", "Z"],
                                                      "quantity": [1, 1]}), method)
    with pytest.raises(InputError, match="row 1: quantity"):
        margin_from_risk_arrays(arrays, pd.DataFrame({"contract": ["A"],
                                                      "quantity": ["lots"]}), method)
    with pytest.raises(InputError, match="'quantity' column"):
        margin_from_risk_arrays(arrays, pd.DataFrame({"contract": ["A"]}), method)
    with pytest.raises(MethodologyError, match="SPAN"):
        margin_from_risk_arrays(arrays, pd.DataFrame({"contract": ["A"], "quantity": [1]}),
                                occ_tims())
    short = RiskArrays(arrays.contract, arrays.class_group, arrays.currency, arrays.kind,
                       arrays.month, arrays.multiplier, arrays.delta, arrays.value,
                       arrays.loss[:, :10])
    with pytest.raises(InputError, match="10 scenarios"):
        margin_from_risk_arrays(short, pd.DataFrame({"contract": ["A"], "quantity": [1]}),
                                method)
    two = RiskArrays(arrays.contract, arrays.class_group, np.array(["USD", "EUR"]), arrays.kind,
                     arrays.month, arrays.multiplier, arrays.delta, arrays.value, arrays.loss)
    with pytest.raises(CurrencyError, match="several currencies"):
        margin_from_risk_arrays(two, pd.DataFrame({"contract": ["A"], "quantity": [1]}), method)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(["contract", "class_group", "currency", "kind", "month",
                               "multiplier", "delta", "scenario_1", "scenario_16"]),
       cell=st.one_of(st.text(max_size=6), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_cell_reads_or_is_refused_by_name(tmp_path: Path, column: str, cell: object) -> None:
    frame = _good_frame().astype({column: object})
    frame.loc[0, column] = cell
    path = tmp_path / "fuzz.csv"
    frame.to_csv(path, index=False)
    try:
        arrays = read_risk_arrays(path)
    except InputError as error:
        assert str(path) in str(error) or "risk arrays" in str(error)
        return
    assert arrays.contract.size == 2 and np.all(np.isfinite(arrays.loss))


def _random_book(rng: np.random.Generator, n: int) -> Book:
    # futures and options on corn and beans across three months, both signs
    months = np.array(["2025-03-14", "2025-05-14", "2025-07-14"], dtype="datetime64[s]")
    under = rng.choice(["C", "S"], n)
    kind = rng.integers(0, 3, n)
    spot = np.where(under == "C", 4.375, 10.0)
    strike = np.where(kind == 0, np.nan, np.round(spot * rng.uniform(0.85, 1.15, n), 2))
    return Book([f"r{k}" for k in range(n)], under, kind, strike, rng.choice(months, n),
                rng.integers(-6, 7, n) + rng.choice([0.0, 0.5], n), [5000.0] * n)


RANDOM_SPREADS = SpanSpreads(
    tiers={key: (SpanTier(1, "2025-03", "2025-03"), SpanTier(2, "2025-05", "2025-05"),
                 SpanTier(3, "2025-07", "2025-07")) for key in ("C", "S")},
    intra={key: (IntraSpread(120, ((1, 1), (2, -1))), IntraSpread(90, ((2, 1), (3, -1))),
                 IntraSpread(40, ((1, 1), (2, -2), (3, 1)))) for key in ("C", "S")},
    delivery={"C": DeliveryCharge(1, 15, 35)},
    inter=(InterSpread(0.5, (("C", 2), ("S", -1))), InterSpread(0.25, (("C", 1), ("S", 1)))))
RANDOM_METHOD = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=150,
                     spreads=RANDOM_SPREADS)


@pytest.mark.parametrize("seed", range(6))
def test_random_books_margin_the_same_from_their_arrays_and_split_rows(seed: int,
                                                                       tmp_path: Path) -> None:
    from tests.margin.test_net_contracts import _split

    rng = np.random.default_rng(seed)
    book = _random_book(rng, int(rng.integers(2, 12)))
    direct = compute_margin(book, MARKET, RANDOM_METHOD)
    arrays, positions = span_risk_arrays(book, MARKET, RANDOM_METHOD)
    path = write_risk_arrays(arrays, tmp_path / "a.csv")
    _same(direct, margin_from_risk_arrays(read_risk_arrays(path), positions, RANDOM_METHOD))
    # rows cut into pieces of either sign and shuffled: the same net book, the same spreads
    split, market = _split(book, MARKET, seed)
    _same(direct, compute_margin(split, market, RANDOM_METHOD))
    # the parts add up to the requirement, and the spreads are charges and credits as signed
    frame = direct.to_frame()
    parts = frame[["scan_risk", "intra_spread", "delivery", "inter_credit",
                   "short_option_minimum"]].sum(axis=1)
    np.testing.assert_allclose(parts, frame["initial_margin"], rtol=1e-12, atol=1e-9)
    assert (frame["intra_spread"] >= 0).all() and (frame["delivery"] >= 0).all()
    assert (frame["inter_credit"] <= 0).all()
