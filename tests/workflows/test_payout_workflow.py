"""PayoutWorkflow on the time-skipping test server, with scripted activities.

The activities are fakes here on purpose: these tests pin down the workflow's own
decisions (polling, deadlines, dedupe of signals, settle vs release). The real
activities are exercised end to end in tests/integration.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payments_engine.activities.providers.hub.wire import HubStatus
from payments_engine.domain.events import EventSource, ProviderEvent, ReviewFlag, TransferOutcome
from payments_engine.domain.ledger import PayoutLedgerInput, PostedEntry
from payments_engine.domain.money import Money
from payments_engine.domain.payout import (
    PayoutRequest,
    PayoutResult,
    PayoutStatus,
    PayoutView,
    ResolvePayout,
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.payout import PayoutWorkflow

TASK_QUEUE = "payout-workflow-tests"


AMOUNT = Money(amount=150_00, currency="KES")
# Wall-clock limit on waiting for a result: a workflow that never ends would otherwise
# let the time-skipping server skip through its 6-hourly review polls forever.
RESULT_TIMEOUT = 30.0


def report(
    reference: str,
    status: HubStatus,
    event_id: str | None = None,
    amount: Money | None = AMOUNT,
    **extra: object,
) -> ProviderEvent:
    """A provider report about ``reference`` with the hub's ``status`` for ``amount``."""
    fields: dict[str, object] = {
        "provider": "hub",
        "event_id": event_id or f"evt-{uuid.uuid4().hex[:8]}",
        "reference": reference,
        "outcome": status.outcome,
        "provider_status": status.value,
        "provider_transaction_id": "MFS123",
        "failure_code": status.failure_code,
        "occurred_at": datetime.now(UTC),
    }
    if amount is not None:
        fields.update(
            currency=amount.currency,
            amount_reported=amount.to_major(),
            amount_minor=amount.amount,
        )
    fields.update(extra)
    return ProviderEvent.model_validate(fields)


async def result_of(handle: WorkflowHandle[Any, PayoutResult]) -> PayoutResult:
    """The workflow's result, failing the test instead of hanging when it never ends."""
    return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


@dataclass
class Script:
    """What the fake provider and ledger answer, and what they were asked."""

    submit_status: HubStatus = HubStatus.QUEUED
    poll_statuses: list[HubStatus | None] = field(default_factory=list)
    truth: HubStatus | None = HubStatus.PENDING
    """What the status API answers once ``poll_statuses`` is used up; None: no record."""
    reported_amount: Money | None = AMOUNT
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
            status = self.poll_statuses.pop(0) if self.poll_statuses else self.truth
            return TransferStatusResult(
                report=None
                if status is None
                else report(
                    inp.reference,
                    status,
                    event_id=f"status:{status.value}",
                    amount=self.reported_amount,
                )
            )

        return [reserve_funds, settle_payout, release_funds, submit_payout, get_payout_status]


def payout_request(**overrides: object) -> PayoutRequest:
    """A valid KES payout with a unique id."""
    fields: dict[str, object] = {
        "payout_id": f"wf-{uuid.uuid4().hex[:10]}",
        "amount": AMOUNT,
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


async def test_first_poll_comes_after_the_requests_first_poll_seconds_then_doubles(
    env: WorkflowEnvironment,
) -> None:
    script = Script(poll_statuses=[HubStatus.PENDING, HubStatus.PENDING, HubStatus.SUCCESS])
    request = payout_request(first_poll_seconds=5)
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        result = await handle.result()
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls == ["reserve", "submit", "poll", "poll", "poll", "settle"]
    timers = [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for event in (await handle.fetch_history()).events
        if event.HasField("timer_started_event_attributes")
    ]
    assert timers == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]


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
        result = await result_of(handle)
    assert decided.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "operator_failed"
    assert script.calls.count("release") == 1 and "settle" not in script.calls


async def test_resolve_refused_unless_needs_review(env: WorkflowEnvironment) -> None:
    script = Script(truth=HubStatus.SUCCESS)
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
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED


async def test_duplicate_and_stale_webhooks_apply_once(env: WorkflowEnvironment) -> None:
    script = Script(truth=HubStatus.SUCCESS)
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
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert result.payout.events_applied == 3
    assert script.calls.count("settle") == 1 and "release" not in script.calls
    # The final webhook was confirmed by one status query before money moved.
    assert script.calls[: script.calls.index("settle")].count("poll") == 1


async def test_provider_failure_releases_reservation(env: WorkflowEnvironment) -> None:
    script = Script(truth=HubStatus.INSUFFICIENT_FUNDS)
    request = payout_request()
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await handle.signal(
            PayoutWorkflow.provider_event,
            report(request.workflow_id, HubStatus.INSUFFICIENT_FUNDS),
        )
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "provider_insufficient_funds"
    assert script.calls == ["reserve", "submit", "poll", "release"]


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
    assert result.payout.failure_message == "too little money"
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


# -- a webhook is a hint: the provider's status API is the truth ---------------------------


async def _start(env: WorkflowEnvironment, request: PayoutRequest) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
    )


