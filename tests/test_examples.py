"""Every script in examples/ runs to completion and its self-checks pass (exit status 0)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_its_self_checks(script):
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all self-checks passed" in done.stdout


def test_replace_section_keeps_the_rest_of_the_document(tmp_path):
    from greeksmargin.io.writes import replace_section

    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\nintro\n")
    replace_section(doc, "a", "table A")
    replace_section(doc, "b", "table B")
    replace_section(doc, "a", "table A2\nmore")
    assert doc.read_text() == ("# Title\n\nintro\n\n<!-- a:start -->\ntable A2\nmore\n"
                               "<!-- a:end -->\n\n<!-- b:start -->\ntable B\n<!-- b:end -->\n")
    fresh = tmp_path / "new.md"
    replace_section(fresh, "x", "only")
    assert fresh.read_text() == "<!-- x:start -->\nonly\n<!-- x:end -->\n"
