"""The client side of reconciliation: runs, their stored reports, resolutions, schedules.

A run is a workflow (``reconcile-{provider}-{date}``) started here and waited for; its
report (totals and findings) is read from the database the worker stored it in, so
``report`` and ``resolve`` need the ledger's database, as ``payments ledger`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import PROVIDERS, report_spec
from payments_engine.db.reconciliation import ReconciliationStore
from payments_engine.domain.errors import (
    PaymentsError,
    ProviderNotConfigured,
    ReportInvalid,
    ValidationFailed,
)
from payments_engine.domain.reconciliation import (
    Finding,
    ReconciliationPolicy,
    ReconciliationRequest,
    ReconciliationResult,
    RunView,
    ScheduledReconciliationRequest,
    schedule_id,
)
from payments_engine.workflows.reconciliation import (
    ReconciliationWorkflow,
    ScheduledReconciliationWorkflow,
)

DEFAULT_SCHEDULE_HOUR = 2
DEFAULT_CATCHUP_WINDOW = timedelta(days=1)


class ReconciliationFailed(PaymentsError):
    """A reconciliation run failed; the message is the run's own error."""

    type = "ReconciliationFailed"


class DatabaseNeeded(ValidationFailed):
    """The command reads stored runs: it needs the ledger's database."""

    type = "DatabaseNeeded"


@dataclass(frozen=True)
class ScheduleResult:
    """A schedule created or updated."""

    schedule_id: str
    provider: str
    created: bool
    at: str


def check_reporting_provider(name: str) -> None:
    """Refuse a provider that publishes no settlement report.

    Raises:
        ProviderNotConfigured: naming the providers that do.
    """
    try:
        report_spec(name)
    except ProviderNotSupported as exc:
        raise ProviderNotConfigured(str(exc)) from None


def reconciling_providers() -> list[str]:
    """The providers that publish a daily settlement report."""
    return sorted(name for name, spec in PROVIDERS.items() if spec.settlement_report)


class ReconciliationClient:
    """Run reconciliations, read and resolve their findings, schedule the daily runs.

    Args:
        temporal: the engine's Temporal client.
        task_queue: the workers' task queue.
        store: the stored runs (the ledger's database); None for start/wait only.
    """

    def __init__(
        self, temporal: Client, task_queue: str, store: ReconciliationStore | None = None
    ) -> None:
        """Keep the clients; nothing is contacted here."""
        self._temporal = temporal
        self._task_queue = task_queue
        self._store = store

    async def run(self, request: ReconciliationRequest) -> ReconciliationResult:
        """Start (or join the running) reconciliation and wait for its result.

        Raises:
            ProviderNotConfigured: the provider publishes no settlement report.
            ReconciliationFailed: the run failed; ``ReportInvalid`` keeps its type.
        """
        check_reporting_provider(request.provider)
        handle = await self._temporal.start_workflow(
            ReconciliationWorkflow.run,
            request,
            id=request.workflow_id,
            task_queue=self._task_queue,
            # A running reconciliation of the same date is joined, a finished one re-run.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == ReportInvalid.type:
                raise ReportInvalid(cause.message) from None
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise ReconciliationFailed(message) from None

    async def report(self, provider: str, day: date) -> RunView | None:
        """The stored run of ``provider`` for ``day``, or None if it never ran."""
        return await self._require_store().get_run(provider, day)

    async def resolve(self, finding_id: str, note: str) -> Finding:
        """Resolve a finding by hand, with a note saying why (idempotent for one note).

        Raises:
            FindingNotFound: no finding has that id.
            FindingConflict: it was resolved before with another note.
        """
        return await self._require_store().resolve(finding_id, note)

    async def schedule(
        self,
        provider: str,
        *,
        hour: int = DEFAULT_SCHEDULE_HOUR,
        minute: int = 0,
        catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW,
        policy: ReconciliationPolicy | None = None,
    ) -> ScheduleResult:
        """Create or update the daily schedule of ``provider`` (UTC; overlapping runs skip).

        Each run reconciles the day before its scheduled time; runs missed while the
        engine was down are caught up within ``catchup_window``.
        """
        check_reporting_provider(provider)
        wanted = Schedule(
            action=ScheduleActionStartWorkflow(
                ScheduledReconciliationWorkflow.run,
                ScheduledReconciliationRequest(
                    provider=provider, policy=policy or ReconciliationPolicy()
                ),
                id=schedule_id(provider),
                task_queue=self._task_queue,
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        second=[ScheduleRange(0)],
                        minute=[ScheduleRange(minute)],
                        hour=[ScheduleRange(hour)],
                    )
                ],
                time_zone_name="UTC",
            ),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup_window
            ),
        )
        at = f"{hour:02d}:{minute:02d} UTC"
        ident = schedule_id(provider)
        try:
            await self._temporal.create_schedule(ident, wanted)
            return ScheduleResult(ident, provider, True, at)
        except ScheduleAlreadyRunningError:
            pass

        def _replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await self._temporal.get_schedule_handle(ident).update(_replace)
        return ScheduleResult(ident, provider, False, at)

    async def unschedule(self, provider: str) -> bool:
        """Delete the daily schedule of ``provider``; False if there was none."""
        try:
            await self._temporal.get_schedule_handle(schedule_id(provider)).delete()
        except RPCError as exc:
            # The server says NOT_FOUND, with a message that varies by version.
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    def _require_store(self) -> ReconciliationStore:
        if self._store is None:
            raise DatabaseNeeded("reading reconciliation runs needs the ledger's database")
        return self._store
