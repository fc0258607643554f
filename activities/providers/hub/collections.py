"""The hub's collection adapter: ask a payer to pay (USSD push), find it, cancel it.

Like payouts, the hub dedupes collections by ``thirdPartyTransId``, our reference, so
asking twice never prompts the payer twice; a 409 means it holds that reference with
other parameters. A cancel is refused (409) once the collection is paid or the payer's
approval is under way.
"""

from __future__ import annotations

import httpx

from payments_engine.activities.providers.base import (
    Ambiguous,
    ProviderFault,
    ProviderSettings,
    Refused,
    fetch,
    read_status,
    send,
)
from payments_engine.activities.providers.hub.adapter import report_from_ack
from payments_engine.activities.providers.hub.wire import (
    PROVIDER_NAME,
    HubAck,
    HubCollection,
    HubCollectionRequest,
)
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.events import ProviderEvent, reported_amount

COLLECTIONS_PATH = "/v1/collections"


def collection_report(collection: HubCollection, event_id: str) -> ProviderEvent:
    """A report of the collection as the hub's status (or cancel) answer states it."""
    status = collection.status
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=collection.third_party_trans_id,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id=collection.transaction_id,
        failure_code=status.failure_code,
        message=collection.message,
        occurred_at=collection.updated_at,
        currency=collection.currency,
        amount_reported=collection.amount,
        amount_minor=reported_amount(collection.amount, collection.currency),
        fee_reported=collection.fee,
        fee_minor=reported_amount(collection.fee, collection.currency),
    )


def _own_reading(response: httpx.Response) -> ProviderFault | None:
    if response.status_code == 409:
        return Refused(ProviderConflict, "the hub holds this reference with different parameters")
    return None


class HubCollections:
    """Collections through the hub, on a client carrying its base URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; the hub needs nothing else from its settings."""
        self._http = http

    async def request_collection(self, order: RequestCollectionInput) -> ProviderEvent:
        """POST the request to pay once; the ack says pending (100) or rejected (101)."""
        body = HubCollectionRequest(
            third_party_trans_id=order.reference,
            msisdn=order.msisdn,
            country=order.country,
            currency=order.amount.currency,
            amount=order.amount.to_major(),
            description=order.description,
            approval_window_seconds=order.approval_window_seconds,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        response = await send(
            self._http, COLLECTIONS_PATH, PROVIDER_NAME, json=body, own_reading=_own_reading
        )
        return report_from_ack(HubAck.model_validate_json(response.content), order.reference)

    async def find_collection(self, reference: str) -> ProviderEvent | None:
        """GET the collection by our reference; 404 means the hub never saw it."""
        body = await fetch(self._http, f"{COLLECTIONS_PATH}/{reference}", PROVIDER_NAME)
        if body is None:
            return None
        collection = HubCollection.model_validate_json(body)
        return collection_report(
            collection, f"status:{collection.transaction_id}:{collection.status.value}"
        )

    async def cancel_collection(self, reference: str) -> ProviderEvent | None:
        """Withdraw the request to pay; None when the hub never saw the reference.

        Raises:
            ProviderFault: Refused(ProviderConflict) when it can no longer be cancelled;
                Ambiguous when the answer was lost (ask for the status).
        """
        try:
            response = await self._http.post(f"{COLLECTIONS_PATH}/{reference}/cancel")
        except httpx.TransportError as exc:
            raise Ambiguous(type(exc).__name__) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 409:
            raise Refused(ProviderConflict, "the hub can no longer cancel this collection")
        fault = read_status(response.status_code, PROVIDER_NAME, submitting=True)
        if fault is not None:
            raise fault
        collection = HubCollection.model_validate_json(response.content)
        return collection_report(
            collection, f"cancel:{collection.transaction_id}:{collection.status.value}"
        )