async def _view_when(
    handle: WorkflowHandle[Any, Any], accept: Any, timeout: float = RESULT_TIMEOUT
) -> PayoutView:
    """Query the payout until ``accept(view)`` holds (wall-clock bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view: PayoutView = await handle.query(PayoutWorkflow.get_status)
        if accept(view):
            return view
        assert loop.time() < deadline, f"never reached the expected state: {view!r}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "wrong",
    [
        {"amount": Money(amount=1_00, currency="KES")},
        {"amount": Money(amount=150_00, currency="UGX")},
        {"amount": None, "currency": "KES", "amount_reported": "150.001"},
        {"reference": "payout-someone-else"},
    ],
    ids=["amount", "currency", "unreadable-amount", "reference"],
)
async def test_mismatched_success_webhook_moves_no_money(
    env: WorkflowEnvironment, wrong: dict[str, Any]
) -> None:
    script = Script(truth=HubStatus.PENDING)
    request = payout_request()
    fields = {"amount": AMOUNT, "reference": request.workflow_id} | wrong
    reference = fields.pop("reference")
    forged = report(reference, HubStatus.SUCCESS, event_id="evt-wrong", **fields)
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(PayoutWorkflow.provider_event, forged)
        view = await _view_when(handle, lambda v: v.status is PayoutStatus.NEEDS_REVIEW)
        assert view.review_flags == [ReviewFlag.PROVIDER_MISMATCH]
        [evidence] = view.evidence
        assert (evidence.event_id, evidence.source) == ("evt-wrong", EventSource.WEBHOOK)
        assert evidence.provider_status == "MR101"
        # Refused outright: no settle, and no status query was needed to refuse it.
        assert "settle" not in script.calls and "release" not in script.calls
        assert "poll" not in script.calls

        # The provider then really pays the right amount: its status API settles it.
        script.truth = HubStatus.SUCCESS
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert result.payout.review_flags == [ReviewFlag.PROVIDER_MISMATCH]
    assert script.calls.count("settle") == 1 and "release" not in script.calls


async def test_success_webhook_for_a_pending_transfer_waits_for_the_provider(
    env: WorkflowEnvironment,
) -> None:
    script = Script(truth=HubStatus.PENDING)
    request = payout_request()
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(
            PayoutWorkflow.provider_event,
            report(request.workflow_id, HubStatus.SUCCESS, event_id="evt-early"),
        )
        view = await _view_when(handle, lambda v: v.status is PayoutStatus.NEEDS_REVIEW)
        assert view.review_flags == [ReviewFlag.PROVIDER_CONTRADICTION]
        assert view.evidence[0].event_id == "evt-early"
        assert "webhook says MR101" in view.evidence[0].detail
        assert script.calls == ["reserve", "submit", "poll"]

        script.truth = HubStatus.SUCCESS
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls.count("settle") == 1 and "release" not in script.calls


async def test_failure_webhook_for_a_paid_transfer_never_releases(
    env: WorkflowEnvironment,
) -> None:
    script = Script(truth=HubStatus.SUCCESS)
    request = payout_request()
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(
            PayoutWorkflow.provider_event,
            report(request.workflow_id, HubStatus.INSUFFICIENT_FUNDS, event_id="evt-lie"),
        )
        result = await result_of(handle)
    # The status API said paid: that is what is applied; the lie is kept as evidence.
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert result.payout.review_flags == [ReviewFlag.PROVIDER_CONTRADICTION]
    assert result.payout.evidence[0].event_id == "evt-lie"
    assert script.calls == ["reserve", "submit", "poll", "settle"]


async def test_status_api_reporting_another_amount_holds_for_an_operator(
    env: WorkflowEnvironment,
) -> None:
    script = Script(truth=HubStatus.SUCCESS, reported_amount=Money(amount=1_00, currency="KES"))
    request = payout_request()
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(
            PayoutWorkflow.provider_event, report(request.workflow_id, HubStatus.SUCCESS)
        )
        view = await _view_when(handle, lambda v: v.status is PayoutStatus.NEEDS_REVIEW)
        assert view.review_flags == [ReviewFlag.PROVIDER_MISMATCH]
        assert view.evidence[0].source is EventSource.STATUS_QUERY
        assert "settle" not in script.calls and "release" not in script.calls

        await handle.execute_update(
            PayoutWorkflow.resolve,
            ResolvePayout(outcome=PayoutStatus.SUCCEEDED, note="hub: paid 150.00, bad report"),
        )
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls.count("settle") == 1


async def test_held_payout_stops_polling(env: WorkflowEnvironment) -> None:
    script = Script(poll_statuses=[HubStatus.PENDING])
    script.truth = HubStatus.SUCCESS
    script.reported_amount = Money(amount=1_00, currency="KES")
    request = payout_request()
    async with worker(env.client, script):
        handle = await _start(env, request)
        # The first poll (30 s) says pending, the second (90 s) paid another amount.
        await env.sleep(timedelta(minutes=2))
        view = await _view_when(handle, lambda v: v.status is PayoutStatus.NEEDS_REVIEW)
        polls = script.calls.count("poll")
        assert polls == 2
        # A day of timers later: still held, no more polling, no money moved.
        await env.sleep(timedelta(hours=24))
        view = await handle.query(PayoutWorkflow.get_status)
        assert view.status is PayoutStatus.NEEDS_REVIEW
        assert script.calls.count("poll") == polls
        assert "settle" not in script.calls and "release" not in script.calls
        await handle.terminate("test over")


async def test_webhook_without_details_is_resolved_by_asking(env: WorkflowEnvironment) -> None:
    script = Script(truth=HubStatus.WALLET_CLOSED)
    request = payout_request()
    changed = ProviderEvent(
        provider="hub",
        event_id="evt-changed",
        reference=request.workflow_id,
        outcome=TransferOutcome.CHANGED,
        provider_status="changed",
    )
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(PayoutWorkflow.provider_event, changed)
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "wallet_closed"
    assert result.payout.review_flags == []
    assert script.calls == ["reserve", "submit", "poll", "release"]


async def test_provider_that_vouches_for_its_webhooks_is_not_asked(
    env: WorkflowEnvironment,
) -> None:
    script = Script(truth=HubStatus.PENDING)
    request = payout_request()
    trusted = report(request.workflow_id, HubStatus.SUCCESS, needs_confirmation=False)
    async with worker(env.client, script):
        handle = await _start(env, request)
        await handle.signal(PayoutWorkflow.provider_event, trusted)
        result = await result_of(handle)
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls == ["reserve", "submit", "settle"]


async def _until_status(
    handle: WorkflowHandle[Any, PayoutResult], status: PayoutStatus
) -> PayoutView:
    """Query until the payout is in ``status`` (wall-clock bounded)."""
    for _ in range(200):
        view = await handle.query(PayoutWorkflow.get_status)
        if view.status is status:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"payout never reached {status}; last: {view.status}")


async def test_recheck_applies_the_providers_final_answer_at_once(
    env: WorkflowEnvironment,
) -> None:
    script = Script()
    request = payout_request(resolution_deadline_seconds=24 * 3600)
    with env.auto_time_skipping_disabled():
        async with worker(env.client, script):
            handle = await env.client.start_workflow(
                PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
            )
            await _until_status(handle, PayoutStatus.SUBMITTED)
            script.truth = HubStatus.SUCCESS
            checked = await handle.execute_update(PayoutWorkflow.recheck)
            result = await result_of(handle)
    # Time stood still: the answer came from the operator's recheck, not a poll timer.
    assert checked.provider_status == HubStatus.SUCCESS.value
    assert checked.status_queries == 1
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls == ["reserve", "submit", "poll", "settle"]


async def test_resolve_before_the_deadline_once_the_provider_has_no_record(
    env: WorkflowEnvironment,
) -> None:
    script = Script(truth=None)
    request = payout_request(resolution_deadline_seconds=24 * 3600)
    with env.auto_time_skipping_disabled():
        async with worker(env.client, script):
            handle = await env.client.start_workflow(
                PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
            )
            await _until_status(handle, PayoutStatus.SUBMITTED)
            decision = ResolvePayout(outcome=PayoutStatus.FAILED, note="hub: never heard of it")
            # Still with the provider, no answer yet: too early.
            with pytest.raises(WorkflowUpdateFailedError) as early:
                await handle.execute_update(PayoutWorkflow.resolve, decision)
            assert "no record of it" in str(early.value.cause)
            checked = await handle.execute_update(PayoutWorkflow.recheck)
            assert checked.status is PayoutStatus.SUBMITTED
            decided = await handle.execute_update(PayoutWorkflow.resolve, decision)
            result = await result_of(handle)
    assert decided.status is PayoutStatus.FAILED
    assert result.payout.failure_code == "operator_failed"
    assert script.calls == ["reserve", "submit", "poll", "release"]


async def test_resolve_before_the_deadline_after_the_grace_period(
    env: WorkflowEnvironment,
) -> None:
    script = Script()
    request = payout_request(resolution_deadline_seconds=24 * 3600, review_grace_seconds=600)
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await env.sleep(timedelta(minutes=11))
        view = await handle.query(PayoutWorkflow.get_status)
        assert view.status is PayoutStatus.SUBMITTED
        decided = await handle.execute_update(
            PayoutWorkflow.resolve,
            ResolvePayout(outcome=PayoutStatus.SUCCEEDED, note="hub statement shows it paid"),
        )
        result = await result_of(handle)
    assert decided.status is PayoutStatus.SUCCEEDED
    assert result.payout.status is PayoutStatus.SUCCEEDED
    assert script.calls.count("settle") == 1 and "release" not in script.calls


async def test_current_details_tell_the_business_story(env: WorkflowEnvironment) -> None:
    script = Script(submit_status=HubStatus.WALLET_CLOSED)
    request = payout_request()
    async with worker(env.client, script):
        handle = await env.client.start_workflow(
            PayoutWorkflow.run, request, id=request.workflow_id, task_queue=TASK_QUEUE
        )
        await result_of(handle)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details == (
        "Payout 150.00 KES via hub to +254******678 — failed: wallet_closed"
    )
    assert "712345678" not in metadata.current_details
