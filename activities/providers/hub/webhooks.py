"""The hub's callbacks (``transactionStatus``, ``refundStatus``), as :class:`ProviderEvent`."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import ValidationError

from payments_engine.activities.providers.base import MalformedEvent, malformed
from payments_engine.activities.providers.hub.refunds import refund_report
from payments_engine.activities.providers.hub.wire import (
    PROVIDER_NAME,
    HubCallback,
    HubRefundCallback,
    TransferState,
)
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


REFUND_CALLBACK = "refundStatus"


def translate(body: bytes) -> ProviderEvent:
    """Parse a hub callback by its ``type``.

    A ``transactionStatus`` (payouts and collections) names our ``thirdPartyTransId``; a
    ``refundStatus`` names our ``external_refund_id``. Either is the reference.

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown status code.
    """
    try:
        if REFUND_CALLBACK.encode() in body:
            # Only a body that may be a refund's pays for reading its type first.
            data = json.loads(body)
            if isinstance(data, dict) and data.get("type") == REFUND_CALLBACK:
                refund = HubRefundCallback.model_validate(data)
                event = refund_report(refund, refund.event_id, refund.timestamp)
                return event.model_copy(update={"needs_confirmation": CONFIRM_WEBHOOKS})
        callback = HubCallback.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError; the message quotes the body
        raise MalformedEvent(f"invalid {PROVIDER_NAME} webhook: <body> (json_invalid)") from None
    event = report(callback, callback.event_id, callback.timestamp)
    update: dict[str, object] = {"needs_confirmation": CONFIRM_WEBHOOKS}
    if callback.fee is not None:
        update["fee_reported"] = callback.fee
        update["fee_minor"] = reported_amount(callback.fee, callback.currency)
    return event.model_copy(update=update)
