"""Defensive copies for the frozen dataclasses of the model layer (docs/architecture.md)."""

from __future__ import annotations

import numpy as np

from .errors import InputError


def frozen_array(value: object, dtype: type, name: str) -> np.ndarray:
    """Return a read-only C-contiguous copy of ``value`` as ``dtype``; an InputError names ``name``.

    The copy matters: freezing the caller's own array would be a hidden side effect.
    """
    try:
        arr: np.ndarray = np.array(value, dtype=dtype, order="C", copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be convertible to {np.dtype(dtype).name}: {exc}") from None
    arr.flags.writeable = False
    return arr
