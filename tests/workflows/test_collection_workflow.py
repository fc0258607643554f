"""CollectionWorkflow on the time-skipping test server, with scripted activities.

These pin down the workflow's own decisions: the approval window, the last status query
that races it, the cancel, a payment after the window, refusals and the booking. The
real activities are exercised against the sandbox elsewhere.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payments_engine.activities.providers.hub.wire import HubStatus
from payments_engine.domain.collection import (
    CancelCollectionResult,
    CollectionRequest,
    CollectionResult,
    CollectionStatus,
    RequestCollectionInput,
    RequestCollectionResult,
)
from payments_engine.domain.events import ProviderEvent, ReviewFlag
from payments_engine.domain.ledger import CollectionLedgerInput, PostedEntry
from payments_engine.domain.money import Money
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.collection import CollectionWorkflow

TASK_QUEUE = "collection-workflow-tests"
AMOUNT = Money(amount=1_500_00, currency="KES")
RESULT_TIMEOUT = 30.0


def report(
    reference: str,
    status: HubStatus,
    *,
    event_id: str | None = None,
    amount: Money = AMOUNT,
    fee: int | None = 2_250,
) -> ProviderEvent:
    """The hub's report of the collection ``reference`` in ``status``."""
    return ProviderEvent(
        provider="hub",
        event_id=event_id or f"evt-{uuid.uuid4().hex[:8]}",
        reference=reference,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id="HUBC-1",
        failure_code=status.failure_code,
        occurred_at=datetime.now(UTC),
        currency=amount.currency,
        amount_reported=amount.to_major(),
        amount_minor=amount.amount,
        fee_minor=fee if status is HubStatus.SUCCESS else None,
    )


@dataclass
class Script:
    """What the fake provider and ledger answer, and what they were asked.

    ``timeline`` maps seconds since the request to the status the provider reports from
    then on (the payer approving, declining ...); ``cancel`` is what the cancel does.
    """

    timeline: dict[int, HubStatus] = field(default_factory=lambda: {0: HubStatus.PENDING_AWAITING})
    cancel: str = "cancelled"  # "cancelled", "refused" or "unknown"
    refuse_request: bool = False
    fee_refused: bool = False
    answer_after: asyncio.Event | None = None
    """When set, the request's answer waits for it (a webhook can then come first)."""
    started: datetime | None = None
    cancelled: bool = False
    calls: list[str] = field(default_factory=list)
    booked: list[CollectionLedgerInput] = field(default_factory=list)

    def status_now(self) -> HubStatus:
        if self.cancelled:
            return HubStatus.CANCELLED
        assert self.started is not None
        elapsed = (activity.info().current_attempt_scheduled_time - self.started).total_seconds()
        return self.timeline[max(t for t in self.timeline if t <= elapsed)]

    def activities(self) -> list[object]:
        @activity.defn(name="request_collection")
        async def request_collection(inp: RequestCollectionInput) -> RequestCollectionResult:
            self.calls.append("request")
            self.started = activity.info().current_attempt_scheduled_time
            asked = self.status_now()
            if self.answer_after is not None:
                # The answer was written when the payer had not approved yet.
                asked = HubStatus.PENDING_AWAITING
                await self.answer_after.wait()
            if self.refuse_request:
                raise ApplicationError("conflict", type="ProviderConflict", non_retryable=True)
            return RequestCollectionResult(report=report(inp.reference, asked))

        @activity.defn(name="get_collection_status")
        async def get_collection_status(inp: TransferStatusInput) -> TransferStatusResult:
            self.calls.append("poll")
            status = self.status_now()
            return TransferStatusResult(
                report=report(inp.reference, status, event_id=f"status:{status.value}")
            )

        @activity.defn(name="cancel_collection")
        async def cancel_collection(inp: TransferStatusInput) -> CancelCollectionResult:
            self.calls.append("cancel")
            if self.cancel == "refused":
                return CancelCollectionResult(refused=True)
            if self.cancel == "unknown":
                return CancelCollectionResult()
            self.cancelled = True
            return CancelCollectionResult(report=report(inp.reference, HubStatus.CANCELLED))

        @activity.defn(name="settle_collection")
        async def settle_collection(inp: CollectionLedgerInput) -> PostedEntry:
            self.calls.append("book")
            if self.fee_refused:
                raise ApplicationError("fee too high", type="InvalidAmount", non_retryable=True)
            self.booked.append(inp)
            return PostedEntry(
                entry_id=1,
                idempotency_key=f"collection:{inp.collection_id}:settle",
                kind="collection_settle",
                reference=inp.collection_id,
                currency=inp.amount.currency,
                postings=[],
                created=True,
                created_at=datetime.now(UTC),
            )

        return [request_collection, get_collection_status, cancel_collection, settle_collection]


