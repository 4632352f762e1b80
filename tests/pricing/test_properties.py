"""Hypothesis properties: no-arbitrage bounds, monotonicity, gamma >= 0, vega >= 0."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from greeksmargin import OptionKind, greeks, price

spots = st.floats(1.0, 1000.0)
moneyness = st.floats(-1.5, 1.5)
times = st.floats(1 / 8760, 30.0)
vols = st.floats(0.005, 5.0)
rates = st.floats(-0.02, 0.15)
yields = st.floats(-0.05, 0.1)
kinds = st.sampled_from([OptionKind.CALL, OptionKind.PUT])


@given(spots, moneyness, times, vols, rates, yields, kinds)
def test_price_within_no_arbitrage_bounds(s, m, t, vol, r, q, kind):
    k = s * math.exp(m)
    b = r - q
    p = float(price(s, k, expiry_years=t, vol=vol, rate=r, carry=b, kind=kind))
    fwd_s, disc_k = s * math.exp(-q * t), k * math.exp(-r * t)
    intrinsic = max(fwd_s - disc_k, 0) if kind == OptionKind.CALL else max(disc_k - fwd_s, 0)
    upper = fwd_s if kind == OptionKind.CALL else disc_k
    tol = 1e-12 * max(fwd_s, disc_k)
    assert intrinsic - tol <= p <= upper + tol


@given(spots, moneyness, times, vols, rates, yields, kinds)
def test_gamma_and_vega_non_negative_and_delta_bounded(s, m, t, vol, r, q, kind):
    g = greeks(s, s * math.exp(m), expiry_years=t, vol=vol, rate=r, carry=r - q, kind=kind)
    assert g.gamma >= 0 and g.vega >= 0
    bound = math.exp(-q * t) * (1 + 1e-14)
    assert (0 <= g.delta <= bound) if kind == OptionKind.CALL else (-bound <= g.delta <= 0)


@given(spots, times, vols, rates, yields, kinds)
def test_monotone_in_spot_and_strike(s, t, vol, r, q, kind):
    strikes = s * np.exp(np.linspace(-0.5, 0.5, 11))
    p = price(s, strikes, expiry_years=t, vol=vol, rate=r, carry=r - q, kind=kind)
    d = np.diff(p)
    tol = 1e-12 * s
    assert np.all(d <= tol) if kind == OptionKind.CALL else np.all(d >= -tol)
    spots_ = s * np.exp(np.linspace(-0.5, 0.5, 11))
    p = price(spots_, s, expiry_years=t, vol=vol, rate=r, carry=r - q, kind=kind)
    d = np.diff(p)
    assert np.all(d >= -tol) if kind == OptionKind.CALL else np.all(d <= tol)
