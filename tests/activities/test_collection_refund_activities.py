"""Collection and refund activities: the exactly-once protocol and the ledger's refusals.

The provider side runs the hub adapters over a scripted hub (httpx.MockTransport) that
records every request, so the tests can assert that an ambiguous submission is resolved
by a status query and never resubmitted blindly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.collections import CollectionActivities
from payments_engine.activities.ledger import LedgerActivities
from payments_engine.activities.providers.hub.collections import HubCollections
from payments_engine.activities.providers.hub.refunds import HubRefunds
from payments_engine.activities.refunds import RefundActivities
from payments_engine.db.ledger import Ledger
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.collection import RequestCollectionInput
from payments_engine.domain.events import TransferOutcome
from payments_engine.domain.ledger import (
    CollectionLedgerInput,
    FundMerchantInput,
    RefundLedgerInput,
    merchant_available,
)
from payments_engine.domain.money import Money
from payments_engine.domain.payout import TransferStatusInput
from payments_engine.domain.refund import SubmitRefundInput

COLLECTION = "collection-co-1"
REFUND = "refund-rf-1"


@dataclass
class ScriptedHub:
    """Answers POSTs with ``post_reply`` (or raises ``post_raises``); GETs from ``known``."""

    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    post_reply: httpx.Response | None = None
    post_raises: type[httpx.TransportError] | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    @property
    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            if self.post_raises is not None:
                raise self.post_raises("lost", request=request)
            assert self.post_reply is not None
            return self.post_reply
        key = request.url.params.get("external_refund_id") or request.url.path.rsplit("/")[-1]
        body = self.known.get(key)
        return httpx.Response(200, json=body) if body else httpx.Response(404, json={})


@pytest.fixture
async def hub() -> AsyncIterator[tuple[ScriptedHub, httpx.AsyncClient]]:
    scripted = ScriptedHub()
    transport = httpx.MockTransport(scripted.handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield scripted, http


def env(attempt: int = 1) -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, attempt=attempt)
    return environment


def collection_state(status: str) -> dict[str, Any]:
    return {
        "thirdPartyTransId": COLLECTION,
        "transactionId": "HUBC-1",
        "status": status,
        "currency": "KES",
        "amount": "1500.00",
        "createdAt": "2026-11-24T10:00:00Z",
        "updatedAt": "2026-11-24T10:00:05Z",
    }


def refund_state(status: str) -> dict[str, Any]:
    return {
        "refund_id": "HUBR-7",
        "external_refund_id": REFUND,
        "original_transaction_id": COLLECTION,
        "status": status,
        "refund_amount": "400.00",
        "currency": "KES",
        "created_at": "2026-11-24T11:00:00Z",
        "updated_at": "2026-11-24T11:00:03Z",
    }


ASK = RequestCollectionInput(
    reference=COLLECTION,
    provider="hub",
    msisdn="+254700123456",
    country="KE",
    amount=Money(amount=150_000, currency="KES"),
)
GIVE_BACK = SubmitRefundInput(
    reference=REFUND,
    provider="hub",
    original_reference=COLLECTION,
    amount=Money(amount=40_000, currency="KES"),
    reason="damaged",
)


# -- collections -------------------------------------------------------------------------


async def test_lost_answer_to_a_request_to_pay_is_found_by_status(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_raises = httpx.ReadTimeout
    scripted.known[COLLECTION] = collection_state("MR103")
    acts = CollectionActivities({"hub": HubCollections(http)})

    result = await env().run(acts.request_collection, ASK)

    assert result.resolved_by_status_query
    assert result.report.provider_status == "MR103"
    assert len(scripted.posts) == 1


async def test_retried_request_asks_first_and_never_prompts_twice(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.known[COLLECTION] = collection_state("MR101")
    acts = CollectionActivities({"hub": HubCollections(http)})

    result = await env(attempt=2).run(acts.request_collection, ASK)

    assert result.report.outcome is TransferOutcome.SUCCEEDED
    assert scripted.posts == []


async def test_unanswered_request_the_hub_never_saw_is_retried(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_raises = httpx.ConnectError
    acts = CollectionActivities({"hub": HubCollections(http)})

    with pytest.raises(ApplicationError) as retried:
        await env().run(acts.request_collection, ASK)
    assert (retried.value.type, retried.value.non_retryable) == ("ProviderUnavailable", False)


async def test_cancel_the_hub_refuses_is_an_answer_not_an_error(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_reply = httpx.Response(409, json={"code": "101"})
    acts = CollectionActivities({"hub": HubCollections(http)})

    result = await env().run(acts.cancel_collection, TransferStatusInput(reference=COLLECTION))
    assert result.refused and result.report is None


async def test_cancel_with_a_lost_answer_is_retried(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_reply = httpx.Response(502)
    acts = CollectionActivities({"hub": HubCollections(http)})

    with pytest.raises(ApplicationError) as retried:
        await env().run(acts.cancel_collection, TransferStatusInput(reference=COLLECTION))
    assert retried.value.non_retryable is False


async def test_a_provider_without_the_capability_on_this_worker_is_final() -> None:
    acts = CollectionActivities({})
    with pytest.raises(ApplicationError) as final:
        await env().run(acts.request_collection, ASK)
    assert (final.value.type, final.value.non_retryable) == ("ProviderNotConfigured", True)


# -- refunds ---------------------------------------------------------------------------------


async def test_refund_whose_answer_was_lost_recovers_the_refund_id(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_raises = httpx.ReadTimeout
    scripted.known[REFUND] = refund_state("pending")
    acts = RefundActivities({"hub": HubRefunds(http)})

    result = await env().run(acts.submit_refund, GIVE_BACK)

    assert result.resolved_by_status_query
    assert result.report.provider_transaction_id == "HUBR-7"
    assert len(scripted.posts) == 1
    assert json.loads(scripted.posts[0].content)["external_refund_id"] == REFUND


async def test_refund_refused_by_the_hub_is_final(
    hub: tuple[ScriptedHub, httpx.AsyncClient],
) -> None:
    scripted, http = hub
    scripted.post_reply = httpx.Response(422, json={"code": "refund_window_expired"})
    acts = RefundActivities({"hub": HubRefunds(http)})

    with pytest.raises(ApplicationError) as final:
        await env().run(acts.submit_refund, GIVE_BACK)
    assert final.value.non_retryable is True
    assert "refund_window_expired" in final.value.message


async def test_refund_status_by_our_id(hub: tuple[ScriptedHub, httpx.AsyncClient]) -> None:
    scripted, http = hub
    scripted.known[REFUND] = refund_state("reversed")
    acts = RefundActivities({"hub": HubRefunds(http)})

    result = await env().run(acts.get_refund_status, TransferStatusInput(reference=REFUND))
    assert result.report is not None and result.report.outcome is TransferOutcome.REVERSED


# -- the ledger's refusals ------------------------------------------------------------------


@pytest.fixture
async def ledger(migrated_url: str) -> AsyncIterator[Ledger]:
    engine = create_engine(migrated_url)
    try:
        ledger = Ledger(session_factory(engine))
        yield ledger
        assert await ledger.check_consistency() == []
    finally:
        await engine.dispose()


def refund(refund_id: str, amount: int) -> RefundLedgerInput:
    return RefundLedgerInput(
        refund_id=refund_id,
        collection_id="co-1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=amount, currency="KES"),
    )


async def test_refunds_beyond_the_collection_and_beyond_the_merchant(ledger: Ledger) -> None:
    acts = LedgerActivities(ledger)
    collected = CollectionLedgerInput(
        collection_id="co-1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=1_000, currency="KES"),
        fee=Money(amount=100, currency="KES"),
    )
    await env().run(acts.settle_collection, collected)

    with pytest.raises(ApplicationError) as merchant_short:
        await env().run(acts.reserve_refund, refund("r1", 950))
    assert merchant_short.value.type == "InsufficientFunds"

    await ledger.fund_merchant(
        FundMerchantInput(
            merchant_id="m1", amount=Money(amount=5_000, currency="KES"), reference="bank-1"
        )
    )
    await env().run(acts.reserve_refund, refund("r1", 950))
    with pytest.raises(ApplicationError) as exceeded:
        await env().run(acts.reserve_refund, refund("r2", 51))
    assert (exceeded.value.type, exceeded.value.non_retryable) == ("RefundAmountExceeded", True)
    assert await ledger.balance(merchant_available("m1"), "KES") == 900 + 5_000 - 950
