"""The code passes ``ruff check`` and ``mypy`` with the project's configuration (pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None, "ruff is part of the test extra: pip install '.[test]'"
    done = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean():
    # the package type-checks (pyproject.toml [tool.mypy]; pandas through pandas-stubs, the
    # untyped libraries listed there); the versions are pinned in the test extra so the result
    # does not move under us
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], capture_output=True,
                          text=True, timeout=600, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
