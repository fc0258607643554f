"""Money: strict parsing of major-unit strings, formatting them back, the served currencies.

``BAD_AMOUNTS`` and ``BAD_CURRENCIES`` are the bad-input table shared with the CLI's test
(tests/starter/test_cli_input.py): the typed client and ``payments`` refuse the same
input with the same ``<field>: <reason>`` line.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import get_territory_currencies
from pydantic import ValidationError

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import (
    SERVED_CURRENCIES,
    Money,
    check_currency,
    currency_exponent,
    parse_currency,
)
from payments_engine.sandbox.common.config import DEFAULT_FLOAT_CURRENCIES
from payments_engine.starter.errors import describe

SERVED = "KES, UGX, TZS, GHS, RWF, XOF, NGN, ZMW, USD, COP, MXN"
_SPACES = "contains spaces; write the amount without any, e.g. '1000.50'"
_SIGN = "has a sign; write the amount without one, e.g. '1500.00'"
_MINUS = "has a minus sign; amounts are greater than zero, written without a sign"
_EXPONENT = "has an exponent; write the digits out, e.g. '1000'"
_NOT_ASCII = "has digits other than the ASCII digits 0-9"
_NOT_DECIMAL = "is not a decimal amount such as '1500.00'"

# (id, amount, currency, the line describe() gives). Zero is a valid Money: payouts and
# fundings refuse it (tests/domain/test_payout_request.py and the CLI's table).
BAD_AMOUNTS: list[tuple[str, str, str, str]] = [
    ("exponent", "1e3", "KES", f"amount: '1e3' {_EXPONENT}"),
    ("exponent-upper", "1E3", "KES", f"amount: '1E3' {_EXPONENT}"),
    ("exponent-signed", "1.5e+2", "KES", f"amount: '1.5e+2' {_EXPONENT}"),
    ("arabic-indic", "١٠", "KES", f"amount: '١٠' {_NOT_ASCII}"),
    ("full-width", "１０", "KES", f"amount: '１０' {_NOT_ASCII}"),
    ("devanagari", "१०", "KES", f"amount: '१०' {_NOT_ASCII}"),
    ("superscript", "1²", "KES", f"amount: '1²' {_NOT_ASCII}"),
    ("space-before", " 10", "KES", f"amount: ' 10' {_SPACES}"),
    ("space-after", "10 ", "KES", f"amount: '10 ' {_SPACES}"),
    ("space-inside", "1 000", "KES", f"amount: '1 000' {_SPACES}"),
    ("newline-after", "10\n", "KES", f"amount: '10\\n' {_SPACES}"),
    ("no-break-space", "10\u00a0000", "KES", f"amount: '10\\xa0000' {_SPACES}"),
    ("plus", "+10", "KES", f"amount: '+10' {_SIGN}"),
    ("minus-zero", "-0", "KES", f"amount: '-0' {_MINUS}"),
    ("negative", "-5", "KES", f"amount: '-5' {_MINUS}"),
    ("leading-zeros", "00.5", "KES", "amount: '00.5' has a leading zero; write '0.5'"),
    ("leading-zero", "0150", "KES", "amount: '0150' has a leading zero; write '150'"),
    ("zeros", "000", "KES", "amount: '000' has a leading zero; write '0'"),
    ("zeros-decimals", "00.00", "KES", "amount: '00.00' has a leading zero; write '0.00'"),
    ("no-whole-part", ".5", "KES", "amount: '.5' needs a digit before the '.', e.g. '0.5'"),
    ("no-decimals", "5.", "KES", "amount: '5.' needs digits after the '.', or no '.': '5'"),
    (
        "comma",
        "10,00",
        "KES",
        "amount: '10,00' has a separator; write '.' for decimals and nothing between thousands",
    ),
    ("two-points", "12.3.4", "KES", f"amount: '12.3.4' {_NOT_DECIMAL}"),
    ("nan", "NaN", "KES", f"amount: 'NaN' {_NOT_DECIMAL}"),
    ("inf", "inf", "KES", f"amount: 'inf' {_NOT_DECIMAL}"),
    ("infinity", "Infinity", "KES", f"amount: 'Infinity' {_NOT_DECIMAL}"),
    ("letters", "abc", "KES", f"amount: 'abc' {_NOT_DECIMAL}"),
    ("hex", "0x10", "KES", f"amount: '0x10' {_NOT_DECIMAL}"),
    ("empty", "", "KES", "amount: no amount given; write one such as '1500.00'"),
    (
        "23-digits",
        "1" * 23,
        "KES",
        f"amount: '{'1' * 23}' is too large: KES amounts have at most 16 digits before the '.'",
    ),
    (
        "17-digits-kes",
        "1" * 17,
        "KES",
        f"amount: '{'1' * 17}' is too large: KES amounts have at most 16 digits before the '.'",
    ),
    (
        "19-digits-ugx",
        "1" * 19,
        "UGX",
        f"amount: '{'1' * 19}' is too large: UGX amounts have at most 18 digits before the '.'",
    ),
    ("kes-3-decimals", "1.001", "KES", "amount: KES has 2 decimal places; '1.001' has more"),
    ("kes-3-zeros", "12.000", "KES", "amount: KES has 2 decimal places; '12.000' has more"),
    ("ugx-1-decimal", "15.5", "UGX", "amount: UGX has 0 decimal places; '15.5' has more"),
    ("ugx-zero-decimal", "1500.0", "UGX", "amount: UGX has 0 decimal places; '1500.0' has more"),
    ("xof-decimals", "100.5", "XOF", "amount: XOF has 0 decimal places; '100.5' has more"),
]

# (id, currency, the line describe() gives); the amount is a good one.
BAD_CURRENCIES: list[tuple[str, str, str]] = [
    (name, code, f"currency: {code!r} is not a currency the engine pays in ({SERVED})")
    for name, code in [
        ("no-currency", "XXX"),
        ("testing", "XTS"),
        ("gold", "XAU"),
        ("sdr-lower-case", "xdr"),
        ("not-iso", "ABC"),
        ("empty", ""),
        ("not-served", "EUR"),
        ("historic-kwacha", "ZMK"),
        ("historic-cedi", "GHC"),
        ("spaced", " KES"),
        ("long-s", "uſd"),
    ]
]

# (amount, currency, minor units, currency as stored)
GOOD_AMOUNTS: list[tuple[str, str, int, str]] = [
    ("1500", "KES", 150000, "KES"),
    ("1500.0", "KES", 150000, "KES"),
    ("1500.00", "KES", 150000, "KES"),
    ("0.01", "KES", 1, "KES"),
    ("0.5", "KES", 50, "KES"),
    ("15.5", "KES", 1550, "KES"),
    ("1500", "kes", 150000, "KES"),
    ("1500", "Kes", 150000, "KES"),
    ("1500", "UGX", 1500, "UGX"),
    ("1500", "usd", 150000, "USD"),
    ("0", "KES", 0, "KES"),
    ("9" * 16 + ".99", "KES", 10**18 - 1, "KES"),
    ("9" * 18, "UGX", 10**18 - 1, "UGX"),
]


@pytest.mark.parametrize(
    ("value", "currency", "line"),
    [case[1:] for case in BAD_AMOUNTS],
    ids=[case[0] for case in BAD_AMOUNTS],
)
def test_from_major_refuses_what_is_not_a_plain_decimal_amount(
    value: str, currency: str, line: str
) -> None:
    with pytest.raises(InvalidAmount) as info:
        Money.from_major(value, currency)
    assert describe(info.value) == line


@pytest.mark.parametrize(
    ("currency", "line"),
    [case[1:] for case in BAD_CURRENCIES],
    ids=[case[0] for case in BAD_CURRENCIES],
)
def test_from_major_refuses_a_currency_the_engine_does_not_pay_in(currency: str, line: str) -> None:
    with pytest.raises(UnknownCurrency) as info:
        Money.from_major("10", currency)
    assert describe(info.value) == line


@pytest.mark.parametrize(
    ("currency", "line"),
    [case[1:] for case in BAD_CURRENCIES],
    ids=[case[0] for case in BAD_CURRENCIES],
)
def test_the_model_refuses_the_same_currencies_with_the_same_line(currency: str, line: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money(amount=100, currency=currency)
    assert describe(info.value) == line


@pytest.mark.parametrize(("value", "currency", "minor", "stored"), GOOD_AMOUNTS)
def test_from_major_scales_to_minor_units(
    value: str, currency: str, minor: int, stored: str
) -> None:
    money = Money.from_major(value, currency)
    assert money == Money(amount=minor, currency=stored)
    assert type(money.amount) is int


@pytest.mark.parametrize(
    ("value", "currency", "minor"), [(Decimal("7.25"), "KES", 725), (42, "UGX", 42)]
)
def test_from_major_takes_decimals_and_ints_by_the_same_rules(
    value: Decimal | int, currency: str, minor: int
) -> None:
    assert Money.from_major(value, currency).amount == minor


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (Decimal("1E+3"), f"amount: '1E+3' {_EXPONENT}"),
        (Decimal("7.250"), "amount: KES has 2 decimal places; '7.250' has more"),
        (-5, f"amount: '-5' {_MINUS}"),
        (1.5, "amount: give the amount as a decimal string such as '1500.00', not a float"),
        (True, "amount: give the amount as a decimal string such as '1500.00', not a bool"),
        (None, "amount: give the amount as a decimal string such as '1500.00', not a NoneType"),
    ],
)
def test_from_major_refuses_other_values_with_the_same_line(value: object, line: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        Money.from_major(value, "KES")  # type: ignore[arg-type]
    assert describe(info.value) == line


def test_the_currency_is_checked_before_the_amount() -> None:
    # Bad amount and bad currency: the currency is reported, it decides the exponent.
    with pytest.raises(UnknownCurrency):
        Money.from_major("abc", "XYZ")


def test_served_currencies_are_those_the_sandbox_keeps_a_float_in() -> None:
    assert set(SERVED_CURRENCIES) == set(DEFAULT_FLOAT_CURRENCIES)
    assert len(SERVED_CURRENCIES) == len(set(SERVED_CURRENCIES))


@pytest.mark.parametrize(
    "code",
    ["XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD"],
)
def test_iso_special_codes_are_never_served(code: str) -> None:
    assert code not in SERVED_CURRENCIES
    with pytest.raises(UnknownCurrency):
        parse_currency(code)


@pytest.mark.parametrize(
    ("code", "territory"),
    [
        ("KES", "KE"),
        ("UGX", "UG"),
        ("TZS", "TZ"),
        ("GHS", "GH"),
        ("RWF", "RW"),
        ("XOF", "SN"),
        ("NGN", "NG"),
        ("ZMW", "ZM"),
        ("USD", "US"),
    ],
)
def test_served_currencies_are_legal_tender_today(code: str, territory: str) -> None:
    # Current codes only: ZMW, not the historic ZMK; GHS, not GHC.
    assert code in SERVED_CURRENCIES
    assert code in get_territory_currencies(territory)


def test_input_codes_are_normalised_once_and_providers_codes_are_exact() -> None:
    assert parse_currency("kes") == "KES"
    assert check_currency("KES") == "KES"
    with pytest.raises(UnknownCurrency):
        check_currency("kes")  # what a provider reports is compared as it is written


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("KES", 2), ("UGX", 0), ("XOF", 0), ("RWF", 0), ("TZS", 2), ("USD", 2)],
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
        (123456, "NGN", "1234.56"),
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


@pytest.mark.parametrize("currency", ["KES", "UGX", "XOF", "NGN"])
@pytest.mark.parametrize("amount", [1, 99, 100, 101, 1234567, 10**15 + 7])
def test_round_trip_through_major_units(currency: str, amount: int) -> None:
    money = Money(amount=amount, currency=currency)
    assert Money.from_major(money.to_major(), currency) == money


def test_model_normalises_the_currency_once() -> None:
    assert Money(amount=100, currency="kes").currency == "KES"
    assert Money.model_validate_json('{"amount": 150000, "currency": "kes"}') == Money(
        amount=150000, currency="KES"
    )


def test_model_is_frozen() -> None:
    money = Money(amount=100, currency="KES")
    with pytest.raises(ValidationError):
        money.amount = 200  # type: ignore[misc]


def test_model_takes_minor_units_as_json_ints() -> None:
    assert Money.model_validate_json('{"amount": 150000, "currency": "KES"}').amount == 150000
    assert Money.model_validate_json('{"amount": -5, "currency": "UGX"}').amount == -5


@pytest.mark.parametrize(
    ("amount", "kind"),
    [("true", "bool"), ("false", "bool"), ("1500.0", "float"), ("1e3", "float"), ('"1500"', "str")],
)
def test_model_refuses_minor_units_that_are_not_ints_from_json(amount: str, kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.model_validate_json(f'{{"amount": {amount}, "currency": "KES"}}')
    assert describe(info.value) == f"amount: minor units are a whole number (int), not a {kind}"


@pytest.mark.parametrize(("amount", "kind"), [(True, "bool"), (1500.0, "float"), ("1500", "str")])
def test_model_refuses_minor_units_that_are_not_ints(amount: object, kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money(amount=amount, currency="KES")  # type: ignore[arg-type]
    assert describe(info.value) == f"amount: minor units are a whole number (int), not a {kind}"


def test_model_validates_currency_when_decoding_json() -> None:
    assert Money.model_validate_json('{"amount": 5, "currency": "UGX"}').amount == 5
    with pytest.raises(ValidationError):
        Money.model_validate_json('{"amount": 5, "currency": "ABC"}')


def test_from_major_never_rounds_silently() -> None:
    with pytest.raises(InvalidAmount):
        Money.from_major("12345678901234567890123456.789", "KES")


def test_a_very_long_amount_is_refused_without_being_echoed_whole() -> None:
    with pytest.raises(InvalidAmount) as info:
        Money.from_major("1" * 100_000, "KES")
    assert len(describe(info.value)) < 200
