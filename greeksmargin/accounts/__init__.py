"""The accounts layer.

The accounts layer: collateral, equity, initial and maintenance margin and state in the account
currency (:mod:`.account`), pre-trade what-if and ticks, liquidation (:mod:`.liquidation`) and
cascades across accounts (:mod:`.cascade`).
"""
