"""SPX options hedged with SPY shares and E-mini (ES) futures: isolated vs cross-margined.

SPX, SPY and the ES future (a linear future on the SPX forward, 50 x index) form one class group,
the S&P 500 basket. The script margins the book every way (OCC TIMS high-cap index ranges) and
checks itself:
1. netting the basket fully is never worse than margining each underlying alone;
2. product-group offsets at 0% equal the sum of standalone class groups, at 100% full netting;
3. with every correlation 1 the correlation aggregate equals the sum of standalone margins.

Run: ``python examples/cross_margin_index_hedge.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys

import numpy as np

from greeksmargin import Book, MarketData, compute_margin, methodology
from greeksmargin.margin import crossmargin as cm

EXPIRY = np.datetime64("2025-09-19T20:00:00", "s")
ES_EXPIRY = np.datetime64("2025-09-19T13:30:00", "s")
MARKET = MarketData("2025-06-02T15:00:00", ["SPX", "SPY", "NDX"], [5912.0, 590.1, 21300.0],
                    0.043, [0.030, 0.031, 0.036], [0.16, 0.15, 0.20],
                    group_of={"SPX": "S&P 500", "SPY": "S&P 500", "NDX": "Nasdaq 100"})
OCC = methodology.occ_tims({"SPX": "high_cap_index", "SPY": "high_cap_index",
                            "NDX": "high_cap_index"})
BOOK = Book(
    ["spx-short-put", "spx-short-call", "spy-hedge", "es-hedge", "ndx-long-put"],
    ["SPX", "SPX", "SPY", "SPX", "NDX"],
    [2, 1, 0, 0, 2],
    [5700.0, 6100.0, np.nan, np.nan, 20500.0],
    [EXPIRY, EXPIRY, np.datetime64("NaT"), ES_EXPIRY, EXPIRY],
    [-20.0, -10.0, -800.0, -2.0, 3.0],
    [100.0, 100.0, 1.0, 50.0, 100.0],
)


def main() -> int:
    failures = []
    rows = cm.compare(BOOK, MARKET, OCC, product_group_of={"S&P 500": "US index",
                                                          "Nasdaq 100": "US index"},
                      offset=0.5, correlation=np.array([[1, 0.99, 0.9], [0.99, 1, 0.9],
                                                        [0.9, 0.9, 1.0]]))
    frame = cm.compare_frame(rows)
    frame["saving_vs_isolated"] = frame["saving_vs_isolated"].map("{:.1%}".format)
    print(frame.to_string(index=False, float_format="{:,.0f}".format))
    margins = {r.method: r.margin for r in rows}
    if margins["each class group alone"] > margins["each underlying alone"] + 1e-6:
        failures.append("netting the basket made the margin larger")
    by_group = compute_margin(BOOK, MARKET, OCC)
    pnl = by_group.pnl
    product = {"S&P 500": "US", "Nasdaq 100": "US"}
    zero = cm.offset_margin(pnl, product, 0.0)
    full = cm.offset_margin(pnl, product, 1.0)
    if not np.isclose(zero.total, by_group.scan_risk.sum(), rtol=1e-12):
        failures.append("0% offset differs from the standalone sum")
    if not full.total <= zero.total:
        failures.append("100% offset above the standalone sum")
    ones = cm.correlation_margin(by_group.initial, np.ones((2, 2)))
    if not np.isclose(ones, by_group.initial.sum(), rtol=1e-12):
        failures.append("correlation 1 differs from the sum of standalone margins")
    print(f"\noffsets 0%: {zero.total:,.2f}  100%: {full.total:,.2f}  correlation-1 aggregate:"
          f" {ones:,.2f}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
