"""The measures layer: what a book is worth and how it moves.

:mod:`.revalue` (full revaluation under a scenario grid: the P&L matrix every margin comes from) and :mod:`.taylor` (the
Greeks approximation of the same P&L, with its error).
"""
