"""Cash orders' domain: the networks' rules, payers, bank accounts, the settlement
calendar and the payer's instructions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from payments_engine.domain.bank import AccountType, BankAccount, DocumentType
from payments_engine.domain.cash import (
    CashOrderRequest,
    Payer,
    VoucherRules,
    is_business_day,
    payer_instructions,
    settlement_time,
)
from payments_engine.domain.errors import (
    CashRefundNeedsBankAccount,
    InvalidAmount,
    ValidationFailed,
)
from payments_engine.domain.ledger import RefundOrigin
from payments_engine.domain.money import Money
from payments_engine.domain.refund import RefundRequest

BOGOTA = ZoneInfo("America/Bogota")
EFECTY = VoucherRules(
    network="Efecty",
    country="CO",
    currency="COP",
    min_amount=20_000_00,
    max_amount=6_000_000_00,
    whole_units=True,
    default_expiry_days=7,
    max_expiry_days=7,
    timezone="America/Bogota",
)
PAYER = Payer(name="María  Gómez", document_type=DocumentType.CC, document_number="1.020.304.050")


def cop(pesos: str) -> Money:
    return Money.from_major(pesos, "COP")


def test_a_payer_is_normalised() -> None:
    assert PAYER.name == "María Gómez"
    assert PAYER.document_number == "1020304050"


@pytest.mark.parametrize(
    ("document_type", "number"),
    [
        (DocumentType.CC, "12AB"),
        (DocumentType.NIT, "12345"),
        (DocumentType.CURP, "GODE561231HDFRRN0"),
        (DocumentType.RFC, "1234"),
    ],
)
def test_a_document_of_the_wrong_shape_is_refused_without_echoing_it(
    document_type: DocumentType, number: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Payer(name="Ana Ruiz", document_type=document_type, document_number=number)
    assert number not in str(refused.value.errors(include_input=False))


def test_the_efecty_rules_accept_a_good_order() -> None:
    EFECTY.check(cop("150000"), "co", PAYER, None)
    EFECTY.check(cop("20000"), "CO", PAYER, 7)
    EFECTY.check(cop("6000000"), "CO", PAYER, 1)


@pytest.mark.parametrize(
    ("amount", "country", "days", "error", "words"),
    [
        ("150000.50", "CO", None, InvalidAmount, "no centavos"),
        ("19999", "CO", None, InvalidAmount, "from 20,000"),
        ("6000001", "CO", None, InvalidAmount, "to 6,000,000"),
        ("150000", "MX", None, ValidationFailed, "serves CO only"),
        ("150000", "CO", 8, ValidationFailed, "1 to 7 days"),
        ("150000", "CO", 0, ValidationFailed, "1 to 7 days"),
    ],
)
def test_the_efecty_rules_refuse_with_a_clear_reason(
    amount: str, country: str, days: int | None, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as refused:
        EFECTY.check(cop(amount), country, PAYER, days)
    assert words in str(refused.value)


def test_another_currency_or_document_is_refused() -> None:
    with pytest.raises(InvalidAmount, match="COP only"):
        EFECTY.check(Money.from_major("100", "MXN"), "CO", PAYER, None)
    mexican = Payer(
        name="Ana Ruiz", document_type=DocumentType.RFC, document_number="RUAA800101AB1"
    )
    with pytest.raises(ValidationFailed, match="not RFC"):
        EFECTY.check(cop("150000"), "CO", mexican, None)


def test_an_order_outside_the_served_countries_is_refused() -> None:
    with pytest.raises(ValidationError, match="served in CO, MX"):
        CashOrderRequest(
            order_id="o1", amount=cop("150000"), country="KE", provider="efecty", payer=PAYER
        )


def test_business_days_skip_weekends_and_colombian_holidays() -> None:
    assert is_business_day(date(2026, 11, 25), "CO")  # a Wednesday
    assert not is_business_day(date(2026, 11, 28), "CO")  # a Saturday
    assert not is_business_day(date(2027, 1, 11), "CO")  # Epiphany, moved to a Monday
    assert is_business_day(date(2027, 1, 11), "MX")  # not a holiday in Mexico
    assert not is_business_day(date(2026, 11, 16), "MX")  # Revolution Day, third Monday


@pytest.mark.parametrize(
    ("paid", "days", "settles"),
    [
        # Friday afternoon, three business days: Monday, Tuesday, Wednesday.
        (datetime(2026, 11, 27, 15, 0), 3, date(2026, 12, 2)),
        # Friday before Epiphany Monday: Tuesday, Wednesday, Thursday.
        (datetime(2027, 1, 8, 15, 0), 3, date(2027, 1, 14)),
        # Paid on a Saturday: the Monday is the first business day.
        (datetime(2026, 11, 28, 10, 0), 1, date(2026, 11, 30)),
        # 23:30 in Bogotá is the next day in UTC: the local date counts.
        (datetime(2026, 11, 25, 23, 30), 1, date(2026, 11, 26)),
    ],
)
def test_settlement_time(paid: datetime, days: int, settles: date) -> None:
    at = settlement_time(paid.replace(tzinfo=BOGOTA).astimezone(UTC), days, "CO", "America/Bogota")
    assert at.astimezone(BOGOTA).date() == settles
    assert (at.astimezone(BOGOTA).hour, at.astimezone(BOGOTA).minute) == (9, 0)


def test_no_settlement_delay_settles_at_once() -> None:
    paid = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert settlement_time(paid, 0, "CO", "America/Bogota") == paid


def test_the_payer_is_told_in_spanish_and_english_in_local_time() -> None:
    expires = datetime(2026, 12, 2, 4, 59, tzinfo=UTC)  # 23:59 in Bogotá on 1 December
    told = payer_instructions(
        "Efecty", "123456789", "4157709998461239", cop("150000"), expires, "America/Bogota", "CO"
    )
    assert "Pague $150.000 COP en efectivo en cualquier punto Efecty" in told.es
    assert "Pay 150,000 COP in cash" in told.en
    assert "referencia de pago 123456789" in told.es
    assert "código de barras 4157709998461239" in told.es
    assert "01/12/2026 23:59" in told.es
    assert "2026-12-01 23:59" in told.en and "123456789" in told.en


def test_mexican_amounts_keep_their_centavos() -> None:
    expires = datetime(2026, 12, 2, 5, 59, tzinfo=UTC)
    told = payer_instructions(
        "OXXO",
        "93000262668135",
        None,
        Money.from_major("1234.5", "MXN"),
        expires,
        "America/Mexico_City",
        "MX",
    )
    assert "Pague $1,234.50 MXN" in told.es and "código de barras" not in told.es
    assert "01/12/2026 23:59" in told.es


def account(**overrides: object) -> BankAccount:
    fields: dict[str, object] = {
        "bank_code": "007",
        "account_type": AccountType.SAVINGS,
        "account_number": "1234-5678-90",
        "document_type": DocumentType.CC,
        "document_number": "1020304050",
        "holder_name": "María Gómez",
        "country": "co",
    }
    fields.update(overrides)
    return BankAccount.model_validate(fields)


def test_a_bank_account_is_normalised_and_masked() -> None:
    bank = account()
    assert bank.account_number == "1234567890" and bank.country == "CO"
    assert bank.masked() == "bank 007 savings ****7890 (CC ******4050)"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"bank_code": "7"}, "bank code"),
        ({"account_number": "12ab"}, "6-20 digits"),
        ({"document_type": DocumentType.CURP}, "not accepted in CO"),
        ({"holder_name": " "}, "holder"),
        ({"country": "KE"}, "served in CO, MX"),
    ],
)
def test_an_incomplete_or_wrong_bank_account_is_refused(
    overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        account(**overrides)


def test_a_cash_refund_without_a_bank_account_says_how_cash_orders_refund() -> None:
    with pytest.raises(ValidationError) as refused:
        RefundRequest(
            refund_id="r1",
            original_id="o1",
            origin=RefundOrigin.CASH_ORDER,
            amount=cop("1000"),
            reason="returned goods",
        )
    message = str(refused.value)
    assert "refunded by bank transfer, never in cash" in message
    assert "account_number" in message and "holder_name" in message
    assert CashRefundNeedsBankAccount.type == "CashRefundNeedsBankAccount"


def test_a_cash_refund_names_the_order_as_its_original() -> None:
    refund = RefundRequest(
        refund_id="r1",
        original_id="o1",
        origin=RefundOrigin.CASH_ORDER,
        amount=cop("1000"),
        reason="returned goods",
        provider="bank",
        bank_account=account(),
    )
    assert refund.original_reference == "cash-order-o1"
    assert refund.workflow_id == "refund-r1"


def test_the_readme_shows_what_the_payer_is_really_told() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    told = payer_instructions(
        "Efecty",
        "123456789",
        "4157709998461239",
        cop("150000"),
        datetime(2026, 12, 2, 4, 59, tzinfo=UTC),
        "America/Bogota",
        "CO",
    )
    assert f"> {told.es}\n" in readme
    assert f"> {told.en}\n" in readme
