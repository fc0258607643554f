"""Money: parsing major-unit strings, formatting them back, and currency validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import Money, currency_exponent


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("15.5", "KES", 1550),
        ("1500", "UGX", 1500),
        ("1500.00", "KES", 150000),
        ("0.01", "KES", 1),
        (" 12 ", "KES", 1200),
        (Decimal("7.25"), "KES", 725),
        (42, "UGX", 42),
        ("1500.00", "UGX", 1500),
    ],
)
def test_from_major_scales_to_minor_units(
    value: str | int | Decimal, currency: str, minor: int
) -> None:
    money = Money.from_major(value, currency)
    assert money == Money(amount=minor, currency=currency)
    assert type(money.amount) is int


@pytest.mark.parametrize(
    ("value", "currency"),
    [("15.5", "UGX"), ("15.50", "UGX"), ("1.234", "KES"), ("0.001", "KES"), ("100.5", "XOF")],
)
def test_from_major_refuses_more_decimals_than_the_currency_has(value: str, currency: str) -> None:
    with pytest.raises(InvalidAmount, match=rf"{currency} has \d decimal"):
        Money.from_major(value, currency)


@pytest.mark.parametrize(
    "value", ["abc", "", "1,000", "12.3.4", "NaN", "nan", "sNaN", "inf", "-Infinity"]
)
def test_from_major_refuses_what_is_not_a_finite_number(value: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.from_major(value, "KES")


@pytest.mark.parametrize("currency", ["XYZ", "kes", "", "KESS"])
def test_from_major_refuses_unknown_currency(currency: str) -> None:
    with pytest.raises(UnknownCurrency, match="unknown ISO 4217"):
        Money.from_major("10", currency)


def test_unknown_currency_is_checked_before_the_amount() -> None:
    # Bad amount and bad currency: the currency is reported, it decides the exponent.
    with pytest.raises(UnknownCurrency):
        Money.from_major("abc", "XYZ")


@pytest.mark.parametrize(
    ("currency", "exponent"), [("KES", 2), ("UGX", 0), ("XOF", 0), ("COP", 2), ("BHD", 3)]
)
def test_currency_exponent(currency: str, exponent: int) -> None:
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [
        (150000, "KES", "1500.00"),
        (1550, "KES", "15.50"),
        (5, "KES", "0.05"),
        (1500, "UGX", "1500"),
        (2500, "XOF", "2500"),
        (123456, "COP", "1234.56"),
        (0, "KES", "0.00"),
    ],
)
def test_to_major_formats_with_exactly_the_currency_decimals(
    amount: int, currency: str, major: str
) -> None:
    money = Money(amount=amount, currency=currency)
    assert money.to_major() == major
    assert Money.from_major(money.to_major(), currency) == money
    assert str(money) == f"{major} {currency}"


@pytest.mark.parametrize("currency", ["KES", "UGX", "XOF", "COP"])
@pytest.mark.parametrize("amount", [1, 99, 100, 101, 1234567, 10**15 + 7])
def test_round_trip_through_major_units(currency: str, amount: int) -> None:
    money = Money(amount=amount, currency=currency)
    assert Money.from_major(money.to_major(), currency) == money


def test_model_rejects_unknown_currency() -> None:
    with pytest.raises(ValidationError, match="unknown ISO 4217"):
        Money(amount=100, currency="XYZ")


def test_model_is_frozen() -> None:
    money = Money(amount=100, currency="KES")
    with pytest.raises(ValidationError):
        money.amount = 200  # type: ignore[misc]


def test_model_validates_currency_when_decoding_json() -> None:
    assert Money.model_validate_json('{"amount": 5, "currency": "UGX"}').amount == 5
    with pytest.raises(ValidationError):
        Money.model_validate_json('{"amount": 5, "currency": "ABC"}')


def test_from_major_never_rounds_silently() -> None:
    with pytest.raises(InvalidAmount):
        Money.from_major("12345678901234567890123456.789", "KES")
