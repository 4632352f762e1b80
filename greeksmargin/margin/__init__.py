"""The margin layer.

The margin layer: one reduction from scenario P&L to margin (:mod:`.rules`), the result and the
common entry point :func:`~greeksmargin.margin.result.compute_margin` (:mod:`.result`), and
cross-margining between groups (:mod:`.crossmargin`), and historical-simulation VaR/ES of the
whole book (:mod:`.historical`).
"""
