"""Plots (matplotlib, an optional dependency: ``pip install "greeksmargin[plot]"``).

Headless: the Agg backend, files written to disk; nothing is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    from .backtest import BacktestResult
    from .stress import StressReport

__all__ = ["plot_backtest", "plot_stress"]


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'greeksmargin[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
