"""Methodologies as versioned data: versions, get(name, version), parameter validation, typed rules."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from greeksmargin import methodology
from greeksmargin.errors import MethodologyError
from greeksmargin.methodology import ExtendedTable, load_parameters, versions


def _raw(name, version):
    path = resources.files("greeksmargin") / "methodology" / "data" / name / f"{version}.json"
    return json.loads(path.read_text())


def test_every_preset_ships_a_versioned_parameter_file_with_its_sources():
    for name, version in (("occ_tims", "2024.1"), ("span", "2019.1"), ("deribit", "2024.6"),
                          ("simm", "2.6")):
        assert version in versions(name)
        data = _raw(name, version)
        assert data["version"] == version and "https://" in data["source"]


def test_get_takes_a_version_and_refuses_unknown_ones():
    occ = methodology.get("occ-tims", "2024.1")
    assert occ.version == "2024.1" and occ.source == _raw("occ_tims", "2024.1")["source"]
    assert methodology.get("span", price_scan_range=0.07).version == "2019.1"  # the newest
    with pytest.raises(MethodologyError, match=r"no span parameter set '1999.1'; available: 2019.1"):
        methodology.get("span", "1999.1", price_scan_range=0.07)
    with pytest.raises(MethodologyError, match="no occ_tims parameter set"):
        load_parameters("occ_tims", "0.0")
    assert versions("no-such-venue") == ()


def test_preset_values_are_the_data_files_values():
    occ = methodology.occ_tims()
    data = _raw("occ_tims", "2024.1")
    assert occ.contract_minimum == data["contract_minimum"] == 0.375
    assert occ.parameters["ranges"]["high_cap_index"] == (-0.08, 0.06)
    deribit = methodology.deribit()
    btc = _raw("deribit", "2024.6")["currencies"]["BTC"]
    assert deribit.roll_shock_rate["BTC"] == btc["min_annualised_move"] == 0.01
    assert deribit.extended_table["BTC"] == ExtendedTable(27, 8, 0.16, 100_000.0)
    assert deribit.mm_factor == 0.8
    span = methodology.span(0.07)
    assert span.parameters["extreme_coverage"] == 0.35 and span.parameters["vol_scan_range"] == 0.35


@pytest.mark.parametrize("make, message", [
    (lambda: methodology.span(0.07, short_option_minimum=float("nan")), "short_option_minimum"),
    (lambda: methodology.span(0.07, short_option_minimum=-1.0), "short_option_minimum"),
    (lambda: methodology.span(0.07, extreme_coverage=1.5), "extreme_coverage"),
    (lambda: methodology.span(0.07, vol_scan_range=float("inf")), "vol_scan_range"),
    (lambda: methodology.span(1.5), "price scan range must be in"),
    (lambda: methodology.occ_tims(vol_stress=(float("nan"),)), "vol_stress must be finite"),
    (lambda: methodology.occ_tims({"SPX": "mega"}), "unknown OCC product class 'mega'"),
    (lambda: methodology.deribit({"BTC": {"price_range": -0.1}}), "must be finite and >= 0"),
    (lambda: methodology.deribit({"BTC": {"extended_dampener": np.nan}}), "must be finite"),
    (lambda: methodology.get("span", price_scan_range=0.07, nonsense=1), "bad options"),
], ids=["som-nan", "som-negative", "coverage", "vsr-inf", "psr", "vol-stress", "occ-class",
        "deribit-range", "deribit-nan", "options"])
def test_bad_parameters_are_refused_at_construction(make, message):
    with pytest.raises(MethodologyError, match=message):
        make()


def test_grids_are_shared_not_rebuilt():
    # grids are pure functions of the parameters: two presets with the same values share them
    from greeksmargin import Book, MarketData
    market = MarketData("2025-01-02", ["A", "B"], [100.0, 50.0], 0.0, 0.0, [0.2, 0.3])
    book = Book(["a", "b"], ["A", "B"], [1, 2], [100.0, 50.0],
                [np.datetime64("2025-03-01")] * 2, [1.0, -1.0], [100.0, 100.0])
    resolved = book.resolve(market)
    first = methodology.occ_tims().build_grids(resolved)
    second = methodology.occ_tims().build_grids(resolved)
    assert first[0] is first[1] is second[0]
    assert first[0].n_scenarios == 10 and np.allclose(first[0].spot_shift[[0, -1]], [-0.15, 0.15])


def test_presets_pickle_for_process_workers():
    # data, not closures: a methodology travels to Dask process workers and comes back equal
    import pickle

    for method in (methodology.occ_tims({"SPX": "high_cap_index"}, vol_stress=(-0.2, 0.2)),
                   methodology.span({"ES": 0.07}), methodology.deribit()):
        assert pickle.loads(pickle.dumps(method)) == method


def test_span_price_scan_range_in_currency_per_contract_reproduces_cme_es_example():
    # CME's SPAN methodology deck: E-mini S&P 500, price scan range $30,000 = 120 points at a
    # contract value factor of $250, future at 2,790. One long future (no carry: rate =
    # dividend yield) loses 250 x 120 = $30,000 at the -1 PSR scenarios, more than the
    # extreme move's 35% x 250 x 240 = $21,000: the scan risk is $30,000 exactly
    from greeksmargin import Book, MarketData, compute_margin

    market = MarketData("2019-01-02T15:00:00", ["ES", "CL"], [2790.0, 50.0], 0.03, 0.0,
                        [0.16, 0.3])
    future = Book(["es"], ["ES"], [0], [np.nan], [np.datetime64("2019-03-15T13:30:00")], [1.0],
                  [250.0])
    span = methodology.span(None, price_scan_amount={"ES": 30_000.0})
    result = compute_margin(future, market, span)
    assert float(result.scan_risk[0]) == pytest.approx(30_000.0, rel=1e-12)
    assert span.parameters["price_scan_amount"] == {"ES": 30_000.0}
    # the same as the relative range 120 / 2,790
    relative = compute_margin(future, market, methodology.span(120.0 / 2790.0))
    assert float(relative.scan_risk[0]) == pytest.approx(30_000.0, rel=1e-12)
    # mixed: an amount for ES, a relative range for the rest
    both = Book(["es", "cl"], ["ES", "CL"], [0, 0], [np.nan] * 2,
                [np.datetime64("2019-03-15T13:30:00")] * 2, [1.0, -2.0], [250.0, 1000.0])
    mixed = compute_margin(both, market, methodology.span({"CL": 0.1}, price_scan_amount={"ES": 30_000.0}))
    assert mixed.scan_risk.tolist() == pytest.approx([2 * 1000.0 * 5.0, 30_000.0], rel=1e-12)
    # refused: an amount <= 0, a group without a range, multipliers that differ in a group
    with pytest.raises(MethodologyError, match="price scan amount must be > 0"):
        methodology.span(None, price_scan_amount={"ES": -1.0})
    with pytest.raises(MethodologyError, match="no SPAN price scan range for group 'CL'"):
        compute_margin(both, market, span)
    two = Book(["a", "b"], ["ES", "ES"], [0, 0], [np.nan] * 2,
               [np.datetime64("2019-03-15T13:30:00")] * 2, [1.0, 1.0], [250.0, 50.0])
    with pytest.raises(MethodologyError, match=r"multipliers \[50.0, 250.0\]"):
        compute_margin(two, market, span)
