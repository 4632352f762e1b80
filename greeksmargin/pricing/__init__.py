"""Public pricing layer: validated, broadcasting, array-in/array-out prices, Greeks, implied vols.

:func:`price`, :func:`greeks` and :func:`implied_vol` take the generalised Black-Scholes model with
cost of carry ``carry`` (``b``). Model front doors compute ``b`` for you:
:mod:`~greeksmargin.pricing.black_scholes` (``b = r``),
:mod:`~greeksmargin.pricing.black_scholes_merton` (``b = r - q``),
:mod:`~greeksmargin.pricing.black76` (futures, ``b = 0``),
:mod:`~greeksmargin.pricing.garman_kohlhagen` (FX, ``b = r_d - r_f``) and
:mod:`~greeksmargin.pricing.american` (early exercise).
"""

from ._core import Greeks, ImpliedVol, greeks, implied_vol, price

__all__ = ["Greeks", "ImpliedVol", "greeks", "implied_vol", "price"]
