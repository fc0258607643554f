"""The wallet hub's payout adapter: its HTTP dialect, nothing of the exactly-once protocol.

The hub dedupes by ``thirdPartyTransId``, our reference, so a resubmission can never
create a second transfer; a 409 means it holds that reference with other parameters.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from payments_engine.activities.providers.base import (
    ProviderFault,
    ProviderSettings,
    Refused,
    fetch,
    send,
)
from payments_engine.activities.providers.hub.webhooks import report
from payments_engine.activities.providers.hub.wire import (
    ACK_ACCEPTED,
    PROVIDER_NAME,
    HubAck,
    HubPayoutRequest,
    HubStatus,
    HubTransfer,
)
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.payout import SubmitPayoutInput

PAYOUTS_PATH = "/v1/payouts"


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The hub wants its API key as a bearer token."""
    assert settings.api_key is not None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def report_from_ack(ack: HubAck, reference: str) -> ProviderEvent:
    """A report of a submission (payout or collection) as the hub's ack states it."""
    accepted = ack.code == ACK_ACCEPTED
    status = ack.status or (HubStatus.QUEUED if accepted else None)
    failure_code: str | None
    if status is None:
        # A rejection without a status code is still final: the hub said 101.
        outcome, provider_status, failure_code = TransferOutcome.FAILED, "101", "rejected"
    elif accepted:
        outcome, provider_status, failure_code = status.outcome, status.value, status.failure_code
    else:
        outcome, provider_status = TransferOutcome.FAILED, status.value
        failure_code = status.failure_code or "rejected"
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=f"ack:{reference}:{provider_status}",
        reference=reference,
        outcome=outcome,
        provider_status=provider_status,
        provider_transaction_id=ack.transaction_id,
        failure_code=failure_code,
        message=ack.message,
        occurred_at=datetime.now(UTC),
    )


def _own_reading(response: httpx.Response) -> ProviderFault | None:
    # The hub dedupes a repeat of a reference silently; its 409 is another payout.
    if response.status_code == 409:
        return Refused(ProviderConflict, "the hub holds this reference with different parameters")
    return None


class HubPayouts:
    """Payouts through the hub, on a client carrying its base URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; the hub needs nothing else from its settings."""
        self._http = http

    async def send_payout(self, order: SubmitPayoutInput) -> ProviderEvent:
        """POST the payout once; the ack says accepted (100) or rejected (101)."""
        body = HubPayoutRequest(
            third_party_trans_id=order.reference,
            msisdn=order.msisdn,
            country=order.country,
            currency=order.amount.currency,
            amount=order.amount.to_major(),
            description=order.description,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        response = await send(
            self._http, PAYOUTS_PATH, PROVIDER_NAME, json=body, own_reading=_own_reading
        )
        return report_from_ack(HubAck.model_validate_json(response.content), order.reference)

    async def find_payout(self, reference: str) -> ProviderEvent | None:
        """GET the transfer by our reference; 404 means the hub never saw it."""
        body = await fetch(self._http, f"{PAYOUTS_PATH}/{reference}", PROVIDER_NAME)
        if body is None:
            return None
        transfer = HubTransfer.model_validate_json(body)
        event_id = f"status:{transfer.transaction_id}:{transfer.status.value}"
        return report(transfer, event_id, transfer.updated_at)
