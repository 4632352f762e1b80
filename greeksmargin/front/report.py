"""A self-contained HTML margin report: summary, parts, worst scenarios, Greeks, plots, sources.

:func:`write_report` margins a book and writes one HTML file with everything embedded (PNG plots
as data URIs, inline CSS, no external resources): the margin summary (initial, maintenance,
currency), the parts per group, the worst scenarios of the whole book, the Greeks per underlying
in desk units, the methodology's name, version, source and parameter values, the risk matrix
heatmap, the P&L profile against spot (one line per vol shock, and T+1 day), the margin bars, and
any rows excluded from the book. Plots need matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..enums import OptionKind, Settlement, ShiftType
from ..errors import Failure
from ..io.writes import check_output, write_atomic
from ..margin.result import MarginResult, compute_margin
from ..measures.revalue import revalue
from ..methodology import Methodology
from ..model.amount import decimals_for
from ..model.book import Book
from ..model.market import MarketData
from ..model.scenarios import ScenarioGrid
from ..pricing import greeks

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_report", "greeks_by_underlying"]

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 3px 10px; border: 1px solid #ddd; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.big { font-size: 1.4em; font-weight: 600; } .warn { color: #a40000; } img { max-width: 100%; }
"""


def greeks_by_underlying(book: Book, market: MarketData) -> pd.DataFrame:
    """Sum position Greeks per underlying in desk units.

    Position Greeks summed per underlying, in desk units (quote currency): option value, delta
    (units of the underlying, and its value), gamma_1pct (change of delta for a 1% spot move),
    vega per vol point, theta per day. Coin-settled positions enter at their quote-currency
    Greeks.
    """
    import pandas as pd

    resolved = book.resolve(market)
    u = resolved.underlying_index
    spot = market.spot[u]
    size = resolved.notional
    option = resolved.kind != OptionKind.LINEAR
    rows = {name: np.zeros(resolved.position_id.size)
            for name in ("value", "delta", "gamma_1pct", "vega_per_vol_point", "theta_per_day")}
    linear = ~option
    t = resolved.expiry_years
    rows["delta"][linear] = (size * np.where(np.isnan(t), 1.0,
                                             np.exp(market.carry[u] * np.nan_to_num(t))))[linear]
    if option.any():
        g = greeks(spot[option], resolved.strike[option], expiry_years=t[option],
                   vol=resolved.vol[option], rate=market.rate[u][option],
                   carry=market.carry[u][option], kind=resolved.kind[option])
        s = size[option]
        rows["value"][option] = g.price * s
        rows["delta"][option] = g.delta * s
        rows["gamma_1pct"][option] = g.gamma * s * 0.01 * spot[option]  # delta change, 1% move
        rows["vega_per_vol_point"][option] = g.vega_per_vol_point * s
        rows["theta_per_day"][option] = g.theta_per_day * s
    frame = pd.DataFrame(rows)
    frame["underlying"] = [market.underlyings[i] for i in u]
    out = frame.groupby("underlying", sort=True).sum()
    out.insert(2, "delta_value", out["delta"] * market.spot[[market.index_of(x) for x in out.index]])
    out["settlement"] = ["inverse" if np.any((resolved.inverse == Settlement.INVERSE)
                                             & (np.array([market.underlyings[i] for i in u]) == x))
                         else "linear" for x in out.index]
    return out


