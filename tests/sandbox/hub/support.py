"""Helpers of the hub's collection and refund tests: requests, lookups and webhook bodies."""

from __future__ import annotations

import time
from typing import Any

import httpx

from payments_engine.sandbox.hub.wire import HubCallback, HubRefundCallback
from tests.sandbox.support import Sandbox, WebhookReceiver, body_of, ok_json, wait_until

COLLECTIONS = "/hub/v1/collections"
REFUNDS = "/hub/v1/refunds"
KES_FLOAT = "10000000000.00"
PAYER = "+254712345678"


async def collect(
    sandbox: Sandbox,
    reference: str,
    msisdn: str = PAYER,
    amount: str = "100.00",
    currency: str = "KES",
    country: str = "KE",
    **extra: Any,
) -> httpx.Response:
    """POST a collection; ``extra`` goes into the body (``approvalWindowSeconds`` ...)."""
    body = {
        "thirdPartyTransId": reference,
        "msisdn": msisdn,
        "country": country,
        "currency": currency,
        "amount": amount,
        **extra,
    }
    return await sandbox.client.post(COLLECTIONS, json=body)


async def collection_of(sandbox: Sandbox, reference: str) -> dict[str, Any]:
    """GET a collection, which must exist."""
    body: dict[str, Any] = await ok_json(sandbox.client, f"{COLLECTIONS}/{reference}")
    return body


async def wait_for_collection(
    sandbox: Sandbox, reference: str, status: str, timeout: float = 3.0
) -> dict[str, Any]:
    """Poll until the collection has ``status``; return it."""

    async def reached() -> bool:
        return (await collection_of(sandbox, reference))["status"] == status

    await wait_until(reached, timeout, f"{reference} reaching {status}")
    return await collection_of(sandbox, reference)


async def paid_collection(
    sandbox: Sandbox, reference: str, amount: str = "100.00", currency: str = "KES"
) -> dict[str, Any]:
    """A collection the payer has paid (MR101)."""
    country = {"KES": "KE", "UGX": "UG"}.get(currency, "KE")
    response = await collect(sandbox, reference, amount=amount, currency=currency, country=country)
    assert response.status_code == 200, response.text
    return await wait_for_collection(sandbox, reference, "MR101")


async def cancel(sandbox: Sandbox, reference: str) -> httpx.Response:
    """POST a collection's cancel."""
    return await sandbox.client.post(f"{COLLECTIONS}/{reference}/cancel")


async def refund(
    sandbox: Sandbox,
    external_refund_id: str,
    original: str,
    amount: str = "10.00",
    currency: str = "KES",
    reason: str = "customer asked",
) -> httpx.Response:
    """POST a refund."""
    body = {
        "original_transaction_id": original,
        "refund_amount": amount,
        "currency": currency,
        "reason": reason,
        "external_refund_id": external_refund_id,
    }
    return await sandbox.client.post(REFUNDS, json=body)


async def refund_of(sandbox: Sandbox, refund_id: str) -> dict[str, Any]:
    """GET a refund by the hub's id, which must exist."""
    body: dict[str, Any] = await ok_json(sandbox.client, f"{REFUNDS}/{refund_id}")
    return body


async def wait_for_refund(
    sandbox: Sandbox, refund_id: str, status: str, timeout: float = 3.0
) -> dict[str, Any]:
    """Poll until the refund has ``status``; return it."""

    async def reached() -> bool:
        return (await refund_of(sandbox, refund_id))["status"] == status

    await wait_until(reached, timeout, f"{refund_id} reaching {status}")
    return await refund_of(sandbox, refund_id)


async def admin_collections(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The admin list of collections."""
    body: list[dict[str, Any]] = await ok_json(sandbox.client, "/admin/collections")
    return body


async def admin_refunds(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The admin list of refunds."""
    body: list[dict[str, Any]] = await ok_json(sandbox.client, "/admin/refunds")
    return body


def accepted_of_type(receiver: WebhookReceiver, kind: str) -> list[httpx.Request]:
    """The accepted webhook requests whose body's ``type`` is ``kind``, in arrival order."""
    return [request for request in receiver.accepted if body_of(request)["type"] == kind]


def collection_callbacks(receiver: WebhookReceiver) -> list[HubCallback]:
    """The accepted ``transactionStatus`` callbacks of collections, parsed."""
    return [
        HubCallback.model_validate_json(request.content)
        for request in accepted_of_type(receiver, "transactionStatus")
        if body_of(request).get("transactionType") == "collection"
    ]


def refund_callbacks(receiver: WebhookReceiver) -> list[HubRefundCallback]:
    """The accepted ``refundStatus`` callbacks, parsed."""
    return [
        HubRefundCallback.model_validate_json(request.content)
        for request in accepted_of_type(receiver, "refundStatus")
    ]


class ShiftedClock:
    """Wall time plus an offset the test moves: the store's scheduling clock, jumped ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def shift_clock(sandbox: Sandbox) -> ShiftedClock:
    """Give the running hub's store a clock the test can move forward."""
    clock = ShiftedClock()
    sandbox.state.store._clock = clock
    return clock
