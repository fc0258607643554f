"""RefundWorkflow on the time-skipping test server, with scripted activities.

These pin down the workflow's decisions: the ledger's refusals before any provider call,
``pending`` only once the provider holds the refund, settle or exact release, retries
bounded at three, the reversal of a processed refund.
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

from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.ledger import PostedEntry, RefundLedgerInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult
from payments_engine.domain.refund import (
    RefundRequest,
    RefundResult,
    RefundStatus,
    SubmitRefundInput,
    SubmitRefundResult,
)
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.refund import RefundWorkflow

TASK_QUEUE = "refund-workflow-tests"
AMOUNT = Money(amount=400_00, currency="KES")
RESULT_TIMEOUT = 30.0
OUTCOMES = {
    "pending": TransferOutcome.PENDING,
    "processed": TransferOutcome.SUCCEEDED,
    "failed": TransferOutcome.FAILED,
    "reversed": TransferOutcome.REVERSED,
}


def report(reference: str, status: str, event_id: str | None = None) -> ProviderEvent:
    """The hub's report of the refund ``reference`` in ``status``."""
    return ProviderEvent(
        provider="hub",
        event_id=event_id or f"evt-{uuid.uuid4().hex[:8]}",
        reference=reference,
        outcome=OUTCOMES[status],
        provider_status=status,
        provider_transaction_id="HUBR-1",
        failure_code="refund_failed" if status == "failed" else None,
        occurred_at=datetime.now(UTC),
        currency=AMOUNT.currency,
        amount_reported=AMOUNT.to_major(),
        amount_minor=AMOUNT.amount,
    )


@dataclass
class Script:
    """What the fake provider and ledger answer; ``timeline``: seconds -> status."""

    timeline: dict[int, str | None] = field(default_factory=lambda: {0: "pending"})
    reserve_refusal: str | None = None
    submit: str = "ack"  # "ack", "refused" or "silent" (transient faults every time)
    reversed: bool = False
    answer_after: asyncio.Event | None = None
    """When set, the submit's answer waits for it (a webhook can then come first)."""
    """Set by a test: the provider has reversed the refund (whatever the timeline says)."""
    started: datetime | None = None
    calls: list[str] = field(default_factory=list)

    def status_now(self) -> str | None:
        if self.reversed:
            return "reversed"
        assert self.started is not None
        elapsed = (activity.info().current_attempt_scheduled_time - self.started).total_seconds()
        return self.timeline[max(t for t in self.timeline if t <= elapsed)]

    def activities(self) -> list[object]:
        def entry(kind: str, inp: RefundLedgerInput) -> PostedEntry:
            self.calls.append(kind)
            return PostedEntry(
                entry_id=len(self.calls),
                idempotency_key=f"refund:{inp.refund_id}:{kind}",
                kind=kind,
                reference=inp.refund_id,
                currency=inp.amount.currency,
                postings=[],
                created=True,
                created_at=datetime.now(UTC),
            )

        @activity.defn(name="reserve_refund")
        async def reserve_refund(inp: RefundLedgerInput) -> PostedEntry:
            self.started = activity.info().current_attempt_scheduled_time
            if self.reserve_refusal:
                self.calls.append("refused")
                raise ApplicationError("no", type=self.reserve_refusal, non_retryable=True)
            return entry("reserve", inp)

        @activity.defn(name="settle_refund")
        async def settle_refund(inp: RefundLedgerInput) -> PostedEntry:
            return entry("settle", inp)

        @activity.defn(name="release_refund")
        async def release_refund(inp: RefundLedgerInput) -> PostedEntry:
            return entry("release", inp)

        @activity.defn(name="reverse_refund")
        async def reverse_refund(inp: RefundLedgerInput) -> PostedEntry:
            return entry("reverse", inp)

        @activity.defn(name="submit_refund")
        async def submit_refund(inp: SubmitRefundInput) -> SubmitRefundResult:
            self.calls.append("submit")
            if self.answer_after is not None:
                await self.answer_after.wait()
            if self.submit == "refused":
                raise ApplicationError(
                    "the hub refused the refund (refund_window_expired)",
                    type="ProviderRejected",
                    non_retryable=True,
                )
            if self.submit == "silent":
                raise ApplicationError("503", type="ProviderUnavailable")
            return SubmitRefundResult(report=report(inp.reference, "pending", "ack"))

        @activity.defn(name="get_refund_status")
        async def get_refund_status(inp: TransferStatusInput) -> TransferStatusResult:
            self.calls.append("poll")
            status = self.status_now()
            return TransferStatusResult(
                report=None if status is None else report(inp.reference, status, f"s:{status}")
            )

        return [
            reserve_refund,
            settle_refund,
            release_refund,
            reverse_refund,
            submit_refund,
            get_refund_status,
        ]


def refund_request(**overrides: object) -> RefundRequest:
    fields: dict[str, object] = {
        "refund_id": f"rf-{uuid.uuid4().hex[:10]}",
        "original_id": "co-1",
        "amount": AMOUNT,
        "reason": "damaged on arrival",
        "reversal_watch_seconds": 3600,
    }
    fields.update(overrides)
    return RefundRequest.model_validate(fields)


