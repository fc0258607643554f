"""PayoutWorkflow on the time-skipping test server, with scripted activities.

The activities are fakes here on purpose: these tests pin down the workflow's own
decisions (polling, deadlines, dedupe of signals, settle vs release). The real
activities are exercised end to end in tests/integration.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.events import ProviderEvent
from domain.hub import HubStatus
from domain.ledger import PayoutLedgerInput, PostedEntry
from domain.money import Money
from domain.payout import (
    PayoutRequest,
    PayoutResult,
    PayoutStatus,
    ResolvePayout,
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)
from tests.helpers import venv_binary
from worker.main import WORKFLOW_RUNNER
from workflows.payout import PayoutWorkflow

TASK_QUEUE = "payout-workflow-tests"


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server shared by this module's tests."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    ) as environment:
        yield environment


def report(reference: str, status: HubStatus, event_id: str | None = None) -> ProviderEvent:
    """A provider report about ``reference`` with the hub's ``status``."""
    return ProviderEvent(
        provider="hub",
        event_id=event_id or f"evt-{uuid.uuid4().hex[:8]}",
        reference=reference,
        outcome=status.outcome,
        provider_status=status.value,
        provider_transaction_id="MFS123",
        failure_code=status.failure_code,
        occurred_at=datetime.now(UTC),
    )


@dataclass
class Script:
    """What the fake provider and ledger answer, and what they were asked."""

    submit_status: HubStatus = HubStatus.QUEUED
    poll_statuses: list[HubStatus | None] = field(default_factory=list)
    merchant_funds_missing: bool = False
    submit_refusal: str | None = None
    calls: list[str] = field(default_factory=list)

    def activities(self) -> list[object]:
        """Activity functions registered under the real activities' names."""

        def entry(kind: str, inp: PayoutLedgerInput) -> PostedEntry:
            self.calls.append(kind)
            return PostedEntry(
                entry_id=len(self.calls),
                idempotency_key=f"payout:{inp.payout_id}:{kind}",
                kind=kind,
                reference=inp.payout_id,
                currency=inp.amount.currency,
                postings=[],
                created=True,
                created_at=datetime.now(UTC),
            )

        @activity.defn(name="reserve_funds")
        async def reserve_funds(inp: PayoutLedgerInput) -> PostedEntry:
            if self.merchant_funds_missing:
                raise ApplicationError(
                    "too little money", type="InsufficientFunds", non_retryable=True
                )
            return entry("reserve", inp)

        @activity.defn(name="settle_payout")
        async def settle_payout(inp: PayoutLedgerInput) -> PostedEntry:
            return entry("settle", inp)

        @activity.defn(name="release_funds")
        async def release_funds(inp: PayoutLedgerInput) -> PostedEntry:
            return entry("release", inp)

        @activity.defn(name="submit_payout")
        async def submit_payout(inp: SubmitPayoutInput) -> SubmitPayoutResult:
            self.calls.append("submit")
            if self.submit_refusal:
                raise ApplicationError("no", type=self.submit_refusal, non_retryable=True)
            return SubmitPayoutResult(report=report(inp.reference, self.submit_status))

        @activity.defn(name="get_payout_status")
        async def get_payout_status(inp: TransferStatusInput) -> TransferStatusResult:
            self.calls.append("poll")
            status = self.poll_statuses.pop(0) if self.poll_statuses else HubStatus.PENDING
            return TransferStatusResult(
                report=None if status is None else report(inp.reference, status)
            )

        return [reserve_funds, settle_payout, release_funds, submit_payout, get_payout_status]


def payout_request(**overrides: object) -> PayoutRequest:
    """A valid KES payout with a unique id."""
    fields: dict[str, object] = {
        "payout_id": f"wf-{uuid.uuid4().hex[:10]}",
        "amount": Money(amount=150_00, currency="KES"),
        "recipient_msisdn": "+254712345678",
        "country": "KE",
        "resolution_deadline_seconds": 3600,
    }
    fields.update(overrides)
    return PayoutRequest.model_validate(fields)


