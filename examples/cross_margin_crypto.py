"""BTC and ETH options (coin-settled, Deribit preset): isolated per coin vs correlation-aggregated.

Deribit's S:PM margins each coin in its own currency; a cross-margin view converts the coin
margins to USD at spot and aggregates them through the BTC-ETH correlation. The saving shrinks as
the correlation is stressed towards 1 and vanishes there. Self-checks: the aggregate never exceeds
the isolated sum, the saving falls monotonically as the correlation rises, and it is 0 at 1.

Run: ``python examples/cross_margin_crypto.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from greeksmargin import MarketData, compute_margin, methodology, read_book
from greeksmargin.analysis import estimate
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
    result = compute_margin(book, MARKET, methodology.deribit())
    spots = np.array([MARKET.spot[MARKET.index_of(c)] for c in result.currency])
    usd = result.initial * spots
    for label, coin, value, dollars in zip(result.group_labels, result.currency, result.initial,
                                           usd, strict=True):
        print(f"{label}: IM {value:.4f} {coin} = {dollars:,.0f} USD  (worst:"
              f" {result.worst_label[result.group_labels.index(label)]})")
    isolated = float(usd.sum())
    print(f"isolated (sum of coins, USD): {isolated:,.0f}")
    base = np.array([[1.0, 0.8], [0.8, 1.0]])
    savings = []
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        c = estimate.stress_correlation(base, weight, 1.0)
        agg = cm.correlation_margin(usd, c)
        savings.append(1 - agg / isolated)
        print(f"correlation {c[0, 1]:.3f}: aggregate {agg:,.0f} USD, saving {savings[-1]:.1%}")
        if agg > isolated * (1 + 1e-12):
            failures.append(f"aggregate above the isolated sum at correlation {c[0, 1]}")
    if not all(a >= b - 1e-12 for a, b in zip(savings, savings[1:], strict=False)):
        failures.append("saving does not shrink as correlations rise")
    if abs(savings[-1]) > 1e-12:
        failures.append("saving at correlation 1 is not zero")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
