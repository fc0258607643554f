"""Reconciliation of one provider's settlement report for one date, and its daily trigger.

``ReconciliationWorkflow`` (``reconcile-{provider}-{date}``):

1. ``reconcile`` downloads the report (or reads a person's file), matches it to the
   ledger's provider transactions and stores the run and its findings in one
   transaction. A report that cannot be read fails the workflow with the error that
   names the line (``ReportInvalid``); nothing but that error is stored.
2. Report lines for transactions the ledger has not booked yet are handed to their
   workflows as evidence (signal ``provider_event``): a stuck payout, collection,
   refund or cash order verifies it with a status query like any webhook, so the report
   resolves them instead of only listing them. A workflow that is gone is skipped.
3. When at least ``policy.alert_min_findings`` findings need review, one alert is raised
   (idempotent per report content).

Re-running a provider and date is safe: the same report gives the same findings, and
what people resolved stays resolved.

``ScheduledReconciliationWorkflow`` is what the daily Temporal Schedule starts: it
reconciles the day before its scheduled time as a child ``reconcile-{provider}-{date}``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.reconciliation import ReconciliationActivities
    from payments_engine.domain.cash import CASH_ORDER_WORKFLOW_PREFIX
    from payments_engine.domain.errors import ProviderNotConfigured, ReportInvalid
    from payments_engine.domain.events import ProviderEvent, TransferOutcome
    from payments_engine.domain.reconciliation import (
        AlertInput,
        Evidence,
        EvidenceNote,
        LineKind,
        LineStatus,
        ReconcileInput,
        ReconcileOutput,
        ReconciliationRequest,
        ReconciliationResult,
        RunStatus,
        ScheduledReconciliationRequest,
        reconcile_workflow_id,
    )
    from payments_engine.workflows.common import failure_cause

RECONCILE_TIMEOUT = timedelta(hours=2)
RECONCILE_HEARTBEAT = timedelta(minutes=2)
RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=20,
    non_retryable_error_types=[
        ReportInvalid.type,
        ProviderNotConfigured.type,
    ],
)
HOOK_TIMEOUT = timedelta(seconds=30)
HOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=50,
)
NOTE_TIMEOUT = timedelta(seconds=30)
NOTE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)

# Only a reference shaped like the workflow of its kind is signalled: a report line is
# the provider's word, not an address of our choosing.
WORKFLOW_PREFIXES: dict[LineKind, str] = {
    LineKind.PAYOUT: "payout-",
    LineKind.COLLECTION: "collection-",
    LineKind.REFUND: "refund-",
    LineKind.CASH_PAYMENT: CASH_ORDER_WORKFLOW_PREFIX,
}
OUTCOMES = {
    LineStatus.SUCCEEDED: TransferOutcome.SUCCEEDED,
    LineStatus.FAILED: TransferOutcome.FAILED,
    LineStatus.REVERSED: TransferOutcome.REVERSED,
}
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class ReconciliationWorkflow:
    """One provider's settlement report for one date, matched, stored, acted upon."""

    @workflow.init
    def __init__(self, request: ReconciliationRequest) -> None:
        """Start with a running view, so a query before the first step answers."""
        self._view = ReconciliationResult(
            provider=request.provider, day=request.day, status=RunStatus.RUNNING
        )

    @workflow.run
    async def run(self, request: ReconciliationRequest) -> ReconciliationResult:
        """Reconcile, hand evidence to waiting workflows, alert when people must look."""
        info = workflow.info()
        try:
            outcome = await workflow.execute_activity_method(
                ReconciliationActivities.reconcile,
                ReconcileInput(
                    provider=request.provider,
                    day=request.day,
                    file=request.file,
                    policy=request.policy,
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                ),
                start_to_close_timeout=RECONCILE_TIMEOUT,
                heartbeat_timeout=RECONCILE_HEARTBEAT,
                retry_policy=RECONCILE_RETRY,
            )
        except ActivityError as err:
            cause = failure_cause(err)
            if cause is None:
                raise
            self._view = self._view.model_copy(
                update={"status": RunStatus.FAILED, "error": cause.message}
            )
            # The run failed for good: say why, in the workflow's own failure.
            raise ApplicationError(cause.message, type=cause.type, non_retryable=True) from None
        self._view = self._view.model_copy(update={"outcome": outcome})

        sent = await self._hand_evidence(request, outcome.evidence)
        if sent:
            await workflow.execute_activity_method(
                ReconciliationActivities.note_evidence,
                EvidenceNote(finding_ids=sent),
                start_to_close_timeout=NOTE_TIMEOUT,
                retry_policy=NOTE_RETRY,
            )
        alerted = False
        if outcome.review >= request.policy.alert_min_findings:
            alerted = await workflow.execute_activity_method(
                ReconciliationActivities.alert,
                _alert(request, outcome),
                start_to_close_timeout=HOOK_TIMEOUT,
                retry_policy=HOOK_RETRY,
            )
        self._view = self._view.model_copy(
            update={"status": RunStatus.COMPLETED, "alerted": alerted, "evidence_sent": sent}
        )
        return self._view

    @workflow.query
    def get_status(self) -> ReconciliationResult:
        """Where the run stands, and what it found once done."""
        return self._view

    async def _hand_evidence(
        self, request: ReconciliationRequest, evidence: list[Evidence]
    ) -> list[str]:
        """Signal each line's workflow; the finding ids of those that took it."""
        targets = [
            item
            for item in evidence
            if item.kind in WORKFLOW_PREFIXES
            and item.reference.startswith(WORKFLOW_PREFIXES[item.kind])
        ]
        results = await asyncio.gather(
            *(self._signal(request, item) for item in targets), return_exceptions=False
        )
        return [
            item.finding_id
            for item, taken in zip(targets, results, strict=True)
            if taken and item.finding_id is not None
        ]

    async def _signal(self, request: ReconciliationRequest, item: Evidence) -> bool:
        event = ProviderEvent(
            provider=request.provider,
            event_id=f"settlement:{request.day.isoformat()}:{item.reference}:{item.status}",
            reference=item.reference,
            outcome=OUTCOMES[item.status],
            provider_status=f"settlement report {request.day.isoformat()}: {item.status}",
            provider_transaction_id=item.provider_transaction_id,
            occurred_at=item.occurred_at,
            currency=item.currency,
            amount_minor=item.gross,
            needs_confirmation=True,
        )
        handle = workflow.get_external_workflow_handle(item.reference)
        try:
            await handle.signal("provider_event", event)
        except Exception:  # noqa: BLE001 - a finished or unknown workflow: nothing waits
            return False
        return True


def _alert(request: ReconciliationRequest, outcome: ReconcileOutput) -> AlertInput:
    return AlertInput(
        key=f"{reconcile_workflow_id(request.provider, request.day)}:{outcome.report_sha256[:16]}",
        provider=request.provider,
        day=request.day,
        review=outcome.review,
        review_amount=outcome.review_amount,
        findings=outcome.findings,
    )


@workflow.defn
class ScheduledReconciliationWorkflow:
    """The daily trigger: reconcile the day before the scheduled time, as a child."""

    @workflow.run
    async def run(self, request: ScheduledReconciliationRequest) -> ReconciliationResult:
        """Run ``reconcile-{provider}-{yesterday}`` and return its result."""
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        # A catch-up run reconciles the day its slot was for, not the day it runs.
        moment = scheduled if scheduled is not None else workflow.now()
        day = moment.date() - timedelta(days=1)
        child = ReconciliationRequest(provider=request.provider, day=day, policy=request.policy)
        return await workflow.execute_child_workflow(
            ReconciliationWorkflow.run,
            child,
            id=child.workflow_id,
        )
