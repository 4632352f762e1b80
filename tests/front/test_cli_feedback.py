"""Progress and feedback: --quiet and --verbose, progress bars only where asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from greeksmargin import methodology
from greeksmargin.analysis import backtest as bt
from greeksmargin.front.cli import main


def test_verbose_logs_steps_on_stderr_and_leaves_stdout_alone(capsys):
    assert main(["margin", "--sample"]) == 0
    plain = capsys.readouterr()
    assert plain.err == ""
    assert main(["margin", "--sample", "-v"]) == 0
    verbose = capsys.readouterr()
    assert verbose.out == plain.out
    assert "read " in verbose.err and "positions" in verbose.err
    assert "margin: 10 positions, 3 groups x 10 scenarios (occ-tims)" in verbose.err
    assert "revalue:" not in verbose.err  # kernel detail only with -vv
    assert main(["-vv", "margin", "--sample"]) == 0  # before the subcommand too
    very = capsys.readouterr()
    assert "revalue: 10 positions x 10 scenarios" in very.err and "M/s" in very.err


def test_quiet_drops_messages_but_not_results(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--sample", "--out", str(out)]) == 0
    assert "report written" in capsys.readouterr().out
    assert main(["--quiet", "report", "--sample", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "" and out.stat().st_size > 0
    assert main(["margin", "--sample", "-q"]) == 0
    assert "total initial margin" in capsys.readouterr().out  # the result is not a message


def test_quiet_and_verbose_together_are_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["margin", "--sample", "-q", "-v"])
    assert stop.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def _prices(n=120):
    days = pd.bdate_range("2021-01-04", periods=n)
    rng = np.random.default_rng(5)
    return pd.Series(4000 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), index=days)


def test_backtest_progress_bar_only_when_asked(capsys):
    prices = _prices()
    method = methodology.span(0.07, 0.35)
    quiet = bt.backtest(prices, bt.STRATEGIES["short-put"], method)
    assert capsys.readouterr().err == ""
    shown = bt.backtest(prices, bt.STRATEGIES["short-put"], method, progress=True)
    err = capsys.readouterr().err
    assert "backtest" in err and "day" in err
    pd.testing.assert_frame_equal(quiet.frame, shown.frame)  # the bar changes nothing else
