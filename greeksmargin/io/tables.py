"""Reading an input table (CSV, or Parquet by suffix) or a JSON file, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..kernels._text import utf8_to_utf32

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


FEW_CELLS = 4096  # below this many cells, pandas' conversion (no kernel to compile on a first run)


def fixed_width_text(values: pd.Series) -> np.ndarray:
    """Return a pandas text column as NumPy fixed-width text (``<U n``), a missing cell empty.

    An Arrow-backed column (pandas' ``str`` dtype; pyarrow is there, then) of at least
    ``FEW_CELLS`` cells is decoded from its buffers in one compiled pass (``kernels._text``:
    ~0.06 s for 1.2 million ids, where pandas converts one Python string at a time in ~0.2-0.5
    s); any other column through pandas. The same array either way (tested).
    """
    if len(values) >= FEW_CELLS and getattr(values.dtype, "storage", None) == "pyarrow":
        import pyarrow as pa

        arr = pa.array(values.array)
        arr = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).cast(
            pa.large_string())
        _, offsets_buffer, data_buffer = arr.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int64, count=len(arr) + 1,
                                offset=arr.offset * 8)
        data = (np.frombuffer(data_buffer, np.uint8) if data_buffer is not None
                else np.zeros(0, np.uint8))
        valid = np.ascontiguousarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
        width = utf8_to_utf32(offsets, data, valid, np.zeros((0, 0), np.uint32))
        if width >= 0:
            out = np.empty((len(arr), max(width, 1)), np.uint32)
            if utf8_to_utf32(offsets, data, valid, out) >= 0:
                return out.view(f"<U{max(width, 1)}").reshape(len(arr))
    return values.fillna("").to_numpy(dtype=np.str_)
