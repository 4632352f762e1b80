"""Implied vol: round trips across the whole domain (1 hour..30 years, vol 0.5%..500%, deep in
and out of the money), agreement with py_vollib (Jaeckel's Let's Be Rational), statuses and the
on_error policies."""

from __future__ import annotations

import numpy as np
import pytest
from vollib.black_scholes_merton.implied_volatility import implied_volatility as vollib_iv

from greeksmargin import ImpliedVolError, InputError, IVStatus, OptionKind, implied_vol, price
from greeksmargin.pricing import black76, black_scholes, black_scholes_merton, garman_kohlhagen
from tests.conftest import assert_close, random_domain

REPRICE_RTOL = 1e-12
VOLLIB_VOL_RTOL = 1e-9
N = 20_000


def _informative(p, spot, strike, t, rate, carry, kind):
    # rows whose time value is representable and not lost against intrinsic or the maximum
    fwd = spot * np.exp(carry * t)
    disc = np.exp(-rate * t)
    intrinsic = disc * np.maximum(np.where(kind == 1, fwd - strike, strike - fwd), 0)
    maximum = disc * np.where(kind == 1, fwd, strike)
    return (p - intrinsic > 1e-10 * p) & (maximum - p > 1e-10 * p) & (p > 1e-300)


def test_round_trip_reprices_to_1e12_across_the_domain():
    spot, strike, t, vol, rate, carry, kind = random_domain(N, 21, moneyness=12.0)
    p = price(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)
    keep = _informative(p, spot, strike, t, rate, carry, kind)
    assert keep.sum() > 0.8 * N
    args = [a[keep] for a in (spot, strike, t, rate, carry, kind)]
    iv = implied_vol(p[keep], args[0], args[1], expiry_years=args[2], rate=args[3],
                     carry=args[4], kind=args[5], on_error="raise")
    assert np.all(iv.status == IVStatus.OK)
    again = price(args[0], args[1], expiry_years=args[2], vol=iv.vol, rate=args[3], carry=args[4],
                  kind=args[5])
    assert_close(again, p[keep], REPRICE_RTOL, context="repriced")
    # where vega is not negligible the vol itself comes back
    from greeksmargin import greeks

    g = greeks(args[0], args[1], expiry_years=args[2], vol=vol[keep], rate=args[3], carry=args[4],
               kind=args[5])
    sensitive = g.vega * vol[keep] > 1e-6 * p[keep]
    assert_close(iv.vol[sensitive], vol[keep][sensitive], 1e-6, context="vol")


def test_agrees_with_py_vollib_lets_be_rational():
    spot, strike, t, vol, rate, carry, kind = random_domain(1000, 22, t_min=1 / 365, t_max=5.0,
                                                            vol_min=0.05, vol_max=1.5,
                                                            moneyness=3.0)
    q = rate - carry
    p = black_scholes_merton.price(spot, strike, expiry_years=t, vol=vol, rate=rate,
                                   dividend_yield=q, kind=kind)
    keep = _informative(p, spot, strike, t, rate, carry, kind) & (p > 1e-8 * spot)
    ours = black_scholes_merton.implied_vol(p, spot, strike, expiry_years=t, rate=rate,
                                            dividend_yield=q, kind=kind, on_error="nan").vol
    flags = np.where(kind == 1, "c", "p")
    theirs = np.array([vollib_iv(pp, s, k, tt, r, qq, f) if ok else np.nan
                       for pp, s, k, tt, r, qq, f, ok in zip(p, spot, strike, t, rate, q, flags,
                                                             keep, strict=False)])
    assert_close(ours[keep], theirs[keep], VOLLIB_VOL_RTOL)


@pytest.mark.parametrize("t", [1 / 8760, 1 / 365, 0.25, 30.0], ids=["1h", "1d", "3m", "30y"])
@pytest.mark.parametrize("vol", [0.005, 0.2, 4.9])  # 4.9: a solved vol may exceed 5 by rounding
@pytest.mark.parametrize("kind", [OptionKind.CALL, OptionKind.PUT])
def test_corners_of_the_domain(t, vol, kind):
    # strikes from deep in to deep out of the money, in standard deviations of log-moneyness
    sd = vol * np.sqrt(t)
    strike = 100.0 * np.exp(np.linspace(-8, 8, 17) * sd)
    p = price(100.0, strike, expiry_years=t, vol=vol, rate=0.03, carry=0.01, kind=kind)
    keep = _informative(p, 100.0, strike, t, 0.03, 0.01, np.full(17, int(kind)))
    iv = implied_vol(p[keep], 100.0, strike[keep], expiry_years=t, rate=0.03, carry=0.01,
                     kind=kind, on_error="raise")
    again = price(100.0, strike[keep], expiry_years=t, vol=iv.vol, rate=0.03, carry=0.01,
                  kind=kind)
    assert_close(again, p[keep], REPRICE_RTOL)


