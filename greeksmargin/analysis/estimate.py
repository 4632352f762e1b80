"""Inputs of cross-margining estimated from price histories: vols, correlations, betas.

Log returns of daily closes (one column per underlying, rows in time order). Sample and EWMA
(RiskMetrics, ``lambda = 0.94``) estimators; annualisation by ``periods_per_year`` (252 trading
days). Correlation matrices are made positive semi-definite when needed (:func:`nearest_correlation`)
and can be stressed towards +-1 (:func:`stress_correlation`) to see how much offsets depend on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["log_returns", "volatility", "correlation", "betas", "nearest_correlation",
           "stress_correlation"]

PERIODS_PER_YEAR = 252.0
EWMA_LAMBDA = 0.94  # RiskMetrics daily decay


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Log returns of a price table; every price must be > 0 and finite (no silent drops)."""
    values = prices.to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(f"prices must be > 0 and finite; got {float(values[r, c])!r} for"
                         f" {prices.columns[c]!r} at {prices.index[r]!r}")
    if len(prices) < 3:
        raise InputError(f"need at least 3 prices per column; got {len(prices)}")
    logs = cast("pd.DataFrame", np.log(prices))  # a ufunc keeps the frame
    return logs.diff().iloc[1:]


def _weights(n: int, method: str, lam: float) -> np.ndarray:
    if method == "sample":
        return np.full(n, 1.0 / n)
    if method == "ewma":
        if not (0 < lam < 1):
            raise InputError(f"EWMA lambda must be in (0, 1); got {lam!r}")
        w = (1 - lam) * lam ** np.arange(n - 1, -1, -1)  # newest last, largest weight
        return w / w.sum()
    raise InputError(f"method must be 'sample' or 'ewma'; got {method!r}")


def _covariance(returns: pd.DataFrame, method: str, lam: float) -> np.ndarray:
    x = returns.to_numpy(dtype=float)
    w = _weights(x.shape[0], method, lam)
    if method == "sample":
        centred = x - x.mean(axis=0)
        return (centred.T @ centred) / (x.shape[0] - 1)
    return (x * w[:, None]).T @ x  # EWMA: zero mean, RiskMetrics convention


def volatility(returns: pd.DataFrame, method: Literal["sample", "ewma"] = "sample",
               lam: float = EWMA_LAMBDA, periods_per_year: float = PERIODS_PER_YEAR) -> pd.Series:
    """Annualised volatility per column (sample standard deviation or EWMA)."""
    import pandas as pd

    cov = _covariance(returns, method, lam)
    return pd.Series(np.sqrt(np.diag(cov) * periods_per_year), index=returns.columns)


def correlation(returns: pd.DataFrame, method: Literal["sample", "ewma"] = "sample",
                lam: float = EWMA_LAMBDA) -> pd.DataFrame:
    """Correlation matrix (sample or EWMA), made positive semi-definite if rounding broke it."""
    import pandas as pd

    cov = _covariance(returns, method, lam)
    sd = np.sqrt(np.diag(cov))
    if np.any(sd == 0):
        raise InputError(f"a column has zero variance: {list(returns.columns[sd == 0])}")
    corr = nearest_correlation(cov / np.outer(sd, sd))
    return pd.DataFrame(corr, index=returns.columns, columns=returns.columns)


def betas(returns: pd.DataFrame, index: str, method: Literal["sample", "ewma"] = "sample",
          lam: float = EWMA_LAMBDA) -> pd.Series:
    """Beta of every column to the ``index`` column: cov(r, r_index) / var(r_index)."""
    import pandas as pd

    if index not in returns.columns:
        raise InputError(f"index column {index!r} not in the returns; columns:"
                         f" {list(returns.columns)}")
    cov = _covariance(returns, method, lam)
    k = list(returns.columns).index(index)
    return pd.Series(cov[:, k] / cov[k, k], index=returns.columns)


def nearest_correlation(matrix: np.ndarray, tol: float = 1e-12, max_iter: int = 200
                        ) -> np.ndarray:
    """Find the nearest correlation matrix.

    The nearest correlation matrix (Higham 2002, alternating projections with Dykstra's
    correction): symmetric, unit diagonal, positive semi-definite. A valid input comes back
    unchanged (to rounding).
    """
    a = np.asarray(matrix, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.all(np.isfinite(a)):
        raise InputError(f"correlation must be a finite square matrix; got shape {a.shape}")
    a = 0.5 * (a + a.T)
    if np.linalg.eigvalsh(a).min() >= -tol and np.allclose(np.diag(a), 1.0):
        return a
    y = a.copy()
    correction = np.zeros_like(a)
    for _ in range(max_iter):
        r = y - correction
        values, vectors = np.linalg.eigh(r)
        x = (vectors * np.maximum(values, 0.0)) @ vectors.T
        correction = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y) <= tol * max(float(np.linalg.norm(y)), 1.0):
            y = y_new
            break
        y = y_new
    values, vectors = np.linalg.eigh(0.5 * (y + y.T))
    y = (vectors * np.maximum(values, 0.0)) @ vectors.T
    d = np.sqrt(np.diag(y))
    return np.clip(y / np.outer(d, d), -1.0, 1.0)


def stress_correlation(matrix: np.ndarray, weight: float,
                       target: float | Literal["worst"] = 1.0,
                       exposure: np.ndarray | None = None) -> np.ndarray:
    """Correlations pushed towards a crisis value: ``(1 - w) C + w T``.

    ``target`` 1.0 (everything moves together) or -1.0 pushes every off-diagonal entry there;
    ``"worst"`` pushes each pair towards the sign that adds risk for the signed ``exposure``
    vector (+1 where the two exposures have the same sign, -1 where opposite), the "correlation
    breakdown" in which hedges stop working. The result is repaired to the nearest correlation.
    """
    c = np.asarray(matrix, dtype=float)
    if not (0.0 <= weight <= 1.0):
        raise InputError(f"weight must be in [0, 1]; got {weight!r}")
    if target == "worst":
        if exposure is None:
            raise InputError("target='worst' needs the signed exposure per underlying")
        e = np.sign(np.asarray(exposure, dtype=float))
        t = np.outer(e, e)
        t[t == 0] = 1.0
    elif target in (1.0, -1.0):
        t = np.full_like(c, float(target))
    else:
        raise InputError(f"target must be 1.0, -1.0 or 'worst'; got {target!r}")
    out = (1 - weight) * c + weight * t
    np.fill_diagonal(out, 1.0)
    return nearest_correlation(out)
