"""The bank's webhooks (``transfer.settled``, ``transfer.returned``) as :class:`ProviderEvent`."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from payments_engine.activities.providers.bank.wire import (
    PROVIDER_NAME,
    BankWebhook,
    TransferState,
)
from payments_engine.activities.providers.base import malformed
from payments_engine.domain.events import ProviderEvent, reported_amount

CONFIRM_WEBHOOKS = True
"""The bank's webhook policy: a final status it announces is applied only once its
status API confirms it (a signed webhook proves who sent it, not that it is true)."""


def report(transfer: TransferState, event_id: str, occurred_at: datetime | None) -> ProviderEvent:
    """A report of the transfer as the bank states it; its reference is our ``external_id``."""
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=transfer.external_id,
        outcome=transfer.status.outcome,
        provider_status=transfer.status.value,
        provider_transaction_id=transfer.id,
        failure_code=transfer.failure_code,
        message=transfer.message,
        occurred_at=occurred_at,
        currency=transfer.currency,
        amount_reported=transfer.amount,
        amount_minor=reported_amount(transfer.amount, transfer.currency),
    )


def translate(body: bytes) -> ProviderEvent:
    """Parse a bank webhook.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field, an unknown status or type.
    """
    try:
        webhook = BankWebhook.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    event = report(webhook, webhook.event_id, webhook.created_at)
    return event.model_copy(update={"needs_confirmation": CONFIRM_WEBHOOKS})
