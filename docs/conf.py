"""Sphinx configuration: Markdown pages (MyST) and the API reference from numpydoc docstrings.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``pip install ".[docs]"``); the
test suite builds it the same way, warnings as errors (``tests/test_docs_build.py``).
"""

from __future__ import annotations

import greeksmargin

project = "greeksmargin"
author = "the greeksmargin developers"
copyright = "2025-2026, the greeksmargin developers"  # noqa: A001 (Sphinx's name)
version = release = greeksmargin.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
html_theme = "alabaster"
html_title = f"greeksmargin {release}"
