"""Command-line shell over the public API: parse, call, format. Nothing else lives here.

``greeksmargin greeks [BOOK.csv | --sample] [--format table|csv|json] [--american]`` prices a
positions file (one option per row) and prints per-position prices and Greeks in desk units and
position totals per underlying. Bad rows are reported one line each on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .enums import OptionKind
from .errors import InputError
from .pricing import american, black_scholes_merton

REQUIRED = ("position_id", "underlying", "kind", "strike", "expiry_years", "quantity",
            "multiplier", "spot", "vol", "rate")
EXIT_BAD_INPUT = 2


def sample_path() -> Path:
    """Path of the sample book that ships with the package."""
    return Path(str(resources.files("greeksmargin") / "data" / "sample_options.csv"))


def _read_book(path: Path) -> pd.DataFrame:
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


def greeks_table(frame: pd.DataFrame, american_style: bool = False) -> pd.DataFrame:
    """Per-position price and Greeks (desk units) with position values; raises on bad rows."""
    errors = _row_errors(frame, american_style)
    if errors:
        raise InputError("\n".join(errors))
    kind = np.array([OptionKind.parse(str(k)) for k in frame["kind"]], dtype=np.int8)
    args = dict(expiry_years=frame["expiry_years"].to_numpy(float), vol=frame["vol"].to_numpy(float),
                rate=frame["rate"].to_numpy(float),
                dividend_yield=frame["dividend_yield"].to_numpy(float), kind=kind)
    spot = frame["spot"].to_numpy(float)
    strike = frame["strike"].to_numpy(float)
    if american_style:
        g = american.greeks(spot, strike, **args)
    else:
        g = black_scholes_merton.greeks(spot, strike, **args)  # type: ignore[assignment]
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


def _totals(table: pd.DataFrame) -> pd.DataFrame:
    cols = ["value", "position_delta", "position_gamma", "position_vega_per_vol_point",
            "position_theta_per_day"]
    return table.groupby("underlying", sort=True)[cols].sum().reset_index()


def _cmd_greeks(args: argparse.Namespace) -> int:
    path = sample_path() if args.book is None else Path(args.book)
    frame = _read_book(path)
    table = greeks_table(frame, american_style=args.american)
    totals = _totals(table)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        json.dump({"book": str(path), "model": "american" if args.american else "merton",
                   "positions": table.to_dict("records"),
                   "totals_by_underlying": totals.to_dict("records")}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 50,
                               "display.float_format", "{:,.4f}".format):
            print(f"book: {path}  model: {'American (Leisen-Reimer)' if args.american else 'European (Merton)'}")
            print(table.to_string(index=False))
            print("\ntotals by underlying")
            print(totals.to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="greeksmargin", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"greeksmargin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("greeks", help="price and Greeks of a positions file (or the sample)")
    g.add_argument("book", nargs="?", default=None,
                   help="positions CSV; the bundled sample when omitted or with --sample")
    g.add_argument("--sample", action="store_true", help="use the sample book shipped with the package")
    g.add_argument("--format", choices=("table", "csv", "json"), default="table")
    g.add_argument("--american", action="store_true", help="price with American exercise")
    g.set_defaults(func=_cmd_greeks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``greeksmargin`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "sample", False):
        args.book = None
    try:
        return int(args.func(args))
    except InputError as exc:
        for line in str(exc).splitlines():
            print(f"greeksmargin: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
