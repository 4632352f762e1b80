"""Fuzzing the front door (hypothesis, bounded): random and mutated books, symbols, markets,
grids, pricing inputs and CLI files. Nothing but the project's own errors (GreeksMarginError,
and the MissingInputWarning of NaN pricing rows) may escape; valid input never gives a NaN,
infinite or negative margin; the CLI exits 0 or 2 and never prints a traceback."""

from __future__ import annotations

import contextlib
import io
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greeksmargin import compute_margin, methodology, read_book
from greeksmargin.errors import GreeksMarginError, MissingInputWarning
from greeksmargin.io.grids import grid_from_frame
from greeksmargin.io.markets import market_from_frame
from greeksmargin.io.samples import sample_paths
from greeksmargin.io.symbols import parse_symbol
from greeksmargin.pricing import american, greeks, implied_vol, price
from tests.conftest import random_book

VALID_SYMBOLS = ["SPY   250718P00540000", "SPX250620P05600000", "BTC-27JUN25-60000-C",
                 "ETH-27JUN25", "BTC-PERPETUAL", "XRP_USDC-30JUN25-0d625-C"]
NASTY_TEXT = st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e400", "-0", "0", "1" * 400,
                              "\u0661\u0662", "\u00df", "\ufeff", "06/07/2025", "2025-13-01",
                              "2025-02-30", "2025-06-02T25:00", "=1+1", "\x00", "call", "PUT",
                              "perpetual", "1e5", "0d0", "C", "P", "-", "--", "__"])
CELL = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-10**30, 10**30), st.text(max_size=12), NASTY_TEXT,
                 st.sampled_from([Decimal("sNaN"), Decimal("1e999"), True, b"x"]))


def _mutate(text: str, data: st.DataObject) -> str:
    chars = list(text)
    for _ in range(data.draw(st.integers(0, 4))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        at = data.draw(st.integers(0, max(len(chars) - 1, 0)))
        if op == "delete" and chars:
            del chars[at]
        elif op == "insert":
            chars.insert(at, data.draw(st.characters()))
        elif chars:
            chars[at] = data.draw(st.characters())
    return "".join(chars)


@settings(max_examples=300)
@given(data=st.data())
def test_symbols_refuse_with_input_errors_only(data):
    text = _mutate(data.draw(st.sampled_from(VALID_SYMBOLS)), data) if data.draw(st.booleans()) \
        else data.draw(st.text(max_size=30))
    try:
        parsed = parse_symbol(text)
    except GreeksMarginError:
        return
    assert text.isascii()
    assert np.isnan(parsed.strike) or parsed.strike > 0


# a book file's columns, any subset in any order
BOOK_COLUMNS = st.lists(st.sampled_from(
    ["position_id", "symbol", "underlying", "kind", "strike", "expiry", "quantity",
     "multiplier", "exercise", "settlement", "expiry_session"]), min_size=1, max_size=9,
    unique=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_book_reader_refuses_with_input_errors_only(data):
    columns = data.draw(BOOK_COLUMNS)
    n = data.draw(st.integers(1, 4))
    frame = pd.DataFrame({c: [data.draw(CELL) for _ in range(n)] for c in columns})
    venue = data.draw(st.sampled_from([None, "occ", "deribit"]))
    mode = data.draw(st.sampled_from(["raise", "exclude"]))
    try:
        loaded = read_book(frame, venue=venue, on_invalid=mode)
    except GreeksMarginError:
        return
    book = loaded.value
    assert np.all(np.isfinite(book.quantity)) and np.all(book.multiplier > 0)
    assert len(loaded.failures) + book.n_positions == n


@settings(max_examples=100)
@given(data=st.data())
def test_market_and_grid_readers_refuse_with_project_errors_only(data):
    market = pd.DataFrame({c: [data.draw(CELL) for _ in range(2)] for c in data.draw(
        st.lists(st.sampled_from(["underlying", "spot", "rate", "dividend_yield", "carry", "vol",
                                  "valuation", "futures_price", "group", "product_class"]),
                 min_size=1, max_size=8, unique=True))})
    grid = pd.DataFrame({c: [data.draw(CELL) for _ in range(2)] for c in data.draw(
        st.lists(st.sampled_from(["spot_shift", "vol_shift", "vol_shift_type", "time_shift_days",
                                  "weight", "label"]), min_size=1, max_size=6, unique=True))})
    for read in (lambda: market_from_frame(market), lambda: grid_from_frame(grid)):
        with contextlib.suppress(GreeksMarginError):
            read()


NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.sampled_from([0, -1, 1e308, 5e-324, "1", None, Decimal("sNaN")]))


@settings(max_examples=200)
@given(spot=NUMBER, strike=NUMBER, t=NUMBER, vol=NUMBER, rate=NUMBER,
       kind=st.sampled_from([1, 2, 0, 3, "c", "p", "x", 1.5, -129]))
def test_pricing_api_refuses_with_input_errors_only(spot, strike, t, vol, rate, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingInputWarning)
        for call in (lambda: price(spot, strike, expiry_years=t, vol=vol, rate=rate, kind=kind),
                     lambda: greeks(spot, strike, expiry_years=t, vol=vol, rate=rate, kind=kind),
                     lambda: implied_vol(spot, 100.0, strike, expiry_years=t, rate=rate,
                                         kind=kind, on_error="nan"),
                     lambda: american.price(spot, strike, expiry_years=t, vol=vol, rate=rate,
                                            kind=kind, method="alo")):
            try:
                out = call()
            except GreeksMarginError:
                continue
            values = np.asarray(getattr(out, "price", getattr(out, "vol", out)), float)
            assert not np.any(np.isinf(values))


PRESETS = [methodology.occ_tims(), methodology.span(0.07, 0.35),
           methodology.span(0.1, short_option_minimum=100.0)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), preset=st.integers(0, len(PRESETS) - 1),
       american_share=st.sampled_from([0.0, 0.3]))
