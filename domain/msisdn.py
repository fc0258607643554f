"""Mobile numbers (MSISDNs): validation with phonenumbers, and masking for display."""

from __future__ import annotations

import phonenumbers

from payments_engine.domain.errors import InvalidMsisdn


def normalize_msisdn(number: str, country: str) -> str:
    """Return ``number`` in E.164 form if it is a valid mobile number of ``country``.

    Args:
        number: the number as typed, with or without the leading ``+`` and country code.
        country: ISO 3166-1 alpha-2 code the number must belong to (``KE``, ``UG`` ...).

    Raises:
        InvalidMsisdn: the number cannot be parsed, is not valid, or is of another country.
    """
    region = country.upper()
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMsisdn("the phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidMsisdn("the phone number is not a valid number")
    actual = phonenumbers.region_code_for_number(parsed)
    if actual != region:
        raise InvalidMsisdn(f"the phone number belongs to {actual}, not {region}")
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidMsisdn("the phone number is not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def field_msisdn(number: str, country: str) -> str:
    """:func:`normalize_msisdn` for a request's phone field: the reason is said of the field.

    Raises:
        InvalidMsisdn: why (``belongs to UG, not KE``), never the number; not chained, so
            no traceback carries the number either.
    """
    try:
        return normalize_msisdn(number, country)
    except InvalidMsisdn as exc:
        reason = str(exc).removeprefix("the phone number ").removeprefix("is ")
        raise InvalidMsisdn(reason) from None


def mask_msisdn(e164: str) -> str:
    """Mask all but the country code and the last three digits, for display without PII."""
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:4] + "*" * (len(e164) - 7) + e164[-3:]
