"""Book construction, loading (CSV, Parquet, DataFrame, symbols), resolution and every error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greeksmargin import Book, ExerciseStyle, MarketData, OptionKind, Settlement, read_book
from greeksmargin.errors import InputError, MarketDataError
from greeksmargin.io.symbols import parse_deribit, parse_osi, parse_symbol
from tests.conftest import assert_close

NAT = np.datetime64("NaT")
EXP = np.datetime64("2025-06-20T20:00:00", "s")
MARKET = MarketData("2025-06-02T15:00:00", ["SPY", "AAPL"], [590.0, 200.0], 0.04, 0.03,
                    [0.15, 0.25])


def _one(**overrides):
    fields = dict(position_id=["a"], underlying=["SPY"], kind=[1], strike=[600.0], expiry=[EXP],
                  quantity=[1.0], multiplier=[100.0])
    fields.update(overrides)
    return Book(**fields)


def test_osi_symbols_padded_and_compact():
    for text in ("SPY   240119C00450000", "SPY240119C00450000", " spy240119c00450000 "):
        p = parse_osi(text)
        assert (p.underlying, p.kind, p.strike) == ("SPY", OptionKind.CALL, 450.0)
        assert str(p.expiry) == "2024-01-19T21:00:00"  # 16:00 New York in winter
    summer = parse_osi("SPXW  250620P05432500")
    assert summer.underlying == "SPXW" and summer.strike == 5432.5
    assert str(summer.expiry) == "2025-06-20T20:00:00"  # 16:00 New York in summer (EDT)
    for bad in ("SPY 240119X00450000", "TOOLONGROOT240119C00450000", "SPY240119C0045000",
                "SPY241319C00450000"):
        with pytest.raises(InputError, match="OSI|invalid expiry"):
            parse_osi(bad)


def test_deribit_names():
    opt = parse_deribit("BTC-27DEC24-60000-C")
    assert (opt.underlying, opt.kind, opt.strike, opt.settlement, opt.instrument) == (
        "BTC", OptionKind.CALL, 60000.0, Settlement.INVERSE, "option")
    assert str(opt.expiry) == "2024-12-27T08:00:00"
    fut = parse_deribit("ETH-7MAR25")
    assert (fut.kind, fut.instrument, str(fut.expiry)) == (OptionKind.LINEAR, "future",
                                                         "2025-03-07T08:00:00")
    perp = parse_deribit("BTC-PERPETUAL")
    assert perp.instrument == "perpetual" and np.isnat(perp.expiry)
    linear = parse_deribit("XRP_USDC-30JUN23-0d625-P")
    assert (linear.underlying, linear.strike, linear.settlement) == ("XRP", 0.625,
                                                                     Settlement.LINEAR)
    assert parse_symbol("BTC-PERPETUAL").venue == "deribit"
    assert parse_symbol("SPY240119C00450000").venue == "occ"
    for bad, words in (("BTC", "not a Deribit"), ("BTC-32DEC24-1-C", "invalid expiry"),
                       ("BTC-27XYZ24-1-C", "unreadable expiry"), ("BTC-27DEC24-abc-C", "strike"),
                       ("BTC-27DEC24-100-X", "-STRIKE-C"), ("BTC_EUR-PERPETUAL", "settlement")):
        with pytest.raises(InputError, match=words):
            parse_deribit(bad)


def test_book_validation_names_field_value_and_position():
    cases = [
        (dict(kind=[5]), "kind must be OptionKind"),
        (dict(strike=[-1.0]), "strike must be > 0 and finite for an option; got -1.0 at position 'a' (row 1)"),
        (dict(kind=[0], expiry=[NAT]), "strike must be empty"),
        (dict(expiry=[NAT]), "expiry must be a timestamp for an option"),
        (dict(quantity=[np.nan]), "quantity must be finite"),
        (dict(multiplier=[0.0]), "multiplier must be > 0"),
        (dict(exercise=[3]), "exercise must be"),
        (dict(settlement=[2]), "settlement must be"),
        (dict(position_id=["a", "a"], underlying=["SPY"] * 2, kind=[1, 1], strike=[1.0, 1.0],
              expiry=[EXP, EXP], quantity=[1.0, 1.0], multiplier=[1.0, 1.0]), "unique; duplicated: a"),
        (dict(quantity=[1.0, 2.0]), "one entry per position"),
        (dict(strike=["abc"]), "strike must be convertible"),
    ]
    for overrides, words in cases:
        with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
            _one(**overrides)


def test_book_arrays_are_frozen_copies():
    quantity = np.array([1.0])
    book = _one(quantity=quantity)
    quantity[0] = 99.0
    assert book.quantity[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        book.quantity[0] = 2.0


def test_read_book_columns_symbols_and_venue_defaults(tmp_path):
    frame = pd.DataFrame({
        "position_id": ["osi", "stock", "fut", "put"],
        "symbol": ["SPY   250620C00600000", None, None, None],
        "underlying": [None, "AAPL", "SPY", "AAPL"],
        "kind": [None, "stock", "future", "P"],
        "strike": [None, None, None, 190],
        "expiry": [None, None, "2025-09-19", "2025-07-18T20:00:00"],
        "quantity": [-3, 100, 2, 5],
        "exercise": [None, None, None, "american"],
    })
    loaded = read_book(frame, venue="occ")
    book = loaded.value
    assert loaded.failures == ()
    assert list(book.kind) == [1, 0, 0, 2]
    assert list(book.multiplier) == [100.0, 1.0, 1.0, 100.0]
    assert book.exercise[3] == ExerciseStyle.AMERICAN
    assert np.isnat(book.expiry[1]) and not np.isnat(book.expiry[2])
    csv = tmp_path / "book.csv"
    frame.to_csv(csv, index=False)
    parquet = tmp_path / "book.parquet"
    frame.astype({"strike": float}).to_parquet(parquet)
    for path in (csv, parquet):
        again = read_book(path, venue="occ").value
        assert list(again.position_id) == list(book.position_id)
        assert np.array_equal(again.strike, book.strike, equal_nan=True)


def test_read_book_reports_every_bad_row_and_can_exclude():
    frame = pd.DataFrame({
        "position_id": ["ok", "k", "s", "q", "m", "sym", "e", "x", "st"],
        "underlying": ["SPY"] * 9,
        "kind": ["call", "straddle", "put", "call", "call", "", "call", "call", "call"],
        "strike": [600, 600, -5, 600, 600, 600, 600, 600, 600],
        "expiry": ["2025-06-20"] * 5 + ["", "", "2025-06-20", "2025-06-20"],
        "quantity": [1, 1, 1, "lots", 1, 1, 1, 1, 1],
        "multiplier": [100, 100, 100, 100, -100, 100, 100, 100, 100],
        "exercise": ["", "", "", "", "", "", "", "bermudan", ""],
        "settlement": ["", "", "", "", "", "", "", "", "coin"],
    })
    with pytest.raises(InputError) as info:
        read_book(frame)
    lines = str(info.value).splitlines()
    assert lines[0] == "8 invalid book row(s):"
    assert "row 2 (position 'k'): kind: must be call, put" in lines[1]
    assert "row 3 (position 's'): strike: must be > 0" in lines[2]
    assert "quantity: must be a number; got 'lots'" in lines[3]
    assert "multiplier: must be > 0" in lines[4]
    assert "kind:" in lines[5]
    assert "expiry: an option needs an expiry date" in lines[6]
    assert "exercise: must be european or american; got 'bermudan'" in lines[7]
    assert "settlement: must be linear or inverse; got 'coin'" in lines[8]
    loaded = read_book(frame, on_invalid="exclude")
    assert list(loaded.value.position_id) == ["ok"]
    assert [f.position_id for f in loaded.failures] == ["k", "s", "q", "m", "sym", "e", "x", "st"]


def test_read_book_file_level_errors(tmp_path):
    with pytest.raises(InputError, match="book file not found"):
        read_book(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="no 'multiplier' column; add one or pass venue"):
        read_book(pd.DataFrame({"underlying": ["A"], "kind": ["stock"], "quantity": [1]}))
    with pytest.raises(InputError, match="missing column"):
        read_book(pd.DataFrame({"underlying": ["A"], "quantity": [1], "multiplier": [1]}))
    with pytest.raises(InputError, match="unknown venue 'cme'"):
        read_book(pd.DataFrame({"symbol": ["BTC-PERPETUAL"], "quantity": [1]}), venue="cme")
    with pytest.raises(InputError, match="on_invalid must be"):
        read_book(pd.DataFrame({"symbol": ["BTC-PERPETUAL"], "quantity": [1]}), on_invalid="drop")
    dup = pd.DataFrame({"position_id": ["a", "a"], "symbol": ["BTC-PERPETUAL"] * 2,
                        "quantity": [1, 2]})
    with pytest.raises(InputError, match="duplicated: a"):
        read_book(dup)
    bad_symbol = pd.DataFrame({"symbol": ["NOT A SYMBOL"], "quantity": [1]})
    with pytest.raises(InputError, match="row 1 .*symbol: not an OSI option symbol"):
        read_book(bad_symbol, venue="occ")
    with pytest.raises(InputError, match="a perpetual has no expiry"):
        read_book(pd.DataFrame({"underlying": ["BTC"], "kind": ["perpetual"], "expiry": ["2025-01-01"],
                                "quantity": [1], "multiplier": [1]}))
    with pytest.raises(InputError, match="a future needs an expiry date"):
        read_book(pd.DataFrame({"underlying": ["BTC"], "kind": ["future"], "quantity": [1],
                                "multiplier": [1]}))
    with pytest.raises(InputError, match="no valid positions"):
        read_book(pd.DataFrame({"underlying": ["A"], "kind": ["x"], "quantity": [1],
                                "multiplier": [1]}), on_invalid="exclude")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="could not be read"):
        read_book(garbage)


def test_resolve_year_fractions_groups_and_errors():
    market = MarketData("2025-06-02T15:00:00", ["SPY", "SPX"], [590.0, 5900.0], 0.04, 0.03,
                        [0.15, 0.16], group_of={"SPY": "SPX-basket", "SPX": "SPX-basket"})
    book = Book(["x", "y", "z"], ["SPX", "SPY", "SPY"], [1, 2, 0], [6000.0, 580.0, np.nan],
                [EXP, EXP, NAT], [1.0, -2.0, 100.0], [100.0, 100.0, 1.0])
    resolved = book.resolve(market)
    assert resolved.group_labels == ("SPX-basket",)
    assert np.allclose(resolved.expiry_years[:2], (18 * 86400 + 5 * 3600) / (365 * 86400))
    assert np.isnan(resolved.expiry_years[2]) and resolved.vol[2] == 0.0
    by_underlying = book.resolve(market, by="underlying")
    assert by_underlying.group_labels == ("SPX", "SPY")
    assert list(by_underlying.position_id) == ["x", "y", "z"]
    assert list(by_underlying.group_offsets) == [0, 1, 3]
    with pytest.raises(InputError, match="by must be"):
        book.resolve(market, by="desk")
    with pytest.raises(MarketDataError, match="no market data for underlying 'SPX' of position 'x'"):
        book.resolve(MARKET)
    old = Book(["old"], ["SPY"], [1], [600.0], [np.datetime64("2025-05-30")], [1.0], [100.0])
    with pytest.raises(InputError, match="before the valuation timestamp .* position 'old'"):
        old.resolve(MARKET)
    no_vol = MarketData("2025-06-02", ["SPY"], [590.0], 0.04, 0.03)
    with pytest.raises(MarketDataError, match="no volatility for option position 'a'"):
        _one().resolve(no_vol)


def test_book_to_frame_round_trip():
    book = Book(["a", "b"], ["SPY", "SPY"], [1, 0], [600.0, np.nan], [EXP, NAT], [1.0, 5.0],
                [100.0, 1.0], [1, 0], [0, 0])
    again = read_book(book.to_frame()).value
    assert list(again.kind) == [1, 0] and list(again.exercise) == [1, 0]
    assert np.array_equal(again.strike, book.strike, equal_nan=True)


def test_date_only_expiries_take_the_venue_expiry_time():
    # a date alone is not midnight UTC: OCC's close (16:00 New York), the AM-settled classes'
    # opening settlement (09:30 New York), Deribit's 08:00 UTC; a timestamp is taken as given
    frame = pd.DataFrame({
        "underlying": ["XYZ", "XYZ", "SPX", "SPX", "BTC", "XYZ"],
        "kind": ["call"] * 6, "strike": [100.0] * 6,
        "expiry": ["2025-06-02", "2025-06-03", "2025-06-20", "2025-06-20", "2025-06-27",
                   "2025-06-02T15:30:00Z"],
        "expiry_session": ["", "", "", "pm", "", ""],
        "settlement": ["", "", "", "", "inverse", ""],
        "quantity": [1.0] * 6, "multiplier": [100.0] * 6})
    expiry = read_book(frame).value.expiry
    assert [str(x) for x in expiry] == [
        "2025-06-02T20:00:00", "2025-06-03T20:00:00", "2025-06-20T13:30:00",
        "2025-06-20T20:00:00", "2025-06-27T08:00:00", "2025-06-02T15:30:00"]
    # the same contract as a column row and as an OSI symbol: one expiry
    assert str(parse_osi("XYZ250602C00100000").expiry) == str(expiry[0])
    assert str(parse_osi("SPX250620C00100000").expiry) == "2025-06-20T13:30:00"
    assert str(parse_osi("SPXW250620C00100000").expiry) == "2025-06-20T20:00:00"
    # on a 15:00 UTC valuation, 2025-06-02 has 5 hours left and 2025-06-03 29 hours
    market = MarketData("2025-06-02T15:00:00", ["XYZ"], [100.0], 0.0, 0.0, [0.2])
    resolved = read_book(frame.iloc[:2]).value.resolve(market)
    hours = np.sort(resolved.expiry_years) * 365 * 24
    assert_close(hours, [5.0, 29.0], 1e-12)
    assert read_book(frame.iloc[:1], venue="deribit").value.expiry[0] == np.datetime64(
        "2025-06-02T08:00:00")


def test_ambiguous_dates_and_bad_sessions_are_refused_by_row():
    frame = pd.DataFrame({"underlying": ["XYZ"] * 3, "kind": ["put"] * 3, "strike": [90.0] * 3,
                          "expiry": ["06/07/2025", "7 Jun 2025", "2025-06-07"],
                          "expiry_session": ["", "", "noon"], "quantity": [1.0] * 3,
                          "multiplier": [100.0] * 3})
    with pytest.raises(InputError) as info:
        read_book(frame)
    text = str(info.value)
    assert "3 invalid book row(s)" in text
    assert "row 1 (position 'row1'): expiry: expiry must be an ISO date" in text
    assert "'06/07/2025'" in text and "'7 Jun 2025'" in text
    assert "row 3 (position 'row3'): expiry_session: must be am or pm; got 'noon'" in text


def test_symbols_are_strict_ascii_with_real_strikes():
    for bad, words in (("SPY\uff1250620P05600000", "non-ASCII character"),  # fullwidth 2
                       ("\u00dfPY250620P05600000", "non-ASCII character '\u00df'"),
                       ("SPY250620P00000000", "zero strike"),
                       ("_USDC-27DEC24-150-C", "not a Deribit instrument name"),
                       ("-27DEC24-150-C", "not a Deribit instrument name"),
                       ("BTC-27DEC24-1E5-C", "unreadable strike '1E5'"),
                       ("BTC-27DEC24-\u0661\u0662-C", "non-ASCII")):
        with pytest.raises(InputError, match=words):
            parse_symbol(bad)
    assert parse_symbol("XRP_USDC-30JUN23-0d625-C").strike == 0.625


@pytest.mark.parametrize("n", [10, 5000, 20000])
def test_duplicated_position_ids_are_named_in_small_and_large_books(n):
    # small books compare a set, large ones hash the ids' characters first (a collision or a
    # duplicate is then settled exactly): the same error either way
    from greeksmargin.model.book import _unique

    ids = np.array([f"acct{k // 6:06d}/p{k % 6}" for k in range(n)])
    kwargs = dict(underlying=["XYZ"] * n, kind=[0] * n, strike=[np.nan] * n,
                  expiry=[np.datetime64("NaT")] * n, quantity=[1.0] * n, multiplier=[1.0] * n)
    assert Book(ids, **kwargs).n_positions == n and _unique(ids)
    dup = ids.copy()
    dup[-1] = dup[n // 2]
    assert not _unique(dup)
    with pytest.raises(InputError, match=f"position_id must be unique; duplicated: {dup[-1]}"):
        Book(dup, **kwargs)
    # ids that differ only past a shared prefix, and the empty id
    assert _unique(np.array(["", "a", "aa", "aaa"])) and not _unique(np.array(["", "a", ""]))


def test_a_hash_collision_of_distinct_ids_is_settled_exactly(monkeypatch):
    # every id hashed alike (a collision at each pair): the ids are compared as text instead
    from greeksmargin.model import book as book_module

    monkeypatch.setattr(book_module, "fnv_rows", lambda rows: np.zeros(rows.shape[0], np.uint64))
    ids = np.array([f"acct{k:06d}" for k in range(5000)])
    assert book_module._unique(ids)
    ids[7] = ids[4000]
    assert not book_module._unique(ids)


def test_a_book_copies_the_callers_arrays_unless_they_are_handed_over():
    quantity = np.array([1.0, -2.0])
    ids = np.array(["a", "b"])
    kept = Book(ids, "XYZ", 1, 100.0, "2025-03-21", quantity, 100.0)
    quantity[0] = 99.0  # the caller's array: the book holds its own copy
    assert kept.quantity.tolist() == [1.0, -2.0] and quantity.flags.writeable
    taken = Book(ids, "XYZ", 1, 100.0, "2025-03-21", quantity, 100.0, copy=False)
    assert np.shares_memory(taken.quantity, quantity) and not quantity.flags.writeable
    assert np.shares_memory(taken.position_id, ids)
    with pytest.raises(InputError, match="quantity must be"):  # still checked
        Book(ids, "XYZ", 1, 100.0, "2025-03-21", np.array([1.0, np.nan]), 100.0, copy=False)


def test_read_book_leaves_no_column_tied_to_the_callers_frame():
    frame = pd.DataFrame({"position_id": ["a", "b"], "underlying": ["XYZ", "XYZ"],
                          "kind": ["call", "put"], "strike": [100.0, 90.0],
                          "expiry": ["2025-03-21", "2025-03-21"], "quantity": [1.0, -2.0],
                          "multiplier": [100.0, 100.0]})
    rows = np.array([7, 8])
    book = read_book(frame, row_numbers=rows).value
    frame.loc[0, "quantity"] = 99.0
    rows[0] = 0
    assert book.quantity.tolist() == [1.0, -2.0] and book.source_row.tolist() == [7, 8]
    assert rows.flags.writeable  # the caller's row numbers: not frozen by the book
