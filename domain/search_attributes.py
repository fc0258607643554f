"""Typed search attributes every payment workflow sets, for filtering in the Web UI.

None of them carries PII: no phone numbers, names or card numbers.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

PAYMENT_KIND = SearchAttributeKey.for_keyword("PaymentKind")
PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
COUNTRY = SearchAttributeKey.for_keyword("Country")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
MERCHANT_REFERENCE = SearchAttributeKey.for_keyword("MerchantReference")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")

KIND_PAYOUT = "payout"

ALL_KEYS = (
    PAYMENT_KIND,
    PAYMENT_STATUS,
    PAYMENT_PROVIDER,
    COUNTRY,
    CURRENCY,
    AMOUNT_MINOR,
    MERCHANT_REFERENCE,
    MERCHANT_ID,
)


def dev_server_flags() -> list[str]:
    """``--search-attribute NAME=Type`` arguments registering every key on a dev server."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}"]
    return flags


def payout_search_attributes(
    *,
    status: str,
    provider: str,
    country: str,
    currency: str,
    amount: int,
    payout_id: str,
    merchant_id: str,
) -> TypedSearchAttributes:
    """The search attributes a payout starts with."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(PAYMENT_KIND, KIND_PAYOUT),
            SearchAttributePair(PAYMENT_STATUS, status),
            SearchAttributePair(PAYMENT_PROVIDER, provider),
            SearchAttributePair(COUNTRY, country),
            SearchAttributePair(CURRENCY, currency),
            SearchAttributePair(AMOUNT_MINOR, amount),
            SearchAttributePair(MERCHANT_REFERENCE, payout_id),
            SearchAttributePair(MERCHANT_ID, merchant_id),
        ]
    )
