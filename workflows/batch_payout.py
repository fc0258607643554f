"""BatchPayoutWorkflow: pay every line of a stored batch file once, as child payouts.

``batch-{batch_id}``. The lines live in the database (``payout_batch_lines``); the
workflow claims them a page at a time (``claim_lines`` marks them running in the same
transaction) and starts one child ``PayoutWorkflow`` per line, at most ``concurrency``
at once. A payout's id derives from the batch id and the line's reference, so a line is
paid once whatever happens to the batch: a replayed or restarted batch starts the same
children, and a child already started is never started twice.

Bounded history: a run starts at most ``lines_per_run`` lines, waits for its children
(a payout in needs_review tells its batch, ``payout_needs_review``, so nothing waits on
an operator) and continues as new with only counts, the breaker's windows and the
groups' state (:class:`BatchState`).

Circuit breaker: each line belongs to two groups, its country and its provider. When
the last ``breaker.window`` ended payouts of a group failed at ``breaker.threshold`` or
more, the group pauses: none of its lines starts (claimed ones go back to pending), an
alert is raised, and an operator resumes (``resume_group``) or cancels
(``cancel_group``) it; the rest of the batch goes on.

Operators: ``pause``/``resume`` the whole batch, ``cancel`` it (no new payout starts;
those started finish; the lines never started are cancelled). Query ``get_progress``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.batches import BatchActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.batch import (
        BatchAlert,
        BatchLineState,
        BatchProgress,
        BatchRequest,
        BatchRun,
        BatchState,
        BatchStatus,
        CancelPendingInput,
        ClaimedLine,
        ClaimInput,
        GroupAction,
        GroupView,
        LineOutcome,
        RecordInput,
        ReleaseInput,
    )
    from payments_engine.domain.errors import ValidationFailed
    from payments_engine.domain.msisdn import mask_msisdn
    from payments_engine.domain.payout import (
        PayoutResult,
        PayoutReviewNotice,
        PayoutStatus,
        payout_summary,
    )
    from payments_engine.workflows.payout import PayoutWorkflow

STORE_TIMEOUT = timedelta(seconds=60)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
ALERT_TIMEOUT = timedelta(seconds=30)
ALERT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=50,
)
# Outcomes are written to the database in groups this large (the result file's rows).
RECORD_EVERY = 200

_FINAL_STATES = {
    PayoutStatus.SUCCEEDED: BatchLineState.SUCCEEDED,
    PayoutStatus.FAILED: BatchLineState.FAILED,
    PayoutStatus.NEEDS_REVIEW: BatchLineState.NEEDS_REVIEW,
}


@workflow.defn
class BatchPayoutWorkflow:
    """Every line of a batch paid once, with live progress and a breaker per group."""

    @workflow.init
    def __init__(self, run: BatchRun) -> None:
        """Take the state of the run before (or a fresh one) before any handler runs."""
        self._request: BatchRequest = run.request
        now = workflow.now()
        self._state: BatchState = run.state or BatchState(
            progress=BatchProgress(
                batch_id=run.request.batch_id,
                status=BatchStatus.RUNNING,
                lines=run.request.lines,
                started_at=now,
                updated_at=now,
            )
        )
        # payout id -> the line it pays, while its payout runs.
        self._running: dict[str, ClaimedLine] = {}
        self._following: set[asyncio.Task[None]] = set()
        self._buffer: list[ClaimedLine] = []
        self._release: list[int] = []
        self._outcomes: list[LineOutcome] = []
        self._started_this_run = 0
        self._claims = 0
        self._alerts: set[asyncio.Task[None]] = set()

    @workflow.run
    async def run(self, run: BatchRun) -> BatchProgress:
        """Claim, start and follow the lines; continue as new between pages."""
        if run.state is None:
            described = await workflow.execute_activity_method(
                BatchActivities.describe_batch,
                self._request.batch_id,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._update(lines=described.lines)
        while True:
            await workflow.wait_condition(lambda: not self._state.paused or self._state.cancelling)
            if self._state.cancelling:
                break
            if not self._buffer:
                if not await self._next_page():
                    break
                continue
            line = self._buffer.pop(0)
            if self._blocked(line):
                self._release.append(line.line_no)
                continue
            await workflow.wait_condition(
                lambda: (
                    len(self._running) < self._request.concurrency
                    or self._state.paused
                    or self._state.cancelling
                )
            )
            if self._state.paused or self._state.cancelling or self._blocked(line):
                self._buffer.insert(0, line)
                continue
            self._launch(line)
        return await self._finish()

    # -- operators ---------------------------------------------------------------------

    @workflow.update
    async def pause(self) -> BatchProgress:
        """Start no new payout until resumed; those running go on."""
        self._state.paused = True
        self._update(BatchStatus.PAUSED)
        return self._state.progress

    @pause.validator
    def _validate_pause(self) -> None:
        if self._state.cancelling:
            raise ValidationFailed("this batch was cancelled: there is nothing to pause")

    @workflow.update
    async def resume(self) -> BatchProgress:
        """Start payouts again after a pause."""
        self._state.paused = False
        self._update(BatchStatus.RUNNING)
        return self._state.progress

    @resume.validator
    def _validate_resume(self) -> None:
        if self._state.cancelling:
            raise ValidationFailed("this batch was cancelled: it cannot be resumed")

    @workflow.update
    async def cancel(self) -> BatchProgress:
        """Start no new payout; those started finish; lines never started are cancelled."""
        self._state.cancelling = True
        self._update(BatchStatus.CANCELLING)
        return self._state.progress

    @workflow.update
    async def resume_group(self, action: GroupAction) -> BatchProgress:
        """Resume a group the breaker (or an operator) paused; its lines start again."""
        self._state.paused_groups.remove(action.group)
        self._state.windows.pop(action.group, None)
        if action.group not in self._state.resumed_groups:
            self._state.resumed_groups.append(action.group)
        self._update()
        return self._state.progress

    @resume_group.validator
    def _validate_resume_group(self, action: GroupAction) -> None:
        if action.group not in self._state.paused_groups:
            raise ValidationFailed(f"group {action.group!r} is not paused in this batch")

    @workflow.update
    async def cancel_group(self, action: GroupAction) -> BatchProgress:
        """Cancel a group: none of its lines starts any more; those started finish."""
        if action.group in self._state.paused_groups:
            self._state.paused_groups.remove(action.group)
        if action.group not in self._state.cancelled_groups:
            self._state.cancelled_groups.append(action.group)
        self._update()
        return self._state.progress

    @cancel_group.validator
    def _validate_cancel_group(self, action: GroupAction) -> None:
        if not action.group.startswith(("country:", "provider:")):
            raise ValidationFailed("a group is country:<CC> or provider:<name>")

    @workflow.signal
    async def payout_needs_review(self, notice: PayoutReviewNotice) -> None:
        """A child payout moved to needs_review: the line ended, for the batch."""
        # A line holds its slot from before its start is confirmed, so a notice that
        # overtakes the start still finds it.
        line = self._running.pop(notice.payout_id, None)
        if line is not None:
            self._review(line, notice)

    def _review(self, line: ClaimedLine, notice: PayoutReviewNotice) -> None:
        """The line ended in needs_review; its payout may still be decided later."""
        self._state.review_ids.append(notice.payout_id)
        self._ended(
            line,
            LineOutcome(
                line_no=line.line_no,
                state=BatchLineState.NEEDS_REVIEW,
                provider_transaction_id=notice.provider_transaction_id,
                failure_code=notice.failure_code,
            ),
        )

    @workflow.query
    def get_progress(self) -> BatchProgress:
        """Counts by state, groups and their breakers, runs so far."""
        progress = self._state.progress
        return progress.model_copy(update={"running": len(self._running), "groups": self._groups()})

    # -- the loop ----------------------------------------------------------------------

    async def _next_page(self) -> bool:
        """Claim the next page; False once every line is started, cancelled or skipped."""
        await self._release_skipped()
        if self._started_this_run >= self._request.lines_per_run:
            await self._continue_as_new()
        self._claims += 1
        page = await workflow.execute_activity_method(
            BatchActivities.claim_lines,
            ClaimInput(
                batch_id=self._request.batch_id,
                merchant_id=self._request.merchant_id,
                after_line=self._state.cursor,
                # Never more than the run may still start: its history stays bounded.
                limit=min(
                    self._request.page_size,
                    self._request.lines_per_run - self._started_this_run,
                ),
                skip_groups=[*self._state.paused_groups, *self._state.cancelled_groups],
                token=f"{workflow.info().run_id}:{self._claims}",
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self._buffer = list(page.lines)
        self._state.cursor = page.last_line
        if self._buffer or not page.exhausted:
            return True
        # The end of a pass: lines of groups resumed since are picked up by another.
        if self._state.resumed_groups:
            self._state.resumed_groups = []
            self._state.cursor = 0
            return True
        if self._state.paused_groups:
            await workflow.wait_condition(
                lambda: (
                    bool(self._state.resumed_groups)
                    or not self._state.paused_groups
                    or self._state.cancelling
                )
            )
            self._state.cursor = 0 if self._state.resumed_groups else self._state.cursor
            self._state.resumed_groups = []
            return not self._state.cancelling
        return False

    def _blocked(self, line: ClaimedLine) -> bool:
        blocked = (*self._state.paused_groups, *self._state.cancelled_groups)
        return any(group in blocked for group in line.groups)

    def _launch(self, line: ClaimedLine) -> None:
        """Take a slot and start the line's payout in the background.

        Not awaited here: the loop goes on to the next line, so one workflow task sends
        as many starts as there are free slots, not one.
        """
        self._running[line.request.payout_id] = line
        self._started_this_run += 1
        self._update(started=self._state.progress.started + 1)
        task = asyncio.ensure_future(self._start(line))
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    async def _start(self, line: ClaimedLine) -> None:
        """Start the line's child payout, then follow it to its end."""
        request = line.request
        search = None
        if sa.PAYMENT_KIND in workflow.info().typed_search_attributes:
            search = sa.payout_search_attributes(
                status=PayoutStatus.RECEIVED.value,
                provider=request.provider,
                country=request.country,
                currency=request.amount.currency,
                amount=request.amount.amount,
                payout_id=request.payout_id,
                merchant_id=request.merchant_id,
            )
        try:
            handle = await workflow.start_child_workflow(
                PayoutWorkflow.run,
                request,
                id=request.workflow_id,
                # Cancelling the batch stops new payouts, never one already started.
                parent_close_policy=ParentClosePolicy.ABANDON,
                # A payout that ran before (a restarted batch, or started by hand) is
                # never run again: it is flagged for a person instead.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary="Payout "
                + payout_summary(
                    request.amount, request.provider, mask_msisdn(request.recipient_msisdn)
                ),
                search_attributes=search,
            )
        except WorkflowAlreadyStartedError:
            # Started by someone else (or an earlier batch): never paid twice, checked.
            if self._running.pop(request.payout_id, None) is not None:
                self._taken(line)
            return
        await self._follow(line, handle)

    def _taken(self, line: ClaimedLine) -> None:
        """A payout with the line's id exists already: never pay it again, flag it."""
        workflow.logger.warning(
            "batch %s line %d: its payout id is taken; flagged for review",
            self._request.batch_id,
            line.line_no,
        )
        self._ended(
            line,
            LineOutcome(
                line_no=line.line_no,
                state=BatchLineState.NEEDS_REVIEW,
                failure_code="payout_id_taken",
            ),
        )

    async def _follow(
        self, line: ClaimedLine, handle: workflow.ChildWorkflowHandle[Any, PayoutResult]
    ) -> None:
        try:
            result: PayoutResult = await handle
        except ChildWorkflowError:
            outcome = LineOutcome(
                line_no=line.line_no,
                state=BatchLineState.FAILED,
                failure_code="payout_workflow_failed",
            )
        else:
            payout = result.payout
            outcome = LineOutcome(
                line_no=line.line_no,
                state=_FINAL_STATES.get(payout.status, BatchLineState.NEEDS_REVIEW),
                provider_transaction_id=payout.provider_transaction_id,
                failure_code=payout.failure_code,
            )
        payout_id = line.request.payout_id
        if self._running.pop(payout_id, None) is not None:
            self._ended(line, outcome)
        elif payout_id in self._state.review_ids:
            # Reviewed and decided while this run still follows it: count the decision.
            self._state.review_ids.remove(payout_id)
            self._decided(line, outcome)

    def _ended(self, line: ClaimedLine, outcome: LineOutcome) -> None:
        progress = self._state.progress
        counts = {
            BatchLineState.SUCCEEDED: {"succeeded": progress.succeeded + 1},
            BatchLineState.FAILED: {"failed": progress.failed + 1},
            BatchLineState.NEEDS_REVIEW: {"needs_review": progress.needs_review + 1},
        }[outcome.state]
        self._update(**counts)
        if outcome.state is BatchLineState.SUCCEEDED:
            self._paid(line)
        self._outcomes.append(outcome)
        failed = outcome.state is BatchLineState.FAILED
        for group in line.groups:
            self._observe(group, failed)

    def _paid(self, line: ClaimedLine) -> None:
        """Add the line's amount to what the batch paid, per currency."""
        amount = line.request.amount
        paid = dict(self._state.progress.paid)
        paid[amount.currency] = paid.get(amount.currency, 0) + amount.amount
        self._state.progress = self._state.progress.model_copy(update={"paid": paid})

    def _decided(self, line: ClaimedLine, outcome: LineOutcome) -> None:
        progress = self._state.progress
        update: dict[str, int] = {"needs_review": progress.needs_review - 1}
        if outcome.state is BatchLineState.SUCCEEDED:
            update["succeeded"] = progress.succeeded + 1
            self._paid(line)
        elif outcome.state is BatchLineState.FAILED:
            update["failed"] = progress.failed + 1
        else:
            return
        self._update(**update)
        self._outcomes.append(outcome)

    # -- the breaker -------------------------------------------------------------------

    def _observe(self, group: str, failed: bool) -> None:
        breaker = self._request.breaker
        window = self._state.windows.setdefault(group, [])
        window.append(failed)
        del window[: max(0, len(window) - breaker.window)]
        if group in self._state.paused_groups or group in self._state.cancelled_groups:
            return
        failures = sum(window)
        if len(window) >= breaker.window and failures >= breaker.threshold * breaker.window:
            self._trip(group, failures)

    def _trip(self, group: str, failures: int) -> None:
        self._state.paused_groups.append(group)
        workflow.logger.warning(
            "batch %s: %s paused, %d of its last %d payouts failed",
            self._request.batch_id,
            group,
            failures,
            self._request.breaker.window,
        )
        alert = BatchAlert(
            key=f"batch-{self._request.batch_id}:{group}:{self._state.progress.done}",
            batch_id=self._request.batch_id,
            group=group,
            failed=failures,
            window=self._request.breaker.window,
        )
        task = asyncio.ensure_future(self._alert(alert))
        self._alerts.add(task)
        task.add_done_callback(self._alerts.discard)
        self._update()

    async def _alert(self, alert: BatchAlert) -> None:
        await workflow.execute_activity_method(
            BatchActivities.alert_breaker,
            alert,
            start_to_close_timeout=ALERT_TIMEOUT,
            retry_policy=ALERT_RETRY,
        )

    def _groups(self) -> list[GroupView]:
        names = sorted(
            {*self._state.windows, *self._state.paused_groups, *self._state.cancelled_groups}
        )
        return [
            GroupView(
                group=name,
                ended=len(self._state.windows.get(name, [])),
                failed_in_window=sum(self._state.windows.get(name, [])),
                paused=name in self._state.paused_groups,
                cancelled=name in self._state.cancelled_groups,
            )
            for name in names
        ]

    # -- bookkeeping -------------------------------------------------------------------

    def _update(self, status: BatchStatus | None = None, /, **counts: int) -> None:
        update: dict[str, object] = {"updated_at": workflow.now(), **counts}
        if status is not None:
            update["status"] = status
        self._state.progress = self._state.progress.model_copy(update=update)
        if len(self._outcomes) >= RECORD_EVERY:
            outcomes, self._outcomes = self._outcomes, []
            task = asyncio.ensure_future(self._record(outcomes))
            self._alerts.add(task)
            task.add_done_callback(self._alerts.discard)

    async def _record(self, outcomes: list[LineOutcome]) -> None:
        if not outcomes:
            return
        await workflow.execute_activity_method(
            BatchActivities.record_outcomes,
            RecordInput(batch_id=self._request.batch_id, outcomes=outcomes),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    async def _release_skipped(self) -> None:
        if not self._release:
            return
        line_nos, self._release = self._release, []
        await workflow.execute_activity_method(
            BatchActivities.release_lines,
            ReleaseInput(batch_id=self._request.batch_id, line_nos=line_nos),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    async def _settle_up(self) -> None:
        """Wait for the running payouts and the pending writes; record what ended."""
        await workflow.wait_condition(lambda: not self._running)
        await workflow.wait_condition(lambda: not self._alerts)
        outcomes, self._outcomes = self._outcomes, []
        await self._record(outcomes)

    async def _continue_as_new(self) -> None:
        await self._settle_up()
        progress = self._state.progress
        self._state.progress = progress.model_copy(update={"runs": progress.runs + 1})
        workflow.continue_as_new(BatchRun(request=self._request, state=self._state))

    async def _finish(self) -> BatchProgress:
        # Claimed lines never started go back first, so a cancel marks them cancelled.
        self._release.extend(line.line_no for line in self._buffer)
        self._buffer = []
        await self._release_skipped()
        await self._settle_up()
        groups = None if self._state.cancelling else self._state.cancelled_groups
        cancelled = 0
        if groups is None or groups:
            cancelled = await workflow.execute_activity_method(
                BatchActivities.cancel_pending,
                CancelPendingInput(batch_id=self._request.batch_id, groups=groups),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        status = BatchStatus.CANCELLED if self._state.cancelling else BatchStatus.COMPLETED
        self._update(status, cancelled=self._state.progress.cancelled + cancelled)
        return self.get_progress()