def collection_request(**overrides: object) -> CollectionRequest:
    fields: dict[str, object] = {
        "collection_id": f"co-{uuid.uuid4().hex[:10]}",
        "amount": AMOUNT,
        "payer_msisdn": "+254712345678",
        "country": "KE",
    }
    fields.update(overrides)
    return CollectionRequest.model_validate(fields)


def worker(client: Client, script: Script) -> Worker:
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CollectionWorkflow],
        activities=script.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def run(
    env: WorkflowEnvironment, script: Script, request: CollectionRequest | None = None
) -> CollectionResult:
    request = request or collection_request()
    async with worker(env.client, script):
        handle: WorkflowHandle[Any, CollectionResult] = await env.client.start_workflow(
            CollectionWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def test_payer_approves_within_the_window_and_it_is_booked(
    env: WorkflowEnvironment,
) -> None:
    script = Script(timeline={0: HubStatus.PENDING_AWAITING, 40: HubStatus.SUCCESS})
    result = await run(env, script)

    view = result.collection
    assert view.status is CollectionStatus.SUCCEEDED
    assert view.fee == Money(amount=2_250, currency="KES")
    assert script.calls == ["request", "poll", "poll", "book"]
    assert [b.fee for b in script.booked] == [Money(amount=2_250, currency="KES")]


async def test_webhook_is_confirmed_before_booking(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: HubStatus.PENDING_AWAITING, 5: HubStatus.SUCCESS})
    request = collection_request()
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            CollectionWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await env.sleep(timedelta(seconds=10))
        await handle.signal(
            CollectionWorkflow.provider_event,
            report(request.workflow_id, HubStatus.SUCCESS, event_id="evt-paid"),
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.collection.status is CollectionStatus.SUCCEEDED
    assert script.calls == ["request", "poll", "book"]


async def test_payer_declines(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: HubStatus.PENDING_AWAITING, 20: HubStatus.PAYER_DECLINED})
    result = await run(env, script)
    assert result.collection.status is CollectionStatus.FAILED
    assert result.collection.failure_code == "payer_declined"
    assert "book" not in script.calls and "cancel" not in script.calls


async def test_never_answered_expires_and_is_cancelled_at_the_provider(
    env: WorkflowEnvironment,
) -> None:
    script = Script()
    result = await run(env, script, collection_request(approval_window_seconds=300))

    view = result.collection
    assert view.status is CollectionStatus.EXPIRED
    assert view.failure_code == "cancelled"
    # Polled on the backoff (30, 60, 120 s ...), asked once more at the window, cancelled.
    assert script.calls[-2:] == ["poll", "cancel"]
    assert 3 <= script.calls.count("poll") <= 5
    assert "book" not in script.calls


async def test_approval_racing_the_window_is_found_by_the_last_query(
    env: WorkflowEnvironment,
) -> None:
    # Approved at 299 s of a 300 s window, after the last backoff poll (at 210 s).
    script = Script(timeline={0: HubStatus.PENDING_AWAITING, 299: HubStatus.SUCCESS})
    result = await run(env, script, collection_request(approval_window_seconds=300))
    assert result.collection.status is CollectionStatus.SUCCEEDED
    assert "cancel" not in script.calls and script.calls[-1] == "book"


