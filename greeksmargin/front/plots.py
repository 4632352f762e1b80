"""Plots (matplotlib, an optional dependency: ``pip install "greeksmargin[plot]"``).

Headless: the Agg backend, files written to disk; nothing is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..io.writes import write_atomic

if TYPE_CHECKING:
    from ..analysis.backtest import BacktestResult
    from ..analysis.stress import StressReport
    from ..margin.crossmargin import CompareRow

__all__ = ["plot_backtest", "plot_stress", "plot_risk_matrix", "plot_pnl_profile", "plot_margin_bars",
           "plot_compare"]


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'greeksmargin[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path):  # type: ignore[no-untyped-def]
    # a path, or a binary file object (the HTML report embeds PNGs from memory)
    try:
        if hasattr(path, "write"):
            fig.savefig(path, dpi=110, format="png")
            return path
        return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"),
                            what="plot")
    finally:
        plt.close(fig)


def plot_backtest(result: BacktestResult, path: str | Path, title: str = "") -> Path:
    """Margin against realised MPOR loss over time, exceedances marked; written to ``path``."""
    plt = _pyplot()
    frame = result.frame
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(frame["date"], frame["margin"], label="margin", color="tab:blue", lw=1.2)
    ax.plot(frame["date"], frame["loss"].clip(lower=0), label=f"realised {result.mpor_days}-day loss",
            color="tab:gray", lw=0.8, alpha=0.8)
    hits = frame[frame["exceed"]]
    ax.scatter(hits["date"], hits["loss"], color="tab:red", s=18, zorder=3,
               label=f"exceedances ({result.exceedances} of {result.n})")
    ax.set_ylabel("quote currency")
    ax.set_title(title or f"{result.method}: coverage {result.coverage:.2%}"
                 f" (target {result.confidence:.0%}), Kupiec p = {result.kupiec[1]:.3f}")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_stress(report: StressReport, path: str | Path) -> Path:
    """Total stress P&L per scenario as horizontal bars, the worst marked; written to ``path``."""
    plt = _pyplot()
    total = report.total.sort_values()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(total) + 1.5))
    colors = ["tab:red" if v < 0 else "tab:green" for v in total]
    ax.barh(total.index, total.to_numpy(), color=colors)
    ax.axvline(0, color="black", lw=0.8)
    if report.margin is not None:
        ax.axvline(-report.margin.total, color="tab:blue", ls="--",
                   label=f"- initial margin ({report.margin.total:,.0f})")
        ax.legend(loc="lower right")
    ax.set_xlabel(f"P&L ({report.currency})")
    ax.set_title(f"stress P&L; worst: {report.worst}")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_risk_matrix(values: np.ndarray, spot_shifts: np.ndarray, vol_shifts: np.ndarray,
                     path: str | Path, title: str = "") -> Path:
    """Draw a risk matrix as a heatmap.

    Heatmap of P&L (rows vol shifts, columns spot shifts), diverging colours centred on zero,
    the worst cell outlined and labelled; written to ``path``.
    """
    plt = _pyplot()
    from matplotlib.colors import TwoSlopeNorm

    v = np.asarray(values, dtype=float)
    limit = max(float(np.abs(v).max()), 1e-12)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * v.shape[1], 1.2 + 0.6 * v.shape[0]))
    image = ax.imshow(v, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
    ax.set_xticks(range(v.shape[1]), [f"{s:+.0%}" for s in spot_shifts])
    ax.set_yticks(range(v.shape[0]), [f"{s:+.0%}" for s in vol_shifts])
    ax.set_xlabel("spot shift")
    ax.set_ylabel("vol shift (relative)")
    for (i, j), value in np.ndenumerate(v):
        ax.text(j, i, f"{value:,.0f}", ha="center", va="center", fontsize=7)
    wi, wj = np.unravel_index(int(np.argmin(v)), v.shape)
    ax.add_patch(plt.Rectangle((wj - 0.5, wi - 0.5), 1, 1, fill=False, ec="black", lw=2.5))
    fig.colorbar(image, ax=ax, label="P&L")
    ax.set_title(title or "risk matrix (worst cell outlined)")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_pnl_profile(spot_shifts: np.ndarray, curves: dict[str, np.ndarray], path: str | Path,
                     title: str = "") -> Path:
    """P&L against spot move, one line per vol shock (and a T+1 day line); written to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in curves.items():
        ax.plot(np.asarray(spot_shifts) * 100, values, label=label,
                ls="--" if "T+1" in label else "-")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("spot move (%)")
    ax.set_ylabel("P&L")
    ax.set_title(title or "P&L profile")
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_margin_bars(labels: list[str], parts: dict[str, np.ndarray], path: str | Path,
                     title: str = "") -> Path:
    """Stacked bars of the margin parts per group (scan risk, add-ons); written to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(labels) + 2), 4))
    bottom = np.zeros(len(labels))
    for name, values in parts.items():
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = bottom + np.asarray(values)
    ax.set_ylabel("margin")
    ax.set_title(title or "margin per group")
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_compare(rows: Sequence[CompareRow], path: str | Path, title: str = "",
                 currency: str = "") -> Path:
    """Draw the isolated vs cross-margined comparison.

    Isolated vs cross-margined: one horizontal bar per way of margining the book (from
    :func:`greeksmargin.margin.crossmargin.compare`), most isolated on top, each labelled with its
    saving against margining every position alone; written to ``path``.
    """
    if not rows:
        raise InputError("plot_compare needs at least one row of crossmargin.compare")
    plt = _pyplot()
    names = [r.method for r in rows]
    values = np.array([r.margin for r in rows])
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    colors = ["tab:gray"] + ["tab:blue"] * (len(rows) - 1)
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, names)
    top = values.max() if values.size else 1.0
    for yk, row in zip(y, rows, strict=True):
        text = f"{row.margin:,.0f}" + ("" if row is rows[0] else f"  (-{row.saving:.1%})")
        ax.text(row.margin + 0.01 * top, yk, text, va="center", fontsize=9)
    ax.set_xlim(0, top * 1.3 if top > 0 else 1.0)
    ax.set_xlabel(f"margin {currency}".strip())
    ax.set_title(title or "isolated vs cross-margined")
    fig.tight_layout()
    return _save(plt, fig, path)
