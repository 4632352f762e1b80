"""SPAN risk arrays as a file: one row per contract, its composite delta and scenario losses.

The layout (CSV, or Parquet by suffix), one row per contract, in CME's conventions ("Risk
arrays are computed for a single long position", "losses are represented as positive values,
and gains as negative values", the extreme scenarios' losses already times their coverage):

======================  ==========================================================
column                  meaning
======================  ==========================================================
``contract``            the contract's name (unique), as positions name it
``class_group``         its combined commodity
``currency``            the currency of its losses
``kind``                ``call``, ``put`` or ``future`` (what the SOM counts)
``month``               contract month ``YYYY-MM`` (empty: none)
``multiplier``          units of underlying per contract (> 0)
``delta``               composite delta of one long contract (futures-equivalent)
``value``               value of one long contract now (an option's premium x
                        multiplier; 0 for a future), for the net option value
``scenario_1`` ...      loss of one long contract in each scenario, in order
======================  ==========================================================

:func:`greeksmargin.margin.span.span_risk_arrays` computes such a table from a book and a SPAN
methodology; :func:`greeksmargin.margin.span.margin_from_risk_arrays` margins positions on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._arrays import frozen_array
from ..enums import OptionKind
from ..errors import InputError
from .tables import read_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RiskArrays", "read_risk_arrays", "write_risk_arrays", "text_cells", "COLUMNS"]

COLUMNS = ("contract", "class_group", "currency", "kind", "month", "multiplier", "delta",
           "value")
_KIND_TEXT = {int(OptionKind.CALL): "call", int(OptionKind.PUT): "put",
              int(OptionKind.LINEAR): "future"}


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """Risk arrays of contracts (dimension ``contract``; ``loss`` is contracts x scenarios)."""

    contract: np.ndarray  # str
    class_group: np.ndarray  # str
    currency: np.ndarray  # str
    kind: np.ndarray  # int8 OptionKind
    month: np.ndarray  # datetime64[M], NaT: none
    multiplier: np.ndarray  # float
    delta: np.ndarray  # float: composite delta of one long contract
    value: np.ndarray  # float: value of one long contract now (0 for a future)
    loss: np.ndarray  # float (contracts, scenarios): loss of one long contract (> 0: a loss)

    def __post_init__(self) -> None:
        """Copy, freeze and validate the fields (see the class docstring)."""
        n = np.asarray(self.contract).size
        for name, dtype in (("contract", np.str_), ("class_group", np.str_),
                            ("currency", np.str_), ("kind", np.int8),
                            ("month", np.dtype("datetime64[M]")), ("multiplier", np.float64),
                            ("delta", np.float64), ("value", np.float64)):
            value = frozen_array(np.asarray(getattr(self, name)).reshape(-1), dtype,
                                 f"risk arrays {name}")
            if value.size != n:
                raise InputError(f"risk arrays: {name} has {value.size} entries for {n} contracts")
            object.__setattr__(self, name, value)
        loss = frozen_array(self.loss, np.float64, "risk arrays loss")
        if loss.ndim != 2 or loss.shape[0] != n:
            raise InputError(f"risk arrays: loss must have shape ({n}, n_scenarios); got"
                             f" {loss.shape}")
        object.__setattr__(self, "loss", loss)
        if np.unique(self.contract).size != n:
            names, counts = np.unique(self.contract, return_counts=True)
            raise InputError(f"risk arrays: contract names must be unique; repeated:"
                             f" {', '.join(names[counts > 1][:5])}")

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios of every array."""
        return int(self.loss.shape[1])


def text_cells(column: pd.Series) -> pd.Series:
    """Return a column's cells as stripped text, ``""`` where empty (whatever type pandas read)."""
    raw = column.astype(object)
    return raw.where(raw.notna(), "").astype(str).str.strip()


