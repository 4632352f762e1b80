"""Expiry 0, vol 0, deep in/out of the money, long expiries, negative rates; every validation
error branch with its type and message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from greeksmargin import InputError, OptionKind, greeks, implied_vol, price
from greeksmargin.pricing import american
from tests.conftest import assert_close

CALL, PUT = OptionKind.CALL, OptionKind.PUT


def test_expiry_zero_is_intrinsic_with_limit_greeks():
    spots = np.array([90.0, 100.0, 110.0])
    g = greeks(spots, 100.0, expiry_years=0.0, vol=0.3, rate=0.05, carry=0.02, kind=CALL)
    assert g.price.tolist() == [0.0, 0.0, 10.0]
    assert g.delta.tolist() == [0.0, 0.5, 1.0]
    assert g.gamma.tolist() == [0.0, math.inf, 0.0]
    assert g.vega.tolist() == [0.0, 0.0, 0.0]
    assert g.theta[1] == -math.inf
    # limits approached from a tiny expiry, away from the strike
    near = greeks(spots[[0, 2]], 100.0, expiry_years=1e-9, vol=0.3, rate=0.05, carry=0.02,
                  kind=CALL)
    assert_close(near.price, g.price[[0, 2]], 1e-6, atol=1e-9)
    assert_close(near.delta, g.delta[[0, 2]], 1e-6, atol=1e-9)
    assert_close(near.theta, g.theta[[0, 2]], 1e-6, atol=1e-9)
    put = greeks(spots, 100.0, expiry_years=0.0, vol=0.3, rate=0.05, kind=PUT)
    assert put.price.tolist() == [10.0, 0.0, 0.0]
    assert put.delta.tolist() == [-1.0, -0.5, 0.0]


def test_vol_zero_is_discounted_forward_intrinsic():
    t, r, b = 0.5, 0.05, 0.03
    spots = np.array([80.0, 120.0])
    got = greeks(spots, 100.0, expiry_years=t, vol=0.0, rate=r, carry=b, kind=CALL)
    fwd = spots * math.exp(b * t)
    assert_close(got.price, np.maximum(fwd - 100.0, 0) * math.exp(-r * t), 1e-15)
    tiny = greeks(spots, 100.0, expiry_years=t, vol=1e-6, rate=r, carry=b, kind=CALL)
    for name in ("price", "delta", "theta", "rho", "carry_rho", "charm"):
        assert_close(getattr(got, name), getattr(tiny, name), 1e-9, atol=1e-12, context=name)
    assert got.gamma.tolist() == [0.0, 0.0]


def test_vol_zero_at_the_forward_has_finite_vega_limit():
    t = 0.5
    g = greeks(100.0, 100.0 * math.exp(0.02 * t), expiry_years=t, vol=0.0, rate=0.02, kind=CALL)
    tiny = greeks(100.0, 100.0 * math.exp(0.02 * t), expiry_years=t, vol=1e-9, rate=0.02,
                  kind=CALL)
    assert_close(g.vega, tiny.vega, 1e-6)
    assert g.gamma == math.inf


def test_deep_out_of_the_money_prices_stay_positive_and_accurate():
    # far out of the money: tiny but representable prices with full relative accuracy
    p = price(100.0, [300.0, 1000.0], expiry_years=0.1, vol=0.5, rate=0.0, kind=CALL)
    assert np.all(p > 0)
    assert p[1] < p[0]
    deep_itm = price(100.0, 1e-6, expiry_years=1.0, vol=0.3, rate=0.01, carry=0.01, kind=CALL)
    assert_close(deep_itm, 100.0 - 1e-6 * math.exp(-0.01), 1e-15)


def test_very_long_expiry_and_negative_rates():
    p = price(100.0, 100.0, expiry_years=50.0, vol=0.3, rate=-0.01, carry=-0.01, kind=PUT)
    c = price(100.0, 100.0, expiry_years=50.0, vol=0.3, rate=-0.01, carry=-0.01, kind=CALL)
    assert_close(c - p, 100.0 * math.exp(0.0) * 1.0 - 100.0 * math.exp(0.5), 1e-12,
                 context="parity at -1% over 50y")
    assert 0 < float(c) < 100.0


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(spot=-5.0), r"spot must be > 0 and finite; got -5\.0 at scalar input"),
        (dict(spot=[100.0, float("inf"), 90.0]),
         r"spot must be > 0 and finite; got inf at index 1 \(1 of 3 values invalid\)"),
        (dict(strike=0.0), r"strike must be > 0 and finite; got 0\.0"),
        (dict(expiry_years=-0.1), r"expiry_years must be >= 0 and finite .*got -0\.1.*past expiry"),
        (dict(vol=-0.2), r"vol must be >= 0 and finite; got -0\.2"),
        (dict(vol=25.0), r"vol must be <= 5\.0 .*got 25\.0.*looks like a percentage"),
        (dict(vol=float("inf")), r"vol must be >= 0 and finite; got inf"),
        (dict(rate=float("-inf")), r"rate must be finite .*got -inf"),
        (dict(carry=float("inf")), r"carry must be finite .*got inf"),
        (dict(kind=OptionKind.LINEAR), r"kind must be OptionKind.CALL \(1\) or OptionKind.PUT"),
        (dict(kind=[1, 2, 7]), r"kind must be .* got 7 at index 2"),
        # codes int8 cannot hold: a cast would wrap 257 to 1 (CALL) and price it silently
        (dict(kind=[1, 257]), r"kind must be OptionKind.CALL \(1\) .* got 257 at index 1"),
        (dict(kind=-255), r"kind must be OptionKind.CALL \(1\) .* got -255 at scalar input"),
        (dict(kind="cal"), r"kind must be 'call'/'c' or 'put'/'p' \(any case\); got 'cal'"),
        (dict(kind=["c", None]), r"kind must be 'call'/'c', 'put'/'p' or codes 1/2; got None"),
        (dict(kind=1.5), r"kind must be integer codes"),
        (dict(spot="abc"), r"spot must be numeric; got the string 'abc'"),
        (dict(strike=[object()]), r"strike must be numeric"),
        (dict(vol=None), r"vol must be numeric; got None"),  # was a KeyError
        (dict(spot=[1.0, 2.0], strike=[1.0, 2.0, 3.0]), r"inputs do not broadcast together"),
    ],
)
def test_bad_input_is_named(kwargs, pattern):
    args = dict(spot=100.0, strike=100.0, expiry_years=0.5, vol=0.2, rate=0.01, carry=None,
                kind=CALL)
    args.update(kwargs)
    with pytest.raises(InputError, match=pattern):
        price(args.pop("spot"), args.pop("strike"), **args)
    with pytest.raises(InputError, match=pattern):
        args2 = dict(spot=100.0, strike=100.0, expiry_years=0.5, vol=0.2, rate=0.01, carry=None,
                     kind=CALL)
        args2.update(kwargs)
        greeks(args2.pop("spot"), args2.pop("strike"), **args2)


def test_two_dimensional_error_location():
    spot = np.full((2, 3), 100.0)
    spot[1, 2] = -1.0
    with pytest.raises(InputError, match=r"got -1\.0 at index \(np.int64\(1\), np.int64\(2\)\)|"
                                         r"got -1\.0 at index \(1, 2\)"):
        price(spot, 100.0, expiry_years=1.0, vol=0.2, rate=0.0, kind=CALL)


def test_kind_as_text_arrays_as_py_vollib_users_write_it():
    text = np.array(["c", "p", "Call", " PUT", "C"])
    got = price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.01, kind=text)
    codes = price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.01, kind=[1, 2, 1, 2, 1])
    assert got.tolist() == codes.tolist()
    g = greeks(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.01, kind=["call", "put"])
    assert g.delta[0] > 0 > g.delta[1]


def test_nan_inputs_give_nan_rows_with_a_counted_warning():
    # an unsolved implied vol (on_error="nan") fed back into greeks: its row is NaN, the others
    # priced as usual, and a warning counts the NaN rows; inf and negative values stay errors
    from greeksmargin.errors import MissingInputWarning

    iv = implied_vol(np.array([5.0, 500.0]), 100.0, 100.0, expiry_years=1.0, rate=0.0, kind=CALL,
                     on_error="nan")
    with pytest.warns(MissingInputWarning, match=r"1 of 2 rows have NaN inputs \(vol\)"):
        g = greeks(100.0, 100.0, expiry_years=1.0, vol=iv.vol, rate=0.0, kind=CALL)
    assert_close(g.price[0], 5.0, 1e-12) and np.isnan(g.price[1]) and np.isnan(g.delta[1])
    with pytest.warns(MissingInputWarning, match=r"1 of 3 rows have NaN inputs \(spot\)"):
        p = price([100.0, float("nan"), 90.0], 100.0, expiry_years=0.5, vol=0.2, rate=0.0,
                  kind=CALL)
    assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()


def test_validate_false_skips_checks_and_nan_propagates():
    out = price([100.0, -1.0], 100.0, expiry_years=1.0, vol=0.2, rate=0.0, kind=CALL,
                validate=False)
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_american_bad_arguments():
    with pytest.raises(InputError, match="n_steps must be an integer"):
        american.price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.05, kind=PUT, n_steps=0)
    with pytest.raises(InputError, match="method must be one of tree, alo, baw"):
        american.price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.05, kind=PUT,
                       method="fd")
    with pytest.raises(InputError, match="method must be one of tree, alo, baw"):
        american.implied_vol(5.0, 100.0, 100.0, expiry_years=1.0, rate=0.05, kind=PUT,
                             method="fd")
    with pytest.raises(ValueError, match="on_error must be"):
        american.implied_vol(5.0, 100.0, 100.0, expiry_years=1.0, rate=0.05, kind=PUT,
                             on_error="ignore")
    with pytest.raises(InputError, match="dividend_yield must be numeric"):
        american.price(100.0, 100.0, expiry_years=1.0, vol=0.2, rate=0.05, dividend_yield="x",
                       kind=PUT)


def test_option_kind_parse():
    assert OptionKind.parse(" Put ") is PUT
    assert OptionKind.parse("future") is OptionKind.LINEAR
    with pytest.raises(ValueError, match="unknown option kind 'straddle'"):
        OptionKind.parse("straddle")


@pytest.mark.parametrize("fn", [price, greeks], ids=["price", "greeks"])
def test_bad_input_in_a_large_array_is_named_with_and_without_out(fn):
    # large enough for the parallel kernels, which check the inputs in their own pass
    n = 50_000
    spot = np.full(n, 100.0)
    vol = np.full(n, 0.2)
    vol[31_234] = 25.0
    args = dict(expiry_years=1.0, vol=vol, rate=0.01, kind=CALL)
    rows = (n,) if fn is price else (10, n)
    for out in (None, np.empty(rows)):
        with pytest.raises(InputError, match=r"vol must be <= 5.0 .* got 25\.0 at index 31234 "
                                             r"\(1 of 50000 values invalid\); this looks like a"):
            fn(spot, 100.0, out=out, **args)
