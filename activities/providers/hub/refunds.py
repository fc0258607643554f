"""The hub's refund adapter: give (part of) a collection back, find a refund by our id.

The hub dedupes refunds by ``external_refund_id``, our reference: the same id with the
same parameters answers the first refund, with others it is refused (409). Its business
refusals (``invalid_transaction``, ``amount_exceeded``, ``currency_mismatch``,
``refund_window_expired``) are final and keep the hub's code in the message.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote

import httpx

from payments_engine.activities.providers.base import (
    ProviderFault,
    ProviderSettings,
    Refused,
    fetch,
    send,
)
from payments_engine.activities.providers.hub.wire import (
    PROVIDER_NAME,
    HubRefund,
    HubRefundAck,
    HubRefundRequest,
    HubRefundState,
    HubRefundStatus,
)
from payments_engine.domain.errors import ProviderConflict, ProviderRejected
from payments_engine.domain.events import ProviderEvent, TransferOutcome, reported_amount
from payments_engine.domain.refund import SubmitRefundInput

REFUNDS_PATH = "/v1/refunds"
REFUND_FAILED = "refund_failed"

_OUTCOMES = {
    HubRefundStatus.PENDING: TransferOutcome.PENDING,
    HubRefundStatus.PROCESSED: TransferOutcome.SUCCEEDED,
    HubRefundStatus.FAILED: TransferOutcome.FAILED,
    HubRefundStatus.REVERSED: TransferOutcome.REVERSED,
}


def refund_report(refund: HubRefundState, event_id: str, occurred_at: datetime) -> ProviderEvent:
    """A report of the refund as the hub states it (status answer or callback)."""
    failed = refund.status is HubRefundStatus.FAILED
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=refund.external_refund_id,
        outcome=_OUTCOMES[refund.status],
        provider_status=refund.status.value,
        provider_transaction_id=refund.refund_id,
        failure_code=REFUND_FAILED if failed else None,
        message=refund.failure_reason,
        occurred_at=occurred_at,
        currency=refund.currency,
        amount_reported=refund.refund_amount,
        amount_minor=reported_amount(refund.refund_amount, refund.currency),
    )


def _hub_code(response: httpx.Response) -> str:
    """The hub's error code of an error answer, cut short (it comes from outside)."""
    try:
        code = json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code)[:40] if code else f"HTTP {response.status_code}"


def _own_reading(response: httpx.Response) -> ProviderFault | None:
    if response.status_code == 409:
        return Refused(ProviderConflict, "the hub holds this refund id with different parameters")
    if response.status_code in (400, 404, 422):
        return Refused(ProviderRejected, f"the hub refused the refund ({_hub_code(response)})")
    return None


class HubRefunds:
    """Refunds of collections through the hub, on its configured client."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; the hub needs nothing else from its settings."""
        self._http = http

    async def send_refund(self, order: SubmitRefundInput) -> ProviderEvent:
        """POST the refund once; the hub answers ``pending`` with its refund id."""
        body = HubRefundRequest(
            original_transaction_id=order.original_reference,
            refund_amount=order.amount.to_major(),
            currency=order.amount.currency,
            reason=order.reason,
            external_refund_id=order.reference,
        ).model_dump(mode="json")
        response = await send(
            self._http, REFUNDS_PATH, PROVIDER_NAME, json=body, own_reading=_own_reading
        )
        ack = HubRefundAck.model_validate_json(response.content)
        return ProviderEvent(
            provider=PROVIDER_NAME,
            event_id=f"ack:{order.reference}:{ack.status.value}",
            reference=order.reference,
            outcome=_OUTCOMES[ack.status],
            provider_status=ack.status.value,
            provider_transaction_id=ack.refund_id,
        )

    async def find_refund(self, reference: str) -> ProviderEvent | None:
        """GET the refund by our id (``external_refund_id``); None if the hub has none."""
        body = await fetch(
            self._http, f"{REFUNDS_PATH}?external_refund_id={quote(reference)}", PROVIDER_NAME
        )
        if body is None:
            return None
        refund = HubRefund.model_validate_json(body)
        return refund_report(
            refund, f"status:{refund.refund_id}:{refund.status.value}", refund.updated_at
        )
