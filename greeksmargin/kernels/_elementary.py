"""Branch-free ``exp`` and normal CDF that LLVM vectorises, at full double accuracy.

Numba compiles ``math.exp`` and ``math.erfc`` to calls into the C library, one lane at a time:
a loop that calls them is never vectorised (PyPI's llvmlite has no SVML). The functions here are
straight-line arithmetic (FMA, one division, bit operations, selects) and are inlined at every
call site (``inline="always"``), so a loop over positions that uses them runs 4 or 8 lanes at once.
Every operation is explicit (``fma`` is the LLVM intrinsic, no ``fastmath``), so a vector lane and
a scalar call give bitwise the same result.

- :func:`exp_simd`: Cody-Waite reduction ``x = n ln2 + r``, ``|r| <= ln2 / 2``, the degree-13
  Taylor polynomial of ``e^r`` (truncation 4e-18), scaling by ``2^n`` built from its bits in two
  halves (so subnormal results are right). Measured error <= 2 ulp on [-700, 700]; overflows to
  inf above 709.78; NaN in gives NaN out.
- :func:`norm_cdf`: ``N(-a) = exp(-a^2 / 2) P(t) / (2 (1 + 2z))`` with ``z = a / sqrt 2``,
  ``t = (z - K) / (z + K)``, ``K = 3.75`` (the mapping of Shepherd and Laframboise, Math. Comp. 36,
  1981, which takes ``[0, inf)`` to ``[-1, 1)``), ``P`` the degree-24 Chebyshev interpolant of
  ``(1 + 2z) exp(z^2) erfc(z)`` converted to monomials (fitted with 50-digit mpmath; maximum
  relative error 2.3e-16 in double). ``a^2`` is split exactly with an FMA, so the Gaussian factor
  carries no argument-rounding error: relative error below 1e-15 on the lower tail down to
  ``N(-37)`` (``math.erfc(-x / sqrt 2)`` loses ``x^2 eps`` there), absolute error below 4.5e-16
  everywhere (about 3 ulp of 1/2 near the centre) (tested against mpmath in
  ``tests/kernels/test_elementary.py``).
- :func:`norm_cdf_call`: the same function as a call, for scalar code (the American fixed point,
  the quadrature pricer's fallback) that calls it at several sites: Numba inlines an
  ``inline="always"`` function by copying its code into every site at every level of the calls,
  which costs compile time and buys scalar code nothing (one copy instead of ten cut the first
  run's compilation by about 3 s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._jit import SCALAR_OPTIONS

inline_jit: Any = njit(inline="always", **SCALAR_OPTIONS)
call_jit: Any = njit(**SCALAR_OPTIONS)  # a compiled call (see norm_cdf_call)


@intrinsic
def _fma_intrinsic(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """Compute ``a * b + c`` with one rounding (``llvm.fma.f64``; a vector FMA in vectorised loops)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        double = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [double],
                                              ir.FunctionType(double, [double] * 3))
        return builder.call(fn, args)

    return sig, codegen


# the intrinsic as code calls it (Numba passes the typing context itself)
fma = cast("Callable[[float, float, float], float]", _fma_intrinsic)


@intrinsic
def _int_bits_as_float_intrinsic(typingctx, bits):  # type: ignore[no-untyped-def]
    # reinterpret the 64 bits of an int64 as a float64 (no conversion)
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# the intrinsic as code calls it (Numba passes the typing context itself)
_int_bits_as_float = cast("Callable[[int], float]", _int_bits_as_float_intrinsic)


@intrinsic
def _float_bits_as_int_intrinsic(typingctx, value):  # type: ignore[no-untyped-def]
    # reinterpret the 64 bits of a float64 as an int64 (no conversion)
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


# the intrinsic as code calls it (Numba passes the typing context itself)
_float_bits_as_int = cast("Callable[[float], int]", _float_bits_as_int_intrinsic)


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm: 32 leading bits of ln 2, so n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2^52: (x + _ROUND) - _ROUND rounds x to the nearest integer
_E = tuple(1.0 / math.factorial(k) for k in range(14))


