"""The documentation builds with Sphinx, warnings as errors (API reference included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_sphinx_build_has_no_warnings(tmp_path):
    out = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    api = (out / "api.html").read_text()
    # the reference is generated from the docstrings, numpydoc sections rendered
    assert "greeksmargin.margin.result.compute_margin" in api and "Parameters" in api
    for page in ("quickstart", "pricing", "grids", "cross_margin", "accounts", "stress",
                 "scale_out", "methodology", "conventions", "benchmarks"):
        assert (out / f"{page}.html").exists(), page