async def test_payment_after_the_window_is_booked_and_flagged(env: WorkflowEnvironment) -> None:
    script = Script(
        timeline={0: HubStatus.PENDING_AWAITING, 400: HubStatus.SUCCESS}, cancel="refused"
    )
    result = await run(env, script, collection_request(approval_window_seconds=300))

    view = result.collection
    assert view.status is CollectionStatus.NEEDS_REVIEW
    assert ReviewFlag.PAID_AFTER_EXPIRY in view.review_flags
    assert script.calls.count("cancel") == 1 and script.calls[-1] == "book"


async def test_a_collection_the_provider_never_saw_expires_without_waiting(
    env: WorkflowEnvironment,
) -> None:
    script = Script(cancel="unknown")
    result = await run(env, script, collection_request(approval_window_seconds=60))
    assert result.collection.status is CollectionStatus.EXPIRED
    assert script.calls[-1] == "cancel"


async def test_refused_request_fails_without_waiting(env: WorkflowEnvironment) -> None:
    script = Script(refuse_request=True)
    result = await run(env, script)
    assert result.collection.status is CollectionStatus.FAILED
    assert script.calls == ["request"]


async def test_webhook_for_another_amount_never_books(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: HubStatus.PENDING_AWAITING, 5: HubStatus.SUCCESS})
    request = collection_request(approval_window_seconds=120)
    wrong = Money(amount=1_00, currency="KES")
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            CollectionWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await handle.signal(
            CollectionWorkflow.provider_event,
            report(request.workflow_id, HubStatus.SUCCESS, event_id="evt-x", amount=wrong),
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    # The forged webhook is refused as evidence; the status API's own answer books it.
    assert result.collection.status is CollectionStatus.SUCCEEDED
    assert ReviewFlag.PROVIDER_MISMATCH in result.collection.review_flags
    assert [b.amount for b in script.booked] == [AMOUNT]


async def test_a_fee_the_ledger_refuses_goes_to_a_person(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: HubStatus.SUCCESS}, fee_refused=True)
    result = await run(env, script)
    assert result.collection.status is CollectionStatus.NEEDS_REVIEW
    assert result.collection.failure_code == "booking_refused"


def test_request_rules() -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        collection_request(amount=Money(amount=0, currency="KES"))
    with pytest.raises(ValueError):
        collection_request(approval_window_seconds=601)
    with pytest.raises(ValueError) as wrong_country:
        collection_request(payer_msisdn="+256712345678")
    assert "256712345678" not in str(wrong_country.value)
    assert collection_request(payer_msisdn="0712345678").payer_msisdn == "+254712345678"


async def test_webhooks_before_the_request_answer_and_after_the_end_apply_once(
    env: WorkflowEnvironment,
) -> None:
    # The payer approves so fast that the webhook beats the request's own answer; a
    # stale "pending" and a repeat of the success come after.
    script = Script(timeline={0: HubStatus.SUCCESS}, answer_after=asyncio.Event())
    request = collection_request()
    paid = report(request.workflow_id, HubStatus.SUCCESS, event_id="evt-paid")
    stale = report(request.workflow_id, HubStatus.PENDING_AWAITING, event_id="evt-stale")
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            CollectionWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await handle.signal(CollectionWorkflow.provider_event, paid)
        assert script.answer_after is not None
        script.answer_after.set()
        await handle.signal(CollectionWorkflow.provider_event, stale)
        await handle.signal(CollectionWorkflow.provider_event, paid)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.collection.status is CollectionStatus.SUCCEEDED
    # The early webhook was confirmed by one status query after the pending answer.
    assert script.calls == ["request", "poll", "book"]
