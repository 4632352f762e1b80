"""Writing output files without losing data: checked paths, atomic replacement, safe CSV cells.

Every file the package writes (reports, plots, batch results) goes through :func:`write_atomic`:
the path is checked first (its directory exists, it is not a directory, it is not one of the
command's input files), the content is written to a temporary file in the same directory and
renamed over the target only when complete, so a failed write (a full disk, an exception
half-way) leaves any existing file as it was. Errors are :class:`~greeksmargin.errors.InputError`
naming the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_output", "write_atomic", "replace_section", "csv_safe", "FORMULA_PREFIXES"]

# a spreadsheet reads a cell starting with these as a formula (OWASP, "CSV Injection")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_output(path: str | Path, inputs: Iterable[str | Path] = (), what: str = "output"
                 ) -> Path:
    """Return ``path`` if a file can be written there; InputError naming why not."""
    target = Path(path)
    if str(path) == "" or target.name in ("", ".", ".."):
        raise InputError(f"{what} path {str(path)!r} names no file")
    if target.is_dir():
        raise InputError(f"{what} path {target} is a directory; give a file name")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {what} {target}: directory {parent} does not exist")
    resolved = target.resolve()
    for source in inputs:
        src = Path(source)
        if src.exists() and (src.resolve() == resolved or resolved.is_relative_to(src.resolve())
                             and src.is_dir()):
            raise InputError(f"{what} {target} is an input of this command ({src}); write"
                             " elsewhere")
    return target


def write_atomic(path: str | Path, write: Callable[[Path], object],
                 inputs: Iterable[str | Path] = (), what: str = "output") -> Path:
    """Write a file through ``write(temporary_path)``, then rename it over ``path``.

    The temporary file is in the target's directory (so the rename is atomic on the same file
    system) and is removed if ``write`` fails; the target then keeps its old content.
    """
    target = check_output(path, inputs, what)
    parent = target.parent if str(target.parent) else Path(".")
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.replace(temporary, target)
    except OSError as exc:
        raise InputError(f"cannot write {what} {target}: {exc.strerror or exc}") from None
    finally:
        if temporary.exists():
            temporary.unlink()
    return target


def replace_section(path: str | Path, name: str, text: str) -> Path:
    """Replace the section ``name`` of a text file (e.g. a generated table in a doc), atomically.

    A section runs from the line ``<!-- name:start -->`` to ``<!-- name:end -->``; the rest of
    the file is kept as it is. A file without the section gets it appended (a missing file is
    created with it). Several scripts can so write their own parts of one document.
    """
    target = Path(path)
    begin, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = target.read_text() if target.exists() else ""
    if begin in old and end in old and old.index(begin) < old.index(end):
        rest = old[old.index(end) + len(end):].lstrip("\n")
        new = old[:old.index(begin)] + block + ("\n" + rest if rest.strip() else "")
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    return write_atomic(target, lambda tmp: tmp.write_text(new), what="document")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with text cells that a spreadsheet would run as a formula quoted.

    A leading ``'`` is added to text starting with ``= + - @``, a tab or a carriage return
    (numbers are left alone), so a position id such as ``=HYPERLINK(...)`` stays text.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype) in ("string", "str"):
            values = out[column]
            text = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_PREFIXES))
            if text.any():
                out[column] = values.where(~text, "'" + values.astype(str))
    return out
