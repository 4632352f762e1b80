"""Sensitivity-based margin in the style of ISDA SIMM, equity and commodity risk classes.

Formulas of the ISDA SIMM methodology v2.6 (as implemented in ORE;
``docs/cross_margin.md``), parameters from versioned data
(``methodology/data/simm/2.6.json``, SIMM v2.6, 10-day MPOR). Inputs per risk factor ``k`` (an
underlying): the delta sensitivity ``s_k`` (PV change for a 1% relative spot move, quote currency)
and the vega sensitivities ``v_kj`` (PV change for one vol point, per option ``j`` with its days to
expiry). The calculation, component by component:

- delta: ``WS_k = RW_b s_k CR_k``, ``CR_k = max(1, sqrt(|s_k| / T_b))``;
  ``K_b = sqrt(sum WS^2 + sum_{k!=l} rho_b f_kl WS_k WS_l)``, ``f_kl = min(CR)/max(CR)``;
  ``S_b = max(min(sum WS, K_b), -K_b)``; margin ``sqrt(sum K_b^2 + sum_{b!=c} gamma_bc S_b S_c)``
  plus ``K`` of the residual bucket;
- vega: ``sigma_k = RW_k sqrt(365/14) / Phi^-1(0.99)``, ``VR_k = VRW HVR sigma_k sum_j v_kj VCR_k``,
  ``VCR_k = max(1, sqrt(|HVR sigma_k sum_j v_kj| / VT_b))``, then aggregated as delta;
- curvature: ``CVR_k = sum_j SF(t_j) sigma_k v_kj`` with ``SF(t) = 0.5 min(1, 14 / t_days)`` (0 for
  equity bucket 12), ``K_b`` with ``rho^2``, ``theta = min(sum CVR / sum |CVR|, 0)``,
  ``lambda = (Phi^-1(0.995)^2 - 1)(1 + theta) - theta``, margin ``max(sum CVR + lambda
  sqrt(sum K_b^2 + sum gamma^2 S_b S_c), 0)`` plus the same for the residual bucket;
- risk class IM = delta + vega + curvature; total ``sqrt(sum IM_r^2 + sum_{r!=s} psi IM_r IM_s)``.

Thresholds are in USD millions (delta: per 1%); the book's quote currency is taken as USD.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from scipy.stats import norm

from ..enums import OptionKind, Settlement
from ..errors import InputError, MethodologyError
from ..model.book import ResolvedBook
from ..pricing import greeks

__all__ = ["SimmParameters", "load_parameters", "Sensitivities", "sensitivities",
           "SimmResult", "simm_margin", "RISK_CLASSES"]

RISK_CLASSES = ("equity", "commodity")
MPOR_DAYS = 14.0  # sqrt(365/14): the 10-business-day MPOR in calendar days
SIGMA_FACTOR = float(np.sqrt(365.0 / MPOR_DAYS) / norm.ppf(0.99))  # 2.1948647...
LAMBDA_BASE = float(norm.ppf(0.995) ** 2 - 1.0)  # 5.6348966...
USD_MM = 1e6


@dataclass(frozen=True, slots=True)
class SimmParameters:
    """One versioned SIMM parameter set (equity and commodity)."""

    name: str
    version: str
    source: str
    data: dict[str, Any] = field(repr=False)

    def risk_class(self, name: str) -> dict[str, Any]:
        """Return the parameters of one risk class."""
        if name not in self.data:
            raise MethodologyError(f"SIMM {self.version} has no risk class {name!r}")
        return self.data[name]  # type: ignore[no-any-return]


@lru_cache(maxsize=4)
def load_parameters(version: str = "2.6") -> SimmParameters:
    """Load the packaged parameter set of ``version`` (only "2.6" ships)."""
    files = {"2.6": "2.6.json"}
    if version not in files:
        raise MethodologyError(f"no SIMM parameter set {version!r}; available: {sorted(files)}")
    text = (resources.files("greeksmargin") / "methodology" / "data" / "simm" / files[version]).read_text()
    data = json.loads(text)
    return SimmParameters(data["name"], data["version"], data["source"], data)


@dataclass(frozen=True, slots=True)
class Sensitivities:
    """SIMM inputs, one row per (risk factor, instrument) (dimension ``sensitivity``).

    ``delta``: PV change for a +1% relative move of the factor; ``vega``: PV change for +1 vol
    point; ``expiry_days``: of the option (NaN for delta-one rows); quote currency (USD).
    """

    risk_class: np.ndarray
    factor: np.ndarray
    bucket: np.ndarray
    delta: np.ndarray
    vega: np.ndarray
    expiry_days: np.ndarray


def sensitivities(resolved: ResolvedBook,
                  bucket_of: Mapping[str, tuple[str, str]]) -> Sensitivities:
    """SIMM sensitivities of a resolved (quote-settled) book.

    ``bucket_of`` maps each underlying to ``(risk_class, bucket)``, e.g. ``{"SPX": ("equity",
    "11"), "AAPL": ("equity", "8"), "CL": ("commodity", "2")}``; ``"residual"`` is a bucket.
    """
    if np.any(resolved.inverse == Settlement.INVERSE):
        raise InputError("SIMM sensitivities need quote-settled positions (USD)")
    market = resolved.market
    names = [market.underlyings[u] for u in resolved.underlying_index]
    for name in set(names):
        if name not in bucket_of:
            raise InputError(f"no SIMM risk class and bucket for underlying {name!r}")
        risk_class, bucket = bucket_of[name]
        if risk_class not in RISK_CLASSES:
            raise InputError(f"unknown SIMM risk class {risk_class!r} for {name!r}; known:"
                             f" {', '.join(RISK_CLASSES)}")
    u = resolved.underlying_index
    spot, rate, carry = market.spot[u], market.rate[u], market.carry[u]
    n = u.size
    delta = np.zeros(n)
    vega = np.zeros(n)
    linear = resolved.kind == OptionKind.LINEAR
    t = resolved.expiry_years
    growth = np.where(linear & ~np.isnan(t), np.exp(carry * np.nan_to_num(t)), 1.0)
    delta[linear] = (resolved.notional * spot * growth * 0.01)[linear]
    option = ~linear
    if option.any():
        g = greeks(spot[option], resolved.strike[option], expiry_years=t[option],
                   vol=resolved.vol[option], rate=rate[option], carry=carry[option],
                   kind=resolved.kind[option])
        delta[option] = resolved.notional[option] * g.delta * spot[option] * 0.01
        vega[option] = resolved.notional[option] * g.vega_per_vol_point
    return Sensitivities(np.array([bucket_of[x][0] for x in names]), np.array(names),
                         np.array([str(bucket_of[x][1]) for x in names]), delta, vega,
                         np.where(option, t * 365.0, np.nan))


@dataclass(frozen=True, slots=True)
class SimmResult:
    """SIMM-style margin and every intermediate, per risk class.

    ``components[risk_class]`` holds ``delta``, ``vega``, ``curvature`` (margins), ``im`` (their
    sum) and, per measure, the bucket-level ``K`` and ``S`` and factor-level weighted
    sensitivities; ``total`` aggregates the risk classes with ``psi``.
    """

    total: float
    components: dict[str, dict[str, Any]]
    parameters: str


def _rows_by_bucket(buckets: np.ndarray, factors: np.ndarray, values: np.ndarray
                    ) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for b, k, v in zip(buckets.tolist(), factors.tolist(), values.tolist(), strict=True):
        out.setdefault(b, {}).setdefault(k, 0.0)
        out[b][k] += v
    return out


def _bucket_k(ws: np.ndarray, cr: np.ndarray, rho: float, squared: bool = False) -> float:
    r = rho**2 if squared else rho
    f = np.minimum.outer(cr, cr) / np.maximum.outer(cr, cr)
    corr = r * f
    np.fill_diagonal(corr, 1.0)
    return float(np.sqrt(max(float(ws @ corr @ ws), 0.0)))


def _aggregate(k: dict[str, float], s: dict[str, float], gamma: np.ndarray | None,
               bucket_index: dict[str, int], squared: bool = False) -> float:
    names = [b for b in k if b != "residual"]
    kk = np.array([k[b] for b in names])
    ss = np.array([s[b] for b in names])
    if len(names) > 1:
        if gamma is None:
            raise MethodologyError(f"several buckets {names} but no inter-bucket correlations")
        idx = [bucket_index[b] for b in names]
        g = gamma[np.ix_(idx, idx)] ** (2 if squared else 1)
        np.fill_diagonal(g, 0.0)
        return float(np.sqrt(max(float(kk @ kk + ss @ g @ ss), 0.0)))
    return float(np.sqrt(kk @ kk)) if names else 0.0


def _class_margin(sens: Sensitivities, name: str, p: dict[str, Any],
                  gamma: np.ndarray | None, thresholds: Mapping[str, float] | None
                  ) -> dict[str, Any]:
    rows = sens.risk_class == name
    buckets, factors = sens.bucket[rows], sens.factor[rows]
    bucket_names = list(p["buckets"])
    for b in set(buckets.tolist()):
        if b not in bucket_names and b != "residual":
            raise InputError(f"unknown {name} bucket {b!r}; known: {bucket_names} and 'residual'")
    bucket_index = {b: i for i, b in enumerate(bucket_names)}
    rw = p["delta_risk_weight"]
    rho = p["intra_bucket_correlation"]
    delta_t = thresholds or p.get("delta_threshold_usd_mm_per_pct")
    vega_t = p.get("vega_threshold_usd_mm")
    hvr = p["historical_volatility_ratio"]
    vrw = p["vega_risk_weight"]
    out: dict[str, Any] = {}
    # delta
    by_bucket = _rows_by_bucket(buckets, factors, sens.delta[rows])
    k_b, s_b, ws_all = {}, {}, {}
    for b, fac in by_bucket.items():
        s = np.array(list(fac.values()))
        t = USD_MM * delta_t[b] if delta_t is not None and b in delta_t else np.inf
        cr = np.maximum(1.0, np.sqrt(np.abs(s) / t))
        ws = rw[b] * s * cr
        k_b[b] = _bucket_k(ws, cr, rho[b])
        s_b[b] = float(np.clip(ws.sum(), -k_b[b], k_b[b]))
        ws_all.update(dict(zip(fac, ws.tolist(), strict=True)))
    out["delta"] = _aggregate(k_b, s_b, gamma, bucket_index) + k_b.get("residual", 0.0)
    out["delta_detail"] = {"WS": ws_all, "K": k_b, "S": s_b}
    # vega and curvature share sigma_k = RW_k sqrt(365/14) / Phi^-1(0.99)
    vega_rows = sens.vega[rows]
    sigma = np.array([rw[b] * SIGMA_FACTOR for b in buckets.tolist()])
    days = sens.expiry_days[rows]
    sf = np.where(np.isnan(days), 0.0, 0.5 * np.minimum(1.0, MPOR_DAYS / np.where(
        np.isnan(days) | (days <= 0), MPOR_DAYS, days)))
    zero = set(p.get("curvature_zero_buckets", []))
    sf = np.where(np.isin(buckets, list(zero)), 0.0, sf)
    by_vega = _rows_by_bucket(buckets, factors, sigma * vega_rows)
    by_curv = _rows_by_bucket(buckets, factors, sf * sigma * vega_rows)
    vk, vs, vr_all, ck, cs, cvr_all = {}, {}, {}, {}, {}, {}
    for b, fac in by_vega.items():
        sv = np.array(list(fac.values()))
        weight = vrw[b] if isinstance(vrw, Mapping) else vrw
        vt = USD_MM * vega_t[b] if vega_t is not None and b in vega_t else np.inf
        vcr = np.maximum(1.0, np.sqrt(np.abs(hvr * sv) / vt))
        vr = weight * hvr * sv * vcr
        vk[b] = _bucket_k(vr, vcr, rho[b])
        vs[b] = float(np.clip(vr.sum(), -vk[b], vk[b]))
        vr_all.update(dict(zip(fac, vr.tolist(), strict=True)))
        cvr = np.array(list(by_curv[b].values()))
        ck[b] = _bucket_k(cvr, np.ones(cvr.size), rho[b], squared=True)
        cs[b] = float(np.clip(cvr.sum(), -ck[b], ck[b]))
        cvr_all.update(dict(zip(by_curv[b], cvr.tolist(), strict=True)))
    out["vega"] = _aggregate(vk, vs, gamma, bucket_index) + vk.get("residual", 0.0)
    out["vega_detail"] = {"VR": vr_all, "K": vk, "S": vs}

    def curvature(values: np.ndarray, k_total: float) -> float:
        total_abs = float(np.abs(values).sum())
        theta = min(float(values.sum()) / total_abs, 0.0) if total_abs > 0 else 0.0
        lam = LAMBDA_BASE * (1 + theta) - theta
        return max(float(values.sum()) + lam * k_total, 0.0)

    main = np.array([v for k, v in cvr_all.items() if k not in by_curv.get("residual", {})])
    residual = np.array(list(by_curv.get("residual", {}).values()))
    out["curvature"] = curvature(main, _aggregate(
        {b: v for b, v in ck.items() if b != "residual"}, cs, gamma, bucket_index, squared=True))
    if residual.size:
        out["curvature"] += curvature(residual, ck["residual"])
    out["curvature_detail"] = {"CVR": cvr_all, "K": ck, "S": cs}
    out["im"] = out["delta"] + out["vega"] + out["curvature"]
    return out


def simm_margin(sens: Sensitivities, parameters: SimmParameters | None = None, *,
                commodity_inter_bucket: np.ndarray | None = None,
                commodity_delta_thresholds: Mapping[str, float] | None = None) -> SimmResult:
    """SIMM-style initial margin of ``sens`` (see the module docstring for every formula).

    Commodity inter-bucket correlations and thresholds are not in the packaged data
    (the shipped parameter set has only RW and rho): pass them when a commodity book spans several
    buckets; without thresholds there is no concentration add-on.
    """
    params = parameters or load_parameters()
    components: dict[str, dict[str, Any]] = {}
    for name in RISK_CLASSES:
        if not np.any(sens.risk_class == name):
            continue
        p = params.risk_class(name)
        if name == "equity":
            components[name] = _class_margin(
                sens, name, p, np.array(p["inter_bucket_correlation"], dtype=float), None)
        else:
            gamma = (None if commodity_inter_bucket is None
                     else np.asarray(commodity_inter_bucket, dtype=float))
            components[name] = _class_margin(sens, name, p, gamma, commodity_delta_thresholds)
    ims = np.array([components[c]["im"] for c in components])
    total = float(ims @ ims)
    if len(components) == 2:
        total += 2 * params.data["cross_risk_class"]["equity-commodity"] * ims[0] * ims[1]
    return SimmResult(float(np.sqrt(total)), components, f"{params.name} {params.version}")
