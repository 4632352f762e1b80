"""BTC and ETH options (coin-settled, Deribit preset): isolated per coin vs correlation margin.

Deribit's S:PM margins each coin in its own currency; a cross-margin view converts each coin's
scenario P&L to USD at spot and aggregates the two through the BTC-ETH correlation, keeping
direction: this BTC book loses when BTC falls (short put spread, short perpetual aside), the ETH
book when ETH rises (short calls), so the two hedge each other when the coins move together and
the margin *falls* as the correlation rises. The breakdown searches for the correlation that is
worst for this book (the coins moving apart). Self-checks: the margin never exceeds the isolated
sum; it falls as the correlation rises; the breakdown is never below the base margin, finds a
negative correlation, and at "hedges fail" equals the isolated sum.

Run: ``python examples/cross_margin_crypto.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from greeksmargin import MarketData, compute_margin, methodology, read_book
from greeksmargin.margin import crossmargin as cm

MARKET = MarketData("2024-06-17T10:00:00", ["BTC", "ETH"], [66_500.0, 3_550.0], 0.0, 0.0,
                    [0.55, 0.65])
BOOK = pd.DataFrame({
    "position_id": ["btc-short-put", "btc-long-put", "btc-perp", "eth-short-call", "eth-perp"],
    "symbol": ["BTC-28JUN24-62000-P", "BTC-28JUN24-58000-P", "BTC-PERPETUAL",
               "ETH-26JUL24-4000-C", "ETH-PERPETUAL"],
    "quantity": [-10.0, 10.0, -0.5, -40.0, 4.0],
})


def main() -> int:
    failures = []
    book = read_book(BOOK, venue="deribit").value
    deribit = methodology.deribit()
    result = compute_margin(book, MARKET, deribit, by="underlying")
    usd = result.initial * result.to_quote
    for k, label in enumerate(result.group_labels):
        print(f"{label}: IM {result.initial[k]:.4f} {result.currency[k]} = {usd[k]:,.0f} USD"
              f"  (worst: {result.worst_label[k]})")
    isolated = float(result.scan_risk @ result.to_quote)
    print(f"isolated scan risk (sum of coins, USD): {isolated:,.0f}")
    exposures = cm.edge_exposures(result.pnl, MARKET)
    print("signed edge exposure delta (USD, > 0 loses on a rise):",
          dict(zip(result.group_labels, exposures[0].round(0).tolist(), strict=True)))
    if not (exposures[0][0] < 0 < exposures[0][1]):
        failures.append("BTC should lose on a fall and ETH on a rise")
    margins = []
    for rho in (-0.5, 0.0, 0.5, 0.8, 0.95):
        c = np.array([[1.0, rho], [rho, 1.0]])
        agg = cm.correlation_margin(result.pnl, c, market=MARKET).total
        margins.append(agg)
        print(f"correlation {rho:+.2f}: margin {agg:,.0f} USD, saving {1 - agg / isolated:.1%}")
        if agg > isolated * (1 + 1e-12):
            failures.append(f"margin above the isolated sum at correlation {rho}")
    if not all(a >= b - 1e-9 for a, b in zip(margins, margins[1:], strict=False)):
        failures.append("the hedge should need less margin as the coins move together")
    base = np.array([[1.0, 0.8], [0.8, 1.0]])
    breakdown = cm.correlation_breakdown(result.pnl, base, market=MARKET)
    for name, value in breakdown.margins.items():
        print(f"  breakdown candidate {name:>24}: {value:,.0f} USD")
    print(f"worst correlation for this book: {breakdown.worst} ({breakdown.total:,.0f} USD)")
    if breakdown.total < breakdown.base.total - 1e-9:
        failures.append("the breakdown is below the base margin")
    if breakdown.matrices[breakdown.worst][0, 1] >= 0:
        failures.append("the worst correlation for a cross-coin hedge should be negative")
    if not np.isclose(breakdown.margins["hedges fail"], isolated, rtol=1e-12):
        failures.append("'hedges fail' differs from the isolated sum")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