def _png(fig_path_writer) -> str:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    fig_path_writer(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(frame: pd.DataFrame, index: bool = True, decimals: int = 2) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in
                   ([frame.index.name or ""] if index else []) + list(frame.columns))
    body = []
    for idx, row in frame.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"] if index else []
        for value in row:
            if isinstance(value, float | np.floating):
                cells.append(f'<td class="num">{value:,.{decimals}f}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


COMPARE_MAX_POSITIONS = 200  # the comparison margins every position alone: skipped above this


def write_report(book: Book, market: MarketData, method: Methodology | ScenarioGrid,
                 out: str | Path, *, excluded: Sequence[Failure] = (),
                 title: str = "greeksmargin report",
                 strategy_of: Mapping[str, str] | None = None,
                 product_group_of: Mapping[str, str] | None = None,
                 inputs: Sequence[str | Path] = (), cash: float | None = None) -> Path:
    """Margin ``book`` and write the self-contained HTML report to ``out``; returns the path.

    ``out`` is checked before any work and written atomically (:mod:`greeksmargin.io.writes`);
    it may not be one of ``inputs`` (the files the book and market came from).

    With at most ``COMPARE_MAX_POSITIONS`` positions the report also compares isolated and
    cross-margined requirements (:func:`greeksmargin.margin.crossmargin.compare`, with the strategies
    and product groups given here). With ``cash`` (the account's cash, quote currency) it adds
    the account: equity, margins, state, the distance to liquidation and each position's share of
    the initial margin (:mod:`greeksmargin.accounts.sensitivity`).
    """
    from .._version import __version__
    from ..margin.crossmargin import compare, compare_frame, venue_presets

    check_output(out, inputs, "report")
    from .plots import plot_compare, plot_margin_bars, plot_pnl_profile, plot_risk_matrix

    result: MarginResult = compute_margin(book, market, method, excluded=excluded)
    resolved = book.resolve(market)
    single_currency = len(set(result.currency)) == 1
    spots = np.linspace(-0.15, 0.15, 13)
    vols = np.array([-0.3, 0.0, 0.3])
    grid = ScenarioGrid.product(spots, vols, vol_shift_type=ShiftType.RELATIVE)
    later = ScenarioGrid.product(spots, [0.0], time_shift_years=1 / 365)
    pnl_now = revalue(resolved, grid)
    pnl_later = revalue(resolved, later)
    to_quote = market.to_quote(pnl_now.currency)
    total_now = (pnl_now.values * to_quote[:, None]).sum(axis=0)
    total_later = (pnl_later.values * to_quote[:, None]).sum(axis=0)
    matrix = total_now.reshape(spots.size, vols.size).T
    images = {
        "risk matrix": _png(lambda b: plot_risk_matrix(matrix, spots, vols, b,
                                                       "whole book P&L (" + market.quote_currency
                                                       + "); worst cell outlined")),
        "P&L profile": _png(lambda b: plot_pnl_profile(
            spots, {**{f"vol {v:+.0%}": matrix[k] for k, v in enumerate(vols)},
                    "T+1 day, vol unchanged": total_later}, b,
            "P&L against spot move (" + market.quote_currency + ")")),
        "margin per group": _png(lambda b: plot_margin_bars(
            list(result.group_labels),
            {"scan risk": result.scan_risk * (to_quote_groups := market.to_quote(result.currency)),
             **{k: v * to_quote_groups for k, v in result.addons.items()}}, b,
            "initial margin per group (" + market.quote_currency + ")")),
    }
    if book.n_positions <= COMPARE_MAX_POSITIONS:
        rows = compare(book, market, method, strategy_of=strategy_of,
                       product_group_of=product_group_of, others=venue_presets(book))
        images["isolated vs cross"] = _png(lambda b: plot_compare(
            rows, b, "isolated vs cross-margined", market.quote_currency))
        table = compare_frame(rows)
        compare_html = (f'<img alt="isolated vs cross" src="{images["isolated vs cross"]}">'
                        + _table(table.assign(
                            saving_vs_isolated=table["saving_vs_isolated"].map("{:.1%}".format),
                            saving_vs_reg_t=table["saving_vs_reg_t"].map(
                                lambda x: "" if np.isnan(x) else f"{x:.1%}")), index=False))
    else:
        compare_html = (f"<p>not computed: {book.n_positions} positions (the comparison margins"
                        f" each position alone; limit {COMPARE_MAX_POSITIONS})</p>")
    account_html = "<p>no collateral given (report --cash AMOUNT adds the account)</p>"
    if cash is not None:
        account_html = _account_section(book, market, method, cash)
    parts = result.to_frame()
    worst = (np.argsort(total_now)[:5])
    import pandas as pd

    worst_frame = pd.DataFrame({"scenario": [grid.labels[j] for j in worst],
                                "P&L": total_now[worst]}).set_index("scenario")
    greeks_frame = greeks_by_underlying(book, market)
    params = html.escape(json.dumps(result.methodology, indent=1, default=str))
    excluded_html = ("<p>none</p>" if not excluded else "<ul class='warn'>" + "".join(
        f"<li>{html.escape(str(f))}</li>" for f in excluded) + "</ul>")
    total_line = (f'<p class="big">initial margin {result.total}'
                  f" &middot; maintenance {result.total_maintenance}")
    if result.total_currency != result.quote_currency:
        total_line += (f" (= {result.initial_quote} &middot; {result.maintenance_quote}"
                       " at spot)")
    total_line += "</p>"
    if not single_currency:
        total_line += "<p>groups settle in several currencies; totals converted at spot</p>"
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>valuation {market.valuation} UTC &middot; {book.n_positions} positions &middot;"
        f" methodology {html.escape(str(result.methodology.get('name')))}"
        f" {html.escape(str(result.methodology.get('version', '')))} &middot; greeksmargin"
        f" {html.escape(__version__)}</p>",
        total_line,
        "<h2>Parts per group</h2>", _table(parts, decimals=max(
            decimals_for(c, result.initial[np.array(result.currency) == c])
            for c in set(result.currency))),
        "<h2>Margin per group</h2>", f'<img alt="margin per group" src="{images["margin per group"]}">',
        "<h2>Risk matrix</h2>", f'<img alt="risk matrix" src="{images["risk matrix"]}">',
        "<h2>P&amp;L profile</h2>", f'<img alt="P&amp;L profile" src="{images["P&L profile"]}">',
        "<h2>Isolated vs cross-margined</h2>", compare_html,
        "<h2>Account: state and distance to liquidation</h2>", account_html,
        "<h2>Worst scenarios of the whole book</h2>", _table(worst_frame),
        "<h2>Greeks per underlying (desk units)</h2>", _table(greeks_frame),
        "<h2>Methodology, parameters and sources</h2>",
        f"<p>{html.escape(str(result.methodology.get('source', 'custom grid')))}</p>",
        f"<pre>{params}</pre>",
        "<h2>Excluded rows</h2>", excluded_html,
    ]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(sections) + "</body></html>")
    return write_atomic(out, lambda tmp: tmp.write_text(page, encoding="utf-8"), inputs,
                        "report")


