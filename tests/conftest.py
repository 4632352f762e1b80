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
