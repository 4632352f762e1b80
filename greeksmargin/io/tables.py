"""Reading an input table (CSV, or Parquet by suffix) or a JSON file, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: Path, what: str) -> pd.DataFrame:
    """``path`` as a DataFrame; an :class:`InputError` saying which ``what`` file is missing or unreadable.

    A ``symbol`` column of a CSV stays text (OSI symbols have leading letters and padding that must not be parsed).
    """
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"symbol": str})
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except ImportError:  # pandas finds no Parquet engine
        raise InputError(f"{what} file {path} is Parquet, which needs pyarrow: pip install"
                         " 'greeksmargin[parquet]'") from None
    except IsADirectoryError:
        raise InputError(f"{what} file {path} is a directory") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError,
            OSError) as exc:
        raise InputError(f"{what} file {path} could not be read: {exc}") from None


def read_json(path: Path, what: str) -> Any:
    """``path`` parsed as JSON; an :class:`InputError` naming the file (and line, column)."""
    import json

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} file {path} could not be read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} file {path} is not JSON: {exc.msg} at line {exc.lineno},"
                         f" column {exc.colno}") from None
