"""Kernels against the SciPy reference, in serial and parallel builds; NaN propagation; the
accurate deep out-of-the-money branch against mpmath at 50 digits."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

from greeksmargin.kernels import _bsm
from greeksmargin.reference import black_scholes as ref
from tests.conftest import assert_close, random_domain

PRICE_RTOL = 1e-12
GREEK_RTOL = 1e-9  # textbook reference formulas lose a few digits in d1 and the differences
MP_RTOL = 5e-13  # near the conditioning limit (|x/s|^2 * eps) at |x/s| = 35
EPS = np.finfo(float).eps
INPUT_ULPS = 4.0  # rounding of the forward and of ln(F/K), in units of eps
N = 3000
FIELDS = ("price", "delta", "gamma", "vega", "theta", "rho", "carry_rho", "vanna", "volga", "charm")


def _inputs(seed):
    # moderate domain where the textbook reference itself is accurate
    return random_domain(N, seed, t_min=1 / 365, t_max=5.0, vol_min=0.05, vol_max=1.0,
                         moneyness=3.0)


def _kernel_greeks(args, parallel):
    out = np.empty((_bsm.N_GREEKS, args[0].size))
    if parallel:
        _bsm.greeks_parallel(*args, out, 8)
    else:
        _bsm.greeks_range(*args, out, 0, args[0].size)
    return out


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_price_kernel_matches_reference(parallel):
    args = _inputs(1)
    out = np.empty(N)
    if parallel:
        _bsm.price_parallel(*args, out, 7)
    else:
        _bsm.price_range(*args, out, 0, N)
    expected = ref.price(*args[:6], args[6] == 1)
    scale = args[0]  # absolute fallback relative to spot for tiny prices
    assert_close(out, expected, PRICE_RTOL, atol=1e-13 * scale.max())


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_greeks_kernel_matches_reference(parallel):
    args = _inputs(2)
    out = _kernel_greeks(args, parallel)
    expected = ref.greeks(*args[:6], args[6] == 1)
    for k, name in enumerate(FIELDS):
        scale = np.max(np.abs(expected[name]))
        assert_close(out[k], expected[name], GREEK_RTOL, atol=1e-12 * scale, context=name)


def test_serial_and_parallel_builds_agree_exactly():
    args = _inputs(3)
    assert np.array_equal(_kernel_greeks(args, False), _kernel_greeks(args, True))


def test_nan_propagates_through_every_field():
    base = [100.0, 100.0, 0.5, 0.2, 0.03, 0.01]
    for position in range(6):
        values = list(base)
        values[position] = math.nan
        g = _bsm.greeks1(*values, 1)
        assert all(math.isnan(x) for x in g), (position, g)
        assert math.isnan(_bsm.price1(*values, 2))


def _mp_normalized_black(x, s):
    x, s = mp.mpf(x), mp.mpf(s)
    return mp.exp(x / 2) * mp.ncdf(x / s + s / 2) - mp.exp(-x / 2) * mp.ncdf(x / s - s / 2)


def test_normalized_black_against_mpmath_everywhere_it_is_representable():
    mp.mp.dps = 50
    rng = np.random.default_rng(4)
    worst = 0.0
    checked = 0
    for _ in range(1500):
        s = 10 ** rng.uniform(-4.5, 1.2)
        x = -abs(rng.normal()) * s * rng.uniform(0, 36)
        exact = _mp_normalized_black(x, s)
        if exact < mp.mpf("1e-290"):
            continue
        got = _bsm.normalized_otm_call(x, s)
        worst = max(worst, float(abs(got / exact - 1)))
        checked += 1
    assert checked > 1000
    assert worst < MP_RTOL, worst


def test_vectorised_quadrature_path_gives_the_scalar_pricers_bits():
    # quadrature_price_range (the array kernels' path for rows off the plain formula) against
    # price_from_parts row by row: where it applies, bitwise equal; its predicate agrees with
    # where the scalar pricer leaves the plain formula
    rng = np.random.default_rng(6)
    n = 4000
    total_vol = 10 ** rng.uniform(-4.0, -1.0, n)
    log_moneyness = rng.choice([-1.0, 1.0], n) * total_vol * rng.uniform(0.0, 12.0, n)
    strike = 100.0 * np.exp(rng.normal(size=n))
    forward = strike * np.exp(log_moneyness)
    discount = rng.uniform(0.9, 1.0, n)
    kind = rng.integers(1, 3, n).astype(np.int8)
    sign = np.where(kind == 1, 1.0, -1.0)
    out = np.empty(n)
    applies = np.empty(n, np.bool_)
    _bsm.quadrature_price_range(n, forward, strike, log_moneyness, total_vol, discount, sign,
                                out, applies)
    assert 0.3 < applies.mean() < 0.95  # both sides exercised
    for i in range(n):
        expected = _bsm.price_from_parts(forward[i], strike[i], log_moneyness[i], total_vol[i],
                                         discount[i], kind[i])
        d1 = log_moneyness[i] / total_vol[i] + 0.5 * total_vol[i]
        plain = _bsm.plain_formula_is_accurate(max(d1, total_vol[i] - d1), total_vol[i])
        if applies[i]:
            assert not plain, i
            assert out[i] == expected, (i, out[i], expected)


def _short_chain(n, seed):
    # options expiring within two days, strikes +-10%: most rows are off the plain formula; plus
    # the rows only the scalar pricers take (expired, zero vol, total vol that underflows to 0)
    rng = np.random.default_rng(seed)
    spot = np.full(n, 100.0)
    strike = 100.0 * np.exp(rng.uniform(-0.1, 0.1, n))
    t = rng.uniform(1 / 24, 2.0, n) / 365
    vol = rng.uniform(0.05, 0.8, n)
    rate = rng.uniform(-0.01, 0.06, n)
    carry = rng.uniform(-0.03, 0.06, n)
    kind = rng.integers(1, 3, n).astype(np.int8)
    t[:3], vol[3:6] = 0.0, 0.0
    t[6], vol[6] = 1e-300, 1e-200
    return spot, strike, t, vol, rate, carry, kind


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_rows_off_the_plain_formula_get_the_scalar_pricers_bits(parallel):
    # price_range / greeks_range price most of a short-dated chain by the gathered vectorised
    # quadrature path (and only the price of those rows: their Greeks come from the first
    # pass); row by row bitwise equal to price1 / greeks1
    args = _short_chain(5000, 7)
    redo = np.empty(args[0].size, np.bool_)
    first_pass = np.empty(args[0].size)
    _bsm._price_vector(*args, first_pass, redo)
    assert redo.mean() > 0.4  # flagged by the first pass
    assert _bsm._price_off_plain(*args, first_pass, redo) == 7  # rows left for the scalar pricers
    assert np.flatnonzero(redo).tolist() == list(range(7))  # left: the scalar-only rows
    prices = np.empty(args[0].size)
    if parallel:
        _bsm.price_parallel(*args, prices, 7)
    else:
        _bsm.price_range(*args, prices, 0, args[0].size)
    out = _kernel_greeks(args, parallel)
    for i in range(args[0].size):
        row = [a[i] for a in args]
        assert prices[i] == _bsm.price1(*row), i
        assert np.array_equal(out[:, i], np.array(_bsm.greeks1(*row)), equal_nan=True), i


@pytest.mark.parametrize("t", [-1.5, -0.1, 0.0, 0.7, 2.99, 3.0, 7.0, 40.0])
def test_mills_ratio_and_complement_against_mpmath(t):
    mp.mp.dps = 40
    tm = mp.mpf(t)
    ratio = mp.ncdf(-tm) / mp.npdf(tm)
    assert abs(_bsm.mills_ratio(t) / ratio - 1) < 1e-15
    assert abs(_bsm.mills_complement(t) / (1 - tm * ratio) - 1) < 1e-14


def test_price_against_mpmath_calls_and_puts_in_and_out_of_the_money():
    # price1 takes the plain formula where it is accurate and the normalised OTM function elsewhere;
    # pin both paths (and the switch between them) against 50-digit arithmetic, ITM included
    mp.mp.dps = 50
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(1500):
        t = 10 ** rng.uniform(-4, 1.5)
        vol = 10 ** rng.uniform(-2.5, 0.6)
        s = vol * math.sqrt(t)
        strike = 100.0 * math.exp(rng.normal() * s * rng.uniform(0, 30))
        rate, carry = rng.uniform(-0.02, 0.08), rng.uniform(-0.05, 0.08)
        kind = int(rng.integers(1, 3))
        forward = mp.mpf(100.0) * mp.exp(mp.mpf(carry) * t)
        k, sd = mp.mpf(strike), mp.mpf(vol) * mp.sqrt(t)
        d1 = mp.log(forward / k) / sd + sd / 2
        sign = 1 if kind == 1 else -1
        undiscounted = sign * (forward * mp.ncdf(sign * d1) - k * mp.ncdf(sign * (d1 - sd)))
        exact = mp.exp(-mp.mpf(rate) * t) * undiscounted
        if exact < mp.mpf("1e-290"):
            continue
        # the forward and ln(F/K) are rounded before any formula sees them, which moves the price
        # by its elasticity dlnV/dlnF times a few ulps: the input's own conditioning, allowed for
        elasticity = float(forward * mp.ncdf(sign * d1) / undiscounted)
        got = _bsm.price1(100.0, strike, t, vol, rate, carry, kind)
        worst = max(worst, float(abs(got / exact - 1)) / (MP_RTOL + INPUT_ULPS * EPS * elasticity))
    assert worst < 1.0, worst


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_price_and_greeks_kernels_count_rows_outside_the_domain(parallel):
    # the API's check runs inside the kernels' pass; its count must be the NumPy count of rows
    # that break any of check_market's constraints
    spot, strike, t, vol, rate, carry, kind = (a.copy() for a in _inputs(4))
    rng = np.random.default_rng(9)
    bad_values = {0: (-1.0, 0.0, np.inf, np.nan), 1: (-2.0, 0.0, np.inf), 2: (-1e-9, np.inf),
                  3: (-0.1, 5.000001, np.nan), 4: (np.inf, -np.inf, np.nan), 5: (np.nan,)}
    columns = [spot, strike, t, vol, rate, carry]
    for k, values in bad_values.items():
        rows = rng.choice(N, 20, replace=False)
        columns[k][rows] = rng.choice(values, rows.size)
    kind[rng.choice(N, 20, replace=False)] = 3
    vol[0] = 5.0  # the bound itself is allowed
    expected = np.count_nonzero(~((spot > 0) & np.isfinite(spot) & (strike > 0)
                                  & np.isfinite(strike) & (t >= 0) & np.isfinite(t) & (vol >= 0)
                                  & (vol <= _bsm.MAX_VOL) & np.isfinite(rate) & np.isfinite(carry)
                                  & ((kind == 1) | (kind == 2))))
    args = (spot, strike, t, vol, rate, carry, kind)
    prices, greeks_out = np.empty(N), np.empty((_bsm.N_GREEKS, N))
    if parallel:
        counts = (_bsm.price_parallel(*args, prices, 7), _bsm.greeks_parallel(*args, greeks_out, 7))
    else:
        counts = (_bsm.price_range(*args, prices, 0, N), _bsm.greeks_range(*args, greeks_out, 0, N))
    assert 100 < expected < 140  # overlaps are possible, not many
    assert counts == (expected, expected)
    clean = _inputs(1)
    assert _bsm.price_range(*clean, prices, 0, N) == 0
    assert _bsm.greeks_parallel(*clean, greeks_out, 7) == 0
