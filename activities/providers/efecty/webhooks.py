"""Efecty's reports: status answers and confirmations, as :class:`ProviderEvent` s."""

from __future__ import annotations

from pydantic import ValidationError

from payments_engine.activities.providers.base import malformed
from payments_engine.activities.providers.efecty.wire import (
    PROVIDER_NAME,
    Confirmation,
    TransactionResponse,
    from_millis,
)
from payments_engine.domain.events import ProviderEvent, reported_amount


def report(transaction: TransactionResponse, event_id: str) -> ProviderEvent:
    """Where a transaction stands, as Efecty's API states it.

    ``occurred_at`` is when the payer paid at the shop (APPROVED only): it decides
    whether the payment came before the voucher's expiry.
    """
    state = transaction.state
    paid = transaction.payment_date
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=transaction.reference_code,
        outcome=state.outcome,
        provider_status=state.value,
        provider_transaction_id=transaction.transaction_id,
        failure_code=state.failure_code,
        occurred_at=from_millis(paid) if paid is not None else None,
        currency=transaction.currency,
        amount_reported=transaction.value,
        amount_minor=reported_amount(transaction.value, transaction.currency),
        fee_reported=transaction.fee,
        fee_minor=reported_amount(transaction.fee, transaction.currency),
    )


def translate(body: bytes) -> ProviderEvent:
    """Parse an Efecty confirmation; its news is confirmed by a status query first.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown state.
    """
    try:
        confirmation = Confirmation.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    state = confirmation.state
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=confirmation.notification_id,
        reference=confirmation.reference_sale,
        outcome=state.outcome,
        provider_status=state.value,
        provider_transaction_id=confirmation.transaction_id,
        failure_code=state.failure_code,
        occurred_at=confirmation.payment_date,
        currency=confirmation.currency,
        amount_reported=confirmation.value,
        amount_minor=reported_amount(confirmation.value, confirmation.currency),
        needs_confirmation=True,
        fee_reported=confirmation.commision_pol,
        fee_minor=reported_amount(confirmation.commision_pol, confirmation.currency),
    )
