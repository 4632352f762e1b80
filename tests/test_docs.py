"""Doctests of every public module, and every name in ``__all__`` importable."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

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
    "greeksmargin.model.scenarios",
    "greeksmargin.model.market",
    "greeksmargin.io.symbols",
    "greeksmargin.margin.result",
    "greeksmargin.io.samples",
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


DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES_WITH_CODE = sorted(p.name for p in DOCS.glob("*.md") if FENCE.search(p.read_text()))


def test_every_user_guide_has_code_that_runs():
    guides = {"quickstart.md", "pricing.md", "grids.md", "cross_margin.md", "accounts.md",
              "stress.md", "scale_out.md"}
    assert guides <= set(PAGES_WITH_CODE)


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_docs_code_blocks_run(page, tmp_path, monkeypatch):
    # a page's blocks run in order in one namespace, as a reader would paste them
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page[:-3]}"}
    for k, block in enumerate(FENCE.findall((DOCS / page).read_text())):
        code = compile(block, f"{page} block {k + 1}", "exec")
        exec(code, namespace)  # noqa: S102 (the documentation's own examples)


def test_readme_code_blocks_run(tmp_path, monkeypatch):
    # every Python block of the README runs as written, in order, in one namespace
    monkeypatch.chdir(tmp_path)
    readme = (DOCS.parent / "README.md").read_text()
    blocks = FENCE.findall(readme)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "readme"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"README.md block {k + 1}", "exec"), namespace)  # noqa: S102
    coin = namespace["coin"]
    assert coin.total.currency == "BTC" and coin.initial_quote.currency == "USD"  # type: ignore[attr-defined]
