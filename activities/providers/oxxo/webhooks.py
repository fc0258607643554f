"""OXXO's reports: PaymentIntents and detail-free events, as :class:`ProviderEvent` s."""

from __future__ import annotations

from pydantic import ValidationError

from payments_engine.activities.providers.base import malformed
from payments_engine.activities.providers.oxxo.wire import PROVIDER_NAME, Event, PaymentIntent
from payments_engine.domain.events import ProviderEvent, TransferOutcome, reported_amount


def report(intent: PaymentIntent, event_id: str) -> ProviderEvent:
    """Where a voucher stands, as OXXO's API states it.

    ``occurred_at`` is when the payer paid at the shop (succeeded only): it decides
    whether the payment came before the voucher's expiry.
    """
    charge = intent.latest_charge if intent.status.outcome is TransferOutcome.SUCCEEDED else None
    fee = charge.fee if charge is not None else None
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=intent.reference,
        outcome=intent.status.outcome,
        provider_status=intent.status.value,
        provider_transaction_id=intent.id,
        failure_code=intent.failure_code,
        occurred_at=charge.paid_at if charge is not None else None,
        currency=intent.currency,
        amount_reported=intent.amount,
        amount_minor=reported_amount(intent.amount, intent.currency),
        fee_reported=fee,
        fee_minor=reported_amount(fee, intent.currency),
    )


def translate(body: bytes) -> ProviderEvent:
    """Parse an OXXO event: it only says that our voucher changed, so ask OXXO.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, or a missing id or reference.
    """
    try:
        event = Event.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event.id,
        reference=event.data.reference,
        outcome=TransferOutcome.CHANGED,
        provider_status=event.type[:100],
        needs_confirmation=True,
    )
