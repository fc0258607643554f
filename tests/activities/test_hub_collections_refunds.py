"""The hub's collection and refund adapters against scripted answers (httpx.MockTransport).

What matters: the request bodies follow the hub's contract, answers become reports with
the amount, currency and fee the hub stated, and each HTTP answer becomes the right
fault (ambiguous, transient, conflict, refusal with the hub's code).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from payments_engine.activities.providers.base import (
    Ambiguous,
    ProviderNotSupported,
    Refused,
    Transient,
)
from payments_engine.activities.providers.hub.collections import HubCollections
from payments_engine.activities.providers.hub.refunds import HubRefunds
from payments_engine.activities.providers.hub.webhooks import translate
from payments_engine.activities.providers.registry import collection_spec, refund_spec
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.errors import ProviderConflict, ProviderRejected
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.money import Money
from payments_engine.domain.refund import SubmitRefundInput

Handler = Callable[[httpx.Request], httpx.Response]
SENT: list[httpx.Request] = []


def client(handler: Handler) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        SENT.append(request)
        return handler(request)

    SENT.clear()
    return httpx.AsyncClient(transport=httpx.MockTransport(record), base_url="http://hub")


def collection_body(status: str = "MR101", fee: str | None = "22.50") -> dict[str, Any]:
    return {
        "thirdPartyTransId": "collection-co-1",
        "transactionId": "HUBC-1",
        "status": status,
        "currency": "KES",
        "amount": "1500.00",
        "fee": fee,
        "createdAt": "2026-11-24T10:00:00Z",
        "updatedAt": "2026-11-24T10:00:05Z",
        "expiresAt": "2026-11-24T10:05:00Z",
    }


def refund_body(status: str = "processed", external: str = "refund-rf-1") -> dict[str, Any]:
    return {
        "refund_id": "HUBR-1",
        "external_refund_id": external,
        "original_transaction_id": "collection-co-1",
        "status": status,
        "refund_amount": "400.00",
        "currency": "KES",
        "reason": "damaged",
        "failure_reason": "payer wallet closed" if status == "failed" else None,
        "created_at": "2026-11-24T11:00:00Z",
        "updated_at": "2026-11-24T11:00:03Z",
    }


ORDER = RequestCollectionInput(
    reference="collection-co-1",
    provider="hub",
    msisdn="+254700123456",
    country="KE",
    amount=Money(amount=150_000, currency="KES"),
    description="order 42",
)
REFUND = SubmitRefundInput(
    reference="refund-rf-1",
    provider="hub",
    original_reference="collection-co-1",
    amount=Money(amount=40_000, currency="KES"),
    reason="damaged",
)


# -- collections -------------------------------------------------------------------------


async def test_request_collection_sends_the_contract_and_reads_the_ack() -> None:
    ack = {"code": "100", "thirdPartyTransId": ORDER.reference, "transactionId": "HUBC-1",
           "status": "MR103"}  # fmt: skip
    async with client(lambda r: httpx.Response(200, json=ack)) as http:
        report = await HubCollections(http).request_collection(ORDER)

    assert SENT[0].url.path == "/v1/collections"
    assert json.loads(SENT[0].content) == {
        "thirdPartyTransId": "collection-co-1",
        "msisdn": "+254700123456",
        "country": "KE",
        "currency": "KES",
        "amount": "1500.00",
        "description": "order 42",
        "approvalWindowSeconds": 300,
    }
    assert (report.outcome, report.provider_status) == (TransferOutcome.PENDING, "MR103")
    assert report.provider_transaction_id == "HUBC-1"


async def test_rejected_collection_is_a_failed_report() -> None:
    ack = {"code": "101", "thirdPartyTransId": ORDER.reference, "status": "ER101"}
    async with client(lambda r: httpx.Response(200, json=ack)) as http:
        report = await HubCollections(http).request_collection(ORDER)
    assert (report.outcome, report.failure_code) == (TransferOutcome.FAILED, "invalid_msisdn")


@pytest.mark.parametrize(
    ("answer", "fault"),
    [
        (httpx.Response(409, json={"code": "101"}), Refused),
        (httpx.Response(503), Ambiguous),
    ],
)
async def test_request_collection_faults(answer: httpx.Response, fault: type[Exception]) -> None:
    async with client(lambda r: answer) as http:
        with pytest.raises(fault):
            await HubCollections(http).request_collection(ORDER)


async def test_find_collection_reports_amount_and_fee() -> None:
    async with client(lambda r: httpx.Response(200, json=collection_body())) as http:
        report = await HubCollections(http).find_collection("collection-co-1")

    assert SENT[0].url.path == "/v1/collections/collection-co-1"
    assert report is not None
    assert report.outcome is TransferOutcome.SUCCEEDED
    assert (report.amount_minor, report.fee_minor) == (150_000, 2_250)
    assert report.mismatch("collection-co-1", Money(amount=150_000, currency="KES")) is None


@pytest.mark.parametrize(
    ("status", "code"),
    [("ER105", "payer_declined"), ("ER106", "expired"), ("ER107", "cancelled")],
)
async def test_collection_failures_have_stable_codes(status: str, code: str) -> None:
    body = collection_body(status, fee=None)
    async with client(lambda r: httpx.Response(200, json=body)) as http:
        report = await HubCollections(http).find_collection("collection-co-1")
    assert report is not None
    assert (report.outcome, report.failure_code) == (TransferOutcome.FAILED, code)


async def test_unknown_collection_is_none() -> None:
    async with client(lambda r: httpx.Response(404, json={"code": "404"})) as http:
        assert await HubCollections(http).find_collection("collection-nope") is None
        assert await HubCollections(http).cancel_collection("collection-nope") is None


async def test_cancel_collection() -> None:
    body = collection_body("ER107", fee=None)
    async with client(lambda r: httpx.Response(200, json=body)) as http:
        report = await HubCollections(http).cancel_collection("collection-co-1")
    assert SENT[0].method == "POST"
    assert SENT[0].url.path == "/v1/collections/collection-co-1/cancel"
    assert report is not None and report.failure_code == "cancelled"


async def test_cancel_refused_once_paid_is_a_conflict() -> None:
    async with client(lambda r: httpx.Response(409, json={"code": "101"})) as http:
        with pytest.raises(Refused) as refused:
            await HubCollections(http).cancel_collection("collection-co-1")
    assert refused.value.error is ProviderConflict


# -- refunds -------------------------------------------------------------------------------


async def test_send_refund_sends_the_contract_and_keeps_the_refund_id() -> None:
    ack = {"status": "pending", "refund_id": "HUBR-1", "external_refund_id": "refund-rf-1"}
    async with client(lambda r: httpx.Response(200, json=ack)) as http:
        report = await HubRefunds(http).send_refund(REFUND)

    assert SENT[0].url.path == "/v1/refunds"
    assert json.loads(SENT[0].content) == {
        "original_transaction_id": "collection-co-1",
        "refund_amount": "400.00",
        "currency": "KES",
        "reason": "damaged",
        "external_refund_id": "refund-rf-1",
    }
    assert (report.outcome, report.provider_transaction_id) == (TransferOutcome.PENDING, "HUBR-1")


@pytest.mark.parametrize(
    "code", ["amount_exceeded", "invalid_transaction", "refund_window_expired"]
)
async def test_refund_refusals_keep_the_hub_code(code: str) -> None:
    async with client(lambda r: httpx.Response(422, json={"code": code, "message": "no"})) as http:
        with pytest.raises(Refused) as refused:
            await HubRefunds(http).send_refund(REFUND)
    assert refused.value.error is ProviderRejected
    assert code in str(refused.value)


async def test_refund_id_reused_with_other_parameters_is_a_conflict() -> None:
    answer = httpx.Response(409, json={"code": "duplicate_external_refund_id"})
    async with client(lambda r: answer) as http:
        with pytest.raises(Refused) as refused:
            await HubRefunds(http).send_refund(REFUND)
    assert refused.value.error is ProviderConflict


async def test_lost_refund_answer_is_ambiguous() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("lost", request=request)

    async with client(drop) as http:
        with pytest.raises(Ambiguous):
            await HubRefunds(http).send_refund(REFUND)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("pending", TransferOutcome.PENDING),
        ("processed", TransferOutcome.SUCCEEDED),
        ("failed", TransferOutcome.FAILED),
        ("reversed", TransferOutcome.REVERSED),
    ],
)
async def test_find_refund_by_our_id(status: str, outcome: TransferOutcome) -> None:
    async with client(lambda r: httpx.Response(200, json=refund_body(status))) as http:
        report = await HubRefunds(http).find_refund("refund-rf-1")

    assert SENT[0].url.path == "/v1/refunds"
    assert SENT[0].url.params["external_refund_id"] == "refund-rf-1"
    assert report is not None
    assert (report.outcome, report.reference, report.amount_minor) == (
        outcome,
        "refund-rf-1",
        40_000,
    )
    assert report.outcome.is_final is (outcome is not TransferOutcome.PENDING)


async def test_refund_status_query_faults() -> None:
    async with client(lambda r: httpx.Response(404)) as http:
        assert await HubRefunds(http).find_refund("refund-nope") is None
    async with client(lambda r: httpx.Response(503)) as http:
        with pytest.raises(Transient):
            await HubRefunds(http).find_refund("refund-rf-1")


# -- webhooks and the registry -------------------------------------------------------------


def test_refund_callback_is_translated_by_its_type() -> None:
    body = {
        **refund_body("processed"),
        "eventId": "evt-9",
        "type": "refundStatus",
        "timestamp": "2026-11-24T11:00:04Z",
    }
    event = translate(json.dumps(body).encode())
    assert (event.reference, event.outcome, event.event_id) == (
        "refund-rf-1",
        TransferOutcome.SUCCEEDED,
        "evt-9",
    )
    assert event.needs_confirmation is True


def test_collection_callback_carries_its_fee() -> None:
    body = {
        "eventId": "evt-3",
        "type": "transactionStatus",
        "transactionType": "collection",
        "timestamp": "2026-11-24T10:00:06Z",
        "thirdPartyTransId": "collection-co-1",
        "transactionId": "HUBC-1",
        "status": "MR101",
        "currency": "KES",
        "sendAmount": "1500.00",
        "receiveAmount": "1500.00",
        "fee": "22.50",
    }
    event = translate(json.dumps(body).encode())
    assert (event.outcome, event.fee_minor, event.amount_minor) == (
        TransferOutcome.SUCCEEDED,
        2_250,
        150_000,
    )


def test_refund_callback_missing_fields_names_them_not_their_values() -> None:
    body = {"eventId": "evt-1", "type": "refundStatus", "external_refund_id": "refund-rf-1"}
    with pytest.raises(ValueError) as bad:
        translate(json.dumps(body).encode())
    assert "refund_id" in str(bad.value) and "refund-rf-1" not in str(bad.value)


def test_a_body_mentioning_refunds_that_is_not_json_is_malformed() -> None:
    with pytest.raises(ValueError, match="json_invalid"):
        translate(b'{"type": "refundStatus", ')


def test_providers_without_collections_or_refunds_say_so() -> None:
    assert collection_spec("hub").collections is HubCollections
    assert refund_spec("hub").refunds is HubRefunds
    with pytest.raises(ProviderNotSupported, match="unknown provider 'mpesa'"):
        collection_spec("mpesa")
    with pytest.raises(ProviderNotSupported, match="'momo' does not support refunds"):
        refund_spec("momo")
