"""The hub's ``transactionStatus`` callback, translated into a :class:`ProviderEvent`."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from payments_engine.activities.providers.base import malformed
from payments_engine.activities.providers.hub.wire import PROVIDER_NAME, HubCallback, TransferState
from payments_engine.domain.events import ProviderEvent, reported_amount

CONFIRM_WEBHOOKS = True
"""The hub's webhook policy: a final status it announces by webhook is applied only once
its status API confirms it (a signed webhook proves who sent it, not that it is true)."""


def report(transfer: TransferState, event_id: str, occurred_at: datetime) -> ProviderEvent:
    """A report of the transfer as the hub states it (status answer or callback)."""
    status = transfer.status
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=transfer.third_party_trans_id,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id=transfer.transaction_id,
        failure_code=status.failure_code,
        message=transfer.message,
        occurred_at=occurred_at,
        currency=transfer.currency,
        amount_reported=transfer.send_amount,
        amount_minor=reported_amount(transfer.send_amount, transfer.currency),
    )


def translate(body: bytes) -> ProviderEvent:
    """Parse a hub callback; its reference is our ``thirdPartyTransId``.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown status code.
    """
    try:
        callback = HubCallback.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    event = report(callback, callback.event_id, callback.timestamp)
    return event.model_copy(update={"needs_confirmation": CONFIRM_WEBHOOKS})
