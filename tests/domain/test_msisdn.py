"""Mobile numbers: normalisation to E.164 for the stated country, and masking."""

from __future__ import annotations

import pytest

from payments_engine.domain.errors import InvalidMsisdn
from payments_engine.domain.msisdn import mask_msisdn, normalize_msisdn


@pytest.mark.parametrize(
    ("number", "country", "e164"),
    [
        ("0712345678", "KE", "+254712345678"),
        ("+254712345678", "KE", "+254712345678"),
        ("254712345678", "KE", "+254712345678"),
        ("0712 345 678", "KE", "+254712345678"),
        ("0712345678", "ke", "+254712345678"),
        ("0772123456", "UG", "+256772123456"),
    ],
)
def test_normalize_to_e164(number: str, country: str, e164: str) -> None:
    assert normalize_msisdn(number, country) == e164


def test_number_of_another_country_is_refused_naming_it() -> None:
    with pytest.raises(InvalidMsisdn, match=r"belongs to UG, not KE"):
        normalize_msisdn("+256772123456", "KE")


@pytest.mark.parametrize("number", ["hello", "", "+", "123", "07123", "+2547123456789999"])
def test_garbage_is_refused(number: str) -> None:
    with pytest.raises(InvalidMsisdn):
        normalize_msisdn(number, "KE")


@pytest.mark.parametrize("number", ["+254202222222", "020 2222222"])
def test_fixed_line_is_refused(number: str) -> None:
    with pytest.raises(InvalidMsisdn, match="not a mobile number"):
        normalize_msisdn(number, "KE")


def test_invalid_msisdn_is_a_value_error() -> None:
    # Pydantic validators turn ValueErrors into ValidationErrors: the CLI relies on it.
    with pytest.raises(ValueError):
        normalize_msisdn("hello", "KE")


@pytest.mark.parametrize("e164", ["+254712345678", "+256772123456", "+2250701234567"])
def test_mask_keeps_country_code_and_last_three_digits(e164: str) -> None:
    masked = mask_msisdn(e164)
    assert len(masked) == len(e164)
    assert masked.startswith(e164[:4])
    assert masked.endswith(e164[-3:])
    assert set(masked[4:-3]) == {"*"}
    assert e164 not in masked
    assert e164[4:-3] not in masked


def test_mask_of_a_kenyan_number() -> None:
    assert mask_msisdn("+254712345678") == "+254******678"


@pytest.mark.parametrize("short", ["+25471", "1234567", "", "+1"])
def test_mask_of_a_short_value_hides_everything(short: str) -> None:
    masked = mask_msisdn(short)
    assert masked == "*" * len(short)