def write_risk_arrays(arrays: RiskArrays, path: str | Path, *, parquet: bool | None = None
                      ) -> Path:
    """Write ``arrays`` to ``path`` (CSV, or Parquet by suffix or ``parquet``), floats exactly."""
    import pandas as pd

    target = Path(path)
    month = np.where(np.isnat(arrays.month), "", arrays.month.astype(str))
    frame = pd.DataFrame({
        "contract": arrays.contract, "class_group": arrays.class_group,
        "currency": arrays.currency, "kind": [_KIND_TEXT[int(k)] for k in arrays.kind],
        "month": month, "multiplier": arrays.multiplier, "delta": arrays.delta,
        "value": arrays.value,
        **{f"scenario_{j + 1}": arrays.loss[:, j] for j in range(arrays.n_scenarios)}})
    if parquet if parquet is not None else target.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(target, index=False)
    else:
        frame.to_csv(target, index=False, float_format="%.17g")
    return target


def read_risk_arrays(path: str | Path) -> RiskArrays:
    """Read a risk-array file (module docstring).

    Raises
    ------
    InputError
        A missing file or column, no scenario columns or a gap in their numbering, and any
        cell that is not valid, named by file, row, column and value (a kind that is not call,
        put or future; a month that is not ``YYYY-MM``; a multiplier that is not > 0; a delta,
        value or loss that is not finite; an empty name; a repeated contract).
    """
    import pandas as pd

    source = Path(path)
    frame = read_table(source, "risk arrays")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"risk arrays {source}: missing columns {missing}; columns:"
                         f" {', '.join(map(str, frame.columns))}")
    scenario = [c for c in frame.columns if str(c).startswith("scenario_")]
    expected = [f"scenario_{j + 1}" for j in range(len(scenario))]
    if not scenario or sorted(scenario, key=lambda c: int(c[9:]) if c[9:].isdigit() else -1) \
            != expected:
        raise InputError(f"risk arrays {source}: scenario columns must be scenario_1 ..."
                         f" scenario_N; got {scenario or 'none'}")

    def fail(column: str, rows: np.ndarray, why: str) -> None:
        r = int(rows[0])
        raise InputError(f"risk arrays {source}, row {r + 1}: {column} ="
                         f" {str(frame[column].iloc[r])!r} {why}")

    def cells(column: str) -> pd.Series:
        return text_cells(frame[column])

    text = {}
    for column in ("contract", "class_group", "currency"):
        empty = (cells(column) == "").to_numpy()
        if empty.any():
            fail(column, np.flatnonzero(empty), "is empty")
        text[column] = cells(column).to_numpy(dtype=np.str_)
    kinds = cells("kind").str.lower()
    kind = np.full(len(frame), -1, np.int8)
    for spelling in kinds.unique():
        try:
            kind[(kinds == spelling).to_numpy()] = int(OptionKind.parse(spelling))
        except ValueError:
            pass
    if (kind < 0).any():
        fail("kind", np.flatnonzero(kind < 0), "is not call, put or future")
    month_text = cells("month")
    month = pd.to_datetime(month_text.where(month_text != ""), format="%Y-%m",
                           errors="coerce").to_numpy().astype("datetime64[M]")
    bad_month = np.isnat(month) & (month_text != "").to_numpy()
    if bad_month.any():
        fail("month", np.flatnonzero(bad_month), "is not a month YYYY-MM")
    numbers = {}
    for column in ("multiplier", "delta", "value", *scenario):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | ((values <= 0) if column == "multiplier" else False)
        if np.any(bad):
            fail(column, np.flatnonzero(bad), "is not a number > 0" if column == "multiplier"
                 else "is not a finite number")
        numbers[column] = values
    names, first, counts = np.unique(text["contract"], return_index=True, return_counts=True)
    if (counts > 1).any():
        repeated = names[counts > 1][0]
        rows = np.flatnonzero(text["contract"] == repeated)
        fail("contract", rows[1:], f"repeats row {int(rows[0]) + 1}")
    return RiskArrays(text["contract"], text["class_group"], text["currency"], kind, month,
                      numbers["multiplier"], numbers["delta"], numbers["value"],
                      np.column_stack([numbers[c] for c in expected]))
