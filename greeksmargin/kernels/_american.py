"""American options: Leisen-Reimer binomial tree and the Barone-Adesi-Whaley approximation.

Same inputs and conventions as :mod:`greeksmargin.kernels._bsm` (cost of carry ``b``). The tree
returns price, delta and gamma from its first two time steps; theta follows from the
Black-Scholes PDE in the continuation region (as QuantLib's binomial engine does); vega, rho and
carry rho are central differences of the tree price.

References: Leisen & Reimer (1996), "Binomial models for option valuation - examining and
improving convergence", Applied Mathematical Finance 3; Barone-Adesi & Whaley (1987), "Efficient
analytic approximation of American option values", Journal of Finance 42; Haug (2007), The
Complete Guide to Option Pricing Formulas, 2nd ed., sections 3.3 and 7.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._bsm import norm_cdf, price1
from ._jit import array_jit, parallel_jit, scalar_jit

N_AMERICAN = 7  # price, delta, gamma, theta, vega, rho, carry_rho
VOL_BUMP = 1e-4  # absolute, per 1.00 of vol
RATE_BUMP = 1e-4  # absolute, per 1.00 of rate


@scalar_jit
def _peizer_pratt(z: float, n: int) -> float:
    # Peizer-Pratt method 2 inversion of the normal CDF onto an n-step binomial (n odd)
    q = z / (n + 1.0 / 3.0 + 0.1 / (n + 1.0))
    return 0.5 + math.copysign(1.0, z) * math.sqrt(0.25 * (1.0 - math.exp(-q * q * (n + 1.0 / 6.0))))


@scalar_jit
def tree1(spot: float, strike: float, expiry_years: float, vol: float, rate: float, carry: float,
          kind: int, n_steps: int) -> tuple[float, float, float]:
    """Leisen-Reimer tree (``n_steps`` made odd): American (price, delta, gamma).

    Requires ``expiry_years > 0`` and ``vol > 0``; other cases are handled by the caller.
    """
    n = n_steps if n_steps % 2 == 1 else n_steps + 1
    sign = 1.0 if kind == 1 else -1.0
    dt = expiry_years / n
    sd = vol * math.sqrt(expiry_years)
    d2 = (math.log(spot / strike) + (carry - 0.5 * vol * vol) * expiry_years) / sd
    p = _peizer_pratt(d2, n)
    p_dash = _peizer_pratt(d2 + sd, n)
    if not (0.0 < p < 1.0 and 0.0 < p_dash < 1.0):
        # |d2| so large that the tree collapses onto one path: the deterministic value is exact
        # to machine precision; delta is its slope, gamma 0
        value, delta = _deterministic_with_delta(spot, strike, expiry_years, rate, carry, kind)
        return value, delta, 0.0
    growth = math.exp(carry * dt)
    up = growth * p_dash / p
    down = (growth - p * up) / (1.0 - p)
    discount = math.exp(-rate * dt)
    pu = discount * p
    pd = discount * (1.0 - p)
    ratio = up / down
    values = np.empty(n + 1)
    s = spot * down ** n
    for j in range(n + 1):
        values[j] = max(sign * (s - strike), 0.0)
        s *= ratio
    v2 = np.empty(3)
    v1 = np.empty(2)
    for i in range(n - 1, -1, -1):
        s = spot * down ** i
        for j in range(i + 1):
            cont = pd * values[j] + pu * values[j + 1]
            exercise = sign * (s - strike)
            values[j] = cont if cont > exercise else exercise
            s *= ratio
        if i == 2:
            v2[0], v2[1], v2[2] = values[0], values[1], values[2]
        elif i == 1:
            v1[0], v1[1] = values[0], values[1]
    s_dd, s_ud, s_uu = spot * down * down, spot * up * down, spot * up * up
    delta = (v1[1] - v1[0]) / (spot * (up - down))
    gamma = ((v2[2] - v2[1]) / (s_uu - s_ud) - (v2[1] - v2[0]) / (s_ud - s_dd)) / (0.5 * (s_uu - s_dd))
    return values[0], delta, gamma


@scalar_jit
def _critical_price(strike: float, expiry_years: float, vol: float, rate: float, carry: float,
                    sign: float, q: float) -> float:
    # Newton iteration for the BAW early-exercise boundary S* (Haug 2007, sections 3.3.2-3.3.3)
    sd = vol * math.sqrt(expiry_years)
    carry_discount = math.exp((carry - rate) * expiry_years)
    kind = 1 if sign > 0 else 2
    # seed: Haug's interpolation between S*(T=0) and S*(T=inf)
    n_ = 2.0 * carry / (vol * vol)
    m_ = 2.0 * rate / (vol * vol)
    q_inf = 0.5 * (-(n_ - 1.0) + sign * math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_))
    s_inf = strike / (1.0 - 1.0 / q_inf)
    if sign > 0:
        h = -(carry * expiry_years + 2.0 * sd) * strike / (s_inf - strike)
        s = strike + (s_inf - strike) * (1.0 - math.exp(h))
    else:
        h = (carry * expiry_years - 2.0 * sd) * strike / (strike - s_inf)
        s = s_inf + (strike - s_inf) * math.exp(h)
    for _ in range(200):
        d1 = (math.log(s / strike) + (carry + 0.5 * vol * vol) * expiry_years) / sd
        european = price1(s, strike, expiry_years, vol, rate, carry, kind)
        cdf = norm_cdf(sign * d1)
        lhs = sign * (s - strike)
        rhs = european + sign * (1.0 - carry_discount * cdf) * s / q
        slope_lhs = sign
        slope_rhs = (sign * carry_discount * cdf * (1.0 - 1.0 / q)
                     + sign * (1.0 - carry_discount * math.exp(-0.5 * d1 * d1)
                               / math.sqrt(2.0 * math.pi) * sign / sd) / q)
        step = (lhs - rhs) / (slope_lhs - slope_rhs)
        s_new = s - step
        if s_new <= 0.0:
            s_new = 0.5 * s
        if abs(s_new - s) <= 1e-12 * s:
            return s_new
        s = s_new
    return s


@scalar_jit
def deterministic1(spot: float, strike: float, expiry_years: float, rate: float, carry: float,
                   kind: int) -> float:
    """American value at zero vol (or at expiry): ``max_t exp(-r t) (sign (S exp(b t) - K))+``.

    The exercise value along the deterministic path is checked at 0, at expiry and at its one
    interior stationary point ``exp(b t) = r K / ((r - b) S)``.
    """
    sign = 1.0 if kind == 1 else -1.0
    t_end = expiry_years if expiry_years > 0.0 else 0.0
    best = sign * (spot - strike)
    late = math.exp(-rate * t_end) * sign * (spot * math.exp(carry * t_end) - strike)
    best = late if late > best else best
    if carry != 0.0 and rate != carry:
        ratio = rate * strike / ((rate - carry) * spot)
        if ratio > 0.0:
            t_star = math.log(ratio) / carry
            if 0.0 < t_star < t_end:
                mid = math.exp(-rate * t_star) * sign * (spot * math.exp(carry * t_star) - strike)
                best = mid if mid > best else best
    if best > 0.0:
        return best
    if best <= 0.0:
        return 0.0
    return best


@scalar_jit
def _deterministic_with_delta(spot: float, strike: float, expiry_years: float, rate: float,
                              carry: float, kind: int) -> tuple[float, float]:
    # zero-vol American value and its slope in spot (central difference, relative bump)
    value = deterministic1(spot, strike, expiry_years, rate, carry, kind)
    bump = 1e-6 * spot
    delta = (deterministic1(spot + bump, strike, expiry_years, rate, carry, kind)
             - deterministic1(spot - bump, strike, expiry_years, rate, carry, kind)) / (2 * bump)
    return value, delta


@scalar_jit
def baw1(spot: float, strike: float, expiry_years: float, vol: float, rate: float, carry: float,
         kind: int) -> float:
    """Price one American option by Barone-Adesi-Whaley.

    Barone-Adesi-Whaley American price; equals the European price where early exercise is
    never optimal (call with ``carry >= rate``, put with ``rate <= 0``).
    """
    sign = 1.0 if kind == 1 else -1.0
    if not (expiry_years > 0.0 and vol > 0.0):
        return deterministic1(spot, strike, expiry_years, rate, carry, kind)
    european = price1(spot, strike, expiry_years, vol, rate, carry, kind)
    if (sign > 0 and carry >= rate) or (sign < 0 and rate <= 0.0):
        return european
    n_ = 2.0 * carry / (vol * vol)
    one_minus_discount = -math.expm1(-rate * expiry_years)
    m_over_k = 2.0 * rate / (vol * vol) / one_minus_discount
    q = 0.5 * (-(n_ - 1.0) + sign * math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_over_k))
    s_star = _critical_price(strike, expiry_years, vol, rate, carry, sign, q)
    if sign * (spot - s_star) >= 0.0:
        return sign * (spot - strike)
    sd = vol * math.sqrt(expiry_years)
    d1 = (math.log(s_star / strike) + (carry + 0.5 * vol * vol) * expiry_years) / sd
    a = sign * (s_star / q) * (1.0 - math.exp((carry - rate) * expiry_years) * norm_cdf(sign * d1))
    return european + a * (spot / s_star) ** q


@scalar_jit
def american1(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
              carry: float, kind: int, n_steps: int) -> tuple[float, float, float, float, float,
                                                              float, float]:
    """American (price, delta, gamma, theta, vega, rho, carry_rho) from the Leisen-Reimer tree.

    Raw units as in :func:`greeksmargin.kernels._bsm.greeks1`; rho holds ``r - b`` fixed.
    At expiry or zero vol the value is ``max(intrinsic, European)`` and the Greeks are those of
    that payoff (delta is the step, the rest 0).
    """
    if not (expiry_years > 0.0 and vol > 0.0):
        value, delta = _deterministic_with_delta(spot, strike, expiry_years, rate, carry, kind)
        return (value, delta, 0.0, 0.0, 0.0, 0.0, 0.0)
    value, delta, gamma = tree1(spot, strike, expiry_years, vol, rate, carry, kind, n_steps)
    # theta from the Black-Scholes PDE: theta = rV - bS delta - 0.5 vol^2 S^2 gamma, which holds
    # in the continuation region; in the exercise region V = intrinsic does not change with time
    sign = 1.0 if kind == 1 else -1.0
    if value <= sign * (spot - strike):
        theta = 0.0
    else:
        theta = rate * value - carry * spot * delta - 0.5 * vol * vol * spot * spot * gamma
    dv = VOL_BUMP if vol > 2.0 * VOL_BUMP else 0.5 * vol
    vega = (tree1(spot, strike, expiry_years, vol + dv, rate, carry, kind, n_steps)[0]
            - tree1(spot, strike, expiry_years, vol - dv, rate, carry, kind, n_steps)[0]) / (2 * dv)
    # rho: rate and carry move together (yield r - b fixed)
    rho = (tree1(spot, strike, expiry_years, vol, rate + RATE_BUMP, carry + RATE_BUMP, kind,
                 n_steps)[0]
           - tree1(spot, strike, expiry_years, vol, rate - RATE_BUMP, carry - RATE_BUMP, kind,
                   n_steps)[0]) / (2 * RATE_BUMP)
    carry_rho = (tree1(spot, strike, expiry_years, vol, rate, carry + RATE_BUMP, kind, n_steps)[0]
                 - tree1(spot, strike, expiry_years, vol, rate, carry - RATE_BUMP, kind,
                         n_steps)[0]) / (2 * RATE_BUMP)
    return (value, delta, gamma, theta, vega, rho, carry_rho)


_IN = "f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1]"


@array_jit(f"void({_IN}, i8, f8[:, ::1], i8, i8)")
def american_range(spot, strike, expiry_years, vol, rate, carry, kind, n_steps, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute, serially, column ``i`` of ``out`` (shape (7, n)) = :func:`american1` for ``start <= i < stop``."""
    for i in range(start, stop):
        g = american1(spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i], kind[i],
                      n_steps)
        for k in range(N_AMERICAN):
            out[k, i] = g[k]


@parallel_jit(f"void({_IN}, i8, f8[:, ::1], i8)")
def american_parallel(spot, strike, expiry_years, vol, rate, carry, kind, n_steps, out, n_chunks):  # type: ignore[no-untyped-def]
    """Parallel over ``n_chunks`` contiguous chunks of :func:`american_range`."""
    n = out.shape[1]
    for c in prange(n_chunks):
        american_range(spot, strike, expiry_years, vol, rate, carry, kind, n_steps, out,
                       c * n // n_chunks, (c + 1) * n // n_chunks)


@array_jit(f"void({_IN}, f8[::1], i8, i8)")
def baw_range(spot, strike, expiry_years, vol, rate, carry, kind, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute, serially, ``out[i] = baw1(...)`` for ``start <= i < stop``."""
    for i in range(start, stop):
        out[i] = baw1(spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i], kind[i])