@inline_jit
def exp_simd(x: float) -> float:
    """``e^x``, within 2 ulp, vectorisable; 0 below -1400 (the true value is below 1e-608)."""
    x = -1400.0 if x < -1400.0 else x  # NaN stays NaN: the comparisons are false
    x = 710.0 if x > 710.0 else x  # e^710 overflows to inf all the same
    n = (x * _LOG2E + _ROUND) - _ROUND
    r = fma(-n, _LN2_LO, fma(-n, _LN2_HI, x))
    # Estrin's scheme: the same polynomial as Horner's, with a dependency chain of 5 FMAs, not 13
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p01 = fma(_E[1], r, _E[0])
    p23 = fma(_E[3], r, _E[2])
    p45 = fma(_E[5], r, _E[4])
    p67 = fma(_E[7], r, _E[6])
    p89 = fma(_E[9], r, _E[8])
    p1011 = fma(_E[11], r, _E[10])
    p1213 = fma(_E[13], r, _E[12])
    p03 = fma(p23, r2, p01)
    p47 = fma(p67, r2, p45)
    p811 = fma(p1011, r2, p89)
    p07 = fma(p47, r4, p03)
    p813 = fma(p1213, r4, p811)
    p = fma(p813, r8, p07)
    k = np.int64(n)  # NaN gives an arbitrary k, but p is NaN and so is the product
    k1 = k >> 1
    k2 = k - k1  # 2^n as 2^k1 * 2^k2: each a normal double for -2020 <= n <= 1024
    return p * _int_bits_as_float((k1 + 1023) << 52) * _int_bits_as_float((k2 + 1023) << 52)


# fdlibm's e_log.c: log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f)
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_SQRT2 = math.sqrt(2.0)
SMALLEST_NORMAL = 2.2250738585072014e-308


@inline_jit
def log_simd(x: float) -> float:
    """Natural log of a positive, normal, finite ``x`` (fdlibm's method, within 1 ulp), vectorisable.

    Other inputs give an unspecified value: callers check ``SMALLEST_NORMAL <= x < inf`` (see :func:`log_positive`).
    """
    bits = _float_bits_as_int(x)
    k = (bits >> 52) - 1023
    m = _int_bits_as_float((bits & _MANTISSA) | _ONE_BITS)  # x = m 2^k, 1 <= m < 2
    high = m > _SQRT2
    m = m * 0.5 if high else m  # sqrt(1/2) < m <= sqrt(2)
    kf = float(k + 1 if high else k)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = w * (_LG[1] + w * (_LG[3] + w * _LG[5])) + z * (_LG[0] + w * (_LG[2] + w * (_LG[4]
                                                                                    + w * _LG[6])))
    half_square = 0.5 * f * f
    return kf * _LN2_HI - ((half_square - (s * (half_square + r) + kf * _LN2_LO)) - f)


@inline_jit
def log_positive(x: float) -> float:
    """Compute the natural logarithm of a positive number.

    ``log(x)``: :func:`log_simd` for positive normal finite ``x``, the C library otherwise
    (0, subnormal, inf, negative, NaN); a branch, so only for scalar code.
    """
    if SMALLEST_NORMAL <= x < math.inf:
        return log_simd(x)
    return math.log(x)  # -inf at 0, NaN below 0 and for NaN, inf at inf


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_K = 3.75
# P(t) ~ (1 + 2z) exp(z^2) erfc(z), t = (z - K) / (z + K); coefficients of t^0 ... t^24
_P = (
    1.2375126308378275, -0.14024059858554697, 0.003585415485463775, 0.08227673849014516,
    -0.10880393014171785, 0.09230432116037876, -0.058693398590212366, 0.028362277418940665,
    -0.009746579552504244, 0.0017556258530017257, 0.0002937136342850081, -0.0002901540809795271,
    5.1649211390702855e-05, 2.2384240314224437e-05, -1.1444412439171722e-05,
    -9.735619015182663e-07, 1.752057970166318e-06, -5.721597255990987e-08,
    -2.591069687796658e-07, 2.3261913276696566e-08, 3.8965452548985966e-08,
    -3.743568033634583e-09, -5.28428697963142e-09, 3.110310719839165e-10, 4.434959070009628e-10,
)


# Q(t) ~ (1 + x^2) (1 - x R(x)), x = z sqrt 2, R the Mills ratio, t as for P; t^0 ... t^28
# (same fit, 60 digits; maximum relative error 1.6e-16 in double)
_Q = (
    0.9409855584037886, 0.19711694252888548, -0.2678020769773696, 0.17759441042541035,
    0.0008918379676883615, -0.15447521696731367, 0.2124520565550781, -0.17929407572992423,
    0.10636931563094297, -0.0429191272890631, 0.008751061467491428, 0.0017214841461813406,
    -0.0018123146626581902, 0.0003312276629340695, 0.00017541150532228095,
    -8.937825964037669e-05, -1.0958944281378182e-05, 1.606992956329099e-05,
    -1.7073186880260223e-08, -2.7453621865737804e-06, 1.5373622813678298e-07,
    4.807793505166e-07, -3.083038476901603e-08, -8.272243881938036e-08, 3.3000511185792607e-09,
    1.182839488193461e-08, -5.239745397421641e-11, -9.701531664452677e-10,
    -2.6312796523315432e-11,
)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


