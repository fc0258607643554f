"""PayoutRequest validation and fingerprint; ResolvePayout's allowed outcomes.

``BAD_REQUESTS`` is the typed client's half of the bad-input table (amounts and
currencies are in tests/domain/test_money.py): each mistake raises pydantic's
ValidationError, whose ``describe()`` is the ``<field>: <reason>`` line the CLI prints
after ``invalid input: `` (tests/starter/test_cli_input.py), never with the number.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, ResolvePayout
from payments_engine.starter.errors import describe

ID_RULE = (
    "ids are 1-64 characters of letters, digits, '_', '.', ':' or '-',"
    " starting with a letter or digit"
)
SERVED = "KES, UGX, TZS, GHS, RWF, XOF, NGN, ZMW, USD, COP, MXN"
NUMBERS = ("712345678", "772123456", "202222222")

# (id, fields changed from a good request, the line describe() gives)
BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("phone-other-country", {"recipient_msisdn": "+256772123456"}, "phone: belongs to UG, not KE"),
    ("phone-invalid", {"recipient_msisdn": "12345"}, "phone: not a valid number"),
    ("phone-garbage", {"recipient_msisdn": "not-a-number"}, "phone: cannot be parsed"),
    ("phone-landline", {"recipient_msisdn": "+254202222222"}, "phone: not a mobile number"),
    (
        "phone-of-country-ug",
        {"recipient_msisdn": "+254712345678", "country": "UG"},
        "phone: belongs to KE, not UG",
    ),
    ("id-with-space", {"payout_id": "a b"}, f"id: {ID_RULE}"),
    ("id-too-long", {"payout_id": "x" * 65}, f"id: {ID_RULE}"),
    ("id-empty", {"payout_id": ""}, f"id: {ID_RULE}"),
    ("bad-merchant", {"merchant_id": "m/1"}, f"merchant: {ID_RULE}"),
    (
        "amount-zero",
        {"amount": Money(amount=0, currency="KES")},
        "amount: a payout amount must be greater than zero",
    ),
    (
        "amount-negative",
        {"amount": Money(amount=-150000, currency="KES")},
        "amount: a payout amount must be greater than zero",
    ),
    (
        "amount-float-minor-units",
        {"amount": {"amount": 1500.5, "currency": "KES"}},
        "amount: minor units are a whole number (int), not a float",
    ),
    (
        "amount-bool-minor-units",
        {"amount": {"amount": True, "currency": "KES"}},
        "amount: minor units are a whole number (int), not a bool",
    ),
    (
        "currency-xxx",
        {"amount": {"amount": 100, "currency": "XXX"}},
        f"currency: 'XXX' is not a currency the engine pays in ({SERVED})",
    ),
    ("country-too-long", {"country": "KEN"}, "country: string should have at most 2 characters"),
    (
        "bad-provider-name",
        {"provider": "Hub Two"},
        "provider: string should match pattern '^[a-z][a-z0-9_]{0,31}$'",
    ),
    (
        "description-too-long",
        {"description": "x" * 141},
        "description: string should have at most 140 characters",
    ),
    (
        "two-mistakes",
        {"payout_id": "a b", "merchant_id": "m 1"},
        f"id: {ID_RULE}; merchant: {ID_RULE}",
    ),
]


LEGACY_FINGERPRINT = "0932a765855a218c8adb5ae4015398388ab4a5d1fce3b84c9467d0deebe402b0"


def _request(**overrides: Any) -> PayoutRequest:
    fields: dict[str, Any] = {
        "payout_id": "po-1",
        "merchant_id": "m-1",
        "amount": Money(amount=150000, currency="KES"),
        "recipient_msisdn": "+254712345678",
        "country": "KE",
    }
    fields.update(overrides)
    return PayoutRequest(**fields)


def test_valid_request() -> None:
    request = _request(description="salary")
    assert request.amount == Money(amount=150000, currency="KES")
    assert request.provider == "hub"
    assert request.description == "salary"


@pytest.mark.parametrize(
    ("changes", "line"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_is_refused_with_one_line_per_field(changes: dict[str, Any], line: str) -> None:
    with pytest.raises(ValidationError) as info:
        _request(**changes)
    assert describe(info.value) == line
    assert not any(number in describe(info.value) for number in NUMBERS)


@pytest.mark.parametrize("value", ["0", "0.00", "0.0"])
def test_a_zero_amount_parses_but_is_no_payout(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        _request(amount=Money.from_major(value, "KES"))
    assert describe(info.value) == "amount: a payout amount must be greater than zero"


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"amount": Money(amount=0, currency="KES")},
            "amount: a funding amount must be greater than zero",
        ),
        ({"reference": "bank ref"}, f"reference: {ID_RULE}"),
        ({"merchant_id": "m/1"}, f"merchant: {ID_RULE}"),
        (
            {"amount": {"amount": 100, "currency": "xts"}},
            f"currency: 'xts' is not a currency the engine pays in ({SERVED})",
        ),
    ],
)
def test_bad_funding_is_refused_with_the_same_format(changes: dict[str, Any], line: str) -> None:
    fields: dict[str, Any] = {
        "merchant_id": "m-1",
        "amount": Money(amount=100, currency="KES"),
        "reference": "bank-1",
    }
    with pytest.raises(ValidationError) as info:
        FundMerchantInput(**{**fields, **changes})
    assert describe(info.value) == line


def test_currency_of_a_request_is_normalised() -> None:
    assert _request(amount={"amount": 100, "currency": "kes"}).amount.currency == "KES"


@pytest.mark.parametrize("amount", [0, -1, -150000])
def test_zero_and_negative_amounts_are_refused(amount: int) -> None:
    with pytest.raises(ValidationError, match="a payout amount must be greater than zero"):
        _request(amount=Money(amount=amount, currency="KES"))


@pytest.mark.parametrize("provider", ["", "Hub", "hub two", "hub/../x", "h" * 33])
def test_provider_name_of_another_shape_is_refused(provider: str) -> None:
    # Which providers exist is the registry's business (checked by the client); the
    # request only refuses names no provider can have.
    with pytest.raises(ValidationError, match="provider"):
        _request(provider=provider)


def test_any_well_formed_provider_name_is_kept() -> None:
    assert _request(provider="momo").provider == "momo"


def test_country_is_upper_cased() -> None:
    assert _request(country="ke").country == "KE"


@pytest.mark.parametrize("country", ["K", "KEN", ""])
def test_country_must_be_two_letters(country: str) -> None:
    with pytest.raises(ValidationError):
        _request(country=country)


@pytest.mark.parametrize("number", ["0712345678", "254712345678", "+254 712 345 678"])
def test_msisdn_is_normalised_to_e164(number: str) -> None:
    assert _request(recipient_msisdn=number).recipient_msisdn == "+254712345678"


def test_msisdn_of_lower_case_country_is_normalised() -> None:
    request = _request(recipient_msisdn="0712345678", country="ke")
    assert request.recipient_msisdn == "+254712345678"


def test_msisdn_of_another_country_is_refused() -> None:
    with pytest.raises(ValidationError, match="belongs to UG, not KE"):
        _request(recipient_msisdn="+256772123456")


@pytest.mark.parametrize("number", ["hello", "+254202222222"])
def test_invalid_msisdn_is_refused(number: str) -> None:
    with pytest.raises(ValidationError) as info:
        _request(recipient_msisdn=number)
    assert describe(info.value).startswith("phone: ")


@pytest.mark.parametrize("payout_id", ["", "a b", "a/b", "x" * 65])
def test_bad_payout_id_is_refused(payout_id: str) -> None:
    with pytest.raises(ValidationError, match="1-64 characters") as info:
        _request(payout_id=payout_id)
    assert info.value.errors()[0]["loc"] == ("payout_id",)


def test_bad_merchant_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="1-64 characters"):
        _request(merchant_id="m 1")


def test_workflow_id() -> None:
    assert _request(payout_id="order-42").workflow_id == "payout-order-42"


def test_description_is_limited() -> None:
    with pytest.raises(ValidationError):
        _request(description="x" * 141)


def test_fingerprint_equal_for_equal_requests() -> None:
    a, b = _request(), _request()
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint()) == 64


def test_fingerprint_equal_whatever_the_number_was_typed_as() -> None:
    assert (
        _request(recipient_msisdn="0712345678", country="ke").fingerprint()
        == _request().fingerprint()
    )


def test_fingerprint_ignores_description() -> None:
    assert _request(description="one").fingerprint() == _request().fingerprint()
    assert _request(description="one").fingerprint() == _request(description="two").fingerprint()


def test_fingerprint_ignores_how_soon_the_provider_is_asked() -> None:
    assert _request(first_poll_seconds=3).fingerprint() == _request().fingerprint()
    # What the same request's fingerprint was before the field existed (f1aa832): a
    # payout stored then is still recognised when it is sent again.
    assert _request().fingerprint() == LEGACY_FINGERPRINT


@pytest.mark.parametrize("seconds", [0, -1, 86_401])
def test_first_poll_is_within_a_day(seconds: int) -> None:
    with pytest.raises(ValidationError, match="first_poll_seconds"):
        _request(first_poll_seconds=seconds)


@pytest.mark.parametrize(
    "change",
    [
        {"amount": Money(amount=150001, currency="KES")},
        {"amount": Money(amount=150000, currency="TZS")},
        {"recipient_msisdn": "+254712345679"},
        {"merchant_id": "m-2"},
        {"payout_id": "po-2"},
        {"resolution_deadline_seconds": 60},
    ],
)
def test_fingerprint_differs_when_a_defining_parameter_differs(change: dict[str, Any]) -> None:
    assert _request(**change).fingerprint() != _request().fingerprint()


def test_request_is_frozen() -> None:
    with pytest.raises(ValidationError):
        _request().payout_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("outcome", [PayoutStatus.SUCCEEDED, PayoutStatus.FAILED, "failed"])
def test_resolve_accepts_final_outcomes(outcome: PayoutStatus | str) -> None:
    assert ResolvePayout(outcome=outcome, note="checked with the hub").outcome.is_final


@pytest.mark.parametrize(
    "outcome",
    [
        PayoutStatus.RECEIVED,
        PayoutStatus.RESERVED,
        PayoutStatus.SUBMITTED,
        "needs_review",
        "done",
        "FAILED",
        "",
        None,
        1,
    ],
)
def test_resolve_refuses_other_outcomes(outcome: object) -> None:
    with pytest.raises(ValidationError) as info:
        ResolvePayout(outcome=outcome, note="checked")  # type: ignore[arg-type]
    assert describe(info.value) == "outcome: an operator resolves a payout to succeeded or failed"


def test_resolve_needs_a_note() -> None:
    with pytest.raises(ValidationError) as info:
        ResolvePayout(outcome=PayoutStatus.FAILED, note="")
    assert describe(info.value) == "note: string should have at least 1 character"
