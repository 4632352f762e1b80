"""The analysis layer.

The analysis layer: stress tests (:mod:`.stress`), margin backtests (:mod:`.backtest`) and
estimation of returns, vols and correlations (:mod:`.estimate`).
"""
