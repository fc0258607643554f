"""CollectionWorkflow: take a payment from a payer's mobile wallet, approved on the handset.

States: received -> pending -> succeeded | failed | expired | needs_review.

* ask: the provider (picked by the activity from the registry) pushes a prompt to the
  payer's phone; our reference (the workflow id) is its idempotency key, so a retried
  request never prompts twice, and an ambiguous answer is resolved by a status query.
* wait: :class:`~workflows.common.ProviderWait` until the approval window closes. A
  webhook (signal ``provider_event``) is a hint, confirmed by a status query and applied
  only if the provider's amount and currency agree with ours; without news it polls.
* expire: when the window closes and the provider still says pending, it is asked once
  more (an approval can race the window), then the request is cancelled at the
  provider. A provider that can no longer cancel (the payer's approval is under way) is
  waited for: a success that comes after the window is not lost but booked and flagged
  ``paid_after_expiry`` for a person (the order was already cancelled).
* succeeded books provider clearing -> merchant available, the provider's fee -> its fee
  account, and the collection's refundable counter (``collection:{id}:settle``), with a
  local activity (one short transaction, idempotent by its key).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.collections import CollectionActivities
    from payments_engine.activities.ledger import LedgerActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.collection import (
        CollectionRequest,
        CollectionResult,
        CollectionStatus,
        CollectionView,
        RequestCollectionInput,
        collection_summary,
    )
    from payments_engine.domain.events import (
        EventSource,
        ProviderEvent,
        ReviewFlag,
        TransferOutcome,
    )
    from payments_engine.domain.ledger import CollectionLedgerInput
    from payments_engine.domain.money import Money
    from payments_engine.domain.payout import TransferStatusInput
    from payments_engine.workflows.common import ProviderWait, failure_cause

# Covers the provider call and a status query after an ambiguous answer.
REQUEST_START_TO_CLOSE = timedelta(seconds=30)
REQUEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
STATUS_START_TO_CLOSE = timedelta(seconds=30)
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# Cancelling twice is harmless (the provider answers the cancelled collection again).
CANCEL_START_TO_CLOSE = timedelta(seconds=30)
CANCEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
# A posting is one small transaction on our own database: short, retried until it lands.
LEDGER_TIMEOUT = timedelta(seconds=15)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# After a refused cancel, how long the provider has to give its final answer before a
# person is asked to look (the collection then keeps polling every 6 hours).
LATE_ANSWER_DEADLINE = timedelta(hours=1)
# Failure codes that mean the window closed (at the provider, or by our cancel).
EXPIRY_CODES = frozenset({"expired", "cancelled"})


@workflow.defn
class CollectionWorkflow:
    """One collection from a payer's wallet, from the request to pay to the booking."""

    @workflow.init
    def __init__(self, request: CollectionRequest) -> None:
        """Set up state before any handler runs, so early webhooks are not lost."""
        self._request = request
        self._view = CollectionView.initial(request, workflow.now())
        self._expired = False
        self._provider = ProviderWait(
            subject=f"collection {request.collection_id}",
            reference=request.workflow_id,
            expected=request.amount,
            query=self._query_status,
            on_change=self._sync_provider_view,
        )

    @workflow.run
    async def run(self, request: CollectionRequest) -> CollectionResult:
        """Ask the payer, wait for the verified answer or the window's end, then book it."""
        expires_at = workflow.now() + timedelta(seconds=request.approval_window_seconds)
        self._view = self._view.model_copy(update={"expires_at": expires_at})
        if await self._ask_payer(request):
            await self._provider.run(expires_at, lambda: False, stop_at_deadline=True)
            if self._provider.final is None and await self._expire():
                await self._provider.run(workflow.now() + LATE_ANSWER_DEADLINE, lambda: False)
        await self._finish()
        return CollectionResult(collection=self._view)

    @workflow.signal
    async def provider_event(self, event: ProviderEvent) -> None:
        """Take a provider webhook: a hint, confirmed with the provider before it counts."""
        self._provider.receive(event)

    @workflow.query
    def get_status(self) -> CollectionView:
        """The collection as it stands (payer's number masked)."""
        return self._view

    async def _ask_payer(self, request: CollectionRequest) -> bool:
        """Send the request to pay; False when the provider refused it outright."""
        try:
            result = await workflow.execute_activity_method(
                CollectionActivities.request_collection,
                RequestCollectionInput(
                    reference=request.workflow_id,
                    provider=request.provider,
                    msisdn=request.payer_msisdn,
                    country=request.country,
                    amount=request.amount,
                    description=request.description,
                    approval_window_seconds=request.approval_window_seconds,
                ),
                start_to_close_timeout=REQUEST_START_TO_CLOSE,
                # Retrying past the window makes no sense: the payer could not approve.
                schedule_to_close_timeout=timedelta(seconds=request.approval_window_seconds),
                retry_policy=REQUEST_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                self._view = self._view.model_copy(
                    update={
                        "failure_code": "provider_rejected",
                        "failure_message": cause.message,
                    }
                )
                self._set_status(CollectionStatus.FAILED)
                return False
            # No answer for the whole window: the status queries and the cancel decide.
            workflow.logger.warning(
                "request to pay of %s gave no answer: %s", request.collection_id, err
            )
            self._set_status(CollectionStatus.PENDING)
            return True
        self._set_status(CollectionStatus.PENDING)
        self._provider.accept(result.report, EventSource.SUBMIT)
        return True

    async def _query_status(self) -> ProviderEvent | None:
        result = await workflow.execute_activity_method(
            CollectionActivities.get_collection_status,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=STATUS_START_TO_CLOSE,
            retry_policy=STATUS_RETRY,
        )
        return result.report

    async def _expire(self) -> bool:
        """Cancel at the provider; True when it could not, and its answer is awaited."""
        self._expired = True
        workflow.logger.info("collection %s: approval window passed", self._request.collection_id)
        result = await workflow.execute_activity_method(
            CollectionActivities.cancel_collection,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=CANCEL_START_TO_CLOSE,
            retry_policy=CANCEL_RETRY,
        )
        if result.report is not None:
            # The cancel's answer is the provider's own: as good as a status query.
            self._provider.accept(result.report, EventSource.STATUS_QUERY)
        return result.refused and self._provider.final is None

    async def _finish(self) -> None:
        final = self._provider.final
        if final is None:
            if self._view.status is CollectionStatus.FAILED:
                return
            if self._provider.needs_review:
                self._set_status(CollectionStatus.NEEDS_REVIEW)
                return
            # The window passed; the provider had nothing left to cancel.
            self._set_status(CollectionStatus.EXPIRED)
            return
        if final.outcome is TransferOutcome.SUCCEEDED:
            await self._book(final)
            return
        if self._expired or final.failure_code in EXPIRY_CODES:
            self._set_status(CollectionStatus.EXPIRED)
        else:
            self._set_status(CollectionStatus.FAILED)

    async def _book(self, final: ProviderEvent) -> None:
        """Book the money that arrived; a payment after the window goes to a person."""
        request = self._request
        fee = (
            Money(amount=final.fee_minor, currency=request.amount.currency)
            if final.fee_minor is not None
            else None
        )
        try:
            await workflow.execute_local_activity_method(
                LedgerActivities.settle_collection,
                CollectionLedgerInput(
                    collection_id=request.collection_id,
                    merchant_id=request.merchant_id,
                    provider=request.provider,
                    amount=request.amount,
                    fee=fee,
                    provider_transaction_id=final.provider_transaction_id,
                    occurred_at=final.occurred_at,
                ),
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            # The provider's fee cannot be booked (e.g. not below the amount): a person
            # decides; the money is at the provider either way.
            cause = failure_cause(err)
            message = cause.message if cause is not None else str(err)
            self._view = self._view.model_copy(
                update={"failure_code": "booking_refused", "failure_message": message}
            )
            self._set_status(CollectionStatus.NEEDS_REVIEW)
            return
        self._view = self._view.model_copy(update={"fee": fee})
        if self._expired:
            flags = [*self._view.review_flags, ReviewFlag.PAID_AFTER_EXPIRY]
            self._view = self._view.model_copy(update={"review_flags": flags})
            workflow.logger.warning(
                "collection %s was paid after its window: needs review", request.collection_id
            )
            self._set_status(CollectionStatus.NEEDS_REVIEW)
            return
        self._set_status(CollectionStatus.SUCCEEDED)

    def _sync_provider_view(self) -> None:
        """Copy what the provider wait knows into the view."""
        wait = self._provider
        self._view = self._view.model_copy(update=wait.view_fields())
        workflow.set_current_details(self._details())

    def _set_status(self, status: CollectionStatus) -> None:
        if status is self._view.status:
            return
        self._view = self._view.model_copy(update={"status": status, "updated_at": workflow.now()})
        workflow.set_current_details(self._details())
        # Started without search attributes (the time-skipping server cannot define
        # custom ones), a collection keeps none.
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])

    def _details(self) -> str:
        """The Web UI's current details: the business story, the number masked."""
        view = self._view
        text = (
            f"Collection {collection_summary(view.amount, view.provider, view.payer)}"
            f" — {view.status.value}"
        )
        if view.status in (CollectionStatus.FAILED, CollectionStatus.EXPIRED) and (
            view.failure_code
        ):
            return f"{text}: {view.failure_code}"
        if view.status is CollectionStatus.NEEDS_REVIEW and view.review_flags:
            return f"{text}: {', '.join(flag.value for flag in view.review_flags)}"
        return text
