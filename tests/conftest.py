"""Shared fixtures and the tolerance helper. Hypothesis profiles: "ci" (default) and "dev"."""

from __future__ import annotations

import numpy as np
from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci")


def assert_close(actual, expected, rtol, atol=0.0, context=""):
    """Relative tolerance with an absolute fallback; prints every failing input (QuantLib style)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    err = np.abs(actual - expected)
    ok = (err <= rtol * np.abs(expected)) | (err <= atol)
    if not np.all(ok):
        i = np.flatnonzero(~np.ravel(ok))[:5]
        raise AssertionError(
            f"{np.count_nonzero(~ok)} of {ok.size} values off (rtol={rtol}, atol={atol}) {context}\n"
            f"  indices {i.tolist()}\n  actual   {np.ravel(actual)[i].tolist()}\n"
            f"  expected {np.ravel(expected)[i].tolist()}"
        )


def random_domain(n, seed, t_min=1 / 8760, t_max=30.0, vol_min=0.005, vol_max=5.0, moneyness=4.0):
    """Random inputs across the documented domain: 1 hour..30 years, vol 0.5%..500%,
    strikes up to ``moneyness`` standard deviations away, negative rates and carries included."""
    rng = np.random.default_rng(seed)
    t = np.exp(rng.uniform(np.log(t_min), np.log(t_max), n))
    vol = np.exp(rng.uniform(np.log(vol_min), np.log(vol_max), n))
    spot = np.exp(rng.uniform(np.log(1.0), np.log(5000.0), n))
    strike = spot * np.exp(rng.normal(size=n) * vol * np.sqrt(t) * moneyness / 2)
    rate = rng.uniform(-0.02, 0.12, n)
    carry = rate - rng.uniform(-0.03, 0.08, n)
    kind = rng.integers(1, 3, n).astype(np.int8)
    return spot, strike, t, vol, rate, carry, kind


def random_book(n, seed, n_underlyings=3, linear_share=0.15, inverse=False, american_share=0.0,
                max_expiry_seconds=3 * 365 * 86400.0):
    """A random Book and MarketData: calls, puts and linear instruments (underlying, futures)
    on several underlyings, expiries from an hour to ``max_expiry_seconds`` (3 years),
    log-uniform, signed quantities."""
    from greeksmargin import Book, MarketData

    rng = np.random.default_rng(seed)
    names = [f"U{k}" for k in range(n_underlyings)]
    spot = np.exp(rng.uniform(np.log(20.0), np.log(5000.0), n_underlyings))
    valuation = np.datetime64("2025-03-03T14:30:00", "s")
    und = rng.integers(0, n_underlyings, n)
    kind = rng.integers(1, 3, n).astype(np.int8)
    linear = rng.uniform(size=n) < linear_share
    kind[linear] = 0
    seconds = np.exp(rng.uniform(np.log(3600.0), np.log(max_expiry_seconds), n)).astype(np.int64)
    expiry = valuation + seconds.astype("timedelta64[s]")
    perpetual = linear & (rng.uniform(size=n) < 0.5)
    expiry[perpetual] = np.datetime64("NaT")
    vol = rng.uniform(0.1, 0.9, n)
    strike = spot[und] * np.exp(rng.normal(size=n) * 0.4)
    strike[linear] = np.nan
    quantity = rng.integers(-20, 21, n).astype(float)
    quantity[quantity == 0] = 1.0
    multiplier = np.where(rng.uniform(size=n) < 0.5, 100.0, 1.0)
    exercise = (rng.uniform(size=n) < american_share).astype(np.int8) * (kind != 0)
    settlement = np.full(n, 1 if inverse else 0, np.int8)
    book = Book([f"P{i}" for i in range(n)], np.array(names)[und], kind, strike, expiry,
                quantity, multiplier, exercise, settlement)
    rate = rng.uniform(-0.01, 0.06, n_underlyings)
    carry = rate - rng.uniform(-0.02, 0.04, n_underlyings)
    market = MarketData(valuation, names, spot, rate, carry,
                        position_vol={f"P{i}": float(vol[i]) for i in range(n) if kind[i]})
    return book, market


def run_console_script(*args):
    """Run the installed ``greeksmargin`` script (proves the package and its data installed)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("greeksmargin") or shutil.which("greeksmargin",
                                                       path=str(Path(sys.executable).parent))
    assert exe is not None, "the console script is not on PATH: is the package installed?"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, check=False)
