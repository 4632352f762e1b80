"""The implied-vol kernels: the vectorised attempt against the careful scalar solver and against
repricing, array rows equal to single calls bitwise, the attempt's loop compiled to packed
arithmetic, rows converged on an inaccurate value polished by the careful solver. (Round trips
through the public API, py_vollib agreement and statuses are in
tests/pricing/test_implied_vol.py.)"""

from __future__ import annotations

import math
import platform
import re

import numpy as np
import pytest
from numba import njit

from greeksmargin import price
from greeksmargin.kernels import _iv
from tests.conftest import random_domain


def _attempt_states(p, spot, strike, t, rate, carry, kind):
    # where each row leaves the attempt: the step it converged on, or 0 (careful solver)
    steps = np.zeros(p.size, np.int64)
    for i in range(p.size):
        x, beta, b_max, s, plain = _iv.attempt_start(p[i], spot[i], strike[i], t[i], rate[i],
                                                     carry[i], 1.0 if kind[i] == 1 else -1.0)
        lo, hi, side, target = 0.0, math.inf, 1.0, 0.0
        for step in range(_iv.ATTEMPT_STEPS if plain else 0):
            s, lo, hi, side, target, state = _iv.attempt_step(x, beta, b_max, s, lo, hi, side,
                                                              target, step == 0)
            if state != _iv.ACTIVE:
                steps[i] = step + 1 if state == _iv.CONVERGED else 0
                break
    return steps


def _rows(n, seed, **domain):
    spot, strike, t, vol, rate, carry, kind = random_domain(n, seed, **domain)
    p = price(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)
    return p, spot, strike, t, rate, carry, kind


def _solve_array(args):
    out = np.empty(args[0].size)
    status = np.empty(args[0].size, np.int8)
    _iv.implied_vol_range(*args, out, status, 0, args[0].size)
    return out, status


def test_array_rows_equal_single_calls_bitwise_on_both_paths():
    # the whole domain: rows the attempt solves, rows it hands to the careful solver (small total
    # vol deep out of the money), and rows with a status other than OK
    args = _rows(4000, 31, moneyness=12.0)
    p = args[0].copy()
    p[::97] *= 0.5  # some below intrinsic, some merely cheaper
    p[1::89] = np.nan
    args = (p, *args[1:])
    steps = _attempt_states(*args)
    assert (steps > 0).sum() > 1000 and (steps == 0).sum() > 1000  # both paths are exercised
    vol, status = _solve_array(args)
    single = [_iv.implied_vol1(*(a[i] for a in args)) for i in range(p.size)]
    assert np.array_equal(vol, np.array([v for v, _ in single]), equal_nan=True)
    assert status.tolist() == [c for _, c in single]
    parallel = np.empty_like(vol)
    parallel_status = np.empty_like(status)
    _iv.implied_vol_parallel(*args, parallel, parallel_status, 7)
    assert np.array_equal(parallel, vol, equal_nan=True)


def test_packed_lanes_give_each_row_its_own_result():
    # the step loop packs the lanes still active (and pads them with copies of the first) once
    # half or more have left: chunks where a few slow rows (short expiries far out of the money,
    # many steps) sit among fast ones, a partial last chunk, and rows the attempt never starts
    fast = _rows(600, 36, t_min=0.1, t_max=2.0, vol_min=0.1, vol_max=0.6, moneyness=2.0)
    slow = _rows(600, 37, t_min=1 / 8760, t_max=2 / 365, vol_min=0.1, vol_max=0.6,
                 moneyness=16.0)
    take = np.random.default_rng(38).random(600) < 0.05
    args = tuple(np.where(take, b, a) for a, b in zip(fast, slow, strict=True))
    args = tuple(a[:-3] for a in args)  # 597 rows: the last chunk is partial
    p = args[0].copy()
    p[5] = np.nan  # not started: the chunk begins packed
    args = (p, *args[1:])
    steps = _attempt_states(*args)
    assert (steps >= 5).sum() >= 10 and (steps == 0).sum() >= 10 and (steps <= 4).mean() > 0.8
    vol, status = _solve_array(args)
    single = [_iv.implied_vol1(*(a[i] for a in args)) for i in range(p.size)]
    assert np.array_equal(vol, np.array([v for v, _ in single]), equal_nan=True)
    assert status.tolist() == [c for _, c in single]


def test_attempt_reprices_as_well_as_the_careful_solver():
    # rows the attempt converges on: repricing error within 1e-12 relative, and the vol equal to
    # the careful solver's wherever the price is sensitive to vol
    args = _rows(3000, 32, moneyness=6.0)
    steps = _attempt_states(*args)
    solved = np.flatnonzero(steps > 0)
    assert solved.size > 1000
    p, spot, strike, t, rate, carry, kind = (a[solved] for a in args)
    attempt = np.array([_iv.implied_vol1(*(a[i] for a in (p, spot, strike, t, rate, carry, kind)))[0]
                        for i in range(p.size)])
    careful = np.array([_iv.implied_vol_careful(*(a[i] for a in (p, spot, strike, t, rate, carry,
                                                                  kind)), math.nan)[0]
                        for i in range(p.size)])
    again = price(spot, strike, expiry_years=t, vol=attempt, rate=rate, carry=carry, kind=kind)
    assert np.max(np.abs(again / p - 1)) < 1e-12
    bump = price(spot, strike, expiry_years=t, vol=attempt * (1 + 1e-6), rate=rate, carry=carry,
                 kind=kind)
    sensitive = np.abs(bump / again - 1) > 1e-8  # a 1e-6 vol change moves the price visibly
    assert sensitive.sum() > 0.5 * p.size
    assert np.max(np.abs(attempt[sensitive] / careful[sensitive] - 1)) < 1e-9


