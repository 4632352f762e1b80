"""Doctests of every public module, and every name in ``__all__`` importable."""

from __future__ import annotations

import doctest
import importlib

import pytest

import greeksmargin

MODULES = [
    "greeksmargin.enums",
    "greeksmargin.pricing._core",
    "greeksmargin.pricing.black_scholes",
    "greeksmargin.pricing.black_scholes_merton",
    "greeksmargin.pricing.black76",
    "greeksmargin.pricing.garman_kohlhagen",
    "greeksmargin.pricing.american",
    "greeksmargin.scenarios",
    "greeksmargin.market",
    "greeksmargin.symbols",
    "greeksmargin.margin",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no doctest"


def test_every_public_name_exists():
    for name in greeksmargin.__all__:
        assert hasattr(greeksmargin, name), name
    assert greeksmargin.__version__ != "0+unknown"