def test_valid_books_give_finite_non_negative_margins(seed, preset, american_share):
    book, market = random_book(40, seed, american_share=american_share)
    result = compute_margin(book, market, PRESETS[preset])
    for values in (result.initial, result.maintenance, result.scan_risk):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert np.isfinite(float(result.total)) and float(result.total) >= 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_on_mutated_files_exits_0_or_2_without_a_traceback(data, tmp_path_factory):
    from greeksmargin.front.cli import main

    book_path, market_path = sample_paths()
    lines = Path(book_path).read_text().splitlines()
    k = data.draw(st.integers(1, len(lines) - 1))
    lines[k] = _mutate(lines[k], data)
    folder = tmp_path_factory.mktemp("cli")
    (folder / "book.csv").write_text("\n".join(lines) + "\n", encoding="utf-8",
                                     errors="surrogatepass")
    args = ["margin", str(folder / "book.csv"), "--market", str(market_path)]
    args += data.draw(st.sampled_from([[], ["--on-invalid", "exclude"], ["--format", "json"],
                                       ["--preset", "span"], ["--by", "position"]]))
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(args)
    assert code in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()


def _both_parsers(frame, venue, numbers=None):
    from greeksmargin.io import books

    columns = set(map(str, frame.columns))
    numbers = np.arange(1, len(frame) + 1) if numbers is None else numbers
    rows = books._rows(frame, venue, columns, numbers)
    try:
        cols = books._columns(frame, venue, columns, numbers)
    except books._NotColumnar:
        cols = rows  # cells pandas cannot factorise: the row parser is the path taken
    return rows, cols


