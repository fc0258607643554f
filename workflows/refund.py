"""RefundWorkflow: give (part of) a collection or a cash order back to its payer, once.

A cash order's payer paid in cash and is refunded by bank transfer: the refund's
provider is then the bank-transfer provider, its ``bank_account`` the destination, and
its ledger entries name the cash order's refundable counter (``origin``); the rest is
the same process.

States: received -> pending -> processed | failed | needs_review; processed -> reversed.

* reserve: the refund's amount moves from the merchant's available balance to refunds
  payable and off the collection's refundable counter (``refund:{id}:reserve``, a local
  activity). The counter cannot go below zero, so refunds beyond what was paid fail
  here (``amount_exceeded``), even when many arrive at once, before the provider is
  called; a collection never booked fails as ``invalid_transaction``.
* submit: our reference (the workflow id) is the provider's ``external_refund_id``, its
  idempotency key; an ambiguous answer is resolved by a status query on it (which also
  recovers the provider's refund id), never by a blind resubmission. Transient faults
  are retried three times, business refusals never.
* ``pending`` is shown only once the provider holds the refund.
* wait: :class:`~workflows.common.ProviderWait`, as for payouts: webhooks are hints,
  confirmed by a status query; polling without news; needs_review at the deadline.
* processed posts refunds payable -> provider clearing; failed releases the reservation
  exactly. A processed refund then listens for the provider's reversal (confirmed by a
  status query) for ``reversal_watch_seconds``: a reversal gives the money back to the
  merchant and restores the refundable amount (``refund:{id}:reverse``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.ledger import LedgerActivities
    from payments_engine.activities.refunds import RefundActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.errors import (
        InsufficientFunds,
        LedgerError,
        RefundAmountExceeded,
    )
    from payments_engine.domain.events import EventSource, ProviderEvent, TransferOutcome
    from payments_engine.domain.ledger import PostedEntry, RefundLedgerInput
    from payments_engine.domain.payout import TransferStatusInput
    from payments_engine.domain.refund import (
        RefundRequest,
        RefundResult,
        RefundStatus,
        RefundView,
        SubmitRefundInput,
    )
    from payments_engine.workflows.common import ProviderWait, failure_cause

LedgerStep = Callable[[LedgerActivities, RefundLedgerInput], Awaitable[PostedEntry]]

SUBMIT_START_TO_CLOSE = timedelta(seconds=30)
# At most three tries, as the sources say; each one asks the status before resending.
SUBMIT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)
STATUS_START_TO_CLOSE = timedelta(seconds=30)
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
LEDGER_TIMEOUT = timedelta(seconds=15)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# The ledger's refusals of a reservation, as the refund's failure codes.
RESERVE_REFUSALS = {
    RefundAmountExceeded.type: "amount_exceeded",
    InsufficientFunds.type: "merchant_insufficient_funds",
    LedgerError.type: "invalid_transaction",
}


@workflow.defn
class RefundWorkflow:
    """One refund of a collection, from its reservation to the provider's last word."""

    @workflow.init
    def __init__(self, request: RefundRequest) -> None:
        """Set up state before any handler runs, so early webhooks are not lost."""
        self._request = request
        self._view = RefundView.initial(request, workflow.now())
        self._processed = False
        self._reversal_hints: list[ProviderEvent] = []
        self._provider = ProviderWait(
            subject=f"refund {request.refund_id}",
            reference=request.workflow_id,
            expected=request.amount,
            query=self._query_status,
            on_change=self._sync_provider_view,
        )

    @workflow.run
    async def run(self, request: RefundRequest) -> RefundResult:
        """Reserve, submit, wait for the provider's verified answer, then book it."""
        deadline = workflow.now() + timedelta(seconds=request.resolution_deadline_seconds)
        ledger_input = RefundLedgerInput(
            refund_id=request.refund_id,
            collection_id=request.original_id,
            merchant_id=request.merchant_id,
            provider=request.provider,
            amount=request.amount,
            origin=request.origin,
        )
        if not await self._reserve(ledger_input):
            return RefundResult(refund=self._view)
        if await self._submit(request):
            await self._provider.run(deadline, lambda: False)
        final = self._provider.final
        if final is not None:
            # The provider's id and time go on the books with the entry (reconciliation).
            ledger_input = ledger_input.model_copy(
                update={
                    "provider_transaction_id": final.provider_transaction_id,
                    "occurred_at": final.occurred_at,
                }
            )
        if final is None or final.outcome is TransferOutcome.FAILED:
            await self._post(LedgerActivities.release_refund, ledger_input)
            self._set_status(RefundStatus.FAILED)
            return RefundResult(refund=self._view)
        await self._post(LedgerActivities.settle_refund, ledger_input)
        self._processed = True
        self._set_status(RefundStatus.PROCESSED)
        if final.outcome is TransferOutcome.REVERSED or await self._watch_for_reversal():
            # A reversal heard of later is on the books from when it is posted.
            reversed_at = final.occurred_at if final.outcome is TransferOutcome.REVERSED else None
            await self._post(
                LedgerActivities.reverse_refund,
                ledger_input.model_copy(update={"occurred_at": reversed_at}),
            )
            self._set_status(RefundStatus.REVERSED)
        return RefundResult(refund=self._view)

    @workflow.signal
    async def provider_event(self, event: ProviderEvent) -> None:
        """Take a provider webhook: a hint, confirmed with the provider before it counts."""
        if self._processed:
            if event.outcome is TransferOutcome.REVERSED:
                self._reversal_hints.append(event)
            return
        self._provider.receive(event)

    @workflow.query
    def get_status(self) -> RefundView:
        """The refund as it stands."""
        return self._view

    async def _reserve(self, ledger_input: RefundLedgerInput) -> bool:
        """Hold the amount within what was paid; False (and failed) when the ledger refuses."""
        try:
            await self._post(LedgerActivities.reserve_refund, ledger_input)
        except (ActivityError, ApplicationError) as err:
            cause = failure_cause(err)
            if cause is None or cause.type not in RESERVE_REFUSALS:
                raise
            self._view = self._view.model_copy(
                update={
                    "failure_code": RESERVE_REFUSALS[cause.type or ""],
                    "failure_message": cause.message,
                }
            )
            self._set_status(RefundStatus.FAILED)
            return False
        return True

    async def _submit(self, request: RefundRequest) -> bool:
        """Send the refund; False when the provider refused it (its answer is final)."""
        try:
            result = await workflow.execute_activity_method(
                RefundActivities.submit_refund,
                SubmitRefundInput(
                    reference=request.workflow_id,
                    provider=request.provider,
                    original_reference=request.original_reference,
                    amount=request.amount,
                    reason=request.reason,
                    destination=request.bank_account,
                ),
                start_to_close_timeout=SUBMIT_START_TO_CLOSE,
                retry_policy=SUBMIT_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                self._view = self._view.model_copy(
                    update={"failure_code": "provider_refused", "failure_message": cause.message}
                )
                return False
            # Three tries without an answer: whether the provider has it, its status
            # API tells (polling), and the deadline brings a person in.
            workflow.logger.warning("refund %s: submit gave no answer", request.refund_id)
            return True
        self._provider.accept(result.report, EventSource.SUBMIT)
        return True

    async def _watch_for_reversal(self) -> bool:
        """Listen for the provider's reversal of the processed refund; True if confirmed."""
        watch = timedelta(seconds=self._request.reversal_watch_seconds)
        if watch:
            try:
                await workflow.wait_condition(lambda: bool(self._reversal_hints), timeout=watch)
            except TimeoutError:
                pass
        # A hint is only a hint, and silence proves nothing: the status API decides.
        try:
            truth = await self._query_status()
        except ActivityError as err:
            workflow.logger.warning(
                "refund %s: reversal check failed: %s", self._request.refund_id, err
            )
            return False
        if truth is None or truth.outcome is not TransferOutcome.REVERSED:
            return False
        problem = truth.mismatch(self._request.workflow_id, self._request.amount)
        if problem is not None:
            workflow.logger.warning(
                "refund %s: reversal not applied: %s", self._request.refund_id, problem
            )
            return False
        self._view = self._view.model_copy(update={"provider_status": truth.provider_status})
        return True

    async def _query_status(self) -> ProviderEvent | None:
        result = await workflow.execute_activity_method(
            RefundActivities.get_refund_status,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=STATUS_START_TO_CLOSE,
            retry_policy=STATUS_RETRY,
        )
        return result.report

    async def _post(self, method: LedgerStep, ledger_input: RefundLedgerInput) -> None:
        await workflow.execute_local_activity_method(
            method,
            ledger_input,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )

    def _sync_provider_view(self) -> None:
        """Copy what the provider wait knows into the view."""
        wait = self._provider
        self._view = self._view.model_copy(update=wait.view_fields("provider_refund_id"))
        if wait.needs_review:
            self._set_status(RefundStatus.NEEDS_REVIEW)
        elif wait.latest is not None and self._view.status is RefundStatus.RECEIVED:
            # The provider holds it: only now is the refund pending.
            self._set_status(RefundStatus.PENDING)

    def _set_status(self, status: RefundStatus) -> None:
        if status is self._view.status:
            return
        self._view = self._view.model_copy(update={"status": status, "updated_at": workflow.now()})
        view = self._view
        original = view.origin.value.replace("_", " ")
        text = f"Refund {view.amount.to_major()} {view.amount.currency} of {original}"
        if view.destination is not None:
            text += " by bank transfer"
        workflow.set_current_details(f"{text} {view.collection_id} — {status.value}")
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])