def worker(client: Client, script: Script) -> Worker:
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[RefundWorkflow],
        activities=script.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def start(
    env: WorkflowEnvironment, request: RefundRequest
) -> WorkflowHandle[Any, RefundResult]:
    return await env.client.start_workflow(
        RefundWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
    )


async def run(env: WorkflowEnvironment, script: Script, **overrides: object) -> RefundResult:
    async with worker(env.client, script):
        handle = await start(env, refund_request(**overrides))
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def test_processed_refund_is_settled(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: "pending", 20: "processed"})
    result = await run(env, script)
    assert result.refund.status is RefundStatus.PROCESSED
    assert result.refund.provider_refund_id == "HUBR-1"
    assert script.calls[:3] == ["reserve", "submit", "poll"]
    assert script.calls.count("settle") == 1 and "release" not in script.calls


async def test_failed_refund_is_released(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: "pending", 20: "failed"})
    result = await run(env, script)
    assert result.refund.status is RefundStatus.FAILED
    assert result.refund.failure_code == "refund_failed"
    assert script.calls.count("release") == 1 and "settle" not in script.calls


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        ("RefundAmountExceeded", "amount_exceeded"),
        ("InsufficientFunds", "merchant_insufficient_funds"),
        ("LedgerError", "invalid_transaction"),
    ],
)
async def test_ledger_refusals_fail_before_the_provider_is_called(
    env: WorkflowEnvironment, refusal: str, code: str
) -> None:
    script = Script(reserve_refusal=refusal)
    result = await run(env, script)
    assert (result.refund.status, result.refund.failure_code) == (RefundStatus.FAILED, code)
    assert script.calls == ["refused"]


async def test_provider_refusal_releases_and_is_never_retried(env: WorkflowEnvironment) -> None:
    script = Script(submit="refused")
    result = await run(env, script)
    assert result.refund.status is RefundStatus.FAILED
    assert result.refund.failure_code == "provider_refused"
    assert "refund_window_expired" in (result.refund.failure_message or "")
    assert script.calls == ["reserve", "submit", "release"]


async def test_refund_is_not_pending_until_the_provider_has_it(
    env: WorkflowEnvironment,
) -> None:
    # Three tries without an answer, and the provider has no record: never "pending".
    script = Script(submit="silent", timeline={0: None})
    async with worker(env.client, script):
        handle = await start(env, refund_request(resolution_deadline_seconds=600))
        await env.sleep(timedelta(minutes=5))
        view = await handle.query(RefundWorkflow.get_status)
        assert view.status is RefundStatus.RECEIVED
        assert script.calls.count("submit") == 3
        await env.sleep(timedelta(minutes=10))
        view = await handle.query(RefundWorkflow.get_status)
        assert view.status is RefundStatus.NEEDS_REVIEW
        await handle.terminate("test over")


async def test_webhook_confirmed_then_reversal_restores(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: "pending", 5: "processed"})
    request = refund_request()
    async with worker(env.client, script):
        handle = await start(env, request)
        await env.sleep(timedelta(seconds=10))
        await handle.signal(
            RefundWorkflow.provider_event, report(request.workflow_id, "processed", "evt-p")
        )
        await env.sleep(timedelta(seconds=200))
        assert (await handle.query(RefundWorkflow.get_status)).status is RefundStatus.PROCESSED
        script.reversed = True
        await handle.signal(
            RefundWorkflow.provider_event, report(request.workflow_id, "reversed", "evt-r")
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.refund.status is RefundStatus.REVERSED
    assert [c for c in script.calls if c != "poll"] == ["reserve", "submit", "settle", "reverse"]


async def test_a_forged_reversal_changes_nothing(env: WorkflowEnvironment) -> None:
    script = Script(timeline={0: "processed"})
    request = refund_request()
    async with worker(env.client, script):
        handle = await start(env, request)
        await env.sleep(timedelta(seconds=60))
        await handle.signal(
            RefundWorkflow.provider_event, report(request.workflow_id, "reversed", "evt-f")
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.refund.status is RefundStatus.PROCESSED
    assert "reverse" not in script.calls


def test_request_rules() -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        refund_request(amount=Money(amount=0, currency="KES"))
    with pytest.raises(ValueError):
        refund_request(reason="")
    with pytest.raises(ValueError, match="ids are"):
        refund_request(refund_id="bad id!")
    request = refund_request(refund_id="rf-9", original_id="co-7")
    assert (request.workflow_id, request.original_reference) == ("refund-rf-9", "collection-co-7")


async def test_processed_webhook_before_the_submit_answer_settles_once(
    env: WorkflowEnvironment,
) -> None:
    script = Script(timeline={0: "processed"}, answer_after=asyncio.Event())
    request = refund_request(reversal_watch_seconds=0)
    done = report(request.workflow_id, "processed", "evt-done")
    async with worker(env.client, script):
        handle = await start(env, request)
        await handle.signal(RefundWorkflow.provider_event, done)
        await handle.signal(RefundWorkflow.provider_event, done)
        assert script.answer_after is not None
        script.answer_after.set()
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.refund.status is RefundStatus.PROCESSED
    # The submit answered pending; the early webhook, confirmed by a query, settled it.
    assert [c for c in script.calls if c != "poll"] == ["reserve", "submit", "settle"]
    assert script.calls.count("poll") == 2  # the confirmation, then the reversal check