@inline_jit
def _mills_complement_polynomial(t: float) -> float:
    # Q(t) by Estrin's scheme
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    t16 = t8 * t8
    a0 = fma(_Q[1], t, _Q[0])
    a1 = fma(_Q[3], t, _Q[2])
    a2 = fma(_Q[5], t, _Q[4])
    a3 = fma(_Q[7], t, _Q[6])
    a4 = fma(_Q[9], t, _Q[8])
    a5 = fma(_Q[11], t, _Q[10])
    a6 = fma(_Q[13], t, _Q[12])
    a7 = fma(_Q[15], t, _Q[14])
    a8 = fma(_Q[17], t, _Q[16])
    a9 = fma(_Q[19], t, _Q[18])
    a10 = fma(_Q[21], t, _Q[20])
    a11 = fma(_Q[23], t, _Q[22])
    a12 = fma(_Q[25], t, _Q[24])
    a13 = fma(_Q[27], t, _Q[26])
    b0 = fma(a1, t2, a0)
    b1 = fma(a3, t2, a2)
    b2 = fma(a5, t2, a4)
    b3 = fma(a7, t2, a6)
    b4 = fma(a9, t2, a8)
    b5 = fma(a11, t2, a10)
    b6 = fma(a13, t2, a12)
    c0 = fma(b1, t4, b0)
    c1 = fma(b3, t4, b2)
    c2 = fma(b5, t4, b4)
    c3 = fma(_Q[28], t4, b6)
    return fma(fma(c3, t8, c2), t16, fma(c1, t8, c0))


@inline_jit
def mills_ratio_positive(x: float) -> float:
    """Compute the Mills ratio for a non-negative argument.

    Mills ratio ``R(x) = N(-x) / n(x)`` for ``x >= 0``: ``sqrt(pi/2) P(t) / (1 + 2z)``,
    ``z = x / sqrt 2`` (the erfc fit without its Gaussian factor: no exp, full relative accuracy,
    no continued fraction).
    """
    z = x * _INV_SQRT2
    t = (z - _K) / (z + _K)
    return _SQRT_HALF_PI * _erfc_polynomial(t) / (1.0 + 2.0 * z)


@inline_jit
def mills_ratio_pair(x1: float, x2: float) -> tuple[float, float]:
    """Compute two Mills ratios with one division.

    ``(R(x1), R(x2))`` for ``x1, x2 >= 0``, as :func:`mills_ratio_positive` with one division
    for both (:func:`_reciprocal_pair`).
    """
    zk1, q1, inverse1, zk2, q2, inverse2 = _reciprocal_pair(x1, x2)
    return _mills(x1, zk1, q1, inverse1), _mills(x2, zk2, q2, inverse2)


@inline_jit
def _reciprocal_pair(a1: float, a2: float
                     ) -> tuple[float, float, float, float, float, float]:
    # zk = z + K, q = 1 + 2z (z = a / sqrt 2) and 1 / (zk q) for a1 and a2, the two reciprocals
    # from one division of their product
    zk1 = a1 * _INV_SQRT2 + _K
    q1 = 1.0 + 2.0 * (a1 * _INV_SQRT2)
    zk2 = a2 * _INV_SQRT2 + _K
    q2 = 1.0 + 2.0 * (a2 * _INV_SQRT2)
    d1 = zk1 * q1
    d2 = zk2 * q2
    r = 1.0 / (d1 * d2)
    return zk1, q1, d2 * r, zk2, q2, d1 * r


@inline_jit
def _mills(a: float, zk: float, q: float, inverse: float) -> float:
    # R(a) = sqrt(pi/2) P(t) / (1 + 2z) from the parts of _reciprocal_pair, inverse = 1 / (zk q)
    t = (a * _INV_SQRT2 - _K) * q * inverse
    return _SQRT_HALF_PI * _erfc_polynomial(t) * (zk * inverse)


