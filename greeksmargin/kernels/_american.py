"""American options: Leisen-Reimer binomial tree, the Andersen-Lake-Offengelder fixed-point method, BAW.

Same inputs and conventions as :mod:`greeksmargin.kernels._bsm` (cost of carry ``b``). The tree
returns price, delta and gamma from its first two time steps; theta follows from the
Black-Scholes PDE in the continuation region (as QuantLib's binomial engine does); vega, rho and
carry rho are central differences of the tree price.

The fixed-point method (:func:`alo1`, the revaluation's American pricer) finds the put's
early-exercise boundary ``B(tau)`` by iterating the integral equation
``B = K exp(-(r - q) tau) N(tau, B) / D(tau, B)`` (ALO's "FP-B") on Chebyshev nodes in
``sqrt(tau)``, storing ``H = ln(B / X)^2`` with ``X = K min(1, r / q)``, and prices with the
early-exercise premium ``int_0^T [r K e^{-rt} N(-d-) - q S e^{-qt} N(-d+)](t, S / B(T - t)) dt``.
Calls use put-call symmetry ``C(S, K, r, q) = P(K, S, q, r)``. The boundary is scale-free (it is
``K`` times a function of ``r, q, vol, T``), so one boundary, tabulated with the premium's
weights at its quadrature nodes (:func:`alo_boundary`), serves every spot and strike with those
terms: pricing a spot is then one sum over 24 nodes (:func:`alo_put`). Choices (see
docs/conventions.md, "American options"): start from the BAW boundary at each node, one
Jacobi-Newton step and two plain fixed-point steps, 7 + 1 nodes, 8-point Gauss-Legendre in the
fixed-point integrals after the substitution ``tau - u = tau (1 + y)^2 / 4`` (which removes
their square-root singularity at ``u = tau``), 24 points for
the premium in ``z = sqrt(t)``. Measured against QuantLib's QdFp engine (high-precision scheme)
over r 0-10%, q 0-10%, vol 5-100%, T one day to five years, moneyness 0.8-1.2, calls and puts:
worst error 0.08% of the option value (``tests/pricing/test_american.py``).

References: Andersen, Lake & Offengelder (2016), "High-performance American option pricing",
Journal of Computational Finance 20(1); Leisen & Reimer (1996), "Binomial models for option valuation - examining and
improving convergence", Applied Mathematical Finance 3; Barone-Adesi & Whaley (1987), "Efficient
analytic approximation of American option values", Journal of Finance 42; Haug (2007), The
Complete Guide to Option Pricing Formulas, 2nd ed., sections 3.3 and 7.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._bsm import CALL, PUT, price1
from ._elementary import norm_cdf_call
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
    kind = CALL if sign > 0 else PUT
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
        cdf = norm_cdf_call(sign * d1)
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
def _baw_exponent(expiry_years: float, vol: float, rate: float, carry: float, sign: float) -> float:
    # BAW's q1 (put) / q2 (call); 2r / (vol^2 (1 - e^{-rT})) tends to 2 / (vol^2 T) as r -> 0
    n_ = 2.0 * carry / (vol * vol)
    if rate == 0.0:
        m_over_k = 2.0 / (vol * vol * expiry_years)
    else:
        m_over_k = 2.0 * rate / (vol * vol) / -math.expm1(-rate * expiry_years)
    return 0.5 * (-(n_ - 1.0) + sign * math.sqrt((n_ - 1.0) ** 2 + 4.0 * m_over_k))


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
    q = _baw_exponent(expiry_years, vol, rate, carry, sign)
    s_star = _critical_price(strike, expiry_years, vol, rate, carry, sign, q)
    if sign * (spot - s_star) >= 0.0:
        return sign * (spot - strike)
    sd = vol * math.sqrt(expiry_years)
    d1 = (math.log(s_star / strike) + (carry + 0.5 * vol * vol) * expiry_years) / sd
    a = sign * (s_star / q) * (1.0 - math.exp((carry - rate) * expiry_years) * norm_cdf_call(sign * d1))
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


# --- Andersen-Lake-Offengelder fixed point -------------------------------------------------------
ALO_NODES = 7  # Chebyshev intervals in sqrt(tau): ALO_NODES + 1 boundary values
ALO_FIXED_POINT_STEPS = 2  # plain steps after the Jacobi-Newton step
DOUBLE_BOUNDARY_STEPS = 801  # tree steps where the exercise region has two boundaries
_FP_X, _FP_W = np.polynomial.legendre.leggauss(8)
ALO_PREMIUM_NODES = 24  # Gauss-Legendre nodes of the premium integral in sqrt(t)
ALO_TABLE_ROWS = 5  # boundary, vol sqrt(t), carry t, the two premium weights (alo_boundary)
_PREMIUM_X, _PREMIUM_W = np.polynomial.legendre.leggauss(ALO_PREMIUM_NODES)
_CHEB_Z = -np.cos(np.arange(ALO_NODES + 1) * np.pi / ALO_NODES)  # second kind, -1 .. 1
_CHEB_W = np.array([(-1.0) ** i * (0.5 if i in (0, ALO_NODES) else 1.0)
                    for i in range(ALO_NODES + 1)])  # barycentric weights
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@scalar_jit
def _boundary_at(h: np.ndarray, tau: float, expiry_years: float) -> float:
    # B(tau) / X from the interpolated H at z = 2 sqrt(tau / T) - 1 (barycentric formula)
    z = 2.0 * math.sqrt(tau / expiry_years) - 1.0 if tau > 0.0 else -1.0
    num = 0.0
    den = 0.0
    for i in range(ALO_NODES + 1):
        dz = z - _CHEB_Z[i]
        if dz == 0.0:
            num = h[i]
            den = 1.0
            break
        w = _CHEB_W[i] / dz
        num += w * h[i]
        den += w
    hv = num / den
    return math.exp(-math.sqrt(hv if hv > 0.0 else 0.0))


@scalar_jit
def alo_boundary(expiry_years: float, vol: float, rate: float, dividend: float,
                 table: np.ndarray) -> None:
    """Tabulate the early-exercise premium of a unit-strike American put (``rate, vol, T > 0``).

    Fills ``table`` (shape ``(ALO_TABLE_ROWS, n)``, one column per premium quadrature node
    ``t_k``): the boundary ``B(T - t_k) / K``, ``vol sqrt(t_k)``, ``(r - q) t_k`` and the weights
    of the two premium terms, so that pricing at any spot and strike (:func:`alo_put`) is a sum
    over the nodes. The boundary comes from :func:`_fixed_point`.
    """
    h = np.empty(ALO_NODES + 1)
    x_max = _fixed_point(expiry_years, vol, rate, dividend, h)
    carry = rate - dividend
    half = 0.5 * math.sqrt(expiry_years)
    for k in range(_PREMIUM_X.size):  # t = z^2, dt = 2 z dz
        z = half * (1.0 + _PREMIUM_X[k])
        t = z * z
        weight = half * _PREMIUM_W[k] * 2.0 * z
        table[0, k] = x_max * _boundary_at(h, expiry_years - t, expiry_years)
        table[1, k] = vol * z
        table[2, k] = carry * t
        table[3, k] = weight * rate * math.exp(-rate * t)
        table[4, k] = weight * dividend * math.exp(-dividend * t)


@scalar_jit
def _fixed_point(expiry_years: float, vol: float, rate: float, dividend: float,
                 h: np.ndarray) -> float:
    # the boundary of a unit-strike put: fills h (ALO_NODES + 1 values of ln(B / X)^2 at the
    # Chebyshev nodes) and returns X = min(1, rate / dividend); B(tau) = X exp(-sqrt(H))
    x_max = rate / dividend if dividend > rate else 1.0
    carry = rate - dividend
    h[0] = 0.0
    for i in range(1, ALO_NODES + 1):  # start: BAW's critical price at each node
        tau = 0.25 * expiry_years * (1.0 + _CHEB_Z[i]) ** 2
        b = _critical_price(1.0, tau, vol, rate, carry, -1.0,
                            _baw_exponent(tau, vol, rate, carry, -1.0))
        b = b if 0.0 < b < x_max else x_max
        h[i] = math.log(b / x_max) ** 2
    y = np.empty(ALO_NODES + 1)
    y[0] = 0.0
    for step in range(ALO_FIXED_POINT_STEPS + 1):
        for i in range(1, ALO_NODES + 1):
            tau = 0.25 * expiry_years * (1.0 + _CHEB_Z[i]) ** 2
            b = x_max * _boundary_at(h, tau, expiry_years)
            n_int = 0.0
            d_int = 0.0
            for k in range(_FP_X.size):  # u = tau - m, m = tau (1 + y)^2 / 4
                y1 = 1.0 + _FP_X[k]
                m = 0.25 * tau * y1 * y1
                u = tau - m
                weight = _FP_W[k] * 0.5 * tau * y1
                sd = vol * math.sqrt(m)
                d_plus = (math.log(b / (x_max * _boundary_at(h, u, expiry_years)))
                          + carry * m) / sd + 0.5 * sd
                n_int += weight * math.exp(rate * u) * norm_cdf_call(d_plus - sd)
                d_int += weight * math.exp(dividend * u) * norm_cdf_call(d_plus)
            sd = vol * math.sqrt(tau)
            d_plus = (math.log(b) + carry * tau) / sd + 0.5 * sd
            numerator = norm_cdf_call(d_plus - sd) + rate * n_int
            denominator = norm_cdf_call(d_plus) + dividend * d_int
            alpha = math.exp(-carry * tau)
            f = alpha * numerator / denominator
            if step == 0:  # Jacobi-Newton: solve b = f(b) with f's slope in its local terms
                dn = _INV_SQRT_2PI * math.exp(-0.5 * (d_plus - sd) ** 2) / (b * sd)
                dd = _INV_SQRT_2PI * math.exp(-0.5 * d_plus * d_plus) / (b * sd)
                slope = alpha * (dn / denominator - dd * numerator / (denominator * denominator))
                f = b - (f - b) / (slope - 1.0)
            f = f if 0.0 < f < x_max else (x_max if f >= x_max else b)
            y[i] = math.log(f / x_max) ** 2
        for i in range(ALO_NODES + 1):
            h[i] = y[i]
    return x_max


@scalar_jit
def alo_put(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
            dividend: float, table: np.ndarray) -> float:
    """American put from its tabulated premium (:func:`alo_boundary`): European + premium, at least K - S."""
    european = price1(spot, strike, expiry_years, vol, rate, rate - dividend, PUT)
    log_spot_strike = math.log(spot / strike)
    premium = 0.0
    for k in range(table.shape[1]):
        sd = table[1, k]
        d_plus = (log_spot_strike - math.log(table[0, k]) + table[2, k]) / sd + 0.5 * sd
        premium += (strike * table[3, k] * norm_cdf_call(sd - d_plus)
                    - spot * table[4, k] * norm_cdf_call(-d_plus))
    value = european + (premium if premium > 0.0 else 0.0)
    exercise = strike - spot
    return value if value > exercise else exercise


@scalar_jit
def alo_regime(rate: float, carry: float, kind: int) -> int:
    """Return 0 if never exercised early (European), 1 for the fixed point, 2 for two boundaries (tree).

    In put terms (a call is the put with strike and spot, rate and yield swapped): a put with
    ``r > 0`` has one boundary; with ``r <= 0`` it is never exercised early unless ``q < r < 0``.
    """
    dividend = rate - carry
    r, q = (rate, dividend) if kind == 2 else (dividend, rate)
    if r > 0.0:
        return 1
    if r < 0.0 and q < r:
        return 2
    return 0


@scalar_jit
def alo_value(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
              carry: float, kind: int, table: np.ndarray) -> float:
    """American value in regime 1 of :func:`alo_regime`, from the table of ``alo_boundary``.

    The table must be the one for ``(T, vol, r, q)`` of the put (for a call: ``(T, vol, q, r)``).
    """
    dividend = rate - carry
    if kind == 2:
        return alo_put(spot, strike, expiry_years, vol, rate, dividend, table)
    if not spot > 0.0:
        return 0.0
    return alo_put(strike, spot, expiry_years, vol, dividend, rate, table)


@scalar_jit
def alo1(spot: float, strike: float, expiry_years: float, vol: float, rate: float, carry: float,
         kind: int) -> float:
    """American price by the fixed-point method (every regime: European, fixed point, tree)."""
    if not (expiry_years > 0.0 and vol > 0.0):
        return deterministic1(spot, strike, expiry_years, rate, carry, kind)
    regime = alo_regime(rate, carry, kind)
    if regime == 0:
        return price1(spot, strike, expiry_years, vol, rate, carry, kind)
    if regime == 2:
        return tree1(spot, strike, expiry_years, vol, rate, carry, kind, DOUBLE_BOUNDARY_STEPS)[0]
    table = np.empty((ALO_TABLE_ROWS, ALO_PREMIUM_NODES))
    dividend = rate - carry
    if kind == 2:
        alo_boundary(expiry_years, vol, rate, dividend, table)
    else:
        alo_boundary(expiry_years, vol, dividend, rate, table)
    return alo_value(spot, strike, expiry_years, vol, rate, carry, kind, table)


@array_jit(f"void({_IN}, f8[::1], i8, i8)")
def alo_range(spot, strike, expiry_years, vol, rate, carry, kind, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute, serially, ``out[i] = alo1(...)`` for ``start <= i < stop``."""
    for i in range(start, stop):
        out[i] = alo1(spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i], kind[i])


@parallel_jit(f"void({_IN}, f8[::1], i8)")
def alo_parallel(spot, strike, expiry_years, vol, rate, carry, kind, out, n_chunks):  # type: ignore[no-untyped-def]
    """Parallel over ``n_chunks`` contiguous chunks of :func:`alo_range`."""
    n = out.shape[0]
    for c in prange(n_chunks):
        alo_range(spot, strike, expiry_years, vol, rate, carry, kind, out, c * n // n_chunks,
                  (c + 1) * n // n_chunks)