def test_attempt_converges_in_a_few_steps_on_ordinary_chains():
    # listed-option-like inputs (T 1 week..2 years, vol 10%..80%, strikes within 2 sd): nearly
    # every row converges in the vectorised attempt, 99% within 6 steps
    args = _rows(3000, 33, t_min=7 / 365, t_max=2.0, vol_min=0.1, vol_max=0.8, moneyness=4.0)
    steps = _attempt_states(*args)
    assert (steps > 0).mean() > 0.97
    assert np.percentile(steps[steps > 0], 99) <= 6


def _attempt_ends(p, spot, strike, t, rate, carry, kind):
    # the attempt's last state and total vol per row (CAREFUL for rows it does not start), and
    # whether its last step left s where it was (a value it could not use: resume from there)
    state = np.full(p.size, _iv.CAREFUL)
    total_vol = np.full(p.size, math.nan)
    stayed = np.zeros(p.size, bool)
    for i in range(p.size):
        x, beta, b_max, s, plain = _iv.attempt_start(p[i], spot[i], strike[i], t[i], rate[i],
                                                     carry[i], 1.0 if kind[i] == 1 else -1.0)
        lo, hi, side, target = 0.0, math.inf, 1.0, 0.0
        for step in range(_iv.ATTEMPT_STEPS if plain else 0):
            before = s
            s, lo, hi, side, target, state[i] = _iv.attempt_step(x, beta, b_max, s, lo, hi, side,
                                                                 target, step == 0)
            stayed[i] = s == before
            if state[i] != _iv.ACTIVE:
                break
        total_vol[i] = s
    return state, total_vol, stayed


def test_polished_rows_agree_with_the_careful_solver_alone():
    # options expiring within two days, strikes far out: the attempt converges where the two
    # terms of b cancel, or meets a value there it cannot use (cancelled to nothing), and the
    # careful solver starts from its root or resumes from its last point (POLISH). The result
    # must reprice to 1e-12 and equal the careful solver started from scratch (an independent
    # path to the same root) wherever the price is sensitive to vol
    args = _rows(3000, 34, t_min=1 / 8760, t_max=2 / 365, vol_min=0.1, vol_max=0.6,
                 moneyness=16.0)
    state, _, stayed = _attempt_ends(*args)
    polished = np.flatnonzero(state == _iv.POLISH)
    assert polished.size > 500 and stayed[polished].sum() > 20
    p, spot, strike, t, rate, carry, kind = (a[polished] for a in args)
    rows = list(zip(p, spot, strike, t, rate, carry, kind, strict=True))
    vol, status = _solve_array((p, spot, strike, t, rate, carry, kind))
    assert np.all(status == _iv.OK)
    cold = np.array([_iv.implied_vol_careful(*row, math.nan)[0] for row in rows])
    again = price(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)
    assert np.max(np.abs(again / p - 1)) < 1e-12
    bump = price(spot, strike, expiry_years=t, vol=vol * (1 + 1e-6), rate=rate, carry=carry,
                 kind=kind)
    sensitive = np.abs(bump / again - 1) > 1e-8  # (in the money the time value is a sliver)
    assert sensitive.sum() > 500
    assert np.max(np.abs(vol[sensitive] / cold[sensitive] - 1)) < 1e-12


def test_careful_solver_from_any_lower_start_finds_the_same_root():
    # the warm start is a start, not an answer: from half or 1.5x the root (inside the lower
    # region) the solver reaches the cold solve's root; a start outside (0, s_c) is ignored
    args = _rows(3000, 35, t_min=1 / 8760, t_max=2 / 365, vol_min=0.1, vol_max=0.6,
                 moneyness=16.0)
    state, _, _ = _attempt_ends(*args)
    rows = [tuple(a[i] for a in args) for i in np.flatnonzero(state == _iv.POLISH)[:300]]
    for row in rows:
        cold, status = _iv.implied_vol_careful(*row, math.nan)
        assert status == _iv.OK
        spot, strike, t, carry = row[1], row[2], row[3], row[5]
        s_c = math.sqrt(2.0 * abs(math.log(spot / strike) + carry * t))
        root = cold * math.sqrt(t)
        for start in (0.5 * root, min(1.5 * root, 0.5 * (root + s_c))):
            vol, status = _iv.implied_vol_careful(*row, start)
            assert status == _iv.OK
            assert abs(vol / cold - 1) < 1e-12
        for outside in (s_c, 2.0 * s_c, -root, 0.0, math.inf):
            assert _iv.implied_vol_careful(*row, outside) == (cold, status)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction names")
def test_attempt_loop_is_vectorised():
    # a regression guard without timing: the step loop compiles to packed divisions
    fresh = njit(error_model="numpy")(_iv._attempt_steps_vector.py_func)  # uncached: inspectable
    m = 16
    lanes = [np.full(m, v) for v in (-0.1, 0.05, math.exp(-0.05), 0.4, 0.0, math.inf, 1.0, 0.0)]
    state = np.zeros(m, np.int64)
    fresh(m, *lanes, state, True)
    assert np.all(state != _iv.CAREFUL)
    assert re.search(r"\bv?divpd\b", fresh.inspect_asm(fresh.signatures[0]))
