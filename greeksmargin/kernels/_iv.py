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
"""

from __future__ import annotations

import math

from numba import prange

from ._bsm import INV_SQRT_2PI, norm_cdf, normalized_otm_call
from ._elementary import exp_simd, log_positive
from ._jit import array_jit, parallel_jit, scalar_jit

OK = 0
BELOW_INTRINSIC = 1
ABOVE_MAXIMUM = 2
NOT_CONVERGED = 3
UNDETERMINED = 4
MAX_ITERATIONS = 100
STEP_RTOL = 4.0 * 2.220446049250313e-16
LAST_STEP_RTOL = 1e-6  # a Householder step this small (relative) is the last one needed


@scalar_jit
def _otm_excess(x: float, s: float) -> float:
    # b_max - b(x, s) = exp(x/2) N(-d1) + exp(-x/2) N(d2): two positive terms, no cancellation
    d1 = x / s + 0.5 * s
    return math.exp(0.5 * x) * norm_cdf(-d1) + math.exp(-0.5 * x) * norm_cdf(d1 - s)


@scalar_jit
def normalized_total_vol(beta: float, x: float) -> tuple[float, int]:
    """Total vol ``s`` with ``b(x, s) = beta`` for ``x <= 0`` and ``0 < beta < exp(x/2)``."""
    b_max = math.exp(0.5 * x)
    s_c = math.sqrt(-2.0 * x)
    b_c = normalized_otm_call(x, s_c) if s_c > 0.0 else 0.0  # the price at the start, s_c
    lower = s_c > 0.0 and beta < b_c
    if lower:
        lo, hi = 0.0, s_c
        target = math.log(beta)
    else:
        lo, hi = s_c, math.inf
        target = math.log(b_max - beta)
    s = s_c if s_c > 0.0 else math.sqrt(2.0 * math.pi) * beta
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


@scalar_jit
def implied_vol1(price: float, spot: float, strike: float, expiry_years: float, rate: float,
                 carry: float, kind: int) -> tuple[float, int]:
    """Implied vol and status code of one European option price (generalised Black-Scholes)."""
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
    s, status = normalized_total_vol(beta, x)
    return s / math.sqrt(expiry_years), status


_IN = "f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1]"


@array_jit(f"void({_IN}, f8[::1], i1[::1], i8, i8)")
def implied_vol_range(price, spot, strike, expiry_years, rate, carry, kind, out, status, start,  # type: ignore[no-untyped-def]
                      stop):
    """Serial: implied vol and status for rows ``start <= i < stop``; all arrays shape (n,)."""
    for i in range(start, stop):
        v, code = implied_vol1(price[i], spot[i], strike[i], expiry_years[i], rate[i], carry[i],
                               kind[i])
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
