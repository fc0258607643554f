"""PayoutWorkflow: pay a merchant's money out to a mobile wallet, exactly once.

States: received -> reserved -> submitted -> succeeded | failed | needs_review.

* validate: the request was validated by the client; the workflow re-checks nothing that
  needs I/O.
* reserve: the merchant's available balance is moved to reserved (idempotent ledger key
  ``payout:{id}:reserve``); too little money fails the payout before any provider call.
* submit: the hub call carries our reference (the workflow id); ambiguous outcomes are
  resolved inside the activity by a status query, never by a blind resubmission.
* wait: for the provider's webhook (signal ``provider_event``) or, on a backoff timer,
  a status poll. A deadline without a final status moves the payout to needs_review,
  where it keeps listening and polling slowly until the provider or an operator decides.
* succeeded posts reserved -> provider clearing; failed releases the reservation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.hub import WalletHubActivities
    from activities.ledger import LedgerActivities
    from domain import search_attributes as sa
    from domain.errors import InsufficientFunds, ValidationFailed
    from domain.events import ProviderEvent, TransferOutcome
    from domain.ledger import PayoutLedgerInput
    from domain.payout import (
        PayoutRequest,
        PayoutResult,
        PayoutStatus,
        PayoutView,
        ResolvePayout,
        SubmitPayoutInput,
        TransferStatusInput,
    )

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

FIRST_POLL_INTERVAL = timedelta(seconds=30)
MAX_POLL_INTERVAL = timedelta(minutes=15)
REVIEW_POLL_INTERVAL = timedelta(hours=6)

FAILURE_MERCHANT_FUNDS = "merchant_insufficient_funds"
# Stable failure codes for submissions the provider refused outright.
REFUSAL_CODES = {
    "ProviderConflict": "provider_reference_conflict",
    "ProviderRejected": "provider_rejected",
    "ProviderAuthError": "provider_auth_failed",
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

    @workflow.run
    async def run(self, request: PayoutRequest) -> PayoutResult:
        """Reserve, submit, wait for a final status, then settle or release."""
        deadline = workflow.now() + timedelta(seconds=request.resolution_deadline_seconds)
        ledger_input = PayoutLedgerInput(
            payout_id=request.payout_id,
            merchant_id=request.merchant_id,
            provider=request.provider,
            amount=request.amount,
        )

        try:
            await workflow.execute_activity_method(
                LedgerActivities.reserve_funds,
                ledger_input,
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as err:
            if _error_type(err) != InsufficientFunds.type:
                raise
            self._view = self._view.model_copy(
                update={"failure_code": FAILURE_MERCHANT_FUNDS, "failure_message": str(err.cause)}
            )
            self._set_status(PayoutStatus.FAILED)
            return PayoutResult(payout=self._view)
        self._set_status(PayoutStatus.RESERVED)

        await self._submit(request)
        if self._final is None:
            await self._wait_for_final(deadline)

        await self._finish(ledger_input)
        return PayoutResult(payout=self._view)

    @workflow.signal
    async def provider_event(self, event: ProviderEvent) -> None:
        """Apply a provider webhook; repeats and stale events change nothing."""
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
        if self._view.status is not PayoutStatus.NEEDS_REVIEW:
            raise ValidationFailed(
                f"only a payout in needs_review can be resolved; this one is {self._view.status}"
            )

    @workflow.query
    def get_status(self) -> PayoutView:
        """Where the payout stands (the recipient's number is masked)."""
        return self._view

    async def _submit(self, request: PayoutRequest) -> None:
        try:
            result = await workflow.execute_activity_method(
                WalletHubActivities.submit_payout,
                SubmitPayoutInput(
                    reference=request.workflow_id,
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
            self._apply(
                ProviderEvent(
                    provider=request.provider,
                    event_id="submit-refused",
                    reference=request.workflow_id,
                    outcome=TransferOutcome.FAILED,
                    provider_status=refusal,
                    failure_code=REFUSAL_CODES.get(refusal, "provider_rejected"),
                    message=str(err.cause),
                )
            )
            return
        self._set_status(PayoutStatus.SUBMITTED)
        self._apply(result.report)

    async def _wait_for_final(self, deadline: datetime) -> None:
        interval = FIRST_POLL_INTERVAL
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
                WalletHubActivities.get_payout_status,
                TransferStatusInput(reference=self._request.workflow_id),
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
        await workflow.execute_activity_method(
            activity_method,
            ledger_input,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )
        self._set_status(PayoutStatus.SUCCEEDED if succeeded else PayoutStatus.FAILED)

    def _set_status(self, status: PayoutStatus) -> None:
        self._view = self._view.model_copy(update={"status": status, "updated_at": workflow.now()})
        # The client registers every search attribute at start; a payout started without
        # them (the time-skipping test server cannot define custom ones) keeps none.
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _is_business_error(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable
