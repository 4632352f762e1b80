"""Inputs of cross-margining estimated from price histories: vols, correlations, betas.

Log returns of daily closes (one column per underlying, rows in time order). Sample and EWMA
(RiskMetrics, ``lambda = 0.94``) estimators; annualisation by ``periods_per_year`` (252 trading
days). Correlation matrices are made positive semi-definite when needed (:func:`nearest_correlation`)
and can be stressed towards +-1 (:func:`stress_correlation`) or measured over stress windows
(:func:`window_correlations`) to see how much offsets depend on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from ..errors import InputError
from ..io.history import price_values
from ..model.correlation import nearest_correlation

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["log_returns", "volatility", "correlation", "betas", "nearest_correlation",
           "stress_correlation", "window_correlations"]

PERIODS_PER_YEAR = 252.0
EWMA_LAMBDA = 0.94  # RiskMetrics daily decay


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Log returns of a price table; every price must be > 0 and finite (no silent drops)."""
    price_values(prices)
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


def stress_correlation(matrix: np.ndarray, weight: float, target: float = 1.0) -> np.ndarray:
    """Correlations pushed towards a crisis value: ``(1 - w) C + w T``, repaired.

    ``target`` 1.0 (everything moves together) or -1.0 pushes every off-diagonal entry there;
    the result is repaired to the nearest correlation. Which correlation is worst depends on
    the book (a hedge fails at one sign, a same-direction pair at the other, short straddles at
    either): :func:`greeksmargin.margin.crossmargin.correlation_breakdown` searches for it.
    """
    c = np.asarray(matrix, dtype=float)
    if not (0.0 <= weight <= 1.0):
        raise InputError(f"weight must be in [0, 1]; got {weight!r}")
    if target not in (1.0, -1.0):
        raise InputError(f"target must be 1.0 or -1.0; got {target!r} (the book's worst"
                         f" correlation: crossmargin.correlation_breakdown)")
    out = (1 - weight) * c + weight * float(target)
    np.fill_diagonal(out, 1.0)
    return nearest_correlation(out)


def window_correlations(returns: pd.DataFrame, windows: Mapping[str, tuple[object, object]]
                        ) -> dict[str, np.ndarray]:
    """Sample correlation of ``returns`` over each named date window (e.g. stress periods).

    ``windows`` maps a name to ``(start, end)`` dates (inclusive); each window needs at least
    3 returns. The matrices feed ``crossmargin.correlation_breakdown(stressed=...)``.
    """
    import pandas as pd

    out = {}
    for name, (start, end) in windows.items():
        try:
            part = returns.loc[pd.Timestamp(start):pd.Timestamp(end)]  # type: ignore[arg-type, misc]
        except (TypeError, ValueError):
            raise InputError(f"window {name!r}: start and end must be dates; got {start!r},"
                             f" {end!r}") from None
        if len(part) < 3:
            raise InputError(f"window {name!r} ({start} .. {end}) holds {len(part)} returns;"
                             f" need at least 3")
        out[name] = correlation(part).to_numpy()
    return out
