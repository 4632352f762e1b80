"""Generalised Black-Scholes kernels with cost of carry ``b`` (Black-Scholes, Merton, Black-76, GK).

Scalar kernels (``price1``, ``greeks1``) and array kernels built on them (``*_range`` serial over a
slice, ``*_parallel`` over chunks with ``prange``). Inputs are float64; option kind is the int8 code
of :class:`greeksmargin.enums.OptionKind` (1 call, 2 put). No validation: NaN in gives NaN out.

Conventions: ``expiry_years`` in years; ``vol`` annualised decimal; ``rate`` and ``carry`` continuously
compounded. Greeks are raw derivatives (vega per 1.00 vol, theta per year of calendar time).

The time value is computed from the normalised out-of-the-money Black function
``b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2)`` (``x = ln(F/K) <= 0``,
``s = vol * sqrt(T)``), the same function the implied-vol solver inverts, so a price and its implied
vol are consistent to rounding. Where the two terms of ``b`` nearly cancel (``s`` tiny relative to the
moneyness, Jaeckel's "Let's Be Rational" region of small total volatility), ``b`` is computed instead as
``n(d1) exp(x/2) * integral_a^{a+s} (1 - t R(t)) dt`` with ``R`` the Mills ratio, which has no
cancellation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._elementary import (
    SMALLEST_NORMAL,
    exp_simd,
    inline_jit,
    log_positive,
    log_simd,
    mills_complement_positive,
    mills_ratio_positive,
    norm_cdf_call,
    norm_cdf_pair,
)
from ._jit import array_jit, parallel_jit, scalar_jit

SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
# The plain formula is used while its error amplification (1 + a + s)/s * (1 + (a + s)^2) stays below
# this (see plain_formula_is_accurate) ...
CANCELLATION_LIMIT = 2048.0
# ... and N(d2) = N(-(a + s)) stays above the subnormal range (N(-37.5) ~ 2e-308).
SUBNORMAL_D2 = 37.0
# Outside it, where s / max(a, 1) is below this, R(a) - R(a + s) is integrated, not subtracted.
QUADRATURE_RATIO = 0.1
N_GREEKS = 10  # price, delta, gamma, vega, theta, rho, carry_rho, vanna, volga, charm
# kind codes as the arrays hold them (int8): a literal 1 or 2 at a call site would make Numba
# compile the callee again for that literal (about 2 s a function on a first run)
LINEAR, CALL, PUT = np.int8(0), np.int8(1), np.int8(2)

# 5-point Gauss-Legendre nodes and weights on [-1, 1] (tuples: constants the compiler unrolls).
_GL_NODES = (-0.906179845938664, -0.5384693101056831, 0.0, 0.5384693101056831, 0.906179845938664)
_GL_WEIGHTS = (0.2369268850561891, 0.4786286704993665, 0.5688888888888889, 0.4786286704993665,
               0.2369268850561891)


@inline_jit
def norm_pdf(x: float) -> float:
    """Compute the standard normal density."""
    return INV_SQRT_2PI * exp_simd(-0.5 * x * x)


@scalar_jit
def mills_ratio(t: float) -> float:
    """Mills ratio ``R(t) = N(-t) / n(t)``, full relative accuracy for t > -2 (no underflow)."""
    if t < 0.0:
        return SQRT_HALF_PI * math.exp(0.5 * t * t) * math.erfc(t / SQRT2)
    return mills_ratio_positive(t)  # NaN too


@scalar_jit
def mills_complement(t: float) -> float:
    """``1 - t R(t)`` (= -R'(t)), accurate for all t > -2: no cancellation as t grows."""
    if t < 0.0:
        return 1.0 - t * mills_ratio(t)
    return mills_complement_positive(t)


@inline_jit
def plain_formula_is_accurate(u: float, s: float) -> bool:
    """Whether ``F N(d1) - K N(d2)`` keeps full accuracy for the out-of-the-money option.

    ``u = |ln(F/K)| / s + s / 2 = max(d1, -d2)`` (minus ``d2`` of the OTM call), ``s`` the total
    vol. Each normal tail ``N(-u)`` carries a relative error of about ``u^2 eps`` from the rounding
    of its argument, and about 3 ulp absolute near ``N = 1/2`` (:func:`norm_cdf`), hence the
    ``3 + u``; the two terms cancel by a factor of about ``R(a) / (s (1 - a R(a)))`` (``a = u - s``),
    below ``(1 + u) / s``. The plain formula is used while the product stays below
    ``CANCELLATION_LIMIT`` (measured worst 3e-13 relative against mpmath) and ``N(-u)`` is a normal
    double. NaN gives False.
    """
    return (3.0 + u) * (1.0 + u * u) < CANCELLATION_LIMIT * s and u < SUBNORMAL_D2


@scalar_jit
def normalized_otm_call(x: float, s: float) -> float:
    """Normalised Black call ``b(x, s)`` for ``x = ln(F/K) <= 0`` and total vol ``s > 0``.

    Undiscounted price divided by ``sqrt(F K)``; out of (or at) the money, so 0 < b < exp(x/2).
    Three forms, each used where it has no cancellation and no underflow: the plain formula where
    :func:`plain_formula_is_accurate`; otherwise ``b = m (R(a) - R(a+s))`` with
    ``m = n(d1) exp(x/2)`` and ``a = -d1``, the difference taken as ``int_a^{a+s} (1 - t R(t)) dt``
    (5-point Gauss-Legendre) when ``s`` is small against ``max(a, 1)``. Where
    :func:`quadrature_applies` this is :func:`quadrature_otm_call`, straight-line code that the
    array kernels run vectorised for the rows they cannot price by the plain formula.
    """
    h = x / s
    a = -h - 0.5 * s  # = -d1
    if plain_formula_is_accurate(a + s, s):
        d1 = -a
        return math.exp(0.5 * x) * norm_cdf_call(d1) - math.exp(-0.5 * x) * norm_cdf_call(d1 - s)
    if s < QUADRATURE_RATIO * max(a, 1.0):
        if a >= 0.0:
            return quadrature_otm_call(h, a, s)
        # nodes below 0 take mills_complement's other branch (erfc from the C library)
        difference = _gauss_legendre(a, s, mills_complement)
    else:
        difference = mills_ratio(a) - mills_ratio(a + s)
    return _otm_call_from_difference(h, s, difference)


@inline_jit
def quadrature_applies(a: float, s: float) -> bool:
    """Tell whether the quadrature form applies.

    Whether :func:`normalized_otm_call` takes the straight-line quadrature form
    (:func:`quadrature_otm_call`), given ``a = -x / s - s / 2 = -d1``: plain formula inaccurate,
    ``s > 0`` small against ``max(a, 1)``, and ``a >= 0`` (every node in the Mills fit's
    range). False for NaN. Branch-free.
    """
    return ((s > 0.0) & (a >= 0.0) & (s < QUADRATURE_RATIO * max(a, 1.0))
            & (not plain_formula_is_accurate(a + s, s)))


@inline_jit
def quadrature_otm_call(h: float, a: float, s: float) -> float:
    """Price the normalised out-of-the-money call by quadrature.

    :func:`normalized_otm_call` where :func:`quadrature_applies`, given ``h = x / s`` and
    ``a = -h - s / 2``: straight-line (vectorises), bitwise the value the scalar function
    returns there.
    """
    return _otm_call_from_difference(h, s, _gauss_legendre(a, s, mills_complement_positive))


@inline_jit
def _gauss_legendre(a: float, s: float, integrand) -> float:  # type: ignore[no-untyped-def]
    # int_a^{a+s} integrand(t) dt, 5-point Gauss-Legendre (the loop over constants unrolls)
    half = 0.5 * s
    total = 0.0
    for j in range(5):
        total += _GL_WEIGHTS[j] * integrand(a + half * (1.0 + _GL_NODES[j]))
    return half * total


@inline_jit
def _otm_call_from_difference(h: float, s: float, difference: float) -> float:
    # b = n(d1) exp(x/2) (R(a) - R(a + s)) = exp(-(h^2 + s^2/4) / 2) / sqrt(2 pi) * difference,
    # h = x / s
    return INV_SQRT_2PI * exp_simd(-0.5 * (h * h + 0.25 * s * s)) * difference


@scalar_jit
def _positive_part(m: float) -> float:
    # max(m, 0) that keeps NaN (Python's max would turn NaN into 0.0)
    if m > 0.0:
        return m
    if m <= 0.0:
        return 0.0
    return m


@scalar_jit
def _step(m: float) -> float:
    # limit of N(theta d1) as total vol -> 0: 1 in the money, 1/2 at the money, 0 out; NaN stays NaN
    if m > 0.0:
        return 1.0
    if m < 0.0:
        return 0.0
    if m == 0.0:
        return 0.5
    return m


@scalar_jit
def price1(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
           carry: float, kind: int) -> float:
    """Price of one European option; at or past expiry (``expiry_years <= 0``) the intrinsic value."""
    if expiry_years <= 0.0:
        return _positive_part((1.0 if kind == 1 else -1.0) * (spot - strike))
    forward, log_moneyness, total_vol, discount = european_parts(spot, strike, expiry_years, vol,
                                                                 rate, carry)
    return price_from_parts(forward, strike, log_moneyness, total_vol, discount, kind)


@inline_jit
def european_parts(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
                   carry: float) -> tuple[float, float, float, float]:
    """Compute the parts of a European price.

    ``(F, ln(F/K), vol sqrt(T), e^{-rT})`` for ``T > 0``: :func:`price_from_parts`'s inputs,
    by the expressions of the vectorised passes, so every path gives the same bits.
    """
    forward = spot * exp_simd(carry * expiry_years)
    return (forward, log_positive(spot / strike) + carry * expiry_years,
            vol * math.sqrt(expiry_years), exp_simd(-rate * expiry_years))


@scalar_jit
def price_from_parts(forward: float, strike: float, log_moneyness: float, total_vol: float,
                     discount: float, kind: int) -> float:
    """Price one European option from its parts.

    Price of one European option (``T > 0``) from its parts: forward ``F = S e^{bT}``,
    ``log_moneyness = ln(F/K)``, ``total_vol = vol sqrt(T)`` and ``discount = e^{-rT}``.

    The revaluation kernel calls this with the parts that do not change across scenarios
    computed once per position (no log, exp or sqrt per scenario in the common case).
    """
    sign = 1.0 if kind == 1 else -1.0
    moneyness = sign * (forward - strike)
    if total_vol == 0.0:
        return discount * _positive_part(moneyness)
    value, accurate = plain_price(forward, strike, forward / strike, log_moneyness, total_vol,
                                  discount, sign)
    if accurate:
        return value
    return price_from_normalized(forward, strike, discount, sign,
                                 normalized_otm_call(-abs(log_moneyness), total_vol))


@inline_jit
def price_from_normalized(forward: float, strike: float, discount: float, sign: float,
                          normalized: float) -> float:
    """Price from the normalised out-of-the-money call.

    Price from the normalised out-of-the-money call ``b(-|ln(F/K)|, s)``: discount x
    (intrinsic value + ``sqrt(F K) b``), as :func:`price_from_parts` returns it off the plain
    formula.
    """
    moneyness = sign * (forward - strike)
    time_value = math.sqrt(forward * strike) * normalized
    return discount * (moneyness + time_value) if moneyness > 0.0 else discount * time_value


@scalar_jit
def quadrature_price_range(n, forward, strike, log_moneyness, total_vol, discount, sign, out,  # type: ignore[no-untyped-def]
                           applies):
    """Price the gathered rows the plain formula cannot price.

    Vectorised :func:`price_from_parts` for the rows the plain formula cannot price, where the
    quadrature form applies, rows ``0 <= i < n`` (no slices: a call per chunk of a revaluation
    is cheap): ``applies[i]`` whether :func:`quadrature_applies` to row ``i``
    and, where it does, ``out[i]`` = :func:`price_from_parts` of the row (same bits); elsewhere
    ``out[i]`` is meaningless and the caller prices the row itself. ``sign`` is 1.0 for a call,
    -1.0 for a put. The array kernels gather their flagged rows here, so a book of short
    expiries under large moves (nearly half its rows flagged) stays vectorised.
    """
    for i in range(n):
        s = total_vol[i]
        h = -abs(log_moneyness[i]) / s
        a = -h - 0.5 * s
        applies[i] = quadrature_applies(a, s)
        out[i] = price_from_normalized(forward[i], strike[i], discount[i], sign[i],
                                       quadrature_otm_call(h, a, s))


@inline_jit
def plain_price(forward: float, strike: float, forward_over_strike: float, log_moneyness: float,
                total_vol: float, discount: float, sign: float) -> tuple[float, bool]:
    """Price by the plain formula and flag its accuracy.

    ``discount * sign * (F N(sign d1) - K N(sign d2))`` and whether it is accurate
    (:func:`plain_formula_is_accurate`; False for zero or NaN total vol).

    Straight-line code: the revaluation kernel evaluates it for a whole chunk of positions in one
    vectorised loop and sends only the inaccurate ones to :func:`price_from_parts`, which returns
    this same value wherever it is accurate. ``forward_over_strike`` = F / K gives the second
    Gaussian factor from the first (``n(d2) = n(d1) F / K``), so one exponential serves both terms.
    """
    d1, d2, accurate = plain_arguments(log_moneyness, total_vol)
    return (plain_value(forward, strike, forward_over_strike, sign * d1, sign * d2, discount, sign),
            accurate)


@inline_jit
def plain_arguments(log_moneyness: float, total_vol: float) -> tuple[float, float, bool]:
    """Compute the plain formula's arguments and accuracy flag.

    The first half of :func:`plain_price`: ``(d1, d2, accurate)``, the flag by
    :func:`plain_formula_is_accurate` (the one place that rule is applied to ``d1``).
    """
    d1 = log_moneyness / total_vol + 0.5 * total_vol
    accurate = plain_formula_is_accurate(max(d1, total_vol - d1), total_vol)
    return d1, d1 - total_vol, accurate


@inline_jit
def plain_value(forward: float, strike: float, forward_over_strike: float, x1: float, x2: float,
                discount: float, sign: float) -> float:
    """Compute the second half of :func:`plain_price`: the price from ``x1 = sign d1``, ``x2 = sign d2``."""
    n1, n2, _ = norm_cdf_pair(x1, x2, forward_over_strike)
    return discount * sign * (forward * n1 - strike * n2)


@scalar_jit
def greeks1(spot: float, strike: float, expiry_years: float, vol: float, rate: float,
            carry: float, kind: int) -> tuple[float, float, float, float, float, float, float,
                                              float, float, float]:
    """Price and all Greeks of one European option in one pass.

    Returns ``(price, delta, gamma, vega, theta, rho, carry_rho, vanna, volga, charm)``: raw
    derivatives; theta = dV/dt of calendar time (= -dV/dT); rho = dV/dr with the yield ``r - b``
    held fixed (the forward moves with the rate); carry_rho = dV/db with ``r`` fixed; vanna =
    d2V/dS dvol; volga = d2V/dvol2; charm = d(delta)/dt of calendar time.
    At zero total vol (expiry, or vol 0) the Greeks are their limits, infinite where the limit is.
    """
    sign = 1.0 if kind == 1 else -1.0
    t = 0.0 if expiry_years <= 0.0 else expiry_years  # NaN stays NaN
    sqrt_t = math.sqrt(t)
    total_vol = vol * sqrt_t
    if total_vol == 0.0:
        discount = math.exp(-rate * t)
        carry_discount = math.exp((carry - rate) * t)
        forward = spot * math.exp(carry * t)
        moneyness = sign * (forward - strike)
        if moneyness != moneyness:
            nan = math.nan
            return (nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        value = price1(spot, strike, expiry_years, vol, rate, carry, kind)
        step = _step(moneyness)
        delta = sign * carry_discount * step
        at_money = moneyness == 0.0
        gamma = math.inf if at_money else 0.0
        vega = spot * carry_discount * sqrt_t * INV_SQRT_2PI if at_money else 0.0
        vanna = 0.5 * carry_discount * sqrt_t * INV_SQRT_2PI if at_money else 0.0
        theta = -sign * ((carry - rate) * spot * carry_discount + rate * strike * discount) * step
        charm = -sign * (carry - rate) * carry_discount * step
        if at_money:
            if vol > 0.0:  # expiring at the money: the vol term of theta diverges
                theta = -math.inf
            drift = 2.0 * carry + vol * vol
            if drift != 0.0:
                charm = -math.copysign(math.inf, drift)
        rho = sign * t * strike * discount * step
        return (value, delta, gamma, vega, theta, rho, t * spot * delta, vanna, 0.0, charm)
    g = greeks_plain(spot, strike, t, vol, rate, carry, sign, log_positive(spot / strike))
    if g[10]:
        return g[:10]
    value = price1(spot, strike, expiry_years, vol, rate, carry, kind)
    return (value, g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9])


@inline_jit
def greeks_plain(spot: float, strike: float, t: float, vol: float, rate: float, carry: float,
                 sign: float, log_spot_strike: float
                 ) -> tuple[float, float, float, float, float, float, float, float, float, float,
                            bool]:
    """Compute price and Greeks by straight-line code.

    Price and Greeks of :func:`greeks1` for ``t > 0`` and ``vol > 0``, straight-line code,
    with whether the plain price is accurate (else :func:`price1` has the price; the Greeks'
    formulas hold either way). ``log_spot_strike = ln(S/K)``. Shared by :func:`greeks1` and the
    vectorised array kernel, so both give the same bits.
    """
    sqrt_t = math.sqrt(t)
    discount = exp_simd(-rate * t)
    growth = exp_simd(carry * t)
    forward = spot * growth
    carry_discount = discount * growth  # e^{(b - r) T}
    total_vol = vol * sqrt_t
    x = log_spot_strike + carry * t  # ln(F/K)
    d1, d2, accurate = plain_arguments(x, total_vol)
    cdf1, cdf2, gauss1 = norm_cdf_pair(sign * d1, sign * d2, forward / strike)
    value = discount * sign * (forward * cdf1 - strike * cdf2)
    # shared factors, and reciprocals for the divisions: 1 / (vol sqrt T) gives 1 / vol and
    # 1 / sqrt T by multiplication
    inverse_total_vol = 1.0 / total_vol
    inverse_vol = sqrt_t * inverse_total_vol
    inverse_sqrt_t = vol * inverse_total_vol
    density = carry_discount * (INV_SQRT_2PI * gauss1)  # e^{(b - r) T} n(d1)
    delta = sign * carry_discount * cdf1
    strike_term = sign * strike * discount * cdf2  # K e^{-rT} N(sign d2), signed
    gamma = density * inverse_total_vol / spot
    vega = spot * density * sqrt_t
    theta = (-0.5 * vol * inverse_sqrt_t * spot * density - (carry - rate) * spot * delta
             - rate * strike_term)
    rho = t * strike_term
    carry_rho = t * spot * delta
    vanna = -density * d2 * inverse_vol
    volga = vega * d1 * d2 * inverse_vol
    charm = -(density * (carry * inverse_total_vol - 0.5 * d2 * inverse_sqrt_t * inverse_sqrt_t)
              + (carry - rate) * delta)
    return (value, delta, gamma, vega, theta, rho, carry_rho, vanna, volga, charm, accurate)


MAX_VOL = 5.0  # vol above this is almost surely a percentage (docs/conventions.md)


@inline_jit
def market_row_is_valid(spot: float, strike: float, expiry_years: float, vol: float,
                        rate: float, carry: float, kind: int) -> bool:
    """Tell whether one row meets the pricing API's domain.

    Whether one row meets the pricing API's domain (``check_market`` names what fails):
    spot and strike positive and finite, expiry >= 0 and finite, vol in [0, ``MAX_VOL``], rates
    finite, kind a call (1) or a put (2). Branch-free (vectorises); NaN gives False.
    """
    return ((0.0 < spot) & (spot < math.inf) & (0.0 < strike) & (strike < math.inf)
            & (0.0 <= expiry_years) & (expiry_years < math.inf) & (0.0 <= vol) & (vol <= MAX_VOL)
            & (-math.inf < rate) & (rate < math.inf) & (-math.inf < carry) & (carry < math.inf)
            & ((kind == 1) | (kind == 2)))


@inline_jit
def _plain_domain(t: float, vol: float, ratio: float) -> bool:
    # where the straight-line code applies: time and total vol positive (greeks1's limits take
    # over at vol sqrt(T) = 0), S/K a positive normal double
    return ((t > 0.0) & (vol * math.sqrt(t) > 0.0) & (ratio >= SMALLEST_NORMAL)
            & (ratio < math.inf))


REDO_BLOCK = 256  # rows gathered per vectorised call of quadrature_price_range
# below this many gathered rows the scalar pricer is cheaper: the vectorised loop runs 16 lanes
# per pass (about 990 cycles), price_from_parts about 280 cycles a row
MIN_GATHERED = 4


@scalar_jit
def gather_and_price(n, forward, strike, log_moneyness, total_vol, discount, sign, value,  # type: ignore[no-untyped-def]
                     applies):
    """Price the gathered rows.

    ``value[k]`` = :func:`price_from_parts` of the first ``n`` gathered rows (``sign`` 1.0 for
    a call, -1.0 for a put), same bits: by :func:`quadrature_price_range` (vectorised) where the
    quadrature form applies and there are at least ``MIN_GATHERED`` rows, by
    :func:`price_from_parts` itself for the others. Pads the arrays to whole passes of the
    vectorised loop (16 lanes) with copies of the first row: a scalar remainder would cost as
    much as the vector body. ``applies`` is scratch.
    """
    gathered = n >= MIN_GATHERED
    if gathered:
        padded = min(forward.size, (n + 15) // 16 * 16)
        for k in range(n, padded):
            forward[k] = forward[0]
            strike[k] = strike[0]
            log_moneyness[k] = log_moneyness[0]
            total_vol[k] = total_vol[0]
            discount[k] = discount[0]
            sign[k] = sign[0]
        quadrature_price_range(padded, forward, strike, log_moneyness, total_vol, discount,
                               sign, value, applies)
    for k in range(n):
        if not (gathered and applies[k]):
            value[k] = price_from_parts(forward[k], strike[k], log_moneyness[k], total_vol[k],
                                        discount[k], CALL if sign[k] > 0.0 else PUT)


@scalar_jit
def _price_off_plain(spot, strike, expiry_years, vol, rate, carry, kind, prices, redo):  # type: ignore[no-untyped-def]
    # prices[i] = price1(row i) for the flagged rows (redo[i]) inside the plain domain (off the
    # plain formula only; their Greeks are already right), REDO_BLOCK at a time: gathered and
    # priced by gather_and_price (the quadrature form vectorised where it applies,
    # price_from_parts for the rest; same bits either way); clears their flag, leaving set those
    # price1 / greeks1 must redo (at or past expiry, zero vol, NaN, extreme S/K). A chain of
    # options expiring today has most of its rows here. The first pass stores a plain bool flag:
    # a three-way code there measured 10-15% slower. Returns how many rows are left flagged (the
    # caller's scalar loop over the flags runs only then).
    row = np.empty(REDO_BLOCK, np.int64)
    scratch = np.empty((7, REDO_BLOCK))  # one allocation for the seven float rows
    forward = scratch[0]
    strike_ = scratch[1]
    log_moneyness = scratch[2]
    total_vol = scratch[3]
    discount = scratch[4]
    sign = scratch[5]
    value = scratch[6]
    applies = np.empty(REDO_BLOCK, np.bool_)
    n = 0
    n_left = 0
    for i in range(prices.size + 1):  # i == prices.size: price the last, partial block
        if i < prices.size:
            if not redo[i]:
                continue
            if not _plain_domain(expiry_years[i], vol[i], spot[i] / strike[i]):
                n_left += 1
                continue
            redo[i] = False
            row[n] = i
            strike_[n] = strike[i]
            sign[n] = 1.0 if kind[i] == 1 else -1.0
            forward[n], log_moneyness[n], total_vol[n], discount[n] = european_parts(
                spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i])
            n += 1
            if n < REDO_BLOCK:
                continue
        if n == 0:
            continue
        gather_and_price(np.int64(n), forward, strike_, log_moneyness, total_vol, discount,
                         sign, value, applies)  # int64, not a literal: compiled once
        for k in range(n):
            prices[row[k]] = value[k]
        n = 0
    return n_left


@scalar_jit
def _price_vector(spot, strike, expiry_years, vol, rate, carry, kind, out, redo):  # type: ignore[no-untyped-def]
    # the vectorised pass of price_range: plain prices, and which rows price1 must redo. The
    # caller passes slices: a loop over range(start, stop) runs 5x slower (LLVM's run-time
    # overlap checks then fail and the scalar copy of the loop runs). Returns how many rows are
    # outside the API's domain (market_row_is_valid): validation in the same pass over the inputs
    n_invalid = 0
    for i in range(spot.size):
        t = expiry_years[i]
        ratio = spot[i] / strike[i]
        forward = spot[i] * exp_simd(carry[i] * t)
        value, accurate = plain_price(forward, strike[i], forward / strike[i],
                                      log_simd(ratio) + carry[i] * t, vol[i] * math.sqrt(t),
                                      exp_simd(-rate[i] * t), 1.0 if kind[i] == 1 else -1.0)
        out[i] = value
        redo[i] = not (accurate & _plain_domain(t, vol[i], ratio))
        valid = market_row_is_valid(spot[i], strike[i], t, vol[i], rate[i], carry[i], kind[i])
        n_invalid += 0 if valid else 1
    return n_invalid


@scalar_jit
def _greeks_vector(spot, strike, expiry_years, vol, rate, carry, kind, o0, o1, o2, o3, o4, o5,  # type: ignore[no-untyped-def]
                   o6, o7, o8, o9, redo):
    # the vectorised pass of greeks_range, on slices as _price_vector; one 1-d array per output
    # (rows of a 2-d array defeat LLVM's dependence analysis and the loop would stay scalar);
    # returns the rows outside the API's domain, as _price_vector
    n_invalid = 0
    for i in range(spot.size):
        t = expiry_years[i]
        ratio = spot[i] / strike[i]
        g = greeks_plain(spot[i], strike[i], t, vol[i], rate[i], carry[i],
                         1.0 if kind[i] == 1 else -1.0, log_simd(ratio))
        o0[i] = g[0]
        o1[i] = g[1]
        o2[i] = g[2]
        o3[i] = g[3]
        o4[i] = g[4]
        o5[i] = g[5]
        o6[i] = g[6]
        o7[i] = g[7]
        o8[i] = g[8]
        o9[i] = g[9]
        redo[i] = not (g[10] & _plain_domain(t, vol[i], ratio))
        valid = market_row_is_valid(spot[i], strike[i], t, vol[i], rate[i], carry[i], kind[i])
        n_invalid += 0 if valid else 1
    return n_invalid


_IN = "f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], f8[::1], i1[::1]"


@array_jit(f"i8({_IN}, f8[::1], i8, i8)")
def price_range(spot, strike, expiry_years, vol, rate, carry, kind, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute, serially, ``out[i] = price1(...)`` for ``start <= i < stop``; all arrays shape (n,).

    Returns how many of those rows are outside the pricing API's domain (:func:`market_row_is_valid`; their outputs are
    then meaningless).
    One vectorised pass prices every row with the plain formula; the rows off it (short expiries
    far from the money) are gathered and priced by the vectorised quadrature form
    (:func:`quadrature_price_range`), and the rest it flags (at or past expiry, zero vol, NaN,
    extreme S/K) are redone by :func:`price1`: every path gives ``price1``'s bits.
    """
    redo = np.empty(stop - start, np.bool_)
    rows = slice(start, stop)
    n_invalid = _price_vector(spot[rows], strike[rows], expiry_years[rows], vol[rows], rate[rows],
                              carry[rows], kind[rows], out[rows], redo)
    n_left = _price_off_plain(spot[rows], strike[rows], expiry_years[rows], vol[rows], rate[rows],
                              carry[rows], kind[rows], out[rows], redo)
    for i in range(start, stop if n_left else start):
        if redo[i - start]:
            out[i] = price1(spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i],
                            kind[i])
    return n_invalid


@parallel_jit(f"i8({_IN}, f8[::1], i8)")
def price_parallel(spot, strike, expiry_years, vol, rate, carry, kind, out, n_chunks):  # type: ignore[no-untyped-def]
    """Parallel over ``n_chunks`` contiguous chunks of :func:`price_range`; returns the rows outside the domain."""
    n = out.shape[0]
    n_invalid = 0
    for c in prange(n_chunks):
        n_invalid += price_range(spot, strike, expiry_years, vol, rate, carry, kind, out,
                                 c * n // n_chunks, (c + 1) * n // n_chunks)
    return n_invalid


@array_jit(f"i8({_IN}, f8[:, ::1], i8, i8)")
def greeks_range(spot, strike, expiry_years, vol, rate, carry, kind, out, start, stop):  # type: ignore[no-untyped-def]
    """Compute price and Greeks of a range of rows.

    Serial: column ``i`` of ``out`` (shape (10, n)) = :func:`greeks1` for ``start <= i < stop``
    (a vectorised pass; then, as in :func:`price_range`, the price of the rows off the plain
    formula, whose Greeks are already right, and :func:`greeks1` for the rest it flags);
    returns the rows outside the domain, as :func:`price_range`.
    """
    redo = np.empty(stop - start, np.bool_)
    rows = slice(start, stop)
    n_invalid = _greeks_vector(spot[rows], strike[rows], expiry_years[rows], vol[rows],
                               rate[rows], carry[rows], kind[rows], out[0, rows], out[1, rows],
                               out[2, rows], out[3, rows], out[4, rows], out[5, rows],
                               out[6, rows], out[7, rows], out[8, rows], out[9, rows], redo)
    n_left = _price_off_plain(spot[rows], strike[rows], expiry_years[rows], vol[rows], rate[rows],
                              carry[rows], kind[rows], out[0, rows], redo)
    for i in range(start, stop if n_left else start):
        if redo[i - start]:
            g = greeks1(spot[i], strike[i], expiry_years[i], vol[i], rate[i], carry[i], kind[i])
            for k in range(N_GREEKS):
                out[k, i] = g[k]
    return n_invalid


@parallel_jit(f"i8({_IN}, f8[:, ::1], i8)")
def greeks_parallel(spot, strike, expiry_years, vol, rate, carry, kind, out, n_chunks):  # type: ignore[no-untyped-def]
    """Parallel over ``n_chunks`` contiguous chunks of :func:`greeks_range`; returns the rows outside the domain."""
    n = out.shape[1]
    n_invalid = 0
    for c in prange(n_chunks):
        n_invalid += greeks_range(spot, strike, expiry_years, vol, rate, carry, kind, out,
                                  c * n // n_chunks, (c + 1) * n // n_chunks)
    return n_invalid
