"""Private Numba kernels: float64 in, float64 out, no validation, NaN propagates.

Nothing here is public API; the validated front doors live in :mod:`greeksmargin.pricing`.
"""

from ._jit import announce_first_compile, compile_all

__all__ = ["compile_all"]

announce_first_compile()
