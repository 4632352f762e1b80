"""European pricing API: literature values, QuantLib and py_vollib on random cases, put-call
parity, Greeks against central finite differences, model front doors, and edge cases."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql
from vollib.black import black as vollib_black
from vollib.black_scholes_merton import black_scholes_merton as vollib_bsm
from vollib.black_scholes_merton.greeks import analytical as vollib_greeks

from greeksmargin import OptionKind, greeks, price
from greeksmargin.errors import InputError
from greeksmargin.pricing import black76, black_scholes, black_scholes_merton, garman_kohlhagen
from tests.conftest import assert_close, random_domain

QL_RTOL = 1e-10  # QuantLib's own normal CDF is accurate to about 1e-15 relative; d1 rounding
VOLLIB_RTOL = 1e-10
PARITY_RTOL = 1e-12
FD_RTOL = 1e-5
N_RANDOM = 1500
DATA = Path(__file__).resolve().parents[1] / "data" / "literature"


def _rows(name):
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("row", _rows("haug_1998_bsm.csv"), ids=lambda r: r["source"])
def test_haug_1998_values(row):
    kind = OptionKind.parse(row["kind"])
    got = black_scholes_merton.price(
        float(row["spot"]), float(row["strike"]), expiry_years=float(row["expiry_years"]),
        vol=float(row["vol"]), rate=float(row["rate"]),
        dividend_yield=float(row["dividend_yield"]), kind=kind)
    assert abs(float(got) - float(row["value"])) <= float(row["tol"]), row


@pytest.mark.parametrize("row", _rows("haug_1998_greeks.csv"), ids=lambda r: r["greek"])
def test_haug_1998_greek_values(row):
    g = black_scholes_merton.greeks(
        float(row["spot"]), float(row["strike"]), expiry_years=float(row["expiry_years"]),
        vol=float(row["vol"]), rate=float(row["rate"]),
        dividend_yield=float(row["dividend_yield"]), kind=OptionKind.parse(row["kind"]))
    assert abs(float(getattr(g, row["greek"])) - float(row["value"])) <= 1e-4, row


def test_hull_example_put_call():
    # Hull, Options, Futures and Other Derivatives, Example 15.6
    assert round(float(black_scholes.price(42.0, 40.0, expiry_years=0.5, vol=0.2, rate=0.1,
                                           kind=OptionKind.CALL)), 2) == 4.76
    assert round(float(black_scholes.price(42.0, 40.0, expiry_years=0.5, vol=0.2, rate=0.1,
                                           kind=OptionKind.PUT)), 2) == 0.81


def test_against_quantlib_black_calculator_on_random_cases():
    # QuantLib's BlackCalculator takes the forward, strike, stdDev and discount directly, so year
    # fractions need no date rounding. Its delta/gamma are w.r.t. spot given the forward factor.
    spot, strike, t, vol, rate, carry, kind = random_domain(N_RANDOM, 11, t_max=10.0,
                                                            vol_min=0.01, vol_max=2.0)
    g = greeks(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)
    expected = {name: np.empty(N_RANDOM) for name in ("price", "delta", "gamma", "vega", "theta",
                                                       "rho", "carry_rho")}
    for i in range(N_RANDOM):
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if kind[i] == 1 else ql.Option.Put,
                                       strike[i])
        forward = spot[i] * math.exp(carry[i] * t[i])
        discount = math.exp(-rate[i] * t[i])
        bc = ql.BlackCalculator(payoff, forward, vol[i] * math.sqrt(t[i]), discount)
        expected["price"][i] = bc.value()
        expected["delta"][i] = bc.delta(spot[i])
        expected["gamma"][i] = bc.gamma(spot[i])
        expected["vega"][i] = bc.vega(t[i])
        expected["theta"][i] = bc.theta(spot[i], t[i])
        expected["rho"][i] = bc.rho(t[i])
        expected["carry_rho"][i] = -bc.dividendRho(t[i])
    for name, values in expected.items():
        scale = np.abs(values).max()
        assert_close(getattr(g, name), values, QL_RTOL, atol=1e-13 * scale, context=name)


def test_against_quantlib_analytic_engine_with_dates():
    # The full AnalyticEuropeanEngine path (dates, curves, Actual365Fixed): whole-day expiries.
    rng = np.random.default_rng(12)
    today = ql.Date(15, 6, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    for _ in range(200):
        days = int(rng.integers(1, 3650))
        s, k = 100.0, float(100.0 * np.exp(rng.normal() * 0.3))
        vol, r, q = float(rng.uniform(0.05, 1.0)), float(rng.uniform(-0.01, 0.1)), float(
            rng.uniform(0.0, 0.05))
        is_call = bool(rng.integers(0, 2))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(s)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
        option = ql.VanillaOption(
            ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, k),
            ql.EuropeanExercise(today + days))
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
        g = black_scholes_merton.greeks(s, k, expiry_years=days / 365.0, vol=vol, rate=r,
                                        dividend_yield=q,
                                        kind=OptionKind.CALL if is_call else OptionKind.PUT)
        ctx = f"S={s} K={k} days={days} vol={vol} r={r} q={q} call={is_call}"
        assert_close(g.price, option.NPV(), QL_RTOL, atol=1e-12, context=ctx)
        assert_close(g.delta, option.delta(), QL_RTOL, atol=1e-12, context=ctx)
        assert_close(g.gamma, option.gamma(), 1e-9, atol=1e-12, context=ctx)
        assert_close(g.vega, option.vega(), 1e-9, atol=1e-10, context=ctx)
        assert_close(g.theta, option.theta(), 1e-9, atol=1e-10, context=ctx)
        assert_close(g.rho, option.rho(), 1e-9, atol=1e-10, context=ctx)
        assert_close(g.yield_rho, option.dividendRho(), 1e-9, atol=1e-10, context=ctx)


def test_against_py_vollib_merton_and_black():
    spot, strike, t, vol, rate, carry, kind = random_domain(N_RANDOM, 13, t_max=10.0,
                                                            vol_min=0.01, vol_max=2.0)
    q = rate - carry
    got = black_scholes_merton.price(spot, strike, expiry_years=t, vol=vol, rate=rate,
                                     dividend_yield=q, kind=kind)
    g = black_scholes_merton.greeks(spot, strike, expiry_years=t, vol=vol, rate=rate,
                                    dividend_yield=q, kind=kind)
    flags = np.where(kind == 1, "c", "p")
    expected = np.array([vollib_bsm(f, s, k, tt, r, v, qq)
                         for f, s, k, tt, r, v, qq in zip(flags, spot, strike, t, rate, vol, q, strict=False)])
    assert_close(got, expected, VOLLIB_RTOL, atol=1e-12 * spot.max())
    # py_vollib greeks are in desk units: vega per vol point, theta per day
    vega = np.array([vollib_greeks.vega(f, s, k, tt, r, v, qq)
                     for f, s, k, tt, r, v, qq in zip(flags, spot, strike, t, rate, vol, q, strict=False)])
    assert_close(g.vega_per_vol_point, vega, 1e-9, atol=1e-12 * spot.max())
    fwd = spot * np.exp(carry * t)
    black = np.array([vollib_black(f, F, k, tt, r, v)
                      for f, F, k, tt, r, v in zip(flags, fwd, strike, t, rate, vol, strict=False)])
    got76 = black76.price(fwd, strike, expiry_years=t, vol=vol, rate=rate, kind=kind)
    assert_close(got76, black, VOLLIB_RTOL, atol=1e-12 * fwd.max())


def test_put_call_parity_across_the_domain():
    spot, strike, t, vol, rate, carry, _ = random_domain(N_RANDOM, 14)
    call = price(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry,
                 kind=OptionKind.CALL)
    put = price(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry,
                kind=OptionKind.PUT)
    lhs = call - put
    rhs = spot * np.exp((carry - rate) * t) - strike * np.exp(-rate * t)
    scale = np.maximum(spot * np.exp((carry - rate) * t), strike * np.exp(-rate * t))
    assert_close(lhs, rhs, 0.0, atol=PARITY_RTOL * 4 * scale.max(), context="parity abs")
    assert np.all(np.abs(lhs - rhs) <= 4e-15 * scale + 4e-15 * (call + put))


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_greeks_match_central_differences():
    spot, strike, t, vol, rate, carry, kind = random_domain(400, 15, t_min=0.02, t_max=5.0,
                                                            vol_min=0.05, vol_max=1.0,
                                                            moneyness=2.0)
    g = greeks(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)

    def p(**over):
        a = dict(spot=spot, strike=strike, expiry_years=t, vol=vol, rate=rate, carry=carry)
        a.update(over)
        return price(a.pop("spot"), a.pop("strike"), kind=kind, **a)

    def gr(**over):
        a = dict(spot=spot, strike=strike, expiry_years=t, vol=vol, rate=rate, carry=carry)
        a.update(over)
        return greeks(a.pop("spot"), a.pop("strike"), kind=kind, **a)

    # bumps scaled to the distribution width, so truncation error is uniform across the domain
    hs, hv, hr, ht = 1e-3 * spot * vol * np.sqrt(t), 1e-5, 1e-6, 1e-6 * t
    scale = spot.max()
    checks = {
        "delta": _central(lambda x: p(spot=x), spot, hs),
        "gamma": _central(lambda x: gr(spot=x).delta, spot, hs),
        "vega": _central(lambda x: p(vol=x), vol, hv),
        "theta": -_central(lambda x: p(expiry_years=x), t, ht),
        # rho: the yield r - b fixed, so carry moves with the rate
        "rho": _central(lambda x: p(rate=x, carry=carry + (x - rate)), rate, hr),
        "carry_rho": _central(lambda x: p(carry=x), carry, hr),
        "vanna": _central(lambda x: gr(spot=x).vega, spot, hs),
        "volga": _central(lambda x: gr(vol=x).vega, vol, hv),
        "charm": -_central(lambda x: gr(expiry_years=x).delta, t, ht),
    }
    for name, fd in checks.items():
        assert_close(getattr(g, name), fd, FD_RTOL, atol=1e-6 * np.abs(fd).max() + 1e-9 * scale,
                     context=name)


def test_front_doors_compute_carry():
    kw = dict(expiry_years=0.7, vol=0.3, kind=OptionKind.PUT)
    base = price(100.0, 95.0, rate=0.04, carry=0.04 - 0.015, **kw)
    assert float(black_scholes_merton.price(100.0, 95.0, rate=0.04, dividend_yield=0.015, **kw)) \
        == float(base)
    assert float(garman_kohlhagen.price(100.0, 95.0, domestic_rate=0.04, foreign_rate=0.015,
                                        **kw)) == float(base)
    assert float(black_scholes.price(100.0, 95.0, rate=0.04, **kw)) == float(
        price(100.0, 95.0, rate=0.04, carry=0.04, **kw))
    assert float(black76.price(100.0, 95.0, rate=0.04, **kw)) == float(
        price(100.0, 95.0, rate=0.04, carry=0.0, **kw))


def test_black76_rho_holds_the_future_fixed():
    g = black76.greeks(19.0, 19.0, expiry_years=0.75, vol=0.28, rate=0.1, kind=OptionKind.CALL)
    assert_close(g.rho, -0.75 * g.price, 1e-14)
    up = black76.price(19.0, 19.0, expiry_years=0.75, vol=0.28, rate=0.1 + 1e-6,
                       kind=OptionKind.CALL)
    down = black76.price(19.0, 19.0, expiry_years=0.75, vol=0.28, rate=0.1 - 1e-6,
                         kind=OptionKind.CALL)
    assert_close(g.rho, (up - down) / 2e-6, 1e-7)


def test_desk_units_are_scaled_views_of_raw_greeks():
    g = greeks([100.0, 110.0, 90.0], 100.0, expiry_years=[0.1, 0.5, 2.0], vol=0.25, rate=0.03,
               kind=OptionKind.CALL)
    assert np.array_equal(g.vega_per_vol_point, g.vega * 0.01)
    assert np.array_equal(g.theta_per_day, g.theta / 365.0)
    assert np.array_equal(g.rho_per_point, g.rho * 0.01)
    assert np.array_equal(g.yield_rho, -g.carry_rho)
    frame = g.to_frame()
    assert list(frame["theta_per_day"]) == list(g.theta / 365.0)
    assert len(frame) == 3


def test_broadcasting_shapes_and_distinct_elements():
    spots = np.array([[90.0], [100.0], [110.0]])
    strikes = np.array([95.0, 100.0, 105.0, 110.0])
    out = price(spots, strikes, expiry_years=0.5, vol=0.2, rate=0.01, kind=OptionKind.CALL)
    assert out.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            single = price(float(spots[i, 0]), float(strikes[j]), expiry_years=0.5, vol=0.2,
                           rate=0.01, kind=OptionKind.CALL)
            assert out[i, j] == float(single)
    assert price(100.0, 100.0, expiry_years=0.5, vol=0.2, rate=0.01, kind=1).shape == ()


def test_large_input_uses_parallel_kernel_and_matches_small_calls():
    spot, strike, t, vol, rate, carry, kind = random_domain(50_000, 16)
    big = greeks(spot, strike, expiry_years=t, vol=vol, rate=rate, carry=carry, kind=kind)
    idx = np.arange(0, 50_000, 997)
    small = greeks(spot[idx], strike[idx], expiry_years=t[idx], vol=vol[idx], rate=rate[idx],
                   carry=carry[idx], kind=kind[idx])
    for name in ("price", "delta", "gamma", "vega", "theta", "charm"):
        assert np.array_equal(getattr(big, name)[idx], getattr(small, name)), name


def test_out_buffers_receive_the_same_numbers_and_bad_buffers_are_named():
    rng = np.random.default_rng(11)
    n = 3000  # above the parallel threshold too
    spot = rng.uniform(50, 150, n)
    args = dict(expiry_years=rng.uniform(0.01, 2.0, n), vol=rng.uniform(0.1, 0.8, n), rate=0.03,
                carry=0.01, kind=rng.integers(1, 3, n))
    fresh_price = price(spot, 100.0, **args)
    buffer = np.full(n, np.nan)
    got = price(spot, 100.0, **args, out=buffer)
    assert np.shares_memory(got, buffer) and np.array_equal(got, fresh_price)
    fresh = greeks(spot, 100.0, **args)
    table = np.full((10, n), np.nan)
    for target in (table, table.reshape(10, 1, n)):  # flat or the broadcast shape
        g = greeks(spot.reshape(1, n) if target.ndim == 3 else spot, 100.0, **args, out=target)
        assert np.shares_memory(g.delta, table)
        for name in ("price", "delta", "gamma", "vega", "theta", "rho", "carry_rho", "vanna",
                     "volga", "charm"):
            assert np.array_equal(np.ravel(getattr(g, name)), getattr(fresh, name)), name
    with pytest.raises(InputError, match=r"out must have shape \(3000,\) \(the broadcast inputs\); got \(2999,\)"):
        price(spot, 100.0, **args, out=np.empty(n - 1))
    with pytest.raises(InputError, match=r"out must have shape \(10, 3000\) \(the broadcast inputs\); got \(9, 3000\)"):
        greeks(spot, 100.0, **args, out=np.empty((9, n)))
    with pytest.raises(InputError, match="writeable C-contiguous float64 ndarray; got ndarray of"
                                         " float32"):
        price(spot, 100.0, **args, out=np.empty(n, np.float32))
    with pytest.raises(InputError, match="got list"):
        price(spot, 100.0, **args, out=[0.0] * n)
    strided = np.empty(2 * n)[::2]
    with pytest.raises(InputError, match="writeable C-contiguous"):
        price(spot, 100.0, **args, out=strided)
    frozen = np.empty(n)
    frozen.flags.writeable = False
    with pytest.raises(InputError, match="writeable C-contiguous"):
        price(spot, 100.0, **args, out=frozen)


@pytest.mark.parametrize("model, extra", [
    (black_scholes, {"rate": 0.03}),
    (black_scholes_merton, {"rate": 0.03, "dividend_yield": 0.02}),
    (black76, {"rate": 0.03}),
    (garman_kohlhagen, {"domestic_rate": 0.03, "foreign_rate": 0.05}),
])
def test_model_front_doors_take_out_buffers(model, extra):
    # each model's price and greeks write into the caller's buffer the numbers they return
    # without one; Black-76's rho (-T V, the futures price fixed) lands in the buffer's rho row
    rng = np.random.default_rng(12)
    n = 3000
    args = dict(expiry_years=rng.uniform(0.01, 2.0, n), vol=rng.uniform(0.1, 0.8, n),
                kind=rng.integers(1, 3, n), **extra)
    first = rng.uniform(50, 150, n)
    buffer = np.full(n, np.nan)
    got = model.price(first, 100.0, **args, out=buffer)
    assert np.shares_memory(got, buffer)
    assert np.array_equal(buffer, model.price(first, 100.0, **args))
    table = np.full((10, n), np.nan)
    g = model.greeks(first, 100.0, **args, out=table)
    fresh = model.greeks(first, 100.0, **args)
    for row, name in enumerate(("price", "delta", "gamma", "vega", "theta", "rho", "carry_rho",
                                "vanna", "volga", "charm")):
        assert np.shares_memory(getattr(g, name), table[row]), name
        assert np.array_equal(table[row], getattr(fresh, name)), name
    if model is black76:
        assert np.allclose(g.rho, -args["expiry_years"] * g.price, rtol=1e-12, atol=1e-14)
