"""The HTML report: self-contained, complete, and rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from greeksmargin import read_book
from greeksmargin.front.cli import main, sample_margin_paths
from greeksmargin.front.report import greeks_by_underlying
from greeksmargin.io.markets import read_market
from greeksmargin.pricing import greeks


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data.strip())
            self._in_h2 = False


def test_report_is_self_contained_and_has_every_section(tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", "--sample", "--out", str(out)]) == 0
    text = out.read_text()
    parser = _Collect()
    parser.feed(text)
    assert len(parser.images) == 4 and all(s.startswith("data:image/png;base64,") for s in parser.images)
    assert not parser.links and not re.search(r"(src|href)=['\"]https?://", text)
    for heading in ("Parts per group", "Risk matrix", "Greeks per underlying (desk units)",
                    "Methodology, parameters and sources", "Excluded rows", "Worst scenarios of"
                    " the whole book", "Isolated vs cross-margined"):
        assert any(h.startswith(heading.split(" (")[0]) for h in parser.headings), heading
    from greeksmargin import compute_margin, methodology, read_book, read_market
    from greeksmargin.io.samples import sample_paths

    book_path, market_path = sample_paths()
    total = compute_margin(read_book(book_path).value, read_market(market_path),
                           methodology.occ_tims()).total
    assert f"initial margin {float(total):,.2f} USD" in text
    assert "docs/methodology.md, OCC TIMS" in text
    assert "rel-no-34-46576" in text  # the primary source


def test_greeks_by_underlying_are_position_sums_in_desk_units():
    book_path, market_path = sample_margin_paths()
    book = read_book(book_path).value
    market = read_market(pd.read_csv(market_path))
    frame = greeks_by_underlying(book, market)
    rows = book.underlying == "QQQ"
    u = market.index_of("QQQ")
    years = (book.expiry[rows] - market.valuation).astype("timedelta64[s]").astype(float) / (365 * 86400)
    g = greeks(market.spot[u], book.strike[rows], expiry_years=years, vol=0.19,
               rate=market.rate[u], carry=market.carry[u], kind=book.kind[rows])
    size = book.quantity[rows] * book.multiplier[rows]
    assert frame.loc["QQQ", "vega_per_vol_point"] == pytest.approx((g.vega * 0.01 * size).sum())
    assert frame.loc["QQQ", "theta_per_day"] == pytest.approx((g.theta / 365 * size).sum())
    assert frame.loc["AAPL", "delta"] > 300  # 500 shares less the short calls' delta


def test_report_renders_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt when it can)")
    out = tmp_path / "report.html"
    assert main(["report", "--sample", "--out", str(out)]) == 0
    shot = tmp_path / "report.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=1200,3200",
                           f"--screenshot={shot}", "--enable-logging=stderr", "--v=0",
                           out.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr and "CONSOLE" not in done.stderr
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    # the page is not blank: a decoded screenshot has dark (text) and coloured (plot) pixels
    import matplotlib.image as mpimg

    pixels = mpimg.imread(str(shot))
    assert pixels.shape[0] >= 3000 and np.mean(pixels[..., :3] < 0.3) > 0.001


def test_isolated_vs_cross_section_and_plot_match_the_library(tmp_path, capsys):
    from greeksmargin import methodology
    from greeksmargin.front.plots import plot_compare
    from greeksmargin.margin import crossmargin

    book_path, market_path = sample_margin_paths()
    frame = pd.read_csv(market_path)
    market = read_market(frame)
    book = read_book(book_path).value
    classes = dict(zip(frame["underlying"], frame["product_class"], strict=True))
    rows = crossmargin.compare(book, market, methodology.occ_tims(classes),
                               strategy_of=dict(zip(pd.read_csv(book_path)["position_id"],
                                                    pd.read_csv(book_path)["strategy"],
                                                    strict=True)),
                               product_group_of={"SPX-basket": "US index", "QQQ": "US index"})
    out = tmp_path / "report.html"
    assert main(["report", "--sample", "--out", str(out)]) == 0
    text = out.read_text()
    for row in rows:  # the report's table is the library's comparison
        assert f"<td>{row.method}</td><td class=\"num\">{row.margin:,.2f}</td>" in text
    png = plot_compare(rows, tmp_path / "compare.png", currency="USD")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", "--sample", "--plot", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").stat().st_size > 1000
    with pytest.raises(Exception, match="at least one row"):
        plot_compare([], tmp_path / "empty.png")


def test_report_with_cash_shows_the_account_and_its_distance_to_liquidation(tmp_path, capsys):
    from greeksmargin import methodology
    from greeksmargin.accounts.account import Account, Collateral
    from greeksmargin.accounts.sensitivity import distance_to_liquidation
    from greeksmargin.io.samples import load_sample

    out = tmp_path / "account.html"
    assert main(["report", "--sample", "--cash", "150000", "--out", str(out)]) == 0
    text = out.read_text()
    assert "Account: state and distance to liquidation" in text
    book, market = load_sample()
    state = Account("x", book, Collateral.of({"USD": 150_000.0}, {"USD": 1.0}),
                    methodology.occ_tims()).evaluate(market)
    d = distance_to_liquidation(state)
    assert f"{d.down['QQQ']:+.2%}" in text and "healthy" in text
    bare = tmp_path / "bare.html"
    assert main(["report", "--sample", "--out", str(bare)]) == 0
    assert "report --cash AMOUNT adds the account" in bare.read_text()
