"""The hub's ``transactionStatus`` callback, translated into a :class:`ProviderEvent`."""

from __future__ import annotations

from pydantic import ValidationError

from payments_engine.activities.providers.base import malformed
from payments_engine.activities.providers.hub.wire import PROVIDER_NAME, HubCallback
from payments_engine.domain.events import ProviderEvent, reported_amount

CONFIRM_WEBHOOKS = True
"""The hub's webhook policy: a final status it announces by webhook is applied only once
its status API confirms it (a signed webhook proves who sent it, not that it is true)."""


def translate(body: bytes) -> ProviderEvent:
    """Parse a hub callback; its reference is our ``thirdPartyTransId``.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown status code.
    """
    try:
        callback = HubCallback.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    status = callback.status
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=callback.event_id,
        reference=callback.third_party_trans_id,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id=callback.transaction_id,
        failure_code=status.failure_code,
        message=callback.message,
        occurred_at=callback.timestamp,
        currency=callback.currency,
        amount_reported=callback.send_amount,
        amount_minor=reported_amount(callback.send_amount, callback.currency),
        needs_confirmation=CONFIRM_WEBHOOKS,
    )
