"""Reference revaluation: a plain loop over positions and scenarios with ``scipy.stats.norm``.

Shares no code with :mod:`greeksmargin.kernels` or :mod:`greeksmargin.measures.revalue` (not even the
vol-shock rule), so a bug in either shows up as a difference. European options and linear
instruments only; slow by design (tests only).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def _european(spot: float, strike: float, t: float, vol: float, rate: float, carry: float,
              is_call: bool) -> float:
    if t <= 0:
        return max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    forward = spot * math.exp(carry * t)
    if vol <= 0:
        payoff = forward - strike if is_call else strike - forward
        return math.exp(-rate * t) * max(payoff, 0.0)
    sd = vol * math.sqrt(t)
    d1 = math.log(forward / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    if is_call:
        return math.exp(-rate * t) * (forward * norm.cdf(d1) - strike * norm.cdf(d2))
    return math.exp(-rate * t) * (strike * norm.sf(d2) - forward * norm.sf(d1))


def position_pnl(spot: float, rate: float, carry: float, kind: int, strike: float,
                 expiry_years: float, vol: float, notional: float, inverse: bool,
                 spot_shift: np.ndarray, vol_shift: np.ndarray, relative: np.ndarray,
                 time_shift_years: np.ndarray, vol_scale: float = 1.0,
                 min_vol_up: float = 0.0, linear_spot_shift: np.ndarray | None = None,
                 ) -> np.ndarray:
    """P&L of one position under each scenario (arrays over scenarios), settlement currency."""
    out = np.empty(len(spot_shift))

    def value(s: float, t: float, v: float) -> float:
        if kind == 0:
            if math.isnan(expiry_years):
                return s - spot
            return s * math.exp(carry * max(t, 0.0)) - spot * math.exp(carry * expiry_years)
        return _european(s, strike, t, v, rate, carry, kind == 1)

    now = value(spot, expiry_years, vol)
    if inverse:
        now /= spot
    for j in range(len(spot_shift)):
        shift = spot_shift if (kind != 0 or linear_spot_shift is None) else linear_spot_shift
        s1 = spot * (1 + shift[j])
        if relative[j]:
            v1 = vol * (1 + vol_shift[j] * vol_scale)
            if vol_shift[j] > 0:
                v1 = max(v1, min_vol_up)
        else:
            v1 = vol + vol_shift[j]
        v1 = max(v1, 0.0)
        later = value(s1, expiry_years - time_shift_years[j], v1)
        if inverse:
            later /= s1
        out[j] = notional * (later - now)
    return out
