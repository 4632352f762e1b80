"""Reference generalised Black-Scholes price and Greeks with ``scipy.stats.norm`` (Haug 2007, 1.1.6).

Written independently of :mod:`greeksmargin.kernels` (the textbook formula, no normalisation,
no special branches), for cross-checking the kernels. Requires ``expiry_years > 0`` and
``vol > 0``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["price", "greeks"]


def _d1_d2(spot, strike, expiry_years, vol, carry):  # type: ignore[no-untyped-def]
    spot, strike, t, vol, carry = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (spot, strike, expiry_years, vol, carry)))
    d1 = (np.log(spot / strike) + (carry + vol**2 / 2) * t) / (vol * np.sqrt(t))
    return d1, d1 - vol * np.sqrt(t)


def price(spot, strike, expiry_years, vol, rate, carry, is_call):  # type: ignore[no-untyped-def]
    """Textbook generalised Black-Scholes price; ``is_call`` boolean array."""
    d1, d2 = _d1_d2(spot, strike, expiry_years, vol, carry)
    t = np.asarray(expiry_years, dtype=float)
    call = spot * np.exp((carry - rate) * t) * norm.cdf(d1) - strike * np.exp(-rate * t) * norm.cdf(d2)
    put = strike * np.exp(-rate * t) * norm.cdf(-d2) - spot * np.exp((carry - rate) * t) * norm.cdf(-d1)
    return np.where(is_call, call, put)


def greeks(spot, strike, expiry_years, vol, rate, carry, is_call):  # type: ignore[no-untyped-def]
    """Textbook Greeks (Haug 2007, 2.1-2.3) as a dict of arrays, raw units."""
    d1, d2 = _d1_d2(spot, strike, expiry_years, vol, carry)
    t = np.asarray(expiry_years, dtype=float)
    e_q = np.exp((carry - rate) * t)
    e_r = np.exp(-rate * t)
    pdf = norm.pdf(d1)
    delta = np.where(is_call, e_q * norm.cdf(d1), e_q * (norm.cdf(d1) - 1))
    gamma = pdf * e_q / (spot * vol * np.sqrt(t))
    vega = spot * e_q * pdf * np.sqrt(t)
    theta_call = (-spot * e_q * pdf * vol / (2 * np.sqrt(t))
                  - (carry - rate) * spot * e_q * norm.cdf(d1) - rate * strike * e_r * norm.cdf(d2))
    theta_put = (-spot * e_q * pdf * vol / (2 * np.sqrt(t))
                 + (carry - rate) * spot * e_q * norm.cdf(-d1) + rate * strike * e_r * norm.cdf(-d2))
    rho = np.where(is_call, t * strike * e_r * norm.cdf(d2), -t * strike * e_r * norm.cdf(-d2))
    carry_rho = np.where(is_call, t * spot * e_q * norm.cdf(d1), -t * spot * e_q * norm.cdf(-d1))
    vanna = -e_q * pdf * d2 / vol
    volga = vega * d1 * d2 / vol
    charm_call = -e_q * (pdf * (carry / (vol * np.sqrt(t)) - d2 / (2 * t)) + (carry - rate) * norm.cdf(d1))
    charm_put = -e_q * (pdf * (carry / (vol * np.sqrt(t)) - d2 / (2 * t)) - (carry - rate) * norm.cdf(-d1))
    return {
        "price": price(spot, strike, expiry_years, vol, rate, carry, is_call),
        "delta": delta, "gamma": gamma, "vega": vega,
        "theta": np.where(is_call, theta_call, theta_put), "rho": rho, "carry_rho": carry_rho,
        "vanna": vanna, "volga": volga, "charm": np.where(is_call, charm_call, charm_put),
    }
