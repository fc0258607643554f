"""MoMo's collection adapter: request to pay, and its status; MoMo cannot cancel one.

The ``X-Reference-Id`` is the UUIDv5 of our reference, as for transfers, so a retried
request is MoMo's 409 duplicate and never prompts the payer twice. The payer's window is
MoMo's own (5 minutes): a request nobody answers ends ``FAILED`` with ``EXPIRED``.
"""

from __future__ import annotations

import httpx

from payments_engine.activities.providers.base import (
    ProviderSettings,
    Refused,
    fetch,
    send,
)
from payments_engine.activities.providers.momo.adapter import own_reading, reference_id
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.momo.webhooks import report
from payments_engine.activities.providers.momo.wire import (
    PROVIDER_NAME,
    REFERENCE_HEADER,
    REQUEST_TO_PAY_PATH,
    MomoStatus,
    Party,
    RequestToPay,
    Transfer,
)
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.events import ProviderEvent, TransferOutcome


class MomoCollections:
    """Requests to pay through MoMo's collection API, on its configured client."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client and the callback URL, if one is set."""
        self._http = http
        self._callback_url = settings.callback_url if isinstance(settings, MomoSettings) else None

    async def request_collection(self, order: RequestCollectionInput) -> ProviderEvent:
        """POST the request to pay once; 202 (no body) means the payer is being asked."""
        body = RequestToPay(
            amount=order.amount.to_major(),
            currency=order.amount.currency,
            external_id=order.reference,
            payer=Party(party_id_type="MSISDN", party_id=order.msisdn.lstrip("+")),
            payer_message=order.description or "",
            payee_note=order.description or "",
        ).model_dump(mode="json", by_alias=True)
        headers = {REFERENCE_HEADER: reference_id(order.reference)}
        if self._callback_url:
            headers["X-Callback-Url"] = self._callback_url
        response = await send(
            self._http,
            REQUEST_TO_PAY_PATH,
            PROVIDER_NAME,
            json=body,
            headers=headers,
            own_reading=own_reading,
        )
        return ProviderEvent(
            provider=PROVIDER_NAME,
            event_id=f"ack:{order.reference}:{response.status_code}",
            reference=order.reference,
            outcome=TransferOutcome.PENDING,
            provider_status=MomoStatus.PENDING.value,
        )

    async def find_collection(self, reference: str) -> ProviderEvent | None:
        """GET the request to pay by its ``X-Reference-Id``; 404: MoMo never saw it."""
        path = f"{REQUEST_TO_PAY_PATH}/{reference_id(reference)}"
        body = await fetch(self._http, path, PROVIDER_NAME)
        if body is None:
            return None
        request = Transfer.model_validate_json(body)
        return report(request, f"status:{reference}:{request.status.value}")

    async def cancel_collection(self, reference: str) -> ProviderEvent | None:
        """MoMo has no cancel: the request ends by the payer's answer or its own expiry.

        Raises:
            Refused: always, with ProviderConflict (it cannot be cancelled), so the
                workflow waits for MoMo's own final answer.
        """
        raise Refused(ProviderConflict, "MoMo cannot cancel a request to pay; it expires")
