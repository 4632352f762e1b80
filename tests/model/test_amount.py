"""Amounts that know their currency: arithmetic within one, errors across two, digits by currency."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greeksmargin.errors import CurrencyError, InputError
from greeksmargin.model.amount import Amount, decimals_for, format_amount

finite = st.floats(-1e12, 1e12, allow_nan=False)


def test_arithmetic_in_one_currency_keeps_it():
    a, b = Amount(100.0, "USD"), Amount(30.0, "USD")
    for value, expected in ((a + b, 130.0), (a - b, 70.0), (b - a, -70.0), (a * 2, 200.0),
                            (2 * a, 200.0), (a / 4, 25.0), (-a, -100.0), (abs(-a), 100.0),
                            (a + 5, 105.0), (5 + a, 105.0), (5 - b, -25.0)):
        assert isinstance(value, Amount) and value.currency == "USD" and value == expected
    assert a / b == pytest.approx(100 / 30) and not isinstance(a / b, Amount)
    assert 60.0 / b == 2.0  # a plain figure over an amount is a ratio
    assert a > b and b < a and a >= a and b <= b and a != b and a == 100.0


@pytest.mark.parametrize("op", ["add", "sub", "rsub", "div", "lt", "le", "gt", "ge", "eq"])
def test_two_currencies_never_combine(op):
    usd, btc = Amount(7013.0, "USD"), Amount(0.117, "BTC")
    ops = {"add": lambda: usd + btc, "sub": lambda: usd - btc, "rsub": lambda: btc.__rsub__(usd),
           "div": lambda: usd / btc, "lt": lambda: usd < btc, "le": lambda: usd <= btc,
           "gt": lambda: usd > btc, "ge": lambda: usd >= btc, "eq": lambda: usd == btc}
    with pytest.raises(CurrencyError, match=r"(7,013.00 USD|0.1170 BTC) and (0.1170 BTC|7,013.00 USD): convert"):
        ops[op]()


def test_product_of_two_amounts_and_bad_construction_are_refused():
    with pytest.raises(CurrencyError, match="cannot multiply two amounts"):
        Amount(1.0, "USD") * Amount(2.0, "USD")
    with pytest.raises(InputError, match="needs a currency code"):
        Amount(1.0, "")
    with pytest.raises(InputError, match="needs a currency code"):
        Amount(1.0, None)  # type: ignore[arg-type]


def test_conversion_is_explicit():
    btc = Amount(0.1169, "BTC")
    usd = btc.to("USD", 60_000.0)
    assert usd.currency == "USD" and usd == pytest.approx(7014.0)
    assert btc.to("BTC", 1.0) is btc
    for rate in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="conversion rate BTC->USD must be > 0 and finite"):
            btc.to("USD", rate)


def test_digits_follow_the_currency():
    assert str(Amount(7013.2149, "USD")) == "7,013.21 USD"
    assert str(Amount(0.11693, "BTC")) == "0.1169 BTC"
    assert str(Amount(0.000123456, "BTC")) == "0.0001235 BTC"
    assert str(Amount(1e-12, "ETH")) == "0.00000000 ETH"  # capped at a satoshi
    assert format_amount(12.5, "EUR") == "12.50 EUR"
    assert decimals_for("btc", [0.0, 2.5]) == 4 and decimals_for("JPY", [1e-9]) == 2
    assert f"{Amount(1234.5, 'USD'):,.1f}" == "1,234.5"  # a format spec formats the number


def test_pickles_with_its_currency():
    a = Amount(1.25, "ETH")
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, Amount) and b.currency == "ETH" and b == 1.25


@given(finite, finite, st.sampled_from(["USD", "BTC"]))
def test_sum_and_difference_stay_in_the_currency(x, y, currency):
    a, b = Amount(x, currency), Amount(y, currency)
    total = a + b
    assert total.currency == currency and float(total) == x + y
    assert (total - b).currency == currency and float(total - b) == (x + y) - y
