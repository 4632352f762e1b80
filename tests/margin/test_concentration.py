"""The concentration add-on: the riskiest class groups also scanned at +-30%, reported apart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from greeksmargin import Book, MarketData, ScenarioGrid, compute_margin, methodology
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.errors import MethodologyError
from greeksmargin.methodology import Concentration

EXP = np.datetime64("2025-06-20T20:00:00", "s")
MARKET = MarketData("2025-03-03T15:00:00", ["A", "B", "C"], [100.0, 50.0, 20.0], 0.04, 0.01,
                    [0.3, 0.4, 0.5])
# three short puts of different sizes: A the riskiest at -30%, then B, then C
BOOK = Book(["a", "b", "c"], ["A", "B", "C"], [2, 2, 2], [95.0, 48.0, 19.0], [EXP] * 3,
            [-20.0, -15.0, -5.0], [100.0] * 3)
OCC = methodology.occ_tims()
HOUSE = dataclasses.replace(OCC, concentration=Concentration(top=2, spot_range=0.30))


def test_the_two_riskiest_groups_are_also_scanned_at_thirty_percent_by_hand():
    base = compute_margin(BOOK, MARKET, OCC)
    house = compute_margin(BOOK, MARKET, HOUSE)
    wide = compute_margin(BOOK, MARKET, ScenarioGrid.product([-0.3, 0.3]))
    loss30 = wide.scan_risk
    order = np.argsort(-loss30)
    top = set(np.array(base.group_labels)[order[:2]].tolist())
    assert top == {"A", "B"}
    for g, label in enumerate(house.group_labels):
        expected = max(base.initial[g], loss30[g]) if label in top else base.initial[g]
        assert house.initial[g] == pytest.approx(expected, rel=1e-12)
        # reported apart: the scan is the preset's, the add-on the difference
        assert house.scan_risk[g] == pytest.approx(base.scan_risk[g], rel=1e-12)
        assert house.addons["concentration"][g] == pytest.approx(expected - base.initial[g],
                                                                 abs=1e-9)
    assert house.total > base.total
    assert house.addons["concentration"][house.group_labels.index("C")] == 0.0


def test_an_account_carries_the_add_on_through_whatif_and_ticks():
    account = Account("h", BOOK, Collateral.of({"USD": 1e6}, {"USD": 1.0}), HOUSE)
    state = account.evaluate(MARKET)
    assert float(state.initial) == pytest.approx(compute_margin(BOOK, MARKET, HOUSE).total,
                                                 rel=1e-12)
    # an order that keeps the ranking: what-if = margining the combined book
    order = Book(["more-c"], ["C"], [2], [19.0], [EXP], [-1.0], [100.0])
    w = state.whatif(state.prepare_order(order))
    full = compute_margin(BOOK.concat(order), MARKET, HOUSE)
    assert w.initial == pytest.approx(full.total, rel=1e-12)
    tick = state.ticker().tick(MARKET.spot)
    assert float(tick.initial) == pytest.approx(float(state.initial), rel=1e-12)


def test_bad_concentration_parameters_are_refused():
    with pytest.raises(MethodologyError, match="top must be an integer"):
        Concentration(top=0)
    with pytest.raises(MethodologyError, match=r"spot_range must be in \(0, 1\)"):
        Concentration(spot_range=1.5)
    with pytest.raises(MethodologyError, match="extended table"):
        dataclasses.replace(methodology.deribit(), concentration=Concentration())
