"""ReconciliationWorkflow and its daily trigger on the time-skipping test server.

The activities are fakes registered under the real names (``reconcile``, ``alert``,
``note_evidence``): these tests pin down the workflow's own decisions, not the matching
(``tests/activities``) or the hub's report (``tests/integration``). The workflows that
wait for a provider's word are stood in for by :class:`EvidenceTarget`, which records
the ``provider_event`` signals it gets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.reconciliation import (
    AlertInput,
    CurrencyTotals,
    Evidence,
    EvidenceNote,
    LineKind,
    LineStatus,
    ReconcileInput,
    ReconcileOutput,
    ReconciliationPolicy,
    ReconciliationRequest,
    ReconciliationResult,
    RunStatus,
    RunTotals,
    ScheduledReconciliationRequest,
)
from payments_engine.worker.main import WORKFLOW_RUNNER, WORKFLOWS
from payments_engine.workflows.reconciliation import (
    ReconciliationWorkflow,
    ScheduledReconciliationWorkflow,
)

DAY = date(2026, 3, 14)
SHA = "ab12cd34ef56ab78cd90ef12ab34cd56" + "0" * 32
RESULT_TIMEOUT = 20.0
HISTORIES = Path(__file__).parent / "histories"


@workflow.defn(name="EvidenceTarget", sandboxed=False)
class EvidenceTarget:
    """A payout-like workflow: keeps every ``provider_event`` it is sent until told to end."""

    def __init__(self) -> None:
        self._events: list[ProviderEvent] = []
        self._done = False

    @workflow.run
    async def run(self) -> list[ProviderEvent]:
        await workflow.wait_condition(lambda: self._done)
        return self._events

    @workflow.signal
    def provider_event(self, event: ProviderEvent) -> None:
        self._events.append(event)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def events(self) -> list[ProviderEvent]:
        return self._events


def evidence(
    reference: str,
    *,
    kind: LineKind = LineKind.PAYOUT,
    status: LineStatus = LineStatus.SUCCEEDED,
    finding_id: str | None = None,
    gross: int = 1_500_00,
    currency: str = "KES",
) -> Evidence:
    """A report line the ledger has not booked (a finding only if it moved money)."""
    return Evidence(
        finding_id=finding_id,
        reference=reference,
        kind=kind,
        provider_transaction_id=f"HUB-{reference}",
        status=status,
        gross=gross,
        currency=currency,
        occurred_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
    )


def output(*, review: int = 0, items: list[Evidence] | None = None) -> ReconcileOutput:
    """What ``reconcile`` stored: ``review`` findings for people, ``items`` as evidence."""
    return ReconcileOutput(
        totals=RunTotals(
            report_lines=3,
            ledger_records=2,
            matched=2,
            with_findings=1,
            report=[CurrencyTotals(currency="KES", lines=3, gross=4_500_00)],
        ),
        findings={"missing_in_ledger": review} if review else {},
        review=review,
        review_amount={"KES": 1_500_00 * review} if review else {},
        evidence=items or [],
        report_sha256=SHA,
    )


@dataclass
class Fakes:
    """The reconciliation activities, scripted: what they answer and what they were asked.

    ``fail`` raises before answering: ``"invalid"`` a ReportInvalid (final by the
    workflow's retry policy: the fake does not say so itself), ``"transient:N"`` a
    retryable error on the first N attempts. ``hold`` makes ``reconcile`` wait for it.
    """

    outcome: ReconcileOutput = field(default_factory=output)
    fail: str | None = None
    hold: asyncio.Event | None = None
    reconciled: list[ReconcileInput] = field(default_factory=list)
    alerts: list[AlertInput] = field(default_factory=list)
    notes: list[EvidenceNote] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="reconcile")
        async def reconcile(inp: ReconcileInput) -> ReconcileOutput:
            self.reconciled.append(inp)
            if self.hold is not None:
                await self.hold.wait()
            if self.fail == "invalid":
                raise ApplicationError(
                    f"{inp.provider} report of {inp.day}: line 7: amount 'x' is not a number",
                    type="ReportInvalid",
                )
            if self.fail is not None and self.fail.startswith("transient:"):
                if activity.info().attempt <= int(self.fail.split(":")[1]):
                    raise ApplicationError("hub answered HTTP 503", type="ProviderUnavailable")
            return self.outcome

        @activity.defn(name="alert")
        async def alert(inp: AlertInput) -> bool:
            self.alerts.append(inp)
            return True

        @activity.defn(name="note_evidence")
        async def note_evidence(inp: EvidenceNote) -> int:
            self.notes.append(inp)
            return len(inp.finding_ids)

        return [reconcile, alert, note_evidence]


def worker(env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ReconciliationWorkflow, ScheduledReconciliationWorkflow, EvidenceTarget],
        activities=fakes.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    )


def queue() -> str:
    return f"reconcile-{uuid.uuid4().hex[:8]}"


def request(**overrides: Any) -> ReconciliationRequest:
    # A provider name of its own per run: the workflow id is reconcile-{provider}-{day}.
    fields: dict[str, Any] = {"provider": f"hub{uuid.uuid4().hex[:6]}", "day": DAY}
    fields.update(overrides)
    return ReconciliationRequest.model_validate(fields)


async def start(
    env: WorkflowEnvironment, req: ReconciliationRequest, task_queue: str
) -> WorkflowHandle[Any, ReconciliationResult]:
    return await env.client.start_workflow(
        ReconciliationWorkflow.run, req, id=req.workflow_id, task_queue=task_queue
    )


async def reconcile(
    env: WorkflowEnvironment, fakes: Fakes, req: ReconciliationRequest | None = None
) -> ReconciliationResult:
    """Run one reconciliation to its end with ``fakes``."""
    req = req or request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        handle = await start(env, req, task_queue)
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def targets(
    env: WorkflowEnvironment, task_queue: str, *ids: str
) -> dict[str, WorkflowHandle[Any, Any]]:
    """Start one EvidenceTarget per id (on the reconciliation's worker's queue)."""
    return {
        ident: await env.client.start_workflow(EvidenceTarget.run, id=ident, task_queue=task_queue)
        for ident in ids
    }


async def received(handle: WorkflowHandle[Any, Any]) -> list[ProviderEvent]:
    return list(await handle.query(EvidenceTarget.events))


async def beside_targets(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, ReconciliationResult]
) -> ReconciliationResult:
    """The run's result, waited for in real time: with auto time skipping, the test server
    would skip to the next thing it has, an idle target's 10-year run timeout."""
    with env.auto_time_skipping_disabled():
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def finish(env: WorkflowEnvironment, handles: dict[str, WorkflowHandle[Any, Any]]) -> None:
    """End the targets (all told first: none is left idle while another is waited for)."""
    for handle in handles.values():
        await handle.signal(EvidenceTarget.finish)
    with env.auto_time_skipping_disabled():
        for handle in handles.values():
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


# -- outcome and alert -----------------------------------------------------------------


async def test_a_clean_run_returns_the_outcome_and_raises_no_alert(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(outcome=output(review=0))
    req = request()
    result = await reconcile(env, fakes, req)

    assert result.status is RunStatus.COMPLETED
    assert result.provider == req.provider and result.day == DAY
    assert result.outcome == fakes.outcome
    assert result.alerted is False and result.evidence_sent == [] and result.error is None
    assert fakes.alerts == [] and fakes.notes == []
    [asked] = fakes.reconciled
    assert asked.provider == req.provider and asked.day == DAY
    assert asked.workflow_id == f"reconcile-{req.provider}-2026-03-14"
    assert asked.run_id and asked.file is None and asked.policy == req.policy


async def test_findings_for_review_raise_one_alert_keyed_by_the_report(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(outcome=output(review=2))
    req = request()
    result = await reconcile(env, fakes, req)

    assert result.status is RunStatus.COMPLETED and result.alerted is True
    [alert] = fakes.alerts
    assert alert.key == f"reconcile-{req.provider}-2026-03-14:{SHA[:16]}"
    assert alert.provider == req.provider and alert.day == DAY
    assert alert.review == 2
    assert alert.review_amount == {"KES": 3_000_00}
    assert alert.findings == {"missing_in_ledger": 2}


@pytest.mark.parametrize(("review", "alerted"), [(2, False), (3, True), (4, True)])
async def test_the_alert_waits_for_the_policy_minimum(
    env: WorkflowEnvironment, review: int, alerted: bool
) -> None:
    fakes = Fakes(outcome=output(review=review))
    policy = ReconciliationPolicy(alert_min_findings=3)
    result = await reconcile(env, fakes, request(policy=policy))

    assert result.status is RunStatus.COMPLETED
    assert result.alerted is alerted
    assert len(fakes.alerts) == int(alerted)


# -- evidence --------------------------------------------------------------------------


async def test_evidence_goes_to_the_running_workflow_of_its_kind_and_is_noted(
    env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:6]
    payout, refund, failed = f"payout-p1-{tag}", f"refund-r1-{tag}", f"payout-p2-{tag}"
    wrong_kind, evil = f"collection-x-{tag}", f"evil-x-{tag}"
    gone = f"payout-gone-{tag}"
    items = [
        evidence(payout, finding_id="rf_payout"),
        evidence(refund, kind=LineKind.REFUND, status=LineStatus.REVERSED, finding_id="rf_refund"),
        # A failed line moved no money: no finding, but the waiting payout hears it.
        evidence(failed, status=LineStatus.FAILED, finding_id=None),
        # The provider's words are no address: a payout line may only reach a payout-...
        evidence(wrong_kind, finding_id="rf_wrong_kind"),
        evidence(evil, finding_id="rf_evil"),
        # A reference whose workflow does not exist: skipped, not noted.
        evidence(gone, finding_id="rf_gone"),
        # A kind no workflow waits for.
        evidence(f"payout-fee-{tag}", kind=LineKind.FEE, finding_id="rf_fee"),
    ]
    fakes = Fakes(outcome=output(items=items))
    req = request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        waiting = await targets(env, task_queue, payout, refund, failed, wrong_kind, evil)
        handle = await start(env, req, task_queue)
        result = await beside_targets(env, handle)
        got = {ident: await received(h) for ident, h in waiting.items()}
        await finish(env, waiting)

    assert result.status is RunStatus.COMPLETED
    assert result.evidence_sent == ["rf_payout", "rf_refund"]
    assert fakes.notes == [EvidenceNote(finding_ids=["rf_payout", "rf_refund"])]
    assert got[wrong_kind] == [] and got[evil] == []

    [event] = got[payout]
    assert event == ProviderEvent(
        provider=req.provider,
        event_id=f"settlement:2026-03-14:{payout}:succeeded",
        reference=payout,
        outcome=TransferOutcome.SUCCEEDED,
        provider_status="settlement report 2026-03-14: succeeded",
        provider_transaction_id=f"HUB-{payout}",
        occurred_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
        currency="KES",
        amount_minor=1_500_00,
        needs_confirmation=True,
    )
    [reversed_] = got[refund]
    assert reversed_.outcome is TransferOutcome.REVERSED
    assert reversed_.event_id == f"settlement:2026-03-14:{refund}:reversed"
    [failure] = got[failed]
    assert failure.outcome is TransferOutcome.FAILED and failure.needs_confirmation is True
    assert failure.amount_minor == 1_500_00 and failure.currency == "KES"


async def test_the_same_report_gives_the_same_event_ids(env: WorkflowEnvironment) -> None:
    # A re-run of the same date hands the same line again: the target drops the repeat
    # by its event id, so the id must not depend on the run.
    tag = uuid.uuid4().hex[:6]
    payout = f"payout-p1-{tag}"
    cash = f"cash-order-c1-{tag}"
    items = [
        evidence(payout, finding_id="rf_1"),
        evidence(cash, kind=LineKind.CASH_PAYMENT, currency="COP", finding_id="rf_2"),
    ]
    fakes = Fakes(outcome=output(items=items))
    req = request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        waiting = await targets(env, task_queue, payout, cash)
        for _ in range(2):
            await beside_targets(env, await start(env, req, task_queue))
        got = {ident: await received(h) for ident, h in waiting.items()}
        await finish(env, waiting)

    first, second = got[payout]
    assert first == second
    assert first.event_id == f"settlement:2026-03-14:{payout}:succeeded"
    assert [e.currency for e in got[cash]] == ["COP", "COP"]
    assert fakes.notes == [EvidenceNote(finding_ids=["rf_1", "rf_2"])] * 2


async def test_evidence_nobody_takes_is_not_noted(env: WorkflowEnvironment) -> None:
    tag = uuid.uuid4().hex[:6]
    items = [
        evidence(f"payout-gone-{tag}", finding_id="rf_gone"),
        evidence(f"collection-x-{tag}", finding_id="rf_wrong_kind"),
    ]
    fakes = Fakes(outcome=output(items=items))
    result = await reconcile(env, fakes)
    assert result.status is RunStatus.COMPLETED
    assert result.evidence_sent == [] and fakes.notes == []


async def test_a_finished_workflow_is_skipped(env: WorkflowEnvironment) -> None:
    payout = f"payout-done-{uuid.uuid4().hex[:6]}"
    fakes = Fakes(outcome=output(items=[evidence(payout, finding_id="rf_done")]))
    req = request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        done = await targets(env, task_queue, payout)
        await finish(env, done)
        handle = await start(env, req, task_queue)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result.status is RunStatus.COMPLETED
    assert result.evidence_sent == [] and fakes.notes == []


# -- failures --------------------------------------------------------------------------


async def test_an_invalid_report_fails_the_run_at_once_with_its_error(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(fail="invalid")
    req = request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        handle = await start(env, req, task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        view = await handle.query(ReconciliationWorkflow.get_status)

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ReportInvalid"
    assert (
        cause.message == f"{req.provider} report of 2026-03-14: line 7: amount 'x' is not a number"
    )
    assert cause.non_retryable
    # Final by the workflow's retry policy: one attempt, however the activity raised it.
    assert len(fakes.reconciled) == 1
    assert fakes.alerts == [] and fakes.notes == []
    assert view.status is RunStatus.FAILED and view.error == cause.message


async def test_a_transient_failure_is_retried(env: WorkflowEnvironment) -> None:
    fakes = Fakes(fail="transient:2")
    began = time.monotonic()
    result = await reconcile(env, fakes)
    assert result.status is RunStatus.COMPLETED
    assert result.outcome == fakes.outcome
    assert len(fakes.reconciled) == 3
    # The 5 s and 10 s backoffs are skipped, not waited.
    assert time.monotonic() - began < 5.0


# -- the view --------------------------------------------------------------------------


async def test_the_status_query_answers_running_then_completed(env: WorkflowEnvironment) -> None:
    fakes = Fakes(hold=asyncio.Event())
    req = request()
    task_queue = queue()
    async with worker(env, fakes, task_queue):
        handle = await start(env, req, task_queue)
        deadline = time.monotonic() + 5.0
        while not fakes.reconciled:
            assert time.monotonic() < deadline, "reconcile was never called"
            await asyncio.sleep(0.02)
        running = await handle.query(ReconciliationWorkflow.get_status)
        assert fakes.hold is not None
        fakes.hold.set()
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        done = await handle.query(ReconciliationWorkflow.get_status)

    assert running == ReconciliationResult(provider=req.provider, day=DAY, status=RunStatus.RUNNING)
    assert done == result
    assert done.status is RunStatus.COMPLETED and done.outcome == fakes.outcome


# -- the daily trigger -----------------------------------------------------------------


async def test_the_scheduled_run_reconciles_yesterday_as_a_child(env: WorkflowEnvironment) -> None:
    # The test server has no TemporalScheduledStartTime: the workflow's clock decides.
    fakes = Fakes()
    provider = f"hub{uuid.uuid4().hex[:6]}"
    task_queue = queue()
    before = (await env.get_current_time()).astimezone(UTC).date()
    async with worker(env, fakes, task_queue):
        handle = await env.client.start_workflow(
            ScheduledReconciliationWorkflow.run,
            ScheduledReconciliationRequest(provider=provider),
            id=f"reconcile-daily-{provider}-run",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    after = (await env.get_current_time()).astimezone(UTC).date()

    [asked] = fakes.reconciled
    assert asked.day in {before - timedelta(days=1), after - timedelta(days=1)}
    yesterday = asked.day
    assert asked.workflow_id == f"reconcile-{provider}-{yesterday.isoformat()}"
    assert result.provider == provider and result.day == yesterday
    assert result.status is RunStatus.COMPLETED and result.outcome == fakes.outcome
    child = await env.client.get_workflow_handle(asked.workflow_id).describe()
    assert child.workflow_type == "ReconciliationWorkflow"
    assert child.parent_id == handle.id


# -- replay ----------------------------------------------------------------------------

RECORDED = sorted(HISTORIES.glob("reconcile-v1-*.json"))


def test_reconciliation_histories_are_recorded() -> None:
    assert {p.stem for p in RECORDED} >= {
        "reconcile-v1-evidence-alert",
        "reconcile-v1-clean",
        "reconcile-v1-report-invalid",
    }


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_reconciliation_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
