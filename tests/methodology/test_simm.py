"""SIMM-style margin reproduces hand computations of the ISDA SIMM v2.6 formulas
(docs/cross_margin.md), component by component."""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import Book, MarketData, ScenarioGrid
from greeksmargin.errors import InputError, MethodologyError
from greeksmargin.measures.revalue import revalue
from greeksmargin.methodology.simm import (
    LAMBDA_BASE,
    SIGMA_FACTOR,
    Sensitivities,
    load_parameters,
    sensitivities,
    simm_margin,
)
from tests.conftest import assert_close

RTOL = 1e-12


def _sens(rows):
    """rows: (risk_class, factor, bucket, delta, vega, expiry_days)."""
    cols = list(zip(*rows, strict=True))
    return Sensitivities(np.array(cols[0]), np.array(cols[1]), np.array(cols[2]),
                         np.array(cols[3], float), np.array(cols[4], float),
                         np.array(cols[5], float))


def test_constants_match_the_page():
    assert_close(SIGMA_FACTOR, 2.1948647, 1e-7)
    assert_close(LAMBDA_BASE, 5.6348966, 1e-7)
    p = load_parameters("2.6").risk_class("equity")
    gamma = np.array(p["inter_bucket_correlation"])
    assert gamma[0, 1] == 0.18 and gamma[10, 11] == 0.45 and gamma[4, 7] == 0.29
    assert np.array_equal(gamma, gamma.T)
    with pytest.raises(MethodologyError, match="no SIMM parameter set '9.9'"):
        load_parameters("9.9")


def test_single_factor_delta_with_and_without_concentration():
    r = simm_margin(_sens([("equity", "X", "5", 1e6, 0.0, np.nan)]))
    assert_close(r.components["equity"]["delta"], 26e6, RTOL)
    # 48 mm per 1% against a 12 mm threshold: CR = sqrt(48/12) = 2
    r = simm_margin(_sens([("equity", "X", "5", 48e6, 0.0, np.nan)]))
    assert_close(r.components["equity"]["delta"], 26 * 48e6 * 2, RTOL)
    assert_close(r.total, 26 * 48e6 * 2, RTOL)


def test_two_factors_in_a_bucket_and_two_buckets():
    r = simm_margin(_sens([("equity", "A", "5", 1e6, 0, np.nan),
                           ("equity", "B", "5", -0.5e6, 0, np.nan)]))
    ws = np.array([26e6, -13e6])
    assert_close(r.components["equity"]["delta"],
                 np.sqrt(ws @ ws + 2 * 0.25 * ws[0] * ws[1]), RTOL)
    r = simm_margin(_sens([("equity", "A", "5", 1e6, 0, np.nan),
                           ("equity", "B", "8", 1e6, 0, np.nan)]))
    assert_close(r.components["equity"]["delta"],
                 np.sqrt(26e6**2 + 28e6**2 + 2 * 0.29 * 26e6 * 28e6), RTOL)
    # S_b is capped at +-K_b: two offsetting factors in bucket 5 and one in bucket 8
    r = simm_margin(_sens([("equity", "A", "5", 1e6, 0, np.nan),
                           ("equity", "B", "5", -1e6, 0, np.nan),
                           ("equity", "C", "8", 1e6, 0, np.nan),
                           ("equity", "R", "residual", 1e6, 0, np.nan)]))
    k5 = np.sqrt(2 * 26e6**2 - 2 * 0.25 * 26e6**2)
    s5 = 0.0
    residual = 50e6 * np.sqrt(1.0 / 0.37)  # residual threshold 0.37 mm per 1%: CR = sqrt(1/0.37)
    expected = np.sqrt(k5**2 + 28e6**2 + 2 * 0.29 * s5 * 28e6) + residual
    assert_close(r.components["equity"]["delta"], expected, RTOL)
    assert_close(r.components["equity"]["delta_detail"]["K"]["5"], k5, RTOL)