def worker(client: Client, script: Script) -> Worker:
    """A worker running the real workflow against the script's activities."""
    return Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[PayoutWorkflow],
        activities=script.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def test_webhook_never_arrives_resolved_by_polling(env: WorkflowEnvironment) -> None:
    script = Script(poll_statuses=[HubStatus.PENDING, HubStatus.PENDING, HubStatus.SUCCESS])
    request = payout_request()
    async with worker(env.client, script):
        result = await env.client.execute_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert result.payout.status_queries == 3
    assert result.payout.provider_status == HubStatus.SUCCESS.value
    assert script.calls == ["reserve", "submit", "poll", "poll", "poll", "settle"]


async def test_never_resolving_payout_needs_review_then_operator_fails_it(
    env: WorkflowEnvironment,
) -> None:
    script = Script()
    request = payout_request(resolution_deadline_seconds=6 * 3600)
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        started = time.monotonic()
        await env.sleep(timedelta(hours=6, minutes=30))
        view = await handle.query(PayoutWorkflow.get_status)
        elapsed = time.monotonic() - started
        assert view.status is PayoutStatus.NEEDS_REVIEW
        assert elapsed < 1.0, f"six hours of timers took {elapsed:.2f}s of wall time"
        # Polled on a backoff timer (30 s, 60 s, ... capped) until the deadline, no faster.
        assert 5 <= view.status_queries <= 40

        decided = await handle.execute_update(
            PayoutWorkflow.resolve,
            ResolvePayout(outcome=PayoutStatus.FAILED, note="hub confirmed no transfer"),
        )
        result = await handle.result()
    assert decided.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "operator_failed"
    assert script.calls.count("release") == 1 and "settle" not in script.calls


async def test_resolve_refused_unless_needs_review(env: WorkflowEnvironment) -> None:
    script = Script()
    request = payout_request()
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                PayoutWorkflow.resolve, ResolvePayout(outcome=PayoutStatus.SUCCEEDED, note="x")
            )
        await handle.signal(
            PayoutWorkflow.provider_event, report(request.workflow_id, HubStatus.SUCCESS)
        )
        result = await handle.result()
    assert result.payout.status is PayoutStatus.SUCCEEDED


async def test_duplicate_and_stale_webhooks_apply_once(env: WorkflowEnvironment) -> None:
    script = Script()
    request = payout_request()
    final = report(request.workflow_id, HubStatus.SUCCESS, event_id="evt-final")
    stale = report(request.workflow_id, HubStatus.PENDING, event_id="evt-stale")
    contradicting = report(request.workflow_id, HubStatus.WALLET_CLOSED, event_id="evt-late")
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        for event in (final, final, stale, contradicting, final):
            await handle.signal(PayoutWorkflow.provider_event, event)
        result: PayoutResult = await handle.result()
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert result.payout.events_applied == 3
    assert script.calls.count("settle") == 1 and "release" not in script.calls


async def test_provider_failure_releases_reservation(env: WorkflowEnvironment) -> None:
    script = Script()
    request = payout_request()
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await handle.signal(
            PayoutWorkflow.provider_event,
            report(request.workflow_id, HubStatus.INSUFFICIENT_FUNDS),
        )
        result = await handle.result()
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "provider_insufficient_funds"
    assert script.calls == ["reserve", "submit", "release"]


async def test_merchant_without_funds_fails_before_any_provider_call(
    env: WorkflowEnvironment,
) -> None:
    script = Script(merchant_funds_missing=True)
    request = payout_request()
    async with worker(env.client, script):
        result = await env.client.execute_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "merchant_insufficient_funds"
    assert script.calls == []


async def test_submit_refused_by_provider_releases(env: WorkflowEnvironment) -> None:
    script = Script(submit_refusal="ProviderConflict")
    request = payout_request()
    async with worker(env.client, script):
        result = await env.client.execute_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "provider_reference_conflict"
    assert script.calls == ["reserve", "submit", "release"]


async def test_synchronous_rejection_fails_without_polling(env: WorkflowEnvironment) -> None:
    script = Script(submit_status=HubStatus.INVALID_MSISDN)
    request = payout_request()
    async with worker(env.client, script):
        result = await env.client.execute_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "invalid_msisdn"
    assert "poll" not in script.calls
