"""Per-position prices and Greeks of an options table.

Per-position prices and Greeks of an options table in desk units, and their totals per
underlying (the ``greeks`` command's output). The table comes validated from
:func:`greeksmargin.io.option_table.read_option_table`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..enums import OptionKind
from ..pricing import Greeks, american, black_scholes_merton
from ..pricing.american import AmericanGreeks

__all__ = ["greeks_table", "greeks_by_underlying_table"]


def greeks_table(frame: pd.DataFrame, american_style: bool = False) -> pd.DataFrame:
    """Per-position price and Greeks (desk units) with position values; raises on bad rows."""
    kind = np.array([OptionKind.parse(str(k)) for k in frame["kind"]], dtype=np.int8)
    args: dict[str, Any] = dict(
        expiry_years=frame["expiry_years"].to_numpy(float), vol=frame["vol"].to_numpy(float),
        rate=frame["rate"].to_numpy(float),
        dividend_yield=frame["dividend_yield"].to_numpy(float), kind=kind)
    spot = frame["spot"].to_numpy(float)
    strike = frame["strike"].to_numpy(float)
    g: Greeks | AmericanGreeks
    if american_style:
        g = american.greeks(spot, strike, **args)
    else:
        g = black_scholes_merton.greeks(spot, strike, **args)
    size = frame["quantity"].to_numpy(float) * frame["multiplier"].to_numpy(float)
    return pd.DataFrame({
        "position_id": frame["position_id"],
        "underlying": frame["underlying"],
        "kind": [OptionKind(k).name.lower() for k in kind],
        "strike": strike,
        "expiry_years": args["expiry_years"],
        "quantity": frame["quantity"],
        "price": g.price,
        "delta": g.delta,
        "gamma": g.gamma,
        "vega_per_vol_point": g.vega_per_vol_point,
        "theta_per_day": g.theta_per_day,
        "value": g.price * size,
        "position_delta": g.delta * size,
        "position_gamma": g.gamma * size,
        "position_vega_per_vol_point": g.vega_per_vol_point * size,
        "position_theta_per_day": g.theta_per_day * size,
    })



def greeks_by_underlying_table(table: pd.DataFrame) -> pd.DataFrame:
    """Position values and Greeks summed per underlying."""
    cols = ["value", "position_delta", "position_gamma", "position_vega_per_vol_point",
            "position_theta_per_day"]
    return table.groupby("underlying", sort=True)[cols].sum().reset_index()


