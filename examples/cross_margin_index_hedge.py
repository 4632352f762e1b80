"""SPX options hedged with SPY shares and E-mini (ES) futures: isolated vs cross-margined.

SPX, SPY and the ES future (a linear future on the SPX forward, 50 x index) form one class group,
the S&P 500 basket. The script margins the book every way (OCC TIMS high-cap index ranges) and
checks itself:
1. netting the basket fully is never worse than margining each underlying alone;
2. TIMS product-group offsets (gains credit at aligned points) never exceed the sum of standalone
   class groups, 100% is full netting, and the credit at 50% matches a hand computation;
3. the direction-aware correlation margin of the underlyings never exceeds their standalone
   sum, and its breakdown (the worst correlation for the book) is never below it.

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
    half = cm.offset_margin(pnl, product, 0.5)
    full = cm.offset_margin(pnl, product, 1.0)
    if not zero.total <= by_group.scan_risk.sum() * (1 + 1e-12):
        failures.append("0% offset above the standalone sum")
    x = pnl.values  # TIMS grid weights are 1 here
    by_hand = -(np.minimum(x, 0).sum(axis=0) + 0.5 * np.maximum(x, 0).sum(axis=0)).min()
    if not np.isclose(half.total, max(by_hand, 0.0), rtol=1e-12):
        failures.append("50% gains credit differs from the hand computation")
    if not np.isclose(full.total, max(-x.sum(axis=0).min(), 0.0), rtol=1e-12):
        failures.append("100% offset differs from full netting")
    by_underlying = compute_margin(BOOK, MARKET, OCC, by="underlying")
    c = np.array([[1, 0.99, 0.9], [0.99, 1, 0.9], [0.9, 0.9, 1.0]])
    index = [MARKET.underlyings.index(u) for u in by_underlying.group_labels]
    corr = cm.correlation_margin(by_underlying.pnl, c[np.ix_(index, index)])
    worst = cm.correlation_breakdown(by_underlying.pnl, c[np.ix_(index, index)])
    if not corr.total <= by_underlying.scan_risk.sum() * (1 + 1e-12):
        failures.append("correlation margin above the standalone sum")
    if not worst.total >= corr.total:
        failures.append("the breakdown lowered the margin")
    print(f"\noffsets 0%: {zero.total:,.2f}  50%: {half.total:,.2f}  100%: {full.total:,.2f};"
          f" correlation: {corr.total:,.2f}, breakdown ({worst.worst}): {worst.total:,.2f}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
