"""Command-line shell over the public API: parse, call, format. Nothing else lives here.

``greeksmargin margin [BOOK | --sample] [--market FILE] [--preset NAME | --grid FILE]
[--by group|underlying|position] [--format table|csv|json]`` margins a book; ``greeksmargin
risk-matrix ...`` shows P&L on a vol x spot grid with the worst cell marked.
``greeksmargin greeks [BOOK.csv | --sample] [--format table|csv|json] [--american]`` prices a
positions file (one option per row) and prints per-position prices and Greeks in desk units and
position totals per underlying. Bad rows are reported one line each on stderr with exit status 2.

``-q/--quiet`` and ``-v/--verbose`` go before or after the subcommand: quiet drops progress bars
and informational messages (the result and any refused rows still print); verbose logs each step
with its timing on stderr (``-vv`` adds the kernels). Progress bars (batch, backtest) show only
when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import methodology
from .._version import __version__
from ..errors import InputError, MethodologyError
from ..io.grids import read_grid
from ..io.inputs import Inputs, read_inputs
from ..io.markets import read_correlation, read_market
from ..io.option_table import read_option_table, sample_path
from ..io.samples import sample_paths
from ..io.tables import read_json
from ..io.writes import check_output, csv_safe, write_atomic
from ..margin.result import MarginResult, compute_margin
from ..measures.greeks import greeks_by_underlying_table, greeks_table
from ..measures.risk_matrix import risk_matrix
from ..methodology import Methodology
from ..model.amount import FIAT, decimals_for
from ..model.scenarios import ScenarioGrid

if TYPE_CHECKING:
    from ..accounts.account import AccountState

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed pipe writer


_log = logging.getLogger("greeksmargin.front.cli")
sample_margin_paths = sample_paths  # the sample margin book and its market file


def _load(args: argparse.Namespace) -> Inputs:
    """Book, market and refused rows from the files the arguments name (or the sample)."""
    if args.book is None:
        book_path, market_path = sample_margin_paths()
        market_path = Path(args.market) if args.market else market_path
    else:
        book_path = Path(args.book)
        if not args.market:
            raise InputError("--market FILE is required with a book file (one row per underlying:"
                             " underlying, spot, rate, dividend_yield or carry, vol, valuation)")
        market_path = Path(args.market)
    inputs = read_inputs(book_path, market_path, venue=args.venue, valuation=args.valuation,
                         on_invalid=args.on_invalid)
    _log.info("read %s: %d positions (%d rows refused); %s: %d underlyings, valuation %s",
              book_path, inputs.book.n_positions, len(inputs.failures), market_path,
              inputs.market.n_underlyings, inputs.market.valuation)
    return inputs


def _load_whole(args: argparse.Namespace, command: str) -> Inputs:
    """Load as :func:`_load`, refusing a book with invalid rows (``command`` needs all of it)."""
    inputs = _load(args)
    if inputs.failures:
        raise InputError(f"{command} needs the whole book; {len(inputs.failures)} rows are"
                         " invalid")
    return inputs


SPAN_PSR, SPAN_VSR = 0.07, 0.35  # the CLI's SPAN defaults (--psr, --vsr)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _class_amounts(texts: Sequence[str] | None, flag: str, what: str, example: str,
                   zero: bool) -> dict[str, float]:
    """``CLASS=AMOUNT`` options as a dict (amounts finite, > 0 or >= 0 with ``zero``)."""
    amounts: dict[str, float] = {}
    for text in texts or ():
        key, sep, value = str(text).rpartition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = float("nan")
        if not sep or not key.strip() or not (np.isfinite(amount)
                                               and (amount >= 0 if zero else amount > 0)):
            raise InputError(f"{flag} takes CLASS=AMOUNT ({what}), e.g. {example}; got {text!r}")
        if key.strip() in amounts:
            raise InputError(f"{flag} gives class {key.strip()!r} twice")
        amounts[key.strip()] = amount
    return amounts


def _psr_amounts(args: argparse.Namespace) -> dict[str, float]:
    """``--psr-amount CLASS=AMOUNT`` options as a dict (amounts finite and > 0)."""
    return _class_amounts(getattr(args, "psr_amount", None), "--psr-amount",
                          "the price scan range in currency per contract, > 0", "ES=30000",
                          zero=False)


def _som(args: argparse.Namespace) -> float | dict[str, float]:
    """``--som AMOUNT`` (every class group) or ``--som CLASS=AMOUNT`` (repeated), else 0."""
    texts = getattr(args, "som", None) or []
    if len(texts) == 1 and "=" not in str(texts[0]):
        try:
            amount = float(texts[0])
        except ValueError:
            amount = float("nan")
        if not (np.isfinite(amount) and amount >= 0):
            raise InputError(f"--som takes AMOUNT or CLASS=AMOUNT (per short call or short put,"
                             f" >= 0); got {texts[0]!r}")
        return amount
    return _class_amounts(texts, "--som", "per short call or short put, >= 0", "ES=250",
                          zero=True)


def _span(args: argparse.Namespace) -> Methodology:
    """Build the SPAN preset from --psr, --vsr and --psr-amount.

    A class without an amount takes --psr (0.07 by default); with amounts and no --psr, every
    class needs an amount.
    """
    amounts = _psr_amounts(args)
    psr = args.psr if args.psr is not None else (None if amounts else SPAN_PSR)
    return methodology.span(psr, _or(args.vsr, SPAN_VSR), price_scan_amount=amounts,
                            short_option_minimum=_som(args), spreads=_spreads(args))


def _spreads(args: argparse.Namespace) -> methodology.SpanSpreads | None:
    """Read the SPAN spreads of ``--spreads FILE`` (JSON); None without the option."""
    path = getattr(args, "spreads", None)
    if not path:
        return None
    return methodology.SpanSpreads.from_mapping(read_json(Path(path), "SPAN spreads"), str(path))


def _methodology(args: argparse.Namespace) -> Methodology | ScenarioGrid:
    if args.grid:
        return read_grid(args.grid)
    name = args.preset
    if name == "span":
        return _span(args)
    return methodology.get(name)


def _cmd_margin(args: argparse.Namespace) -> int:
    inputs = _load(args)
    book, market, failures = inputs.book, inputs.market, inputs.failures
    method = _methodology(args)
    by_position = args.by == "position"
    result = compute_margin(book, market, method, by="underlying" if args.by == "underlying"
                            else "group", keep_positions=by_position, excluded=failures)
    for failure in failures:
        print(f"greeksmargin: excluded: {failure}", file=sys.stderr)
    table = result.to_frame().reset_index()
    if by_position:
        table = _position_table(result)
    if args.format == "json":
        out = result.to_dict()
        if by_position:
            out["positions"] = table.to_dict("records")
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif args.format == "csv":
        csv_safe(table).to_csv(sys.stdout, index=False)
    else:
        m = result.methodology
        print(f"methodology: {m.get('name')} {m.get('version', '')}  {m.get('source', '')}".rstrip())
        print(f"valuation: {market.valuation}  positions: {book.n_positions}"
              + (f"  EXCLUDED: {len(failures)} rows (see stderr)" if failures else ""))
        digits = max(decimals_for(c, result.initial[np.array(result.currency) == c])
                     for c in set(result.currency))
        with pd.option_context("display.width", 200, "display.max_columns", 50,
                               "display.float_format", f"{{:,.{digits}f}}".format):
            print(table.to_string(index=False))
        line = f"total initial margin: {result.total}   maintenance: {result.total_maintenance}"
        if result.total_currency != result.quote_currency:
            line += f"   (= {result.initial_quote} / {result.maintenance_quote} at spot)"
        print(line)
    return 0


def _cmd_span_arrays(args: argparse.Namespace) -> int:
    from ..io.span_arrays import write_risk_arrays
    from ..margin.span import span_risk_arrays

    inputs = _load_whole(args, "span-arrays")
    arrays, positions = span_risk_arrays(inputs.book, inputs.market, _span(args))
    parquet = Path(args.out).suffix.lower() in (".parquet", ".pq")
    write_atomic(args.out, lambda path: write_risk_arrays(arrays, path, parquet=parquet),
                 _input_paths(args), "--out")
    _written(f"risk arrays of {arrays.contract.size} contracts", args.out, args)
    if args.positions_out:
        write_atomic(args.positions_out, lambda path: positions.to_csv(path, index=False),
                     _input_paths(args), "--positions-out")
        _written(f"{len(positions)} positions", args.positions_out, args)
    return 0


def _cmd_span_margin(args: argparse.Namespace) -> int:
    from ..io.span_arrays import read_risk_arrays
    from ..io.tables import read_table
    from ..margin.span import margin_from_risk_arrays

    arrays = read_risk_arrays(args.arrays)
    positions = read_table(Path(args.positions), "positions")
    result = margin_from_risk_arrays(arrays, positions, methodology.span(
        SPAN_PSR, short_option_minimum=_som(args), spreads=_spreads(args)))
    table = result.to_frame().reset_index()
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif args.format == "csv":
        csv_safe(table).to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 50,
                               "display.float_format", "{:,.2f}".format):
            print(table.to_string(index=False))
        print(f"total initial margin: {result.total}   maintenance: {result.total_maintenance}")
    return 0


def _position_table(result: MarginResult) -> pd.DataFrame:
    # each position's P&L at its group's worst scenario, and its own worst loss on the grid
    pnl = result.pnl
    assert pnl is not None and pnl.position_values is not None and pnl.position_group is not None
    rows = []
    for i, pid in enumerate(pnl.position_id):  # type: ignore[arg-type]
        g = int(pnl.position_group[i])
        j = int(result.worst_scenario[g])
        rows.append({"position_id": str(pid), "group": result.group_labels[g],
                     "worst_scenario": result.worst_label[g],
                     "pnl_at_group_worst": float(pnl.position_values[i, j]),
                     "own_worst_loss": float(max(0.0, -pnl.position_values[i].min()))})
    return pd.DataFrame(rows)


def _cmd_risk_matrix(args: argparse.Namespace) -> int:
    inputs = _load(args)
    m = risk_matrix(inputs.book, inputs.market, spot_range=args.spot_range,
                    spot_points=args.spot_points, vol_shifts=args.vol_shifts, days=args.days,
                    group=args.group)
    frame = pd.DataFrame(m.pnl, index=pd.Index([f"vol {v:+.0%}" for v in m.vol_shifts],
                                                name="vol"),
                         columns=[f"{s:+.1%}" for s in m.spot_shifts])
    if args.format == "csv":
        csv_safe(frame).to_csv(sys.stdout)
    elif args.format == "json":
        json.dump({"title": m.title, "spot_shifts": m.spot_shifts.tolist(),
                   "vol_shifts": m.vol_shifts.tolist(), "pnl": m.pnl.tolist(),
                   "worst": {"vol_shift": float(m.vol_shifts[m.worst[0]]),
                             "spot_shift": float(m.spot_shifts[m.worst[1]]),
                             "pnl": m.worst_pnl}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        digits = 0 if m.currency.upper() in FIAT else decimals_for(m.currency, m.pnl.ravel())
        cells = frame.map(lambda v: f"{v:,.{digits}f}")
        cells.iloc[m.worst] = cells.iloc[m.worst] + "*"
        print(f"P&L of {m.title}; rows vol shift (relative), columns spot shift;"
              f" time +{args.days:g} d; * = worst cell")
        print(cells.to_string())
    return 0


def _account_state(args: argparse.Namespace, command: str) -> AccountState:
    """Evaluate the account the arguments name: the book, its market and ``--cash``."""
    from ..accounts.account import Account, Collateral

    inputs = _load_whole(args, command)
    quote = inputs.market.quote_currency
    account = Account("cli", inputs.book, Collateral.of({quote: args.cash}, {quote: 1.0},
                                                        currency=quote), _methodology(args))
    return account.evaluate(inputs.market)


def _distance_dict(state: AccountState) -> dict[str, object]:
    from ..accounts.sensitivity import distance_to_liquidation

    d = distance_to_liquidation(state)
    return {"down": d.down, "up": d.up, "vol_up": d.vol_up}


def _print_distance(distance: dict[str, Any]) -> None:
    def pct(x: float) -> str:
        return "-" if not np.isfinite(x) else f"{x:+.2%}"

    print("distance to liquidation (spot move that takes equity to MM):")
    for name in distance["down"]:
        print(f"  {name:>12}: down {pct(distance['down'][name])}, up {pct(distance['up'][name])}")
    print(f"  {'vols':>12}: up {pct(distance['vol_up'])}")


def _cmd_check(args: argparse.Namespace) -> int:
    from ..accounts.account import Account
    from ..accounts.limits import Limits, limit_breaches
    from ..io.books import read_book

    limits = Limits(args.max_leverage, args.max_delta, args.max_gamma, args.max_vega)
    state = _account_state(args, "check")
    order = read_book(Path(args.order), venue=args.venue).value
    whatif = state.whatif(state.prepare_order(order), per_leg=True)
    breaches = limit_breaches(state, limits, order, whatif.equity)
    after = Account("cli", state.account.book.concat(order), state.account.collateral,
                    state.account.method).evaluate(state.market)
    out = {"currency": state.market.quote_currency,
           "accepted": bool(whatif.accepted) and not breaches,
           "margin_ok": bool(whatif.accepted),
           "limit_breaches": [{"limit": b.limit, "underlying": b.underlying, "value": b.value,
                               "bound": b.bound} for b in breaches],
           "equity": float(whatif.equity), "initial_before": float(state.initial),
           "initial_after": float(whatif.initial), "maintenance_after": float(whatif.maintenance),
           "state_after": whatif.state.name.lower(),
           "incremental_initial": dict(zip([str(p) for p in order.position_id.tolist()],
                                           whatif.incremental_initial.tolist(), strict=True)),
           "distance_after": _distance_dict(after)}
    if args.format == "json":
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        verdict = ("ACCEPTED" if out["accepted"] else "REFUSED: equity below the initial margin"
                   if not whatif.accepted else "REFUSED: a limit is broken")
        for breach in breaches:
            verdict += f"\n  limit broken: {breach}"
        print(f"{verdict}\nequity {whatif.equity:,.2f} {out['currency']}; initial margin"
              f" {float(state.initial):,.2f} -> {whatif.initial:,.2f}; maintenance"
              f" {whatif.maintenance:,.2f}; state after: {out['state_after']}")
        for leg, value in out["incremental_initial"].items():  # type: ignore[attr-defined]
            print(f"  leg {leg}: initial margin {value:+,.2f} alone")
        _print_distance(out["distance_after"])  # type: ignore[arg-type]
    return 0


def _cmd_liquidate(args: argparse.Namespace) -> int:
    from ..accounts.liquidation import SpreadCost, liquidate

    if not (np.isfinite(args.half_spread) and 0 <= args.half_spread < 1):
        raise InputError(f"--half-spread must be in [0, 1); got {args.half_spread!r}")
    state = _account_state(args, "liquidate")
    result = liquidate(state, SpreadCost(option_half_spread=args.half_spread), target=args.target)
    steps = [{"position_id": s.position_id, "quantity": s.quantity, "fraction": s.fraction,
              "cost": s.cost, "equity_after": float(s.equity_after),
              "target_before": s.target_before, "target_after": s.target_after}
             for s in result.steps]
    out = {"currency": state.market.quote_currency, "state_before": state.state.name.lower(),
           "equity_before": float(state.equity), "maintenance_before": float(state.maintenance),
           "initial_before": float(state.initial), "restored": bool(result.restored),
           "total_cost": result.total_cost, "reason": result.reason,
           "state_after": result.state.name.lower(), "steps": steps,
           "distance_before": _distance_dict(state)}
    if args.format == "json":
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        csv_safe(pd.DataFrame(steps, columns=["position_id", "quantity", "fraction", "cost",
                                              "equity_after", "target_before", "target_after"])
                 ).to_csv(sys.stdout, index=False)
    else:
        print(f"state {out['state_before']}: equity {float(state.equity):,.2f}, maintenance"
              f" {float(state.maintenance):,.2f}, initial {float(state.initial):,.2f}"
              f" {out['currency']}")
        if not steps:
            print("nothing to close: the account meets its target")
        for k, step in enumerate(result.steps, start=1):
            print(f"  {k}. close {step.quantity:+g} of {step.position_id} (cost"
                  f" {step.cost:,.2f}): target {step.target_before:,.2f} ->"
                  f" {step.target_after:,.2f}, equity {float(step.equity_after):,.2f}")
        print(f"restored: {result.restored}; total cost {result.total_cost:,.2f};"
              f" state after: {out['state_after']}" + (f" ({result.reason})" if result.reason
                                                       else ""))
        _print_distance(out["distance_before"])  # type: ignore[arg-type]
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..margin import crossmargin

    inputs = _load_whole(args, "compare")
    book, market = inputs.book, inputs.market
    method = _methodology(args)
    strategy_of, product_group_of = inputs.strategy_of, inputs.product_group_of
    correlation = read_correlation(args.correlation, market.underlyings) if args.correlation \
        else None
    model = None
    if args.history:
        from ..io.history import read_prices
        from ..methodology.historical import historical

        stress = tuple(args.stress_period.split(":")) if args.stress_period else None
        if stress is not None and len(stress) != 2:
            raise InputError(f"--stress-period must be START:END (YYYY-MM-DD:YYYY-MM-DD); got"
                             f" {args.stress_period!r}")
        model = historical(read_prices(args.history), stress_period=stress)  # type: ignore[arg-type]
    rows = crossmargin.compare(book, market, method, strategy_of=strategy_of,
                               product_group_of=product_group_of, offset=args.offset,
                               correlation=correlation, historical=model,
                               others=crossmargin.venue_presets(book))
    table = crossmargin.compare_frame(rows)
    if args.plot:
        from .plots import plot_compare

        _written("plot", plot_compare(rows, args.plot, currency=market.quote_currency), args)
    if args.format == "json":
        json.dump(table.to_dict("records"), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        csv_safe(table).to_csv(sys.stdout, index=False)
    else:
        shown = table.assign(saving_vs_isolated=table["saving_vs_isolated"].map("{:.1%}".format))
        with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
            print(shown.to_string(index=False))
    return 0


def _cmd_stress(args: argparse.Namespace) -> int:
    from ..analysis import stress

    inputs = _load_whole(args, "stress")
    book, market = inputs.book, inputs.market
    scenarios = (stress.read_scenarios(args.scenarios) if args.scenarios
                 else list(stress.LIBRARY.values()))
    report = stress.stress_report(book, market, scenarios, method=_methodology(args))
    table = report.pnl.assign(total=report.total)
    if args.plot:
        from .plots import plot_stress

        _written("plot", plot_stress(report, args.plot), args)
    if args.format == "json":
        json.dump({"currency": report.currency, "worst": report.worst,
                   "worst_loss": float(report.worst_loss), "margin_consumed": report.margin_consumed,
                   "asset_class": report.asset_class,
                   "unmoved": {k: list(v) for k, v in report.unmoved.items() if v},
                   "pnl": table.reset_index().to_dict("records")}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "csv":
        csv_safe(table.reset_index()).to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.width", 200, "display.float_format", "{:,.0f}".format):
            print(table.to_string())
        print(f"worst: {report.worst}, loss {report.worst_loss} ="
              f" {report.margin_consumed:.2f} x the initial margin")
        for name, left in report.unmoved.items():
            if left:
                print(f"{name}: leaves {', '.join(left)} unchanged (another asset class)")
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    from ..analysis import backtest as bt
    from ..io import history

    prices, vix = history.sp500(), history.vix()
    strategy = bt.STRATEGIES[args.strategy]
    if args.dynamic:
        method: Any = bt.dynamic_range_grid(bt.ewma_vol(prices), k=args.dynamic,
                                               mpor_days=args.mpor, floor=args.floor)
        label = f"dynamic {args.dynamic:g} x EWMA vol, floor {args.floor:.0%}"
    elif args.preset == "span":
        psr = _or(args.psr, SPAN_PSR)
        method, label = methodology.span(psr, _or(args.vsr, SPAN_VSR)), f"SPAN PSR {psr:.0%}"
    else:
        method = methodology.occ_tims({"IDX": "high_cap_index"})
        label = "OCC TIMS high-cap index +6%/-8%"
    result = bt.backtest(prices, strategy, method, implied_vol=vix, mpor_days=args.mpor,
                         start=args.start, end=args.end, label=label,  # type: ignore[arg-type]
                         progress=_progress(args))
    summary = {"strategy": strategy.name, **result.summary(),
               "vol_sources": result.frame["vol_source"].value_counts().to_dict(),
               "data": "S&P 500 adjusted close and VIX from the arch package"}
    if args.plot:
        from .plots import plot_backtest

        _written("plot", plot_backtest(result, args.plot, f"{strategy.name} | {label}"), args)
    if args.format == "json":
        out = {**summary, "exceedance_dates": [str(d.date()) for d in
                                               result.frame.loc[result.frame["exceed"], "date"]]}
        json.dump(out, sys.stdout, indent=2, default=float)
        sys.stdout.write("\n")
    else:
        for key, value in summary.items():
            print(f"{key:24s} {_shown(key, value)}")
        hits = result.frame[result.frame["exceed"]]
        if len(hits) and not args.quiet:
            print("exceedances (date, margin, loss):")
            for _, row in hits.iterrows():
                print(f"  {row['date'].date()}  {row['margin']:12,.2f}  {row['loss']:12,.2f}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import margin_batch

    market = read_market(args.market, valuation=args.valuation)
    method = _methodology(args)
    result = margin_batch(args.positions, market, method, scheduler=args.scheduler,
                          venue=args.venue, progress=_progress(args), on_invalid=args.on_invalid)
    write_atomic(args.out, lambda tmp: result.to_parquet(tmp, index=False), _input_paths(args),
                 "batch result")
    excluded = result[result["excluded"] != ""]
    for _, row in excluded.iterrows():
        print(f"greeksmargin: account {row['account']!r} not margined: {row['excluded']}",
              file=sys.stderr)
    if not args.quiet:
        print(f"{len(result) - len(excluded)} accounts margined"
              + (f" ({len(excluded)} not: see stderr)" if len(excluded) else "")
              + f"; total initial margin {result['initial_margin'].sum():,.2f}"
              f" {market.quote_currency}; written to {args.out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    inputs = _load(args)
    book, market, failures = inputs.book, inputs.market, inputs.failures
    method = _methodology(args)
    for failure in failures:
        print(f"greeksmargin: excluded: {failure}", file=sys.stderr)
    strategy_of, product_group_of = inputs.strategy_of, inputs.product_group_of
    if strategy_of is not None:  # refused rows are not in the book
        kept = set(book.position_id.tolist())
        strategy_of = {p: s for p, s in strategy_of.items() if p in kept}
    path = write_report(book, market, method, args.out, excluded=failures,
                        strategy_of=strategy_of, product_group_of=product_group_of,
                        inputs=_input_paths(args), cash=args.cash)
    if not args.quiet:
        print(f"report written to {path}")
    return 0


def _cmd_greeks(args: argparse.Namespace) -> int:
    path = sample_path() if args.book is None else Path(args.book)
    frame = read_option_table(path, american_style=args.american)
    table = greeks_table(frame, american_style=args.american)
    totals = greeks_by_underlying_table(table)
    if args.format == "csv":
        csv_safe(table).to_csv(sys.stdout, index=False)
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


def _verbosity_options(default: object) -> argparse.ArgumentParser:
    # -q/--quiet and -v/--verbose, accepted before and after the subcommand (the subcommand's
    # copies default to SUPPRESS so they do not undo a flag given before it)
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress bars and no informational messages (errors still print)")
    group.add_argument("-v", "--verbose", action="count", default=default,
                       help="log each step with its timing on stderr (-vv: also the kernels)")
    return options


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="greeksmargin", description=__doc__.splitlines()[0],
                                     parents=[_verbosity_options(None)])
    parser.add_argument("--version", action="version", version=f"greeksmargin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_verbosity_options(argparse.SUPPRESS)]
    g = sub.add_parser("greeks", parents=common,
                       help="price and Greeks of a positions file (or the sample)")
    g.add_argument("book", nargs="?", default=None,
                   help="positions CSV; the bundled sample when omitted or with --sample")
    g.add_argument("--sample", action="store_true", help="use the sample book shipped with the package")
    g.add_argument("--format", choices=("table", "csv", "json"), default="table")
    g.add_argument("--american", action="store_true", help="price with American exercise")
    g.set_defaults(func=_cmd_greeks)
    for name, func, text in (("margin", _cmd_margin, "portfolio margin of a book"),
                             ("risk-matrix", _cmd_risk_matrix,
                              "P&L on a vol x spot grid, worst cell marked"),
                             ("compare", _cmd_compare,
                              "isolated vs cross-margined: the capital-efficiency table"),
                             ("stress", _cmd_stress,
                              "P&L under named stress scenarios and the margin they consume"),
                             ("report", _cmd_report,
                              "one self-contained HTML margin report with plots"),
                             ("check", _cmd_check,
                              "pre-trade what-if of an order on an account (book + cash)"),
                             ("liquidate", _cmd_liquidate,
                              "the least-cost liquidation plan of an account, step by step")):
        p = sub.add_parser(name, help=text, parents=common)
        p.add_argument("book", nargs="?", default=None,
                       help="book CSV/Parquet; the bundled sample when omitted or with --sample")
        p.add_argument("--sample", action="store_true", help="use the sample book and market")
        p.add_argument("--market", help="market CSV/Parquet: underlying, spot (or futures_price),"
                       " rate, dividend_yield or carry, vol, [group], [product_class], [valuation]")
        p.add_argument("--valuation", help="valuation timestamp (UTC), overrides the market file")
        p.add_argument("--venue", choices=("occ", "deribit"),
                       help="default multipliers when the book has no multiplier column")
        p.add_argument("--on-invalid", choices=("raise", "exclude"), default="raise",
                       help="stop on bad rows (default) or margin the rest and list them")
        p.add_argument("--format", choices=("table", "csv", "json"), default="table")
        p.set_defaults(func=func)
        if name in ("check", "liquidate"):
            p.add_argument("--cash", type=float, required=True,
                           help="the account's cash collateral, in the market's quote currency")
            if name == "check":
                p.add_argument("--order", required=True,
                               help="order CSV/Parquet: the legs to trade, in the book's format")
                p.add_argument("--max-leverage", type=float,
                               help="limit: gross notional / equity after the order")
                p.add_argument("--max-delta", type=float,
                               help="limit: |delta notional| per underlying (account currency)")
                p.add_argument("--max-gamma", type=float,
                               help="limit: |gamma per 1%% move| per underlying")
                p.add_argument("--max-vega", type=float,
                               help="limit: |vega per vol point| per underlying")
            else:
                p.add_argument("--target", choices=("maintenance", "initial"),
                               default="maintenance", help="restore equity to MM or to IM")
                p.add_argument("--half-spread", type=float, default=0.02,
                               help="options' half bid-ask spread, share of value (0.02)")
        if name in ("margin", "compare", "stress", "report", "check", "liquidate"):
            src = p.add_mutually_exclusive_group()
            src.add_argument("--preset", choices=sorted(methodology.PRESETS), default="occ-tims")
            src.add_argument("--grid", help="scenario grid CSV: spot_shift, vol_shift,"
                             " vol_shift_type, time_shift_days, weight, label")
            p.add_argument("--psr", type=float, default=None,
                           help="SPAN price scan range (relative), default 0.07")
            p.add_argument("--vsr", type=float, default=None,
                           help="SPAN vol scan range (relative), default 0.35")
            p.add_argument("--psr-amount", action="append", metavar="CLASS=AMOUNT",
                           help="SPAN price scan range of a class group in currency per contract"
                           " (CME's form), e.g. ES=30000; repeat per class")
            p.add_argument("--som", action="append", metavar="[CLASS=]AMOUNT",
                           help="SPAN short option minimum per short call or short put, for"
                           " every class or per class (repeat)")
            p.add_argument("--spreads", metavar="FILE", help="SPAN spreads JSON: tiers, intra, delivery, inter,"
                           " contract_size (docs/methodology.md)")
            if name == "margin":
                p.add_argument("--by", choices=("group", "underlying", "position"),
                               default="group")
            elif name == "report":
                p.add_argument("--out", required=True, help="HTML file to write")
                p.add_argument("--cash", type=float, default=None,
                               help="the account's cash: adds equity, state, distance to"
                               " liquidation and margin attribution")
            elif name in ("check", "liquidate"):
                pass
            elif name == "stress":
                p.add_argument("--scenarios", help="CSV: scenario, underlying, spot_shift,"
                               " vol_shift, time_shift_days, description (default: the library)")
                p.add_argument("--plot", help="write a PNG of the stress P&L")
            else:
                p.add_argument("--offset", type=float, default=1.0,
                               help="product-group offset (share of the netting benefit), 0..1;"
                               " product groups from a product_group column of the market file")
                p.add_argument("--correlation", help="CSV correlation matrix of the underlyings"
                               " (first column and header: underlying names)")
                p.add_argument("--history", help="CSV/Parquet of daily closes (date, one column"
                               " per underlying): adds historical-simulation ES 99%%, 2-day")
                p.add_argument("--stress-period", help="START:END of the stress floor of"
                               " --history, e.g. 2008-09-01:2009-03-31")
                p.add_argument("--plot", help="write a PNG of the comparison")
        else:
            p.add_argument("--spot-range", type=float, default=0.15)
            p.add_argument("--spot-points", type=int, default=7)
            p.add_argument("--vol-shifts", type=float, nargs="+", default=[-0.3, 0.0, 0.3])
            p.add_argument("--days", type=float, default=0.0, help="clock advance in days")
            p.add_argument("--group", help="one group instead of the whole book")
    sa = sub.add_parser("span-arrays", parents=common,
                        help="SPAN risk arrays of a book's contracts, written to a file")
    sa.add_argument("book", nargs="?", default=None, help="book CSV/Parquet (or --sample)")
    sa.add_argument("--sample", action="store_true", help="use the sample book and market")
    sa.add_argument("--market", help="market CSV/Parquet (as for margin)")
    sa.add_argument("--valuation", help="valuation timestamp (UTC), overrides the market file")
    sa.add_argument("--venue", choices=("occ", "deribit"))
    sa.add_argument("--psr", type=float, default=None, help="SPAN price scan range (0.07)")
    sa.add_argument("--vsr", type=float, default=None, help="SPAN vol scan range (0.35)")
    sa.add_argument("--psr-amount", action="append", metavar="CLASS=AMOUNT",
                    help="SPAN price scan range of a class group in currency per contract")
    sa.add_argument("--spreads", metavar="FILE", help="SPAN spreads JSON (contract sizes for"
                    " the deltas)")
    sa.add_argument("--out", required=True, help="risk-array file to write (CSV or .parquet)")
    sa.add_argument("--positions-out", help="also write the book's positions on the contracts"
                    " (CSV: position_id, contract, quantity)")
    sa.set_defaults(func=_cmd_span_arrays, preset="span", on_invalid="raise")
    sm = sub.add_parser("span-margin", parents=common,
                        help="SPAN margin of positions on a risk-array file")
    sm.add_argument("arrays", help="risk-array file (CSV/Parquet; see span-arrays)")
    sm.add_argument("--positions", required=True,
                    help="positions CSV/Parquet: contract, quantity, [account]")
    sm.add_argument("--som", action="append", metavar="[CLASS=]AMOUNT",
                    help="short option minimum per short call or short put (currency), for"
                    " every class or per class (repeat)")
    sm.add_argument("--spreads", metavar="FILE", help="SPAN spreads JSON: tiers, intra,"
                    " delivery, inter (docs/methodology.md)")
    sm.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sm.set_defaults(func=_cmd_span_margin, preset="span")
    bt = sub.add_parser("batch", parents=common,
                        help="margin every account of a Parquet dataset on Dask")
    bt.add_argument("positions", help="Parquet file or directory: account + book columns")
    bt.add_argument("--market", required=True, help="market CSV/Parquet (as for margin)")
    bt.add_argument("--valuation", help="valuation timestamp (UTC), overrides the market file")
    bt.add_argument("--scheduler", default="threads",
                    help="threads (default), processes, synchronous, or a dask.distributed"
                    " address such as tcp://host:8786")
    bt.add_argument("--venue", choices=("occ", "deribit"))
    src = bt.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=sorted(methodology.PRESETS), default="occ-tims")
    src.add_argument("--grid", help="scenario grid CSV")
    bt.add_argument("--psr", type=float, default=None, help="SPAN price scan range (0.07)")
    bt.add_argument("--vsr", type=float, default=None, help="SPAN vol scan range (0.35)")
    bt.add_argument("--psr-amount", action="append", metavar="CLASS=AMOUNT",
                    help="SPAN price scan range of a class group in currency per contract")
    bt.add_argument("--spreads", metavar="FILE", help="SPAN spreads JSON")
    bt.add_argument("--som", action="append", metavar="[CLASS=]AMOUNT",
                    help="SPAN short option minimum (every class, or per class)")
    bt.add_argument("--out", required=True, help="results Parquet file")
    bt.add_argument("--on-invalid", choices=("raise", "exclude"), default="raise",
                    help="a bad row fails the batch (raise) or only its account (exclude)")
    bt.set_defaults(func=_cmd_batch)
    b = sub.add_parser("backtest", parents=common,
                       help="margin vs realised loss on real S&P 500 history (arch)")
    b.add_argument("--strategy", choices=sorted(("long-index", "short-put", "short-strangle")),
                   default="short-put")
    b.add_argument("--preset", choices=("occ-tims", "span"), default="occ-tims")
    b.add_argument("--psr", type=float, default=None, help="SPAN price scan range (0.07)")
    b.add_argument("--vsr", type=float, default=None, help="SPAN vol scan range (0.35)")
    b.add_argument("--dynamic", type=float, default=0.0,
                   help="use a dynamic range of K x EWMA vol instead of the preset")
    b.add_argument("--floor", type=float, default=0.0, help="floor of the dynamic range")
    b.add_argument("--mpor", type=int, default=2, help="margin period of risk, trading days")
    b.add_argument("--start", default=None, help="first date (default 1999)")
    b.add_argument("--end", default=None, help="last date (default 2018)")
    b.add_argument("--plot", help="write a PNG of margin vs realised loss")
    b.add_argument("--format", choices=("table", "json"), default="table")
    b.set_defaults(func=_cmd_backtest)
    return parser


_PERCENT = ("coverage", "expected_coverage", "max_margin_increase")


def _shown(key: str, value: object) -> str:
    """Format a summary figure for people: rates as percentages, statistics to 4 digits."""
    if isinstance(value, bool | int | np.integer) or not isinstance(value, float | np.floating):
        return str(value)
    if key in _PERCENT:
        return f"{value:.2%}"
    if key.endswith("_abs"):
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _input_paths(args: argparse.Namespace) -> list[str]:
    """Every file the command reads (an output may not overwrite one)."""
    names = ("book", "market", "positions", "grid", "scenarios", "correlation", "history",
             "arrays", "spreads")
    return [str(getattr(args, n)) for n in names if getattr(args, n, None)]


def _written(what: str, path: object, args: argparse.Namespace) -> None:
    if not args.quiet:
        print(f"greeksmargin: {what} written to {path}", file=sys.stderr)


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse nonsense before any work: outputs that cannot be written, options out of range."""
    for option in ("out", "plot", "positions_out"):
        path = getattr(args, option, None)
        if path:
            check_output(path, _input_paths(args), f"--{option.replace('_', '-')}")
    out, positions_out = getattr(args, "out", None), getattr(args, "positions_out", None)
    if out and positions_out and Path(out).resolve() == Path(positions_out).resolve():
        raise InputError(f"--out and --positions-out are the same file {out}; give two")
    preset = getattr(args, "preset", None)
    for option in ("psr_amount", "spreads", "som"):
        if getattr(args, option, None) and preset != "span":
            flag = "--" + option.replace("_", "-")
            raise InputError(f"{flag} applies to --preset span only; remove it or add"
                             " --preset span")
    for option in ("psr", "vsr"):
        value = getattr(args, option, None)
        if value is None:
            continue
        if preset != "span" or getattr(args, "dynamic", 0.0):
            raise InputError(f"--{option} applies to --preset span only (its price / vol scan"
                             " range); remove it or add --preset span")
    if getattr(args, "dynamic", None) is not None and args.command == "backtest":
        if not (np.isfinite(args.dynamic) and 0.0 <= args.dynamic <= 20.0):
            raise InputError(f"--dynamic must be in [0, 20] (multiples of the EWMA vol; 0: off);"
                             f" got {args.dynamic:g}")
        if not (np.isfinite(args.floor) and 0.0 <= args.floor < 1.0):
            raise InputError(f"--floor must be in [0, 1) (a relative move); got {args.floor:g}")
        if not 1 <= args.mpor <= 250:
            raise InputError(f"--mpor must be 1 to 250 trading days; got {args.mpor}")
    if getattr(args, "offset", None) is not None and not 0.0 <= args.offset <= 1.0:
        raise InputError(f"--offset must be in [0, 1]; got {args.offset:g}")


def _configure_logging(args: argparse.Namespace) -> None:
    """Library log records on stderr: INFO with -v, DEBUG with -vv, only errors with -q."""
    logger = logging.getLogger("greeksmargin")
    for handler in [h for h in logger.handlers if getattr(h, "_greeksmargin_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("greeksmargin: %(message)s"))
    handler._greeksmargin_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if args.quiet else
                    {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG))


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal, and never with --quiet."""
    return sys.stderr.isatty() and not args.quiet


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``greeksmargin`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.quiet = bool(args.quiet)
    args.verbose = int(args.verbose or 0)
    _configure_logging(args)
    if getattr(args, "sample", False):
        args.book = None
    try:
        _check_arguments(args)
        return int(args.func(args))
    except (InputError, MethodologyError) as exc:
        for line in str(exc).splitlines():
            print(f"greeksmargin: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader of stdout went away (``| head``): stop quietly, as a killed pipe would
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
