"""The io layer: every reader and writer (books, markets, grids, symbols, samples, history, synthetic books).

Readers parse whole tables, report every bad row with its file row, field and value, and return model objects; nothing
above this layer parses a file.
"""
