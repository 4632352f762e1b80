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


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_book_reader_refuses_with_input_errors_only(data):
    columns = data.draw(st.lists(st.sampled_from(
        ["position_id", "symbol", "underlying", "kind", "strike", "expiry", "quantity",
         "multiplier", "exercise", "settlement", "expiry_session"]), min_size=1, max_size=9,
        unique=True))
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
