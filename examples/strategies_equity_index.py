"""Multi-leg strategies on an equity and an index, margined with OCC TIMS; each checks itself.

For every strategy the script
1. margins it with the OCC TIMS preset (equity +-15%, high-cap index +6%/-8%);
2. checks the full revaluation against a second-order Taylor expansion from the pricing layer's
   Greeks for small shocks (dS = +-0.5%, dvol = +-0.5 vol point): the difference must be of third
   order, below 2% of the first-order move;
3. checks what the strategy's shape promises: a box spread has (almost) no scenario risk, a
   defined-risk spread never needs more than its width, a covered call needs less than the stock.

Run: ``python examples/strategies_equity_index.py``; exits non-zero if a check fails.
"""

from __future__ import annotations

import sys

import numpy as np

from greeksmargin import Book, MarketData, ScenarioGrid, ShiftType, compute_margin, methodology
from greeksmargin.pricing import greeks

VALUATION = "2025-06-02T15:00:00"
NEAR = np.datetime64("2025-07-18T20:00:00", "s")
FAR = np.datetime64("2025-09-19T20:00:00", "s")
MARKET = MarketData(VALUATION, ["XYZ", "IDX"], [200.0, 5900.0], [0.043, 0.043], [0.038, 0.03],
                    [0.28, 0.16])
OCC = methodology.occ_tims({"IDX": "high_cap_index"})
SMALL = ScenarioGrid.product([-0.005, 0.0, 0.005], [-0.005, 0.0, 0.005],
                             vol_shift_type=ShiftType.ABSOLUTE, name="small shocks")
TAYLOR_RTOL = 0.02


def legs(underlying: str, rows: list[tuple[str, float, float, np.datetime64]]) -> Book:
    """rows: (kind 'c'/'p'/'s', strike, quantity in contracts or shares, expiry)."""
    code = {"c": 1, "p": 2, "s": 0}
    return Book(
        [f"{underlying}-{i}" for i in range(len(rows))], [underlying] * len(rows),
        [code[k] for k, *_ in rows],
        [np.nan if k == "s" else strike for k, strike, _, _ in rows],
        [np.datetime64("NaT") if k == "s" else e for k, _, _, e in rows],
        [q for _, _, q, _ in rows], [1.0 if k == "s" else 100.0 for k, *_ in rows])


def strategies(u: str, s: float) -> dict[str, Book]:
    k = lambda x: round(s * x / 5) * 5  # noqa: E731  strikes on a 5-point grid
    return {
        "bull call vertical": legs(u, [("c", k(1.0), 1, NEAR), ("c", k(1.05), -1, NEAR)]),
        "short straddle": legs(u, [("c", k(1.0), -1, NEAR), ("p", k(1.0), -1, NEAR)]),
        "short strangle": legs(u, [("c", k(1.08), -1, NEAR), ("p", k(0.92), -1, NEAR)]),
        "iron condor": legs(u, [("p", k(0.88), 1, NEAR), ("p", k(0.93), -1, NEAR),
                                ("c", k(1.07), -1, NEAR), ("c", k(1.12), 1, NEAR)]),
        "call butterfly": legs(u, [("c", k(0.95), 1, NEAR), ("c", k(1.0), -2, NEAR),
                                   ("c", k(1.05), 1, NEAR)]),
        "calendar": legs(u, [("c", k(1.0), -1, NEAR), ("c", k(1.0), 1, FAR)]),
        "covered call": legs(u, [("s", 0, 100, NEAR), ("c", k(1.05), -1, NEAR)]),
        "collar": legs(u, [("s", 0, 100, NEAR), ("p", k(0.95), 1, NEAR), ("c", k(1.05), -1, NEAR)]),
        "risk reversal": legs(u, [("p", k(0.95), -1, NEAR), ("c", k(1.05), 1, NEAR)]),
        "box spread": legs(u, [("c", k(0.95), 1, NEAR), ("c", k(1.05), -1, NEAR),
                               ("p", k(0.95), -1, NEAR), ("p", k(1.05), 1, NEAR)]),
    }


def taylor_check(book: Book) -> float:
    """Largest |full revaluation - Taylor| / first-order scale over the small-shock grid.

    Taylor: delta dS + gamma dS^2 / 2 + vega dvol + vanna dS dvol + volga dvol^2 / 2.
    """
    resolved = book.resolve(MARKET)
    pnl = compute_margin(book, MARKET, SMALL, keep_positions=True).pnl
    u = resolved.underlying_index
    option = resolved.kind != 0
    g = greeks(MARKET.spot[u][option], resolved.strike[option],
               expiry_years=resolved.expiry_years[option], vol=resolved.vol[option],
               rate=MARKET.rate[u][option], carry=MARKET.carry[u][option],
               kind=resolved.kind[option])
    size = resolved.notional[option]
    delta = (g.delta * size).sum() + resolved.notional[~option].sum()
    gamma, vega = (g.gamma * size).sum(), (g.vega * size).sum()
    vanna, volga = (g.vanna * size).sum(), (g.volga * size).sum()
    s = MARKET.spot[u[0]]
    ds, dv = SMALL.spot_shift * s, SMALL.vol_shift
    taylor = (delta * ds + 0.5 * gamma * ds**2 + vega * dv + vanna * ds * dv
              + 0.5 * volga * dv**2)
    full = pnl.values.sum(axis=0)
    # first-order move; a floor of 1e-9 of the gross notional for books with none (the box)
    scale = max(np.abs(delta * ds).max() + np.abs(vega * dv).max(),
                1e-9 * np.abs(resolved.notional).sum() * s)
    return float(np.abs(full - taylor).max() / scale)


def main() -> int:
    failures = []
    print(f"{'strategy':22s} {'underlying':10s} {'OCC margin':>12s} {'worst':>12s}  taylor err")
    for u in ("XYZ", "IDX"):
        s = float(MARKET.spot[MARKET.underlyings.index(u)])
        margins = {}
        for name, book in strategies(u, s).items():
            result = compute_margin(book, MARKET, OCC)
            err = taylor_check(book)
            margins[name] = result.total
            print(f"{name:22s} {u:10s} {result.total:12,.2f} {result.worst_label[0]:>12s}"
                  f"  {err:.1e}")
            if not err < TAYLOR_RTOL:
                failures.append(f"{u} {name}: Taylor error {err:.3g} >= {TAYLOR_RTOL}")
            if not (np.isfinite(result.total) and result.total >= 0):
                failures.append(f"{u} {name}: margin {result.total}")
        width = (round(s * 1.05 / 5) * 5 - round(s / 5) * 5) * 100
        checks = {
            # scenario risk of a box is only the contract minimum: 4 legs x $0.375 x 100
            "box spread is riskless": margins["box spread"] <= 4 * 0.375 * 100 + 1e-6,
            "vertical needs at most its premium": margins["bull call vertical"] <= width,
            "covered call below the stock alone": margins["covered call"] < compute_margin(
                legs(u, [("s", 0, 100, NEAR)]), MARKET, OCC).total,
            "collar below the covered call": margins["collar"] <= margins["covered call"],
            "condor below the strangle": margins["iron condor"] < margins["short strangle"],
        }
        failures += [f"{u}: {text}" for text, ok in checks.items() if not ok]
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all self-checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
