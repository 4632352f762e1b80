"""The vectorisable exp and normal CDF against 50-digit mpmath, and their vector/scalar identity."""

from __future__ import annotations

import math
import platform
import re

import mpmath as mp
import numpy as np
import pytest
from numba import njit

from greeksmargin.kernels import _revalue
from greeksmargin.kernels._elementary import (
    exp_simd,
    log_positive,
    log_simd,
    norm_cdf,
    norm_cdf_call,
    norm_cdf_pair,
)

EPS = 2.0**-52


@njit(error_model="numpy")
def _exp_loop(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = exp_simd(x[i])


@njit(error_model="numpy")
def _cdf_loop(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = norm_cdf(x[i])


@njit(error_model="numpy")
def _pair_loop(x1, x2, ratio, out1, out2):  # type: ignore[no-untyped-def]
    for i in range(x1.size):
        out1[i], out2[i], _ = norm_cdf_pair(x1[i], x2[i], ratio[i])


@njit(error_model="numpy")
def _cdf_scalar(x):  # type: ignore[no-untyped-def]
    return norm_cdf(x)


def _vector(loop, x):
    out = np.empty_like(x)
    loop(x, out)
    return out


def test_exp_is_within_two_ulp_and_handles_the_edges():
    mp.mp.dps = 50
    x = np.concatenate([np.random.default_rng(0).uniform(-700, 700, 4000),
                        np.linspace(-1, 1, 801)])
    got = _vector(_exp_loop, x)
    exact = np.array([float(mp.exp(mp.mpf(float(v)))) for v in x])  # correctly rounded
    ulps = np.abs(got - exact) / np.spacing(exact)
    assert ulps.max() <= 2.0
    # subnormal results: absolute error within one subnormal spacing (plus the rounding)
    low = np.linspace(-745, -708.5, 500)
    got_low = _vector(_exp_loop, low)
    exact_low = np.array([float(mp.exp(mp.mpf(float(v)))) for v in low])
    assert np.abs(got_low - exact_low).max() <= 2 * 5e-324
    edges = np.array([np.nan, np.inf, -np.inf, 709.7, 710.0, 1e6, -1400.0, -1e6, 0.0])
    out = _vector(_exp_loop, edges)
    assert math.isnan(out[0])
    assert out[1] == math.inf and out[2] == 0.0
    assert out[3] == pytest.approx(math.exp(709.7), rel=2 * EPS)
    assert out[4] == math.inf and out[5] == math.inf
    assert out[6] == 0.0 and out[7] == 0.0 and out[8] == 1.0


def test_norm_cdf_tail_is_relatively_accurate_and_centre_absolutely():
    mp.mp.dps = 50
    rng = np.random.default_rng(1)
    tail = np.concatenate([np.linspace(-37.0, 0.0, 3001), rng.uniform(-10, 0, 2000)])
    got = _vector(_cdf_loop, tail)
    exact = np.array([mp.ncdf(mp.mpf(float(v))) for v in tail])
    relative = np.array([float(abs(g / e - 1)) for g, e in zip(got, exact, strict=True)])
    assert relative.max() < 1e-15, tail[relative.argmax()]
    # math.erfc(-x / sqrt 2) loses ~x^2 eps to the rounding of its argument; this does not
    libm = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in tail])
    libm_relative = np.array([float(abs(g / e - 1)) for g, e in zip(libm, exact, strict=True)])
    assert libm_relative.max() > 10 * relative.max()
    centre = rng.uniform(-8, 8, 4000)
    got = _vector(_cdf_loop, centre)
    exact = np.array([float(mp.ncdf(mp.mpf(float(v)))) for v in centre])
    assert np.abs(got - exact).max() <= 4 * 2.0**-53  # about 3 ulp of 1/2 near the centre


def test_norm_cdf_special_values():
    out = _vector(_cdf_loop, np.array([np.nan, np.inf, -np.inf, 0.0, -40.5, 40.5, -1e300]))
    assert math.isnan(out[0])
    assert list(out[1:]) == [1.0, 0.0, 0.5, 0.0, 1.0, 0.0]