def test_statuses_and_on_error_nan():
    spot, t, rate = 100.0, 0.5, 0.02
    prices = np.array([5.0, -0.0, 101.0, 3.0, 0.0])
    kinds = np.array([1, 1, 1, 2, 2], dtype=np.int8)
    strikes = np.array([100.0, 100.0, 100.0, 150.0, 50.0])
    # carry 0: the forward equals spot, so the at-the-money call has zero intrinsic value
    iv = implied_vol(prices, spot, strikes, expiry_years=t, rate=rate, carry=0.0, kind=kinds,
                     on_error="nan")
    assert iv.status.tolist() == [IVStatus.OK, IVStatus.OK, IVStatus.ABOVE_MAXIMUM,
                                  IVStatus.BELOW_INTRINSIC, IVStatus.OK]
    assert iv.vol[1] == 0.0 and iv.vol[4] == 0.0  # price equal to intrinsic: zero vol
    assert np.isnan(iv.vol[2]) and np.isnan(iv.vol[3])
    assert iv.ok.tolist() == [True, True, False, False, True]


def test_expiry_zero_statuses():
    iv = implied_vol([5.0, 4.0, 6.0], 105.0, 100.0, expiry_years=0.0, rate=0.01,
                     kind=OptionKind.CALL, on_error="nan")
    assert iv.status.tolist() == [IVStatus.UNDETERMINED, IVStatus.BELOW_INTRINSIC,
                                  IVStatus.ABOVE_MAXIMUM]
    assert np.all(np.isnan(iv.vol))


def test_on_error_raise_names_rows_and_status():
    with pytest.raises(ImpliedVolError, match=r"BELOW_INTRINSIC for price 1\.0 at index 1") as exc:
        implied_vol([10.0, 1.0, 200.0], 100.0, [95.0, 50.0, 100.0], expiry_years=1.0, rate=0.0,
                    kind=OptionKind.CALL)
    assert "ABOVE_MAXIMUM" in str(exc.value)
    assert "2 of 3 rows" in str(exc.value)
    assert exc.value.status.tolist() == [0, 1, 2]


def test_on_error_must_be_known():
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'nan'"):
        implied_vol(1.0, 100.0, 100.0, expiry_years=1.0, rate=0.0, kind=1, on_error="clip")


def test_negative_price_is_an_input_error():
    with pytest.raises(InputError, match=r"price must be >= 0 and finite; got -1\.0"):
        implied_vol(-1.0, 100.0, 100.0, expiry_years=1.0, rate=0.0, kind=1)


def test_front_doors_round_trip():
    kw = dict(expiry_years=0.4, kind=OptionKind.CALL)
    p = black_scholes.price(100.0, 110.0, vol=0.3, rate=0.02, **kw)
    assert abs(float(black_scholes.implied_vol(p, 100.0, 110.0, rate=0.02, **kw).vol) - 0.3) < 1e-13
    p = black_scholes_merton.price(100.0, 110.0, vol=0.3, rate=0.02, dividend_yield=0.01, **kw)
    assert abs(float(black_scholes_merton.implied_vol(p, 100.0, 110.0, rate=0.02,
                                                      dividend_yield=0.01, **kw).vol) - 0.3) < 1e-13
    p = black76.price(100.0, 110.0, vol=0.3, rate=0.02, **kw)
    assert abs(float(black76.implied_vol(p, 100.0, 110.0, rate=0.02, **kw).vol) - 0.3) < 1e-13
    p = garman_kohlhagen.price(1.1, 1.2, vol=0.1, domestic_rate=0.02, foreign_rate=0.04, **kw)
    assert abs(float(garman_kohlhagen.implied_vol(p, 1.1, 1.2, domestic_rate=0.02,
                                                  foreign_rate=0.04, **kw).vol) - 0.1) < 1e-12


def test_negative_rates_round_trip():
    p = price(100.0, [90.0, 100.0, 110.0], expiry_years=2.0, vol=0.2, rate=-0.01, carry=-0.005,
              kind=OptionKind.PUT)
    iv = implied_vol(p, 100.0, [90.0, 100.0, 110.0], expiry_years=2.0, rate=-0.01, carry=-0.005,
                     kind=OptionKind.PUT)
    assert_close(iv.vol, [0.2, 0.2, 0.2], 1e-13)
