"""Correlation matrices: the check every consumer applies, and the nearest valid one.

A correlation matrix here is symmetric with unit diagonal, entries in [-1, 1] and positive
semi-definite. :func:`check_correlation` refuses anything else (naming what is wrong);
:func:`nearest_correlation` repairs a matrix (Higham 2002).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["check_correlation", "nearest_correlation"]


def check_correlation(matrix: object, n: int) -> np.ndarray:
    """Return ``matrix`` as an (n, n) float array after checking it is a correlation matrix.

    Symmetric, unit diagonal, entries in [-1, 1], positive semi-definite (to 1e-10).
    """
    c = np.asarray(matrix, dtype=float)
    if c.shape != (n, n):
        raise InputError(f"correlation must have shape {(n, n)} (one row per group); got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise InputError("correlation has a value that is not finite")
    if not (np.allclose(c, c.T, atol=1e-12) and np.allclose(np.diag(c), 1.0, atol=1e-12)
            and np.all(np.abs(c) <= 1 + 1e-12)):
        raise InputError("correlation must be symmetric with unit diagonal and entries in [-1, 1]")
    smallest = float(np.linalg.eigvalsh(c).min()) if n else 0.0
    if smallest < -1e-10:
        raise InputError(f"correlation is not positive semi-definite (smallest eigenvalue"
                         f" {smallest:.3g}); repair it with estimate.nearest_correlation")
    return c


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
