"""PayoutWorkflow: pay a merchant's money out to a mobile wallet, exactly once.

States: received -> reserved -> submitted -> succeeded | failed | needs_review.

* validate: the request was validated by the client; the workflow re-checks nothing that
  needs I/O.
* reserve: the merchant's available balance is moved to reserved (idempotent ledger key
  ``payout:{id}:reserve``); too little money fails the payout before any provider call.
* submit: the call to the request's provider (picked from the registry by the activity)
  carries our reference (the workflow id); ambiguous outcomes are resolved inside the
  activity by a status query, never by a blind resubmission.
* wait: :class:`~workflows.common.ProviderWait`. A webhook (signal ``provider_event``)
  is a hint: a final one is confirmed by a status query and applied only if the
  provider's status, amount and currency agree with ours; anything else is refused,
  kept as evidence, and moves the payout to needs_review. Without news it polls on a
  backoff timer; at the deadline it flags needs_review and polls slowly until the
  provider or an operator decides.
* succeeded posts reserved -> provider clearing; failed releases the reservation.

Payouts started before the patch ``verified-provider-events`` keep the rules they started
with (webhooks applied as received), so their histories replay.

Ledger steps run as local activities (patch ``ledger-local-activities``): a posting is one
short transaction on our own database, so it runs inside the workflow task that needs it,
without a round trip through the server's activity queue (two fewer workflow tasks; 40 ->
27-32 history events per payout in ``bench/payout_throughput.py``). Its idempotency key
makes re-running it safe: if the worker dies during a posting, the workflow task times
out, another worker replays the history, finds no marker for the posting and runs it
again, and the ledger returns the entry already posted, if any. Payouts started before
the patch keep regular activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.ledger import LedgerActivities
    from payments_engine.activities.payouts import PayoutActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.errors import InsufficientFunds, ValidationFailed
    from payments_engine.domain.events import EventSource, ProviderEvent, TransferOutcome
    from payments_engine.domain.ledger import PayoutLedgerInput, PostedEntry
    from payments_engine.domain.payout import (
        PayoutRequest,
        PayoutResult,
        PayoutReviewNotice,
        PayoutStatus,
        PayoutView,
        ResolvePayout,
        SubmitPayoutInput,
        TransferStatusInput,
        payout_summary,
    )
    from payments_engine.workflows.common import (
        MAX_POLL_INTERVAL,
        REVIEW_POLL_INTERVAL,
        ProviderWait,
        failure_cause,
    )

# Webhooks are hints, confirmed by a status query; see the module docstring.
PATCH_VERIFIED_EVENTS = "verified-provider-events"

# Ledger steps run as local activities (see the module docstring).
PATCH_LEDGER_LOCAL = "ledger-local-activities"
# A batch's payout tells its parent it needs review (see the module docstring).
PATCH_TELL_PARENT = "tell-parent-on-review"
PARENT_REVIEW_SIGNAL = "payout_needs_review"

# Short, so that an attempt lost with a crashed worker is retried soon; a posting is
# one small transaction.
LEDGER_TIMEOUT = timedelta(seconds=15)
# The ledger is ours: retry transient database trouble for as long as it takes.
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

# Covers the hub call and a status query after an ambiguous answer (10 s each by default).
SUBMIT_START_TO_CLOSE = timedelta(seconds=30)
# Each attempt checks the status before resubmitting, so retrying is safe; after this
# long without an answer the payout moves on to polling and, at the deadline, review.
SUBMIT_SCHEDULE_TO_CLOSE = timedelta(hours=1)
SUBMIT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)

STATUS_START_TO_CLOSE = timedelta(seconds=30)
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)

LedgerStep = Callable[[LedgerActivities, PayoutLedgerInput], Awaitable[PostedEntry]]

FAILURE_MERCHANT_FUNDS = "merchant_insufficient_funds"
# Stable failure codes for submissions the provider refused outright.
REFUSAL_CODES = {
    "ProviderConflict": "provider_reference_conflict",
    "ProviderRejected": "provider_rejected",
    "ProviderAuthError": "provider_auth_failed",
    "ProviderNotConfigured": "provider_not_configured",
}


@workflow.defn
class PayoutWorkflow:
    """One payout to a mobile wallet, from reservation to settlement or release."""

    @workflow.init
    def __init__(self, request: PayoutRequest) -> None:
        """Set up state before any handler runs, so early webhooks are not lost."""
        self._request = request
        self._view = PayoutView.initial(request, workflow.now())
        self._seen_events: set[str] = set()
        self._final: ProviderEvent | None = None
        self._decision: ResolvePayout | None = None
        # Set by run() before any webhook can arrive (no signal-with-start is used).
        self._verified = True
        self._ledger_local = True
        self._submitted_at: datetime | None = None
        self._told_parent = False
        # Kept so the notice's task is not collected before it runs.
        self._parent_notice: asyncio.Future[None] | None = None
        self._provider = ProviderWait(
            subject=f"payout {request.payout_id}",
            reference=request.workflow_id,
            expected=request.amount,
            query=self._query_status,
            on_change=self._sync_provider_view,
        )

    @workflow.run
    async def run(self, request: PayoutRequest) -> PayoutResult:
        """Reserve, submit, wait for a final status, then settle or release."""
        self._verified = workflow.patched(PATCH_VERIFIED_EVENTS)
        self._ledger_local = workflow.patched(PATCH_LEDGER_LOCAL)
        deadline = workflow.now() + timedelta(seconds=request.resolution_deadline_seconds)
        ledger_input = PayoutLedgerInput(
            payout_id=request.payout_id,
            merchant_id=request.merchant_id,
            provider=request.provider,
            amount=request.amount,
        )

        try:
            await self._post(LedgerActivities.reserve_funds, ledger_input)
        except (ActivityError, ApplicationError) as err:
            if _error_type(err) != InsufficientFunds.type:
                raise
            self._view = self._view.model_copy(
                update={"failure_code": FAILURE_MERCHANT_FUNDS, "failure_message": _message(err)}
            )
            self._set_status(PayoutStatus.FAILED)
            return PayoutResult(payout=self._view)
        self._set_status(PayoutStatus.RESERVED)

        await self._submit(request)
        if self._verified:
            await self._provider.run(
                deadline,
                lambda: self._decision is not None,
                first_interval=timedelta(seconds=request.first_poll_seconds),
            )
            self._final = self._provider.final
        elif self._final is None:
            await self._wait_for_final(deadline)

        await self._finish(ledger_input)
        return PayoutResult(payout=self._view)

    @workflow.signal
    async def provider_event(self, event: ProviderEvent) -> None:
        """Take a provider webhook: a hint, confirmed with the provider before it counts."""
        if self._verified:
            self._provider.receive(event)
            return
        if event.event_id in self._seen_events or event.reference != self._request.workflow_id:
            return
        self._seen_events.add(event.event_id)
        self._view = self._view.model_copy(update={"events_applied": len(self._seen_events)})
        self._apply(event)

    @workflow.update
    async def resolve(self, decision: ResolvePayout) -> PayoutView:
        """Let an operator settle or fail a payout in needs_review, once checked by hand."""
        self._decision = decision
        await workflow.wait_condition(lambda: self._view.status.is_final)
        return self._view

    @resolve.validator
    def _validate_resolve(self, decision: ResolvePayout) -> None:
        status = self._view.status
        if status is PayoutStatus.NEEDS_REVIEW or (
            status is PayoutStatus.SUBMITTED and self._verified and self._operator_may_decide()
        ):
            return
        if status is PayoutStatus.SUBMITTED:
            raise ValidationFailed(
                "this payout is still with the provider: it can be resolved once the"
                " provider has no record of it (payments payout recheck), after"
                f" {self._request.review_grace_seconds} s, or in needs_review"
            )
        raise ValidationFailed(
            f"only a payout in needs_review can be resolved; this one is {status}"
        )

    def _operator_may_decide(self) -> bool:
        """Before the deadline: once the provider said it has no record, or after the grace."""
        if self._provider.no_record:
            return True
        submitted_at = self._submitted_at
        grace = timedelta(seconds=self._request.review_grace_seconds)
        return submitted_at is not None and workflow.now() - submitted_at >= grace

    @workflow.update
    async def recheck(self) -> PayoutView:
        """Ask the provider now, and apply its answer if it is final and verified."""
        if self._verified:
            await self._provider.recheck()
        else:
            await self._poll()
        return self._view

    @recheck.validator
    def _validate_recheck(self) -> None:
        if self._view.status not in (PayoutStatus.SUBMITTED, PayoutStatus.NEEDS_REVIEW):
            raise ValidationFailed(
                "only a payout with the provider (submitted or needs_review) can be"
                f" rechecked; this one is {self._view.status}"
            )

    @workflow.query
    def get_status(self) -> PayoutView:
        """Where the payout stands (the recipient's number is masked)."""
        return self._view

    async def _submit(self, request: PayoutRequest) -> None:
        try:
            result = await workflow.execute_activity_method(
                PayoutActivities.submit_payout,
                SubmitPayoutInput(
                    reference=request.workflow_id,
                    provider=request.provider,
                    msisdn=request.recipient_msisdn,
                    country=request.country,
                    amount=request.amount,
                    description=request.description,
                ),
                start_to_close_timeout=SUBMIT_START_TO_CLOSE,
                schedule_to_close_timeout=SUBMIT_SCHEDULE_TO_CLOSE,
                retry_policy=SUBMIT_RETRY,
            )
        except ActivityError as err:
            if not _is_business_error(err):
                # Still unknown after an hour of tries: polling and the deadline decide.
                workflow.logger.warning("submit of %s gave no answer: %s", request.payout_id, err)
                self._set_status(PayoutStatus.SUBMITTED)
                return
            refusal = _error_type(err) or "ProviderRejected"
            self._apply_report(
                ProviderEvent(
                    provider=request.provider,
                    event_id="submit-refused",
                    reference=request.workflow_id,
                    outcome=TransferOutcome.FAILED,
                    provider_status=refusal,
                    failure_code=REFUSAL_CODES.get(refusal, "provider_rejected"),
                    message=str(err.cause),
                ),
                EventSource.SUBMIT,
            )
            return
        self._set_status(PayoutStatus.SUBMITTED)
        self._apply_report(result.report, EventSource.SUBMIT)

    def _apply_report(self, report: ProviderEvent, source: EventSource) -> None:
        if self._verified:
            self._provider.accept(report, source)
        else:
            self._apply(report)

    async def _query_status(self) -> ProviderEvent | None:
        result = await workflow.execute_activity_method(
            PayoutActivities.get_payout_status,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=STATUS_START_TO_CLOSE,
            retry_policy=STATUS_RETRY,
        )
        return result.report

    def _sync_provider_view(self) -> None:
        """Copy what the provider wait knows into the view (and the status attribute)."""
        wait = self._provider
        self._view = self._view.model_copy(update=wait.view_fields())
        if wait.needs_review and self._view.status is not PayoutStatus.NEEDS_REVIEW:
            self._set_status(PayoutStatus.NEEDS_REVIEW)
        else:
            workflow.set_current_details(self._details())

    async def _wait_for_final(self, deadline: datetime) -> None:
        interval = timedelta(seconds=self._request.first_poll_seconds)
        while self._final is None:
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                break
            if await self._wait(min(interval, remaining)):
                return
            await self._poll()
            interval = min(interval * 2, MAX_POLL_INTERVAL)
        if self._final is not None:
            return
        self._set_status(PayoutStatus.NEEDS_REVIEW)
        workflow.logger.warning("payout %s needs review", self._request.payout_id)
        while self._final is None and self._decision is None:
            if await self._wait(REVIEW_POLL_INTERVAL):
                return
            await self._poll()

    async def _wait(self, timeout: timedelta) -> bool:
        """Wait for a final status or an operator's decision; False when the timer fired."""
        try:
            await workflow.wait_condition(
                lambda: self._final is not None or self._decision is not None, timeout=timeout
            )
        except TimeoutError:
            return False
        return True

    async def _poll(self) -> None:
        try:
            result = await workflow.execute_activity_method(
                PayoutActivities.get_payout_status,
                TransferStatusInput(
                    reference=self._request.workflow_id, provider=self._request.provider
                ),
                start_to_close_timeout=STATUS_START_TO_CLOSE,
                retry_policy=STATUS_RETRY,
            )
        except ActivityError as err:
            # One failed poll is not a verdict: the next timer polls again.
            workflow.logger.warning("status poll of %s failed: %s", self._request.payout_id, err)
            return
        finally:
            self._view = self._view.model_copy(
                update={"status_queries": self._view.status_queries + 1}
            )
        if result.report is not None:
            self._apply(result.report)

    def _apply(self, report: ProviderEvent) -> None:
        if self._final is not None:
            # Final is final: a late pending or a contradicting event is only logged.
            if report.outcome.is_final and report.outcome != self._final.outcome:
                workflow.logger.error(
                    "payout %s: provider reported %s after %s",
                    self._request.payout_id,
                    report.provider_status,
                    self._final.provider_status,
                )
            return
        update: dict[str, object] = {"provider_status": report.provider_status}
        if report.provider_transaction_id:
            update["provider_transaction_id"] = report.provider_transaction_id
        if report.outcome is TransferOutcome.FAILED:
            update["failure_code"] = report.failure_code
            update["failure_message"] = report.message
        self._view = self._view.model_copy(update=update)
        if report.outcome.is_final:
            self._final = report

    async def _finish(self, ledger_input: PayoutLedgerInput) -> None:
        if self._final is not None:
            succeeded = self._final.outcome is TransferOutcome.SUCCEEDED
        else:
            assert self._decision is not None
            succeeded = self._decision.outcome is PayoutStatus.SUCCEEDED
            update: dict[str, object] = {"failure_message": self._decision.note}
            if not succeeded:
                update["failure_code"] = "operator_failed"
            self._view = self._view.model_copy(update=update)
        activity_method = (
            LedgerActivities.settle_payout if succeeded else LedgerActivities.release_funds
        )
        if self._final is not None:
            # The provider's id and time go on the books with the entry (reconciliation).
            ledger_input = ledger_input.model_copy(
                update={
                    "provider_transaction_id": self._final.provider_transaction_id
                    or self._view.provider_transaction_id,
                    "occurred_at": self._final.occurred_at,
                }
            )
        await self._post(activity_method, ledger_input)
        self._set_status(PayoutStatus.SUCCEEDED if succeeded else PayoutStatus.FAILED)

    async def _post(self, method: LedgerStep, ledger_input: PayoutLedgerInput) -> PostedEntry:
        """Run one ledger step: a local activity, or a regular one for older payouts."""
        if self._ledger_local:
            return await workflow.execute_local_activity_method(
                method,
                ledger_input,
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        return await workflow.execute_activity_method(
            method,
            ledger_input,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )

    def _set_status(self, status: PayoutStatus) -> None:
        if (
            self._verified
            and self._provider.needs_review
            and status in (PayoutStatus.RESERVED, PayoutStatus.SUBMITTED)
        ):
            # A refused report arrived while submitting: review wins over progress.
            status = PayoutStatus.NEEDS_REVIEW
        if self._verified and status is self._view.status:
            return
        self._view = self._view.model_copy(update={"status": status, "updated_at": workflow.now()})
        if status is PayoutStatus.SUBMITTED and self._submitted_at is None:
            self._submitted_at = workflow.now()
        workflow.set_current_details(self._details())
        if status is PayoutStatus.NEEDS_REVIEW:
            self._tell_parent()
        # The client registers every search attribute at start; a payout started without
        # them (the time-skipping test server cannot define custom ones) keeps none.
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])

    def _tell_parent(self) -> None:
        """A batch's payout in needs_review tells the batch, once, without waiting."""
        parent = workflow.info().parent
        if parent is None or self._told_parent or not workflow.patched(PATCH_TELL_PARENT):
            return
        self._told_parent = True
        notice = PayoutReviewNotice(
            payout_id=self._request.payout_id,
            provider_transaction_id=self._view.provider_transaction_id,
            failure_code=self._view.failure_code,
        )
        # The latest run of the parent: a batch continues as new between pages.
        handle = workflow.get_external_workflow_handle(parent.workflow_id)
        self._parent_notice = asyncio.ensure_future(_signal_quietly(handle, notice))

    def _details(self) -> str:
        """The Web UI's current details: the business story, the number masked."""
        view = self._view
        text = (
            f"Payout {payout_summary(view.amount, view.provider, view.recipient)}"
            f" — {view.status.value}"
        )
        if view.status is PayoutStatus.FAILED and view.failure_code:
            return f"{text}: {view.failure_code}"
        if view.status is PayoutStatus.NEEDS_REVIEW and view.review_flags:
            return f"{text}: {', '.join(flag.value for flag in view.review_flags)}"
        if view.provider_status and not view.status.is_final:
            return f"{text} (provider status {view.provider_status})"
        return text


async def _signal_quietly(handle: workflow.ExternalWorkflowHandle[Any], notice: object) -> None:
    """Signal the parent; a parent already gone has nothing to count."""
    try:
        await handle.signal(PARENT_REVIEW_SIGNAL, notice)
    except Exception:  # noqa: BLE001 - a closed batch: the payout goes on alone
        workflow.logger.info("payout's batch is gone: review notice not delivered")


def _error_type(err: ActivityError | ApplicationError) -> str | None:
    cause = failure_cause(err)
    return cause.type if cause is not None else None


def _message(err: ActivityError | ApplicationError) -> str:
    if isinstance(err, ApplicationError):
        return err.message
    return str(err.cause)


def _is_business_error(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable
