"""Implied volatility of European options under the generalised Black-Scholes model.

The price is normalised to the out-of-the-money Black function ``b(x, s)`` of
:mod:`greeksmargin.kernels._bsm` (``x = -|ln(F/K)|``, total vol ``s = vol sqrt(T)``; in-the-money
prices lose their forward intrinsic value first, by put-call parity). ``b`` has one inflection point,
at ``s_c = sqrt(2|x|)``, which splits the solve into two regions as in Jaeckel's "Let's Be Rational":

- below ``b(s_c)``: Halley iterations on ``ln b(s) - ln beta`` (concave; the price can be 1e-300);
- above: Halley iterations on ``ln(b_max - b(s)) - ln(b_max - beta)`` (the vega vanishes as the
  price approaches its maximum ``b_max = exp(x/2)``, but this objective stays well-scaled).

Both start at ``s_c`` and keep a bracket; a step that leaves the bracket is replaced by bisection.
Status codes are those of :class:`greeksmargin.enums.IVStatus`.

The array kernel runs these iterations vectorised first (:func:`attempt_step`: straight-line
code, one lane per option, ``CHUNK`` options at a time, at most ``ATTEMPT_STEPS`` steps), with
``b`` and ``b_max - b`` written as vega times Mills ratios (no tail underflows before vega does)
and, below the inflection point, Jaeckel's objective ``1 / ln beta - 1 / ln b(s)``. A lane
leaves the attempt when it converges by the same tests at a point where its value is accurate,
or when its price is not one the attempt can solve (expired, at or outside the no-arbitrage
bounds, non-finite, a value outside the normal range); those, and lanes not converged within
``ATTEMPT_STEPS``, are solved by the careful scalar solver (:func:`implied_vol_careful`). A lane
that converges where its value is not accurate (below the inflection point, the two terms of
``b`` cancelling: short expiries far from the money) is ``POLISH``ed: the careful solver starts
from the attempt's root, in the lower region, and its first Householder step on the accurate
``b`` usually ends it (one evaluation of ``b`` instead of a whole solve). A lane whose value
below the inflection point leaves the normal range (cancelled to nothing, or underflowed) is
``POLISH``ed from the point it reached.
:func:`implied_vol1` runs the same attempt first, so a row's result does not depend on whether
it was solved alone or in an array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._bsm import CANCELLATION_LIMIT, INV_SQRT_2PI, normalized_otm_call
from ._elementary import (
    SMALLEST_NORMAL,
    exp_simd,
    gauss,
    inline_jit,
    log_positive,
    log_simd,
    mills_ratio_pair,
    norm_cdf,
)
from ._jit import array_jit, parallel_jit, scalar_jit

OK = 0
BELOW_INTRINSIC = 1
ABOVE_MAXIMUM = 2
NOT_CONVERGED = 3
UNDETERMINED = 4
MAX_ITERATIONS = 100
STEP_RTOL = 4.0 * 2.220446049250313e-16
LAST_STEP_RTOL = 1e-6  # a Householder step this small (relative) is the last one needed
SQRT_2PI = math.sqrt(2.0 * math.pi)
# the vectorised attempt: options per vectorised loop, steps before the careful solver takes over,
# and a lane's state (still iterating, converged, left to the careful solver, or left to it to
# start from the lane's s: a root whose value was inaccurate, or where the value failed)
CHUNK = 128
ATTEMPT_STEPS = 8
LANE_GROUP = 8  # the active lanes are packed and padded to a multiple of this (one AVX-512 vector)
ACTIVE = 0
CONVERGED = 1
CAREFUL = 2
POLISH = 3


@scalar_jit
def _otm_excess(x: float, s: float) -> float:
    # b_max - b(x, s) = exp(x/2) N(-d1) + exp(-x/2) N(d2): two positive terms, no cancellation
    d1 = x / s + 0.5 * s
    return math.exp(0.5 * x) * norm_cdf(-d1) + math.exp(-0.5 * x) * norm_cdf(d1 - s)


@scalar_jit
def normalized_total_vol(beta: float, x: float, lower_start: float) -> tuple[float, int]:
    """Total vol ``s`` with ``b(x, s) = beta`` for ``x <= 0`` and ``0 < beta < exp(x/2)``.

    ``lower_start``: NaN to start at the inflection point ``s_c``; else a total vol in
    ``(0, s_c)`` below the inflection point, usually near the root (the attempt's root where its
    value was inaccurate, or the point where its value left the normal range): the iteration
    starts there, with the bracket ``(0, s_c)``.
    """
    b_max = math.exp(0.5 * x)
    s_c = math.sqrt(-2.0 * x)
    if 0.0 < lower_start < s_c:
        lower = True
        s = lower_start
        b_c = normalized_otm_call(x, s)  # the price at the start
    else:
        b_c = normalized_otm_call(x, s_c) if s_c > 0.0 else 0.0  # the price at the start, s_c
        lower = s_c > 0.0 and beta < b_c
        s = s_c if s_c > 0.0 else math.sqrt(2.0 * math.pi) * beta
    if lower:
        lo, hi = 0.0, s_c
        target = math.log(beta)
    else:
        lo, hi = s_c, math.inf
        target = math.log(b_max - beta)
    for iteration in range(MAX_ITERATIONS):
        vega = INV_SQRT_2PI * math.exp(-0.5 * (x * x / (s * s) + 0.25 * s * s))  # db/ds
        curvature = x * x / (s * s * s) - 0.25 * s  # (d2b/ds2) / (db/ds)
        # (d3b/ds3) / (db/ds), for the third-order (Householder) step
        third = curvature * curvature - 3.0 * (x / (s * s)) ** 2 - 0.25
        if lower:
            value = b_c if iteration == 0 else normalized_otm_call(x, s)
            if value <= 0.0:  # underflow: the root is to the right
                lo = s
                s_new = 0.5 * (lo + hi)
                if s_new == s:
                    return s, NOT_CONVERGED
                s = s_new
                continue
            h = math.log(value) - target  # increasing in s
            g1 = vega / value  # dh/ds; halley and hh3: the second and third derivatives / g1
            halley = curvature - g1
            hh3 = third - 3.0 * curvature * g1 + 2.0 * g1 * g1
        else:
            excess = _otm_excess(x, s)
            if excess <= 0.0:
                hi = s
                s_new = 0.5 * (lo + hi)
                if s_new == s:
                    return s, NOT_CONVERGED
                s = s_new
                continue
            h = target - math.log(excess)  # increasing in s
            g1 = vega / excess
            halley = curvature + g1
            hh3 = third + 3.0 * curvature * g1 + 2.0 * g1 * g1
        if h == 0.0:
            return s, OK
        if h < 0.0:
            lo = s
        else:
            hi = s
        newton = -h / g1
        # Householder's third-order step newton (1 + halley newton / 2) / (1 + newton (halley +
        # hh3 newton / 6)); Halley's where that is ill-conditioned, Newton's where both are
        numerator = 1.0 + 0.5 * halley * newton
        denominator = 1.0 + newton * (halley + hh3 * newton / 6.0)
        fourth_order = numerator > 0.5 and denominator > 0.5
        if fourth_order:
            step = newton * numerator / denominator
        else:
            step = newton / numerator if numerator > 0.5 else newton
        s_new = s + step
        if not (lo < s_new < hi):
            s_new = 0.5 * (lo + hi) if hi < math.inf else 2.0 * s
            fourth_order = False
        if abs(s_new - s) <= STEP_RTOL * s:
            return s_new, OK
        if fourth_order and abs(step) <= LAST_STEP_RTOL * s:
            # the error after a fourth-order step is about the step to the fourth power (times a
            # moderate constant): below rounding already, so no confirming iteration
            return s_new, OK
        s = s_new
    return s, NOT_CONVERGED


@inline_jit
def attempt_start(price: float, spot: float, strike: float, expiry_years: float, rate: float,
                  carry: float, sign: float) -> tuple[float, float, float, float, bool]:
    """Set up one implied-vol attempt.

    Straight-line set-up of the attempt: ``(x, beta, b_max, s0, plain)`` as in
    :func:`implied_vol1` (``x = -|ln(F/K)|``, ``beta`` the normalised time value, ``b_max =
    exp(x/2)``, ``s0`` the starting total vol); ``plain`` is False where the careful path must
    decide (expired, non-finite, at or outside the no-arbitrage bounds, extreme ``S/K``, ``beta``
    or ``b_max - beta`` below the normal range).
    """
    t = expiry_years
    discount = exp_simd(-rate * t)
    forward = spot * exp_simd(carry * t)
    undiscounted = price / discount
    moneyness = sign * (forward - strike)
    intrinsic = moneyness if moneyness > 0.0 else 0.0
    maximum = forward if sign > 0.0 else strike
    ratio = spot / strike
    x = -abs(log_simd(ratio) + carry * t)
    beta = (undiscounted - intrinsic) / math.sqrt(forward * strike)
    b_max = exp_simd(0.5 * x)
    plain = ((t > 0.0) & (t < math.inf) & (ratio >= SMALLEST_NORMAL) & (ratio < math.inf)
             & (undiscounted < maximum) & (beta >= SMALLEST_NORMAL) & (beta < b_max)
             & (b_max - beta >= SMALLEST_NORMAL))
    s0 = math.sqrt(-2.0 * x) if x < 0.0 else SQRT_2PI * beta
    return x, beta, b_max, s0, plain


@inline_jit
def attempt_step(x: float, beta: float, b_max: float, s: float, lo: float, hi: float,
                 side: float, target: float, first: bool
                 ) -> tuple[float, float, float, float, float, int]:
    """One Householder step of :func:`normalized_total_vol` as straight-line code.

    ``side`` -1 below the inflection point (objective ``ln b(s) - ln beta``), +1 above (``ln(b_max - beta) - ln(b_max -
    b(s))``), chosen on the ``first`` step from ``b(s_c)``, which also sets ``target`` and the bracket ``(lo, hi)``.
    Returns the new ``(s, lo, hi, side, target, state)``; ``state`` is ``CAREFUL`` where this step's value is outside
    the normal range above the inflection point (the careful solver starts over) and ``POLISH`` below it, where the
    careful solver then starts from the returned ``s``: the new one where the step converged on a value that may not be
    accurate (too much cancellation), the unchanged one where the value was outside the normal range.
    """
    d1 = x / s + 0.5 * s
    u = s - d1  # -d2 >= |d1| since x <= 0
    r1, r2 = mills_ratio_pair(abs(d1), u)  # Mills ratios R(|d1|), R(-d2): no cancellation yet
    vega = INV_SQRT_2PI * gauss(abs(d1)) * b_max  # db/ds = exp(x/2) n(d1) = exp(-x/2) n(d2)
    # b = exp(x/2) N(d1) - exp(-x/2) N(d2) and b_max - b with each normal tail N(-a) = n(a) R(a)
    # in units of vega: below the inflection point (d1 < 0) b = vega (R(-d1) - R(-d2)), whose
    # relative error is the cancellation (R(-d1) + R(-d2)) / (R(-d1) - R(-d2)) times a few ulp
    value = vega * (r1 - r2) if d1 < 0.0 else b_max - vega * (r1 + r2)
    excess = vega * (r1 + r2) if d1 >= 0.0 else (b_max - vega * r1) + vega * r2
    if first:
        lower = (x < 0.0) & (beta < value)
        side = -1.0 if lower else 1.0
        target = log_simd(beta if lower else b_max - beta)
        lo = 0.0 if lower or x == 0.0 else s
        hi = s if lower else math.inf
    lower = side < 0.0
    here = value if lower else excess
    # error budget as the pricer's (plain_formula_is_accurate): the rounding of the Gaussian's
    # argument (about u^2 ulp) plus the cancellation, within CANCELLATION_LIMIT ulp. Only the
    # point the attempt converges on must be accurate: an earlier inaccurate value only bends
    # one step, and the bracket holds
    accurate = ~lower | ((1.0 + u * u) * (r1 - r2) + 2.0 * (r1 + r2)
                         < CANCELLATION_LIMIT * (r1 - r2))
    usable = (here >= SMALLEST_NORMAL) & (here < math.inf)
    log_here = log_simd(here)
    h = side * (target - log_here)  # increasing in s
    g1 = vega / here  # dh/ds; halley and hh3: the second and third derivatives / g1
    x_s2 = x / (s * s)
    curvature = x * x_s2 / s - 0.25 * s  # (d2b/ds2) / (db/ds)
    third = curvature * curvature - 3.0 * x_s2 * x_s2 - 0.25  # (d3b/ds3) / (db/ds)
    halley = curvature + side * g1
    hh3 = third + side * 3.0 * curvature * g1 + 2.0 * g1 * g1
    lo = s if h < 0.0 else lo
    hi = s if h > 0.0 else hi
    newton = -h / g1
    # below the inflection point the step is taken on 1 / ln beta - 1 / ln b(s) (Jaeckel's
    # objective for low prices: ln b ~ -x^2 / (2 s^2) there, which Householder steps on ln b cross
    # only slowly, growing s by half a step at a time); same sign, same root
    w = g1 / log_here if lower else 0.0
    newton = newton * (log_here / target if lower else 1.0)
    hh3 = hh3 - 6.0 * halley * w + 6.0 * w * w
    halley = halley - 2.0 * w
    numerator = 1.0 + 0.5 * halley * newton
    denominator = 1.0 + newton * (halley + hh3 * newton / 6.0)
    fourth_order = (numerator > 0.5) & (denominator > 0.5)
    # Householder's third-order step, Halley's where that is ill-conditioned, Newton's where both
    # are: newton * top / bottom with one division
    top = numerator if fourth_order else 1.0
    bottom = denominator if fourth_order else (numerator if numerator > 0.5 else 1.0)
    step = newton * top / bottom
    s_new = s + step
    inside = (lo < s_new) & (s_new < hi)
    # a step within rounding of s is taken as it is (s itself may be the bracket's end by then);
    # another step that leaves the bracket is replaced by bisection
    converged = ((h == 0.0) | (abs(step) <= STEP_RTOL * s)
                 | (fourth_order & inside & (abs(step) <= LAST_STEP_RTOL * s)))
    s_new = s_new if inside or converged else (0.5 * (lo + hi) if hi < math.inf else 2.0 * s)
    converged = converged | (abs(s_new - s) <= STEP_RTOL * s)
    # a value outside the normal range below the inflection point (the two terms of b cancelled
    # to nothing, or it underflowed): the careful solver resumes from this s
    state = (POLISH if lower else CAREFUL) if not usable else (
        (CONVERGED if accurate else POLISH) if converged else ACTIVE)
    return (s if h == 0.0 or not usable else s_new), lo, hi, side, target, state


@scalar_jit
def implied_vol1(price: float, spot: float, strike: float, expiry_years: float, rate: float,
                 carry: float, kind: int) -> tuple[float, int]:
    """Solve the implied vol of one European option price.

    Implied vol and status code of one European option price (generalised Black-Scholes):
    the vectorised path's attempt run on one lane, then, if it did not converge, the careful
    solver (:func:`implied_vol_careful`), from the attempt's ``s`` where it was ``POLISH``.
    """
    x, beta, b_max, s, plain = attempt_start(price, spot, strike, expiry_years, rate, carry,
                                             1.0 if kind == 1 else -1.0)
    if plain:
        lo, hi, side, target = 0.0, math.inf, 1.0, 0.0
        for step in range(ATTEMPT_STEPS):
            s, lo, hi, side, target, state = attempt_step(x, beta, b_max, s, lo, hi, side, target,
                                                          step == 0)
            if state == CONVERGED:
                return s / math.sqrt(expiry_years), OK
            if state == POLISH:
                return implied_vol_careful(price, spot, strike, expiry_years, rate, carry, kind,
                                           s)
            if state == CAREFUL:
                break
    return implied_vol_careful(price, spot, strike, expiry_years, rate, carry, kind, math.nan)


@scalar_jit
def implied_vol_careful(price: float, spot: float, strike: float, expiry_years: float,
                        rate: float, carry: float, kind: int,
                        lower_start: float) -> tuple[float, int]:
    """Solve the implied vol by the careful scalar solver.

    Implied vol and status code by the careful scalar solver (every status, every price down
    to 1e-300); ``lower_start`` as in :func:`normalized_total_vol` (NaN: the solver alone).
    """
    sign = 1.0 if kind == 1 else -1.0
    if expiry_years <= 0.0:
        intrinsic = max(sign * (spot - strike), 0.0)
        if price == intrinsic:
            return math.nan, UNDETERMINED
        return math.nan, (BELOW_INTRINSIC if price < intrinsic else ABOVE_MAXIMUM)
    if not (price == price and spot == spot and strike == strike and expiry_years == expiry_years
            and rate == rate and carry == carry):
        return math.nan, NOT_CONVERGED
    # the pricer's expressions (price1), so a price and its implied vol agree to rounding
    discount = exp_simd(-rate * expiry_years)
    forward = spot * exp_simd(carry * expiry_years)
    undiscounted = price / discount
    moneyness = sign * (forward - strike)
    intrinsic = moneyness if moneyness > 0.0 else 0.0
    maximum = forward if kind == 1 else strike
    if undiscounted < intrinsic:
        return math.nan, BELOW_INTRINSIC
    if undiscounted >= maximum:
        return math.nan, ABOVE_MAXIMUM
    time_value = undiscounted - intrinsic
    if time_value == 0.0:
        return 0.0, OK
    x = -abs(log_positive(spot / strike) + carry * expiry_years)
    beta = time_value / math.sqrt(forward * strike)
    if beta >= math.exp(0.5 * x):
        return math.nan, ABOVE_MAXIMUM
    s, status = normalized_total_vol(beta, x, lower_start)
    return s / math.sqrt(expiry_years), status


_IN = "f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1]"


@scalar_jit
def _attempt_start_vector(price, spot, strike, expiry_years, rate, carry, kind, x, beta, b_max,  # type: ignore[no-untyped-def]
                          s, state):
    # the set-up of a chunk, vectorised: inputs are slices of the chunk's rows, state arrays CHUNK;
    # returns how many lanes are ACTIVE
    n_active = 0
    for q in range(price.size):
        xq, beta_q, b_max_q, s0, plain = attempt_start(price[q], spot[q], strike[q],
                                                       expiry_years[q], rate[q], carry[q],
                                                       1.0 if kind[q] == 1 else -1.0)
        x[q] = xq
        beta[q] = beta_q
        b_max[q] = b_max_q
        s[q] = s0  # lo, hi, side and target are set by the first step
        state[q] = ACTIVE if plain else CAREFUL
        n_active += 1 if plain else 0
    return n_active


@scalar_jit
def _attempt_steps_vector(m, x, beta, b_max, s, lo, hi, side, target, state, first):  # type: ignore[no-untyped-def]
    # one attempt_step on every lane still ACTIVE (the others keep their state); returns how many
    # remain ACTIVE. Straight-line in its own function, so LLVM vectorises it
    n_active = 0
    for q in range(m):
        active = state[q] == ACTIVE
        s1, lo1, hi1, side1, target1, state1 = attempt_step(x[q], beta[q], b_max[q], s[q], lo[q],
                                                            hi[q], side[q], target[q], first)
        s[q] = s1 if active else s[q]
        lo[q] = lo1 if active else lo[q]
        hi[q] = hi1 if active else hi[q]
        side[q] = side1 if active else side[q]
        target[q] = target1 if active else target[q]
        state[q] = state1 if active else state[q]
        n_active += 1 if active and state1 == ACTIVE else 0
    return n_active


@scalar_jit
def _retire(m, x, beta, b_max, s, lo, hi, side, target, state, row, final_s, final_state,  # type: ignore[no-untyped-def]
            everything):
    # Lanes 0 <= q < m, lane q working on row[q] of the chunk (-1: a padding copy). Records the
    # lanes that have left the attempt (or every lane, if everything) in final_s / final_state by
    # row, packs the active ones to the front and pads them with copies of the first to a whole
    # number of LANE_GROUPs; returns the new lane count. A chunk's last steps often have a few
    # lanes left; packed, the steps cost what those lanes need, not the whole chunk
    n = 0
    for q in range(m):
        r = row[q]
        if r < 0:
            continue
        if everything or state[q] != ACTIVE:
            final_s[r] = s[q]
            final_state[r] = state[q]
            continue
        x[n] = x[q]
        beta[n] = beta[q]
        b_max[n] = b_max[q]
        s[n] = s[q]
        lo[n] = lo[q]
        hi[n] = hi[q]
        side[n] = side[q]
        target[n] = target[q]
        state[n] = state[q]
        row[n] = r
        n += 1
    if n == 0:
        return 0
    padded = (n + LANE_GROUP - 1) // LANE_GROUP * LANE_GROUP
    for q in range(n, padded):
        x[q] = x[0]
        beta[q] = beta[0]
        b_max[q] = b_max[0]
        s[q] = s[0]
        lo[q] = lo[0]
        hi[q] = hi[0]
        side[q] = side[0]
        target[q] = target[0]
        state[q] = state[0]
        row[q] = -1
    return padded


@array_jit(f"void({_IN}, f8[::1], i1[::1], i8, i8)")
def implied_vol_range(price, spot, strike, expiry_years, rate, carry, kind, out, status, start,  # type: ignore[no-untyped-def]
                      stop):
    """Solve, serially, implied vol and status for rows ``start <= i < stop``; all arrays shape (n,).

    ``CHUNK`` rows at a time: the attempt vectorised over the chunk (set-up, then up to
    ``ATTEMPT_STEPS`` steps on the lanes still active, packed together once a step leaves half
    of them or fewer, stopping once none is active), then :func:`implied_vol_careful` for the
    rows the attempt did not solve (from the lane's ``s`` where it is ``POLISH``). Equal to
    :func:`implied_vol1` row by row (a lane's arithmetic does not depend on its place).
    """
    x = np.empty(CHUNK)
    beta = np.empty(CHUNK)
    b_max = np.empty(CHUNK)
    s = np.empty(CHUNK)
    lo = np.empty(CHUNK)
    hi = np.empty(CHUNK)
    side = np.empty(CHUNK)
    target = np.empty(CHUNK)
    state = np.empty(CHUNK, np.int64)
    row = np.empty(CHUNK, np.int64)
    final_s = np.empty(CHUNK)
    final_state = np.empty(CHUNK, np.int64)
    for chunk_start in range(start, stop, CHUNK):
        chunk_stop = min(chunk_start + CHUNK, stop)
        m = chunk_stop - chunk_start
        rows = slice(chunk_start, chunk_stop)
        n_active = _attempt_start_vector(price[rows], spot[rows], strike[rows],
                                         expiry_years[rows], rate[rows], carry[rows], kind[rows],
                                         x, beta, b_max, s, state)
        for q in range(m):
            row[q] = q
        lanes = m if n_active == m else _retire(m, x, beta, b_max, s, lo, hi, side, target,
                                                state, row, final_s, final_state, False)
        for step in range(ATTEMPT_STEPS):
            if lanes == 0:
                break
            n_active = _attempt_steps_vector(lanes, x, beta, b_max, s, lo, hi, side, target,
                                             state, step == 0)
            if n_active <= lanes // 2:  # packing costs a scalar pass: only when it halves
                lanes = _retire(lanes, x, beta, b_max, s, lo, hi, side, target, state, row,
                                final_s, final_state, False)
        # every lane left, done or not (still active after ATTEMPT_STEPS: the careful solver)
        _retire(lanes, x, beta, b_max, s, lo, hi, side, target, state, row, final_s,
                final_state, True)
        for q in range(m):
            i = chunk_start + q
            if final_state[q] == CONVERGED:
                out[i] = final_s[q] / math.sqrt(expiry_years[i])
                status[i] = OK
            else:
                v, code = implied_vol_careful(price[i], spot[i], strike[i], expiry_years[i],
                                              rate[i], carry[i], kind[i],
                                              final_s[q] if final_state[q] == POLISH else math.nan)
                out[i] = v
                status[i] = code


@parallel_jit(f"void({_IN}, f8[::1], i1[::1], i8)")
def implied_vol_parallel(price, spot, strike, expiry_years, rate, carry, kind, out, status,  # type: ignore[no-untyped-def]
                         n_chunks):
    """Parallel over ``n_chunks`` contiguous chunks of :func:`implied_vol_range`."""
    n = out.shape[0]
    for c in prange(n_chunks):
        implied_vol_range(price, spot, strike, expiry_years, rate, carry, kind, out, status,
                          c * n // n_chunks, (c + 1) * n // n_chunks)