def _account_section(book: Book, market: MarketData, method: Methodology | ScenarioGrid,
                     cash: float) -> str:
    """Render the account with ``cash``: figures, distance to liquidation, attribution."""
    import pandas as pd

    from ..accounts.account import Account, Collateral
    from ..accounts.sensitivity import attribution, distance_to_liquidation

    quote = market.quote_currency
    state = Account("report", book, Collateral.of({quote: cash}, {quote: 1.0}, currency=quote),
                    method).evaluate(market)
    d = distance_to_liquidation(state)
    figures = pd.DataFrame({"equity": [float(state.equity)], "initial margin": [float(state.initial)],
                            "maintenance margin": [float(state.maintenance)],
                            "excess": [float(state.excess)], "state": [state.state.name.lower()]})

    def pct(x: float) -> str:
        return "none within range" if not np.isfinite(x) else f"{x:+.2%}"

    moves = pd.DataFrame({"move": list(d.down), "spot fall": [pct(d.down[k]) for k in d.down],
                          "spot rise": [pct(d.up[k]) for k in d.up]})
    head = (_table(figures, index=False)
            + f"<p>the smallest move that takes equity to the maintenance margin; all vols"
              f" together: {html.escape(pct(d.vol_up))}</p>" + _table(moves, index=False))
    if state.rules_arrays.spreads is not None:  # spreads are not shared out position by position
        return head + ("<p>no attribution to positions: SPAN's spreads are formed from the"
                       " groups' deltas, not from each position's</p>")
    shares = attribution(state).sort_values(ascending=False)
    top = pd.DataFrame({"position": shares.index[:10], f"share of IM ({quote})":
                        shares.to_numpy()[:10]})
    return (head + "<p>largest contributions to the initial margin"
            " (Euler allocation; they sum to it)</p>" + _table(top, index=False))
