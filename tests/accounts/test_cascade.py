"""Liquidation cascades: accounting identity to the cent, determinism, contagion through price
impact, sensitivity to margin parameters, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from greeksmargin import Book, MarketData, ScenarioGrid, Settlement, methodology
from greeksmargin.accounts.account import Account, Collateral
from greeksmargin.accounts.cascade import simulate_cascade
from greeksmargin.errors import InputError

MARKET = MarketData("2025-06-02T15:00:00", ["XYZ"], [100.0], 0.04, 0.03, [0.3])
EXP = np.datetime64("2025-07-18T20:00:00", "s")
PATH = np.array([[0.97], [0.93], [0.88], [0.85]])
VOLS = [0.1, 0.2, 0.3, 0.3]


def _accounts(scan=0.10, im_over_mm=None):
    grid = ScenarioGrid.product(np.linspace(-scan, scan, 9))

    def account(i, puts, cash):
        book = Book([f"put{i}", f"stock{i}"], ["XYZ", "XYZ"], [2, 0], [95.0, np.nan],
                    [EXP, np.datetime64("NaT")], [puts, 100.0 * abs(puts)], [100.0, 1.0])
        return Account(f"A{i}", book, Collateral.of({"USD": cash}, {"USD": 1.0}), grid,
                       im_over_mm)

    return [account(0, -40, 60_000.0), account(1, -20, 40_000.0), account(2, -10, 30_000.0)]


def test_accounting_identity_holds_to_the_cent_and_runs_are_deterministic():
    for impact in (0.0, 2e-7):
        a = simulate_cascade(_accounts(), MARKET, PATH, VOLS, impact=impact)
        b = simulate_cascade(_accounts(), MARKET, PATH, VOLS, impact=impact)
        for x, y in zip(a.accounts, b.accounts, strict=True):
            assert x == y
            balance = x.initial_equity + x.variation + x.option_value_change - x.costs
            assert abs(balance - x.final_equity) < 0.005
            assert x.shortfall == max(0.0, -x.final_equity)
        assert np.array_equal(a.spot_path, b.spot_path) and a.events == b.events


def test_price_impact_spreads_liquidations_to_other_accounts():
    calm = simulate_cascade(_accounts(), MARKET, PATH, VOLS, impact=0.0)
    stressed = simulate_cascade(_accounts(), MARKET, PATH, VOLS, impact=2e-7)
    first = {a.account_id: (a.liquidated_at or (99,))[0] for a in calm.accounts}
    first_stressed = {a.account_id: (a.liquidated_at or (99,))[0] for a in stressed.accounts}
    assert first_stressed["A2"] < first["A2"]  # pushed under by the others' forced sales
    assert stressed.spot_path[-1, 0] < calm.spot_path[-1, 0]
    assert np.all(stressed.sold_notional >= 0)  # liquidations sell the long delta
    assert stressed.n_liquidated == 3


def test_margin_parameters_change_the_outcome():
    narrow = simulate_cascade(_accounts(scan=0.05), MARKET, PATH, VOLS, impact=2e-7)
    wide = simulate_cascade(_accounts(scan=0.20), MARKET, PATH, VOLS, impact=2e-7)
    # a wider scan range demands more margin, so liquidations start no later
    assert wide.liquidations_per_step[0] >= narrow.liquidations_per_step[0]
    strict = simulate_cascade(_accounts(im_over_mm=1.5), MARKET, PATH, VOLS, impact=2e-7)
    assert len(strict.accounts) == 3


def test_cascade_input_errors():
    accounts = _accounts()
    with pytest.raises(InputError, match=r"spot_path must have shape \(n_steps, 1\)"):
        simulate_cascade(accounts, MARKET, np.ones((3, 2)))
    with pytest.raises(InputError, match="spot_path must be > 0"):
        simulate_cascade(accounts, MARKET, np.array([[0.0]]))
    with pytest.raises(InputError, match="vol_shift must have shape"):
        simulate_cascade(accounts, MARKET, PATH, [0.1])
    with pytest.raises(InputError, match="impact must be >= 0"):
        simulate_cascade(accounts, MARKET, PATH, impact=-1.0)
    with pytest.raises(InputError, match="account ids must be unique"):
        simulate_cascade(accounts + accounts[:1], MARKET, PATH)
    euro = Account("E", accounts[0].book, Collateral.of({"EUR": 1e5}, {"EUR": 1.1}),
                   accounts[0].method)
    with pytest.raises(InputError, match="no USD cash collateral"):
        simulate_cascade([euro], MARKET, PATH)


def _coin_accounts():
    # inverse (coin-settled) BTC options and an inverse perpetual hedge, collateral in USD
    exp = np.datetime64("2025-06-27T08:00:00", "s")
    inverse = [Settlement.INVERSE] * 3
    method = methodology.deribit()

    def account(i, calls, cash):
        book = Book([f"c{i}", f"p{i}", f"perp{i}"], ["BTC"] * 3, [1, 2, 0],
                    [110_000.0, 90_000.0, np.nan], [exp, exp, np.datetime64("NaT")],
                    [calls, -2.0, 0.5], [1.0, 1.0, 1.0], settlement=inverse)
        return Account(f"B{i}", book, Collateral.of({"USD": cash}, {"USD": 1.0}), method)

    market = MarketData("2025-06-02T08:00:00", ["BTC"], [100_000.0], 0.0, 0.0, [0.55])
    return [account(0, -3.0, 40_000.0), account(1, -1.0, 60_000.0)], market


def test_coin_book_cascade_keeps_its_cash_identity_in_the_quote_currency():
    accounts, market = _coin_accounts()
    calm = simulate_cascade(accounts, market, np.array([[1.02], [1.05]]), step_days=1.0)
    crash = simulate_cascade(accounts, market, np.array([[0.85], [0.7], [1.3]]), [0.2, 0.5, 0.5])
    for result in (calm, crash):
        for a, account in zip(result.accounts, accounts, strict=True):
            balance = a.initial_equity + a.variation + a.option_value_change - a.costs
            assert abs(balance - a.final_equity) < 0.005
            # the starting equity is the account's own (options valued in USD at spot)
            assert abs(a.initial_equity - account.evaluate(market).equity) < 1e-6
    assert crash.n_liquidated >= 1
    # without liquidations, the final equity is the account evaluated at the final market,
    # the cash having received the perpetual's variation: checked through a different path
    assert calm.n_liquidated == 0
    final = MarketData("2025-06-04T08:00:00", ["BTC"], [105_000.0], 0.0, 0.0, [0.55])
    for a, account in zip(calm.accounts, accounts, strict=True):
        cash = float(account.collateral.amount[0]) + a.variation
        moved = Account(account.account_id, account.book, Collateral.of({"USD": cash}, {"USD": 1.0}),
                        account.method).evaluate(final)
        assert abs(moved.equity - a.final_equity) < 0.005
        assert abs(a.variation - 0.5 * 5_000.0) < 1e-6  # 0.5 BTC perpetual, spot +5,000


def _identity(path_result):
    for x in path_result.accounts:
        balance = (x.initial_equity + x.variation + x.option_value_change - x.costs
                   + x.insurance_paid)
        assert abs(balance - x.final_equity) < 0.005, x


def test_options_expiring_on_the_path_settle_and_the_path_goes_on():
    # a short put expiring after the second daily step, in the money: it pays K - S there
    soon = np.datetime64("2025-06-04T20:00:00", "s")
    book = Book(["put", "stock"], ["XYZ", "XYZ"], [2, 0], [95.0, np.nan],
                [soon, np.datetime64("NaT")], [-10.0, 100.0], [100.0, 1.0])
    grid = ScenarioGrid.product(np.linspace(-0.1, 0.1, 9))
    account = Account("E", book, Collateral.of({"USD": 50_000.0}, {"USD": 1.0}), grid)
    path = np.array([[0.95], [0.90], [0.88], [0.90]])
    result = simulate_cascade([account], MARKET, path, step_days=1.0)
    settled = [e for e in result.events if "settled" in e]
    assert len(settled) == 1 and "step 2" in settled[0] and "put" in settled[0]
    # the payoff at step 2's spot (88): -10 x 100 x (95 - 88) = -7,000, by hand
    assert "-7,000.00" in settled[0]
    _identity(result)
    assert result.spot_path.shape == (5, 1)  # the path went on after the expiry


def test_an_insurance_fund_covers_shortfalls_as_they_happen():
    book = Book(["put"], ["XYZ"], [2], [100.0], [EXP], [-50.0], [100.0])
    grid = ScenarioGrid.product(np.linspace(-0.05, 0.05, 5))
    account = Account("S", book, Collateral.of({"USD": 20_000.0}, {"USD": 1.0}), grid)
    crash = np.array([[0.6]])
    bare = simulate_cascade([account], MARKET, crash)
    assert bare.shortfall_per_step[0] > 0 and bare.uncovered[0] == bare.shortfall_per_step[0]
    funded = simulate_cascade([account], MARKET, crash, insurance_fund=10_000.0)
    assert funded.covered[0] == 10_000.0 and funded.insurance_fund_left == 0.0
    assert funded.uncovered[0] == pytest.approx(bare.shortfall_per_step[0] - 10_000.0)
    assert funded.accounts[0].insurance_paid == 10_000.0
    _identity(funded)
    rich = simulate_cascade([account], MARKET, crash, insurance_fund=1e9)
    assert rich.uncovered[0] == 0.0 and rich.accounts[0].final_equity == pytest.approx(0.0)
    with pytest.raises(InputError, match="insurance_fund must be >= 0"):
        simulate_cascade([account], MARKET, crash, insurance_fund=-1.0)


def test_shortfall_distribution_over_many_paths():
    from greeksmargin.accounts.cascade import cascade_distribution

    book = Book(["put"], ["XYZ"], [2], [100.0], [EXP], [-50.0], [100.0])
    grid = ScenarioGrid.product(np.linspace(-0.05, 0.05, 5))
    account = Account("S", book, Collateral.of({"USD": 20_000.0}, {"USD": 1.0}), grid)
    paths = np.array([[[0.99], [0.98]], [[0.6], [0.6]], [[0.97], [0.7]]])
    dist = cascade_distribution([account], MARKET, paths, insurance_fund=5_000.0)
    singles = [float(simulate_cascade([account], MARKET, p).shortfall_per_step.sum())
               for p in paths]
    assert dist.total == pytest.approx(singles)
    assert dist.probability_of_loss == pytest.approx(np.mean(np.array(singles) > 0))
    assert dist.quantiles[0.5] == pytest.approx(np.quantile(singles, 0.5))
    with pytest.raises(InputError, match="paths must have shape"):
        cascade_distribution([account], MARKET, paths[0])


def test_a_haircut_on_the_quote_cash_keeps_the_identity():
    # USD cash with a 10% haircut: flows settle at par into a separate line, so the identity
    # holds (it once counted 36,000 against 35,000)
    accounts = [Account(a.account_id, a.book,
                        Collateral.of({"USD": float(a.collateral.amount[0])}, {"USD": 1.0},
                                      {"USD": 0.1}), a.method)
                for a in _accounts()]
    result = simulate_cascade(accounts, MARKET, PATH, VOLS, impact=2e-7)
    _identity(result)
    assert result.n_liquidated >= 1