@inline_jit
def mills_complement_positive(x: float) -> float:
    """Compute one minus x times the Mills ratio.

    ``1 - x R(x)`` for ``x >= 0`` from its own fit ``Q(t) / (1 + x^2)``: the subtraction would
    lose ``x^2 eps`` to cancellation. One division for both quotients (``t`` and the last).
    """
    z = x * _INV_SQRT2
    zk = z + _K
    q = 1.0 + x * x
    inverse = 1.0 / (zk * q)
    return _mills_complement_polynomial((z - _K) * q * inverse) * (zk * inverse)


@inline_jit
def _erfc_polynomial(t: float) -> float:
    # P(t) by Estrin's scheme (dependency chain of 7 FMAs instead of 24)
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    t16 = t8 * t8
    a0 = fma(_P[1], t, _P[0])
    a1 = fma(_P[3], t, _P[2])
    a2 = fma(_P[5], t, _P[4])
    a3 = fma(_P[7], t, _P[6])
    a4 = fma(_P[9], t, _P[8])
    a5 = fma(_P[11], t, _P[10])
    a6 = fma(_P[13], t, _P[12])
    a7 = fma(_P[15], t, _P[14])
    a8 = fma(_P[17], t, _P[16])
    a9 = fma(_P[19], t, _P[18])
    a10 = fma(_P[21], t, _P[20])
    a11 = fma(_P[23], t, _P[22])
    b0 = fma(a1, t2, a0)
    b1 = fma(a3, t2, a2)
    b2 = fma(a5, t2, a4)
    b3 = fma(a7, t2, a6)
    b4 = fma(a9, t2, a8)
    b5 = fma(a11, t2, a10)
    c0 = fma(b1, t4, b0)
    c1 = fma(b3, t4, b2)
    c2 = fma(b5, t4, b4)
    d0 = fma(c1, t8, c0)
    d1 = fma(_P[24], t8, c2)
    return fma(d1, t16, d0)


@inline_jit
def gauss(a: float) -> float:
    """Compute exp(-a^2 / 2) without rounding a^2.

    ``exp(-a^2 / 2)`` with ``a^2`` split exactly (square + error) by an FMA: no rounding of
    the argument beyond that of ``a`` itself.
    """
    square = a * a
    square_error = fma(a, a, -square)
    return exp_simd(-0.5 * square) * (1.0 - 0.5 * square_error)


@inline_jit
def _tail(a: float, gauss: float, zk: float, q: float, inverse: float) -> float:
    # N(-a) from exp(-a^2 / 2), zk = z + K, q = 1 + 2z and inverse = 1 / (zk q)
    z = a * _INV_SQRT2
    t = (z - _K) * q * inverse
    tail = 0.5 * gauss * _erfc_polynomial(t) * (zk * inverse)
    return 0.0 if a > 40.0 else tail  # N(-40) < 1e-349; also a = inf, where t is NaN


@inline_jit
def norm_cdf(x: float) -> float:
    """Compute the standard normal CDF ``N(x)``: full relative accuracy in the lower tail, vectorisable."""
    a = abs(x)
    z = a * _INV_SQRT2
    zk = z + _K
    q = 1.0 + 2.0 * z
    tail = _tail(a, gauss(a), zk, q, 1.0 / (zk * q))
    return tail if x < 0.0 else 1.0 - tail


@call_jit
def norm_cdf_call(x: float) -> float:
    """Compute :func:`norm_cdf` (bitwise) as one compiled function called, not inlined at each site."""
    return norm_cdf(x)


@inline_jit
def norm_cdf_pair(x1: float, x2: float, ratio: float) -> tuple[float, float, float]:
    """Compute two normal CDF values and a Gaussian factor.

    ``(N(x1), N(x2), exp(-x1^2 / 2))`` given ``ratio = exp((x1^2 - x2^2) / 2)``, for the two
    terms of the Black formula (``ratio = F / K``): one exponential and one division for both,
    and the Gaussian factor for the Greeks. Accurate like :func:`norm_cdf` while
    ``|x1|, |x2| < 37``; beyond that the result is unspecified (the pricer flags those cases and
    takes another path).
    """
    a1 = abs(x1)
    a2 = abs(x2)
    zk1, q1, inverse1, zk2, q2, inverse2 = _reciprocal_pair(a1, a2)
    gauss1 = gauss(a1)
    tail1 = _tail(a1, gauss1, zk1, q1, inverse1)
    tail2 = _tail(a2, gauss1 * ratio, zk2, q2, inverse2)
    return (tail1 if x1 < 0.0 else 1.0 - tail1), (tail2 if x2 < 0.0 else 1.0 - tail2), gauss1