def _assert_same(rows, cols):
    (f_rows, e_rows), (f_cols, e_cols) = rows, cols
    assert [str(e) for e in e_cols] == [str(e) for e in e_rows]
    for key in f_rows:
        a, b = f_rows[key], f_cols[key]
        assert a.shape == b.shape, key
        if a.dtype.kind in "fM":  # NaN strikes, NaT expiries (perpetuals) equal themselves
            assert np.array_equal(a, b, equal_nan=True), key
        else:
            assert np.array_equal(a, b), key


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_book_parser_equals_the_row_parser_on_mutated_books(data):
    # the columnar reader parses each distinct instrument once; it must give the row parser's
    # book and the same failures (rows, fields, reasons), on valid and invalid input alike
    columns = data.draw(BOOK_COLUMNS)
    if "quantity" not in columns:
        columns.append("quantity")
    n = data.draw(st.integers(1, 8))
    good = {"symbol": st.sampled_from(VALID_SYMBOLS), "underlying": st.sampled_from(["SPY", "BTC"]),
            "kind": st.sampled_from(["call", "put", "stock", "future", "perpetual"]),
            "strike": st.sampled_from([100.0, 550.0, 60000.0]),
            "expiry": st.sampled_from(["2025-07-18", "2025-07-18T20:00:00", ""]),
            "quantity": st.sampled_from([1.0, -3.0, 10.0]),
            "multiplier": st.sampled_from([100.0, 1.0]),
            "exercise": st.sampled_from(["american", "european", ""]),
            "settlement": st.sampled_from(["linear", "inverse", ""]),
            "expiry_session": st.sampled_from(["am", "pm", ""]),
            "position_id": st.sampled_from(["a", "b", " c ", ""])}
    frame = pd.DataFrame({c: [data.draw(st.one_of(good[c], CELL)) for _ in range(n)]
                          for c in columns})
    repeats = data.draw(st.integers(1, 3))  # repeated rows: one parse stands for several
    frame = pd.concat([frame] * repeats, ignore_index=True)
    venue = data.draw(st.sampled_from([None, "occ", "deribit"]))
    _assert_same(*_both_parsers(frame, venue))


def test_columnar_book_parser_equals_the_row_parser_on_typed_columns():
    # the dtypes a CSV or Parquet reader gives: numeric quantities and ids, text symbols
    rng = np.random.default_rng(3)
    n = 2_000
    frame = pd.DataFrame({
        "position_id": np.arange(n), "symbol": rng.choice(VALID_SYMBOLS[:3] + ["BAD"], n),
        "quantity": rng.integers(-5, 6, n).astype(float), "multiplier": 100.0})
    frame.loc[7, "quantity"] = np.inf
    frame.loc[11, "quantity"] = 1e12
    _assert_same(*_both_parsers(frame, None, np.arange(10, 10 + n)))
    text = frame.astype({"symbol": "str", "position_id": "str"})
    _assert_same(*_both_parsers(text, "occ"))


@pytest.mark.parametrize("strike_dtype", ["float64", "int64"])
def test_columnar_parser_checks_a_numeric_strike_column_as_an_array(strike_dtype):
    # explicit columns with continuous strikes (every row its own instrument): the strike
    # column is checked as an array, the other cells once per combination; the same book and
    # the same failures as the row parser, bad strikes, kinds and expiries mixed
    rng = np.random.default_rng(11)
    n = 3_000
    strike = np.round(rng.uniform(-50, 600, n), 2)
    kind = rng.choice(["call", "put", "stock", "perpetual", "future", "straddle"], n,
                      p=[0.4, 0.4, 0.07, 0.06, 0.05, 0.02])
    expiry = rng.choice(["2025-07-18", "2025-09-19", "", "2025-13-40"], n, p=[0.5, 0.4, 0.08, 0.02])
    underlying = rng.choice(["SPY", "QQQ", ""], n, p=[0.5, 0.49, 0.01])
    frame = pd.DataFrame({"position_id": np.arange(n), "underlying": underlying, "kind": kind,
                          "strike": strike, "expiry": expiry,
                          "quantity": rng.integers(-5, 6, n).astype(float), "multiplier": 100.0})
    if strike_dtype == "float64":
        frame.loc[[3, 30, 300], "strike"] = [np.nan, np.inf, -0.0]
    else:
        frame["strike"] = np.round(frame["strike"]).astype("int64")
    rows, cols = _both_parsers(frame, None)
    _assert_same(rows, cols)
    assert {f.field for f in rows[1]} >= {"strike", "kind", "expiry", "underlying"}
    assert len(rows[0]["strike"]) > n // 2  # most rows are valid
