"""MoMo's request to pay through its adapter, against scripted answers (httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import pytest

from payments_engine.activities.providers.base import AlreadySubmitted, Refused
from payments_engine.activities.providers.momo.adapter import reference_id
from payments_engine.activities.providers.momo.collections import MomoCollections
from payments_engine.activities.providers.momo.webhooks import translate
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money

REFERENCE = "collection-co-1"
ORDER = RequestCollectionInput(
    reference=REFERENCE,
    provider="momo",
    msisdn="+256772123456",
    country="UG",
    amount=Money(amount=15_000, currency="UGX"),
    description="order 42",
)


def status_body(status: str, reason: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {
        "amount": "15000",
        "currency": "UGX",
        "externalId": REFERENCE,
        "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
        "status": status,
    }
    if status == "SUCCESSFUL":
        body["financialTransactionId"] = "FT-9"
    if reason:
        body["reason"] = reason
    return body


def client(answer: httpx.Response, sent: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://momo")


async def test_request_to_pay_sends_momos_shape_under_a_stable_reference_id() -> None:
    sent: list[httpx.Request] = []
    async with client(httpx.Response(202), sent) as http:
        report = await MomoCollections(http).request_collection(ORDER)
        await MomoCollections(http).request_collection(ORDER)

    assert sent[0].url.path == "/collection/v1_0/requesttopay"
    assert json.loads(sent[0].content) == {
        "amount": "15000",
        "currency": "UGX",
        "externalId": REFERENCE,
        "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
        "payerMessage": "order 42",
        "payeeNote": "order 42",
    }
    # Every attempt carries the same X-Reference-Id: MoMo's 409 catches a repeat.
    ids = {r.headers["X-Reference-Id"] for r in sent}
    assert ids == {reference_id(REFERENCE)}
    assert report.outcome is TransferOutcome.PENDING


async def test_a_repeated_request_is_momos_duplicate() -> None:
    duplicate = httpx.Response(409, json={"code": "RESOURCE_ALREADY_EXIST", "message": "dup"})
    async with client(duplicate, []) as http:
        with pytest.raises(AlreadySubmitted):
            await MomoCollections(http).request_collection(ORDER)


@pytest.mark.parametrize(
    ("status", "reason", "outcome", "code"),
    [
        ("SUCCESSFUL", None, TransferOutcome.SUCCEEDED, None),
        ("FAILED", "APPROVAL_REJECTED", TransferOutcome.FAILED, "payer_declined"),
        ("FAILED", "EXPIRED", TransferOutcome.FAILED, "expired"),
        ("PENDING", None, TransferOutcome.PENDING, None),
    ],
)
async def test_status_of_a_request_to_pay(
    status: str, reason: str | None, outcome: TransferOutcome, code: str | None
) -> None:
    sent: list[httpx.Request] = []
    async with client(httpx.Response(200, json=status_body(status, reason)), sent) as http:
        report = await MomoCollections(http).find_collection(REFERENCE)

    assert sent[0].url.path == f"/collection/v1_0/requesttopay/{reference_id(REFERENCE)}"
    assert report is not None
    assert (report.outcome, report.failure_code, report.amount_minor) == (outcome, code, 15_000)
    assert report.fee_minor is None  # MoMo states no fee: the configured rate applies


async def test_momo_cannot_cancel_so_the_workflow_waits_for_its_expiry() -> None:
    sent: list[httpx.Request] = []
    async with client(httpx.Response(500), sent) as http:
        with pytest.raises(Refused) as refused:
            await MomoCollections(http).cancel_collection(REFERENCE)
    assert refused.value.error is ProviderConflict
    assert sent == []


def test_a_request_to_pay_callback_is_our_collections_event() -> None:
    event = translate(json.dumps(status_body("SUCCESSFUL")).encode())
    assert (event.reference, event.outcome) == (REFERENCE, TransferOutcome.SUCCEEDED)