def test_vega_and_curvature_of_one_option():
    r = simm_margin(_sens([("equity", "SPX", "11", 0.0, 1000.0, 30.0)]))
    sigma = 19 * SIGMA_FACTOR
    vr = 0.45 * 0.60 * sigma * 1000.0
    assert_close(r.components["equity"]["vega"], vr, RTOL)
    cvr = 0.5 * 14 / 30 * sigma * 1000.0
    assert_close(r.components["equity"]["curvature"], cvr + LAMBDA_BASE * cvr, RTOL)
    # short vega: theta = -1, lambda = -(-1) = 1 x ... ; margin = max(CVR + 1 * |CVR|, 0) = 0
    r = simm_margin(_sens([("equity", "SPX", "11", 0.0, -1000.0, 30.0)]))
    assert_close(r.components["equity"]["curvature"], 0.0, 0)
    assert_close(r.components["equity"]["vega"], vr, RTOL)
    # long-dated: SF = 0.5 x 14/t only below 14 days is capped at 0.5
    r = simm_margin(_sens([("equity", "SPX", "11", 0.0, 1000.0, 7.0)]))
    assert_close(r.components["equity"]["curvature"], (1 + LAMBDA_BASE) * 0.5 * sigma * 1000, RTOL)
    # volatility-index bucket 12: no curvature, vega weight 0.96
    r = simm_margin(_sens([("equity", "VIX", "12", 0.0, 1000.0, 30.0)]))
    assert r.components["equity"]["curvature"] == 0.0
    assert_close(r.components["equity"]["vega"], 0.96 * 0.60 * sigma * 1000.0, RTOL)


def test_equity_and_commodity_aggregate_with_psi():
    r = simm_margin(_sens([("equity", "X", "5", 1e6, 0, np.nan),
                           ("commodity", "CL", "2", 1e6, 0, np.nan)]))
    eq, cm = 26e6, 29e6
    assert_close(r.components["commodity"]["delta"], cm, RTOL)
    assert_close(r.total, np.sqrt(eq**2 + cm**2 + 2 * 0.35 * eq * cm), RTOL)
    two = _sens([("commodity", "CL", "2", 1e6, 0, np.nan), ("commodity", "NG", "3", 1e6, 0, np.nan)])
    with pytest.raises(MethodologyError, match="no inter-bucket correlations"):
        simm_margin(two)
    gamma = np.eye(17)
    gamma[1, 2] = gamma[2, 1] = 0.5
    r = simm_margin(two, commodity_inter_bucket=gamma)
    assert_close(r.total, np.sqrt(29e6**2 + 33e6**2 + 2 * 0.5 * 29e6 * 33e6), RTOL)
    with pytest.raises(InputError, match="unknown equity bucket '13'"):
        simm_margin(_sens([("equity", "X", "13", 1e6, 0, np.nan)]))


def test_sensitivities_from_a_book_match_finite_differences_of_revaluation():
    market = MarketData("2025-01-02", ["SPX", "AAPL"], [5900.0, 200.0], 0.04, 0.03, [0.16, 0.25])
    expiry = np.datetime64("2025-04-17T20:00:00", "s")
    book = Book(["c", "p", "s"], ["SPX", "AAPL", "AAPL"], [1, 2, 0], [6000.0, 190.0, np.nan],
                [expiry, expiry, np.datetime64("NaT")], [-2.0, 5.0, 300.0], [100.0, 100.0, 1.0])
    resolved = book.resolve(market, by="underlying")
    sens = sensitivities(resolved, {"SPX": ("equity", "11"), "AAPL": ("equity", "8")})
    h = 1e-4
    grid = ScenarioGrid.product([-h, h])
    pnl = revalue(resolved, grid, keep_positions=True).position_values
    fd_delta = (pnl[:, 1] - pnl[:, 0]) / (2 * h) * 0.01  # per 1% move, central difference
    order = np.empty_like(resolved.order)
    order[resolved.order] = np.arange(order.size)
    assert_close(sens.delta[order], fd_delta, 1e-6)
    vgrid = ScenarioGrid.product([0.0], [-0.0001, 0.0001])
    vpnl = revalue(resolved, vgrid, keep_positions=True).position_values
    fd_vega = (vpnl[:, 1] - vpnl[:, 0]) / 0.0002 * 0.01
    assert_close(sens.vega[order], fd_vega, 1e-6, atol=1e-9)
    result = simm_margin(sens)
    assert result.total > 0 and set(result.components) == {"equity"}
    with pytest.raises(InputError, match="no SIMM risk class and bucket for underlying 'AAPL'"):
        sensitivities(resolved, {"SPX": ("equity", "11")})
    with pytest.raises(InputError, match="unknown SIMM risk class 'fx'"):
        sensitivities(resolved, {"SPX": ("fx", "1"), "AAPL": ("equity", "8")})
