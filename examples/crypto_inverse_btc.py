"""A Deribit-style BTC book: inverse (coin-settled) options hedged with the perpetual.

Margined with the Deribit portfolio-margin preset, in BTC. The script checks itself:
1. coin P&L of the inverse book equals the same book settled in USD, converted by the identity
   ``PnL_coin = (V0 + PnL_usd) / S1 - V0 / S0`` (value in coin = value / spot);
2. the perpetual's coin P&L is ``Q (1 - 1/(1+m))`` (``docs/methodology.md``, Deribit);
3. a perpetual hedge (a fraction of the coin-delta hedge) lowers the margin: the full delta hedge
   need not, because the short options' gamma and vega then set the worst scenario;
4. maintenance margin = 0.8 x initial margin.

Run: ``python examples/crypto_inverse_btc.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from greeksmargin import MarketData, compute_margin, methodology, read_book
from greeksmargin.enums import Settlement
from greeksmargin.measures.revalue import revalue
from greeksmargin.pricing import greeks

SPOT = 66_500.0
MARKET = MarketData("2024-06-17T10:00:00", ["BTC"], [SPOT], [0.0], [0.0], [0.55])
OPTIONS = pd.DataFrame({
    "position_id": ["short-call", "long-call", "short-put", "long-put"],
    "symbol": ["BTC-28JUN24-70000-C", "BTC-28JUN24-75000-C", "BTC-26JUL24-60000-P",
               "BTC-26JUL24-55000-P"],
    "quantity": [-5.0, 5.0, -3.0, 3.0],
})


def book_with_hedge(hedge_btc: float):
    frame = OPTIONS
    if hedge_btc:
        frame = pd.concat([OPTIONS, pd.DataFrame({"position_id": ["perp"],
                                                  "symbol": ["BTC-PERPETUAL"],
                                                  "quantity": [hedge_btc]})], ignore_index=True)
    return read_book(frame, venue="deribit").value


def main() -> int:
    failures = []
    deribit = methodology.deribit()
    unhedged = book_with_hedge(0.0)
    resolved = unhedged.resolve(MARKET)
    g = greeks(SPOT, resolved.strike, expiry_years=resolved.expiry_years, vol=resolved.vol,
               rate=0.0, carry=0.0, kind=resolved.kind)
    usd_delta = float((g.delta * resolved.notional).sum())
    # an inverse option's value in coin is V/S, so its coin delta is (delta - V/S)/S per unit;
    # the perpetual's coin delta is 1/S per unit of base currency: hedge the coin delta
    coin_delta = float(((g.delta - g.price / SPOT) * resolved.notional).sum())
    print(f"options delta: {usd_delta:+.4f} (USD terms), {coin_delta:+.4f} (coin terms) BTC")
    before = compute_margin(unhedged, MARKET, deribit)
    results = {}
    for fraction in (0.25, 0.5, 0.75, 1.0):
        results[fraction] = compute_margin(book_with_hedge(-fraction * coin_delta), MARKET, deribit)
    best = min(results, key=lambda f: results[f].initial[0])
    hedge = -best * coin_delta
    hedged = book_with_hedge(hedge)
    after = results[best]
    rows = [("unhedged", before)] + [(f"hedge {f:.0%}", r) for f, r in results.items()]
    for name, result in rows:
        print(f"{name:10s} IM {result.initial[0]:.6f} BTC  MM {result.maintenance[0]:.6f} BTC"
              f"  worst {result.worst_label[0]:28s} roll shock {result.addons['roll_shock'][0]:.6f}")
    if not after.initial[0] < before.initial[0]:
        failures.append("no perpetual hedge lowered the margin")
    if not np.allclose(after.maintenance, 0.8 * after.initial, rtol=1e-15):
        failures.append("MM != 0.8 IM")

    # 1. coin P&L against the USD-settled twin of the same book
    grid = deribit.build_grids(hedged.resolve(MARKET))[0]
    coin = revalue(hedged.resolve(MARKET), grid, keep_positions=True)
    usd_book = hedged.__class__(hedged.position_id, hedged.underlying, hedged.kind, hedged.strike,
                                hedged.expiry, hedged.quantity, hedged.multiplier,
                                hedged.exercise, np.full(hedged.n_positions, Settlement.LINEAR))
    usd = revalue(usd_book.resolve(MARKET), grid, keep_positions=True)
    usd_now = revalue(usd_book.resolve(MARKET), grid).base_value[0]
    s1 = SPOT * (1 + np.where(hedged.kind[:, None] == 0, grid.linear_spot_shift,
                              grid.spot_shift))
    v0 = np.zeros(hedged.n_positions)
    option = hedged.kind != 0
    resolved_h = hedged.resolve(MARKET)
    values = greeks(SPOT, resolved_h.strike[option], expiry_years=resolved_h.expiry_years[option],
                    vol=resolved_h.vol[option], rate=0.0, carry=0.0, kind=resolved_h.kind[option])
    v0[resolved_h.order[option]] = values.price * resolved_h.notional[option]
    expected = (v0[:, None] + usd.position_values) / s1 - v0[:, None] / SPOT
    err = np.abs(coin.position_values - expected).max()
    print(f"coin vs USD-twin identity: max difference {err:.1e} BTC (USD book value {usd_now:,.0f})")
    if not err < 1e-12:
        failures.append(f"coin/USD identity off by {err}")
    # 2. perpetual
    perp = list(hedged.position_id).index("perp")
    m = grid.linear_spot_shift
    if not np.allclose(coin.position_values[perp], hedge * (1 - 1 / (1 + m)), rtol=1e-13,
                       atol=1e-16):
        failures.append("perpetual coin P&L differs from Q (1 - 1/(1+m))")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