def test_pair_matches_single_evaluation():
    rng = np.random.default_rng(2)
    x1 = rng.uniform(-36, 36, 5000)
    x2 = x1 - rng.uniform(0, 5, 5000) * np.sign(x1)
    x2 = np.clip(x2, -36, 36)
    ratio = np.exp((x1 * x1 - x2 * x2) / 2)
    n1, n2 = np.empty_like(x1), np.empty_like(x1)
    _pair_loop(x1, x2, ratio, n1, n2)
    for x, got in ((x1, n1), (x2, n2)):
        single = _vector(_cdf_loop, x)
        # the ratio carries the rounding of (x1^2 - x2^2) / 2, about (x1^2 + x2^2) eps relatively
        assert np.allclose(got, single, rtol=16 * EPS * (1 + x1 * x1 + x2 * x2), atol=0)


def test_vector_lanes_and_scalar_calls_agree_bitwise():
    x = np.random.default_rng(3).uniform(-12, 12, 1003)  # odd length: a scalar remainder too
    vector = _vector(_cdf_loop, x)
    scalar = np.array([_cdf_scalar(v) for v in x])
    assert np.array_equal(vector, scalar)
    # the compiled call scalar code takes instead (one copy, not inlined at every site)
    edges = np.array([-40.0, -37.5, -1e-300, 0.0, -0.0, 1e-300, 8.3, 40.0, np.inf, -np.inf])
    every = np.concatenate([x, edges])
    called = np.array([norm_cdf_call(v) for v in every])
    assert np.array_equal(called, _vector(_cdf_loop, every))
    assert math.isnan(norm_cdf_call(math.nan))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction names")
def test_chunk_pricing_loop_is_vectorised():
    # a regression guard without timing: the scenario loop must compile to packed divisions,
    # with the scenario's parts shared by all lanes and with one per lane (both give one answer)
    m = 8
    values = [np.full(m, v) for v in (0.2, 1.0, 100.0, 1.01, 100.0, 1.01, 0.01, 0.5, 0.99, 1.0)]
    inverse = np.zeros(m, np.bool_)
    fresh = njit(error_model="numpy")(_revalue._price_chunk.py_func)  # uncached: inspectable
    shared = (0.1, np.int8(1), 0.0, 1.05, 1 / 1.05, np.log(1.05))
    per_lane = tuple(np.full(m, v) for v in shared)
    terms = []
    for scenario in (shared, per_lane):
        term, accurate = np.empty(m), np.empty(m, np.bool_)
        n_bad = fresh(m, *values, inverse, np.ones(m), np.ones(m), np.zeros(m), *scenario[:2],
                      0.0, *scenario[3:], term, accurate, np.empty(m))
        assert n_bad == 0 and accurate.all()
        terms.append(term)
    assert np.array_equal(terms[0], terms[1])
    assert len(fresh.signatures) == 2
    for signature in fresh.signatures:
        assert re.search(r"\bv?divpd\b", fresh.inspect_asm(signature))


@njit(error_model="numpy")
def _log_loop(x, out):  # type: ignore[no-untyped-def]
    for i in range(x.size):
        out[i] = log_simd(x[i])


def test_log_is_within_one_ulp_for_positive_normal_numbers():
    mp.mp.dps = 50
    rng = np.random.default_rng(6)
    x = np.concatenate([10 ** rng.uniform(-307, 308, 3000), rng.uniform(0.5, 2.0, 3000),
                        [1.0, 2.0, 0.5, math.sqrt(2.0), 2.2250738585072014e-308, 1.7e308]])
    got = _vector(_log_loop, x)
    exact = np.array([float(mp.log(mp.mpf(float(v)))) for v in x])
    ulps = np.abs(got - exact) / np.spacing(np.abs(exact) + (exact == 0))
    assert ulps.max() <= 1.0
    assert got[-6] == 0.0  # log 1 exactly


def test_log_positive_handles_the_edges_like_math_log():
    @njit(error_model="numpy")
    def scalar(v):  # type: ignore[no-untyped-def]
        return log_positive(v)

    assert scalar(0.0) == -math.inf and scalar(math.inf) == math.inf
    assert math.isnan(scalar(-1.0)) and math.isnan(scalar(math.nan))
    assert scalar(5e-324) == math.log(5e-324)
    assert scalar(10.0) == pytest.approx(math.log(10.0), rel=2 * EPS)
