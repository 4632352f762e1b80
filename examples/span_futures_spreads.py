"""CME SPAN on a futures-and-options book: scan risk, calendar spreads, delivery, inter-commodity.

A grain desk holds corn futures in two months, short corn calls and a soybean hedge. The script
margins it under SPAN with the spread parameters CME publishes per combined commodity (tiers,
intra-commodity spread charges, a delivery-month charge, an inter-commodity credit), then checks
itself:
1. CME's own published spread examples reproduce (CME Group, "Spread calculations":
   Corn vs. Soybeans 2:1 at a 55% credit = $2,700; a calendar at ($750 - $500) + $50 = $300);
2. the parts add up: initial margin = scan risk + intra + delivery - inter credit + SOM;
3. the risk arrays written to a file margin the same book to the cent (``span-arrays`` /
   ``span-margin`` at the CLI);
4. the spreads never lower a requirement below the SOM, and a hedged calendar needs far less
   than its legs margined alone.

Run: ``python examples/span_futures_spreads.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from greeksmargin import Book, MarketData, compute_margin
from greeksmargin.io.span_arrays import read_risk_arrays, write_risk_arrays
from greeksmargin.margin.span import margin_from_risk_arrays, span_risk_arrays
from greeksmargin.methodology import (
    DeliveryCharge,
    InterSpread,
    IntraSpread,
    SpanSpreads,
    SpanTier,
    span,
)

MARKET = MarketData("2025-01-02", ["C", "S"], [4.375, 10.0], 0.0, 0.0, [0.25, 0.2])
JAN, MARCH, MAY = (np.datetime64(d) for d in ("2025-01-14", "2025-03-14", "2025-05-14"))
SPREADS = SpanSpreads(
    tiers={"C": (SpanTier(1, "2025-01", "2025-01"), SpanTier(2, "2025-03", "2025-03"),
                 SpanTier(3, "2025-05", "2025-07"))},
    intra={"C": (IntraSpread(150.0, ((2, 1), (3, -1))),)},  # per March/May spread formed
    delivery={"C": DeliveryCharge(1, spread_rate=10.0, outright_rate=20.0)},  # January, per delta
    inter=(InterSpread(0.55, (("C", 2), ("S", -1))),))  # CME's example rate and ratio
SPAN = span(None, price_scan_amount={"C": 1750, "S": 2500}, short_option_minimum=200.0,
            spreads=SPREADS)


def book() -> Book:
    return Book(["c-jan", "c-mar", "c-may", "c-call", "s-fut"], ["C", "C", "C", "C", "S"],
                [0, 0, 0, 1, 0], [np.nan, np.nan, np.nan, 4.75, np.nan],
                [JAN, MARCH, MAY, MAY, MARCH], [1.0, 6.0, -2.0, -4.0, -1.0], [5000.0] * 5)


def main() -> int:
    failures = []

    def check(ok: bool, what: str) -> None:
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    # 1. CME's published examples
    grains = span(None, price_scan_amount={"C": 1750, "S": 2500}, spreads=SpanSpreads(
        inter=(InterSpread(0.55, (("C", 2), ("S", -1))),)))
    pair = Book(["c", "s"], ["C", "S"], [0, 0], [np.nan] * 2, [MARCH] * 2, [2.0, -1.0],
                [5000.0] * 2)
    check(abs(float(compute_margin(pair, MARKET, grains).total) - 2700.0) < 1e-6,
          "Corn vs. Soybeans 2:1, 55% credit: $2,700 (CME)")
    months = MarketData("2025-01-02", ["X2", "X4"], [100.0, 150.0], 0.0, 0.0, [0.2, 0.2],
                        group_of={"X2": "X", "X4": "X"})
    calendar = Book(["a", "b"], ["X2", "X4"], [0, 0], [np.nan] * 2,
                    [np.datetime64("2025-02-20"), np.datetime64("2025-04-20")], [1.0, -1.0],
                    [100.0] * 2)
    x = span(0.05, spreads=SpanSpreads(
        tiers={"X": (SpanTier(1, "2025-02", "2025-02"), SpanTier(2, "2025-04", "2025-04"))},
        intra={"X": (IntraSpread(50.0, ((1, 1), (2, -1))),)}))
    check(abs(float(compute_margin(calendar, months, x).total) - 300.0) < 1e-6,
          "calendar at outrights $500 / $750 with a $50 charge: $300 (CME)")

    # 2. the desk's book, part by part
    result = compute_margin(book(), MARKET, SPAN)
    frame = result.to_frame()
    print(frame[["scan_risk", "intra_spread", "delivery", "inter_credit",
                 "short_option_minimum", "initial_margin", "net_option_value"]]
          .to_string(float_format=lambda v: f"{v:,.2f}"))
    parts = frame[["scan_risk", "intra_spread", "delivery", "inter_credit",
                   "short_option_minimum"]].sum(axis=1)
    check(bool(np.allclose(parts, frame["initial_margin"], rtol=1e-12)),
          "initial margin = scan + intra + delivery - inter credit + SOM, per group")
    check(frame.loc["C", "intra_spread"] > 0 and frame.loc["C", "delivery"] > 0,
          "the March/May corn calendar and the January delivery month are charged")
    check(bool((frame["inter_credit"] < 0).all()),
          "the corn left after the calendar spreads against the soybean hedge (a credit each)")

    # 3. the same from a file of the contracts' risk arrays
    arrays, positions = span_risk_arrays(book(), MARKET, SPAN)
    with tempfile.TemporaryDirectory() as folder:
        path = write_risk_arrays(arrays, Path(folder) / "grains.csv")
        from_file = margin_from_risk_arrays(read_risk_arrays(path), positions, SPAN)
    check(abs(float(from_file.total) - float(result.total)) < 1e-6,
          f"risk-array file margins the book the same: {from_file.total}")

    # 4. floors and savings
    check(bool((frame["initial_margin"] >= 200.0 * np.array([4.0, 0.0]) - 1e-9).all()),
          "no group below its short option minimum (4 short calls x $200 in corn)")
    n = book().n_positions
    alone = sum(float(compute_margin(book().take(np.arange(n) == i), MARKET, SPAN).total)
                for i in range(n))
    check(float(result.total) < alone,
          f"the book ({result.total}) needs less than its legs alone ({alone:,.2f} USD)")
    if failures:
        print(f"{len(failures)} self-check(s) failed")
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
