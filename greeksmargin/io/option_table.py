"""Reading an options table with its market per row (the ``greeks`` command's input).

Columns: ``position_id, underlying, kind, strike, expiry_years, quantity, multiplier, spot, vol,
rate`` and optionally ``dividend_yield`` (0 when absent). Every row is validated through the
pricing API, so the table is checked exactly as the API checks its arguments; one error lists
every bad row (file row, position, field and value).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..enums import OptionKind
from ..errors import InputError
from ..pricing import american, black_scholes_merton

__all__ = ["REQUIRED", "read_option_table", "sample_path"]

REQUIRED = ("position_id", "underlying", "kind", "strike", "expiry_years", "quantity",
            "multiplier", "spot", "vol", "rate")

def sample_path() -> Path:
    """Path of the sample book that ships with the package."""
    return Path(str(resources.files("greeksmargin") / "data" / "sample_options.csv"))



def read_option_table(source: str | Path | pd.DataFrame, american_style: bool = False
                      ) -> pd.DataFrame:
    """Read the options table of ``source`` (a CSV path or a DataFrame), validated row by row.

    Raises
    ------
    InputError
        A missing file or column, an unreadable CSV, or bad rows (one line each).
    """
    if isinstance(source, pd.DataFrame):
        frame, path = source.copy(), Path("<frame>")
    else:
        path = Path(source)
        try:
            frame = pd.read_csv(path)
        except FileNotFoundError:
            raise InputError(f"book file not found: {path}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"book file {path} is not a readable CSV: {exc}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"book file {path} is missing column(s) {', '.join(missing)}; "
                         f"required: {', '.join(REQUIRED)}")
    if "dividend_yield" not in frame.columns:
        frame["dividend_yield"] = 0.0
    errors = _row_errors(frame, american_style)
    if errors:
        raise InputError("\n".join(errors))
    return frame



def _row_errors(frame: pd.DataFrame, american_style: bool) -> list[str]:
    """Validate row by row through the public API, so the CLI checks exactly what the API checks."""
    errors = []
    for row, rec in enumerate(frame.to_dict("records")):
        where = f"row {row + 2} (position {rec['position_id']!r})"  # +2: header line, 1-based
        try:
            kind = OptionKind.parse(str(rec["kind"]))
            if kind == OptionKind.LINEAR:
                raise InputError("kind must be call or put in a Greeks table; got 'linear'")
            for name in ("quantity", "multiplier"):
                value = float(rec[name])
                if not np.isfinite(value) or (name == "multiplier" and value <= 0):
                    raise InputError(f"{name} must be {'> 0 and ' if name == 'multiplier' else ''}"
                                     f"finite; got {rec[name]!r}")
            pricer = american.price if american_style else black_scholes_merton.price
            pricer(rec["spot"], rec["strike"], expiry_years=rec["expiry_years"], vol=rec["vol"],
                   rate=rec["rate"], dividend_yield=rec["dividend_yield"], kind=kind)
        except (InputError, ValueError, TypeError) as exc:
            errors.append(f"{where}: {exc}")
    return errors


