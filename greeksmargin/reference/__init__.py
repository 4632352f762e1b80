"""Slow, plain NumPy/SciPy oracles for the tests. They share no code with the kernels.

Documented as references, not for production use.
"""
