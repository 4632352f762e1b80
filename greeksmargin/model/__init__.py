"""The model layer: validated, frozen structures of arrays that every later step takes.

- :mod:`~greeksmargin.model.book`: :class:`Book` (positions) and :class:`ResolvedBook` (a book
  bound to one market: year fractions, vols, groups, rows sorted by group);
- :mod:`~greeksmargin.model.market`: :class:`MarketData` (one snapshot per underlying);
- :mod:`~greeksmargin.model.scenarios`: :class:`ScenarioGrid` (spot x vol x time shocks, weights);
- :mod:`~greeksmargin.model.amount`: :class:`Amount`, a number that knows its currency.

Imports only the pricing API and the kernels below it; readers and writers live in ``io``.
"""
