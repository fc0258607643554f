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
ORIGINAL_REFERENCE = SearchAttributeKey.for_keyword("OriginalReference")
"""A refund's collection id, so its refunds can be listed."""

KIND_PAYOUT = "payout"
KIND_COLLECTION = "collection"
KIND_REFUND = "refund"
KIND_CARD = "card"
KIND_CASH_ORDER = "cash_order"
KIND_BATCH = "batch"

ALL_KEYS = (
    PAYMENT_KIND,
    PAYMENT_STATUS,
    PAYMENT_PROVIDER,
    COUNTRY,
    CURRENCY,
    AMOUNT_MINOR,
    MERCHANT_REFERENCE,
    MERCHANT_ID,
    ORIGINAL_REFERENCE,
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
    return payment_search_attributes(
        kind=KIND_PAYOUT,
        status=status,
        provider=provider,
        country=country,
        currency=currency,
        amount=amount,
        reference=payout_id,
        merchant_id=merchant_id,
    )


def payment_search_attributes(
    *,
    kind: str,
    status: str,
    provider: str,
    country: str,
    currency: str,
    amount: int,
    reference: str,
    merchant_id: str,
    original: str | None = None,
) -> TypedSearchAttributes:
    """The search attributes a payment of ``kind`` starts with; ``reference`` is its id.

    ``original`` is the id of the payment it refers to (a refund's collection).
    """
    extra = [] if original is None else [SearchAttributePair(ORIGINAL_REFERENCE, original)]
    return TypedSearchAttributes(
        [
            *extra,
            SearchAttributePair(PAYMENT_KIND, kind),
            SearchAttributePair(PAYMENT_STATUS, status),
            SearchAttributePair(PAYMENT_PROVIDER, provider),
            SearchAttributePair(COUNTRY, country),
            SearchAttributePair(CURRENCY, currency),
            SearchAttributePair(AMOUNT_MINOR, amount),
            SearchAttributePair(MERCHANT_REFERENCE, reference),
            SearchAttributePair(MERCHANT_ID, merchant_id),
        ]
    )


def batch_search_attributes(*, batch_id: str, merchant_id: str) -> TypedSearchAttributes:
    """The search attributes a batch starts with: its kind, id and merchant."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(PAYMENT_KIND, KIND_BATCH),
            SearchAttributePair(MERCHANT_REFERENCE, batch_id),
            SearchAttributePair(MERCHANT_ID, merchant_id),
        ]
    )
