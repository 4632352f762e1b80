"""Array type aliases used in annotations."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
KindArray = NDArray[np.int8]
FloatLike = float | ArrayLike

__all__ = ["FloatArray", "IntArray", "KindArray", "FloatLike", "ArrayLike"]
