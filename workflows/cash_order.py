"""CashOrderWorkflow: a voucher paid in cash at a shop, from its issue to the settlement.

States: received -> awaiting_payment -> paid -> settled | expired | failed | needs_review.

* issue: the network (the order's provider) issues a voucher; our reference (the
  workflow id) is its idempotency key, so a retried create never issues two. The view
  then holds the reference code, the barcode value, the expiry and the payer's
  instructions in Spanish and English; the merchant's stock hook holds the goods until
  the expiry.
* wait: :class:`~workflows.common.ProviderWait` until the voucher expires. A
  notification (signal ``provider_event``) is a hint, confirmed by a status query and
  applied only if the network's amount and currency agree with ours; without news the
  network is polled (first after ``first_poll_seconds``, doubling up to
  ``max_poll_seconds``), which repairs lost notifications.
* expire: at the expiry the network is asked once more (a payment can race it), then
  the voucher is cancelled. A network that refuses because the payer already paid is
  waited for (its confirmation can come minutes later). A cancelled voucher releases the
  stock (the hook again) and the order is ``expired``; it then listens for
  ``late_payment_watch_seconds`` for a payment the network accepted late, which is
  booked, settled and flagged ``paid_after_expiry`` (needs_review): never lost.
* paid: whether it was in time is decided by the network's payment time (``paid_at``)
  against the expiry, not by when we heard of it. The payment is booked at once
  (network clearing -> merchant pending settlement, refundable), and moves to the
  merchant's available balance, less the network's fee, when the settlement timer
  fires: ``settlement_business_days`` after the payment in the network's calendar
  (weekends and the country's public holidays skipped; an activity computes it).
* refunds are bank transfers (``RefundWorkflow`` with the bank provider), started by the
  client against the order's refundable counter; this workflow is not involved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.cash_orders import CashOrderActivities
    from payments_engine.activities.ledger import LedgerActivities
    from payments_engine.domain import search_attributes as sa
    from payments_engine.domain.cash import (
        DEFAULT_SETTLEMENT_BUSINESS_DAYS,
        CashOrderRequest,
        CashOrderResult,
        CashOrderStatus,
        CashOrderView,
        CreateVoucherInput,
        IssuedVoucher,
        SettlementTimeInput,
        StockAction,
        StockHookInput,
        cash_order_summary,
    )
    from payments_engine.domain.events import (
        EventSource,
        Evidence,
        ProviderEvent,
        ReviewFlag,
        TransferOutcome,
    )
    from payments_engine.domain.ledger import CashOrderLedgerInput
    from payments_engine.domain.money import Money
    from payments_engine.domain.payout import TransferStatusInput
    from payments_engine.workflows.common import ProviderWait, failure_cause

CREATE_START_TO_CLOSE = timedelta(seconds=30)
CREATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# A voucher nobody could create in this long is failed: the buyer has left.
CREATE_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
STATUS_START_TO_CLOSE = timedelta(seconds=30)
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# Cancelling twice is harmless (the network answers the cancelled voucher again).
CANCEL_START_TO_CLOSE = timedelta(seconds=30)
CANCEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
# The merchant's hook may be down for a while (the key makes repeats harmless), but a
# hook that stays down must not hold up the payment: after an hour the order goes on.
STOCK_START_TO_CLOSE = timedelta(seconds=30)
STOCK_SCHEDULE_TO_CLOSE = timedelta(hours=1)
STOCK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
# Pure computation on a calendar: a local activity, recorded once.
CALENDAR_TIMEOUT = timedelta(seconds=10)
CALENDAR_RETRY = RetryPolicy(maximum_attempts=3)
LEDGER_TIMEOUT = timedelta(seconds=15)
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# After a refused cancel (the payer paid), how long the network has to confirm before
# a person is asked to look (the order then keeps polling every 6 hours).
CONFIRMATION_DEADLINE = timedelta(days=1)
# Evidence kept of refused late reports, as ProviderWait keeps for the main wait.
MAX_LATE_EVIDENCE = 20


@workflow.defn
class CashOrderWorkflow:
    """One cash order: its voucher, the payment at the shop, the network's settlement."""

    @workflow.init
    def __init__(self, request: CashOrderRequest) -> None:
        """Set up state before any handler runs, so early notifications are not lost."""
        self._request = request
        self._view = CashOrderView.initial(request, workflow.now())
        self._late_watch = False
        self._late_hints: list[ProviderEvent] = []
        self._late_seen: set[str] = set()
        self._provider = ProviderWait(
            subject=f"cash order {request.order_id}",
            reference=request.workflow_id,
            expected=request.amount,
            query=self._query_status,
            on_change=self._sync_provider_view,
        )

    @workflow.run
    async def run(self, request: CashOrderRequest) -> CashOrderResult:
        """Issue the voucher, wait for the verified payment or the expiry, then settle."""
        voucher = await self._issue(request)
        if voucher is None:
            return CashOrderResult(order=self._view)
        await self._stock(StockAction.HOLD, voucher.expires_at)
        await self._provider.run(
            voucher.expires_at,
            lambda: False,
            stop_at_deadline=True,
            first_interval=timedelta(seconds=request.first_poll_seconds),
            max_interval=timedelta(seconds=request.max_poll_seconds),
        )
        if self._provider.final is None and not self._provider.held:
            if await self._cancel():
                # The payer paid before the cancel: wait for the network's confirmation.
                await self._provider.run(workflow.now() + CONFIRMATION_DEADLINE, lambda: False)
        final = self._provider.final
        if final is not None and final.outcome is TransferOutcome.SUCCEEDED:
            await self._paid(final)
            return CashOrderResult(order=self._view)
        if self._provider.needs_review or self._provider.held:
            self._set_status(CashOrderStatus.NEEDS_REVIEW)
            return CashOrderResult(order=self._view)
        await self._expire(final)
        late = await self._watch_late_payment()
        if late is not None:
            await self._paid(late)
        return CashOrderResult(order=self._view)

    @workflow.signal
    async def provider_event(self, event: ProviderEvent) -> None:
        """Take a network notification: a hint, confirmed with the network before it counts."""
        if self._late_watch:
            if event.event_id not in self._late_seen:
                self._late_seen.add(event.event_id)
                self._late_hints.append(event)
            return
        self._provider.receive(event)

    @workflow.query
    def get_status(self) -> CashOrderView:
        """The order as it stands (the payer masked)."""
        return self._view

    async def _issue(self, request: CashOrderRequest) -> IssuedVoucher | None:
        """Create the voucher; None (and failed) when the network refused it."""
        try:
            result = await workflow.execute_activity_method(
                CashOrderActivities.create_voucher,
                CreateVoucherInput(
                    reference=request.workflow_id,
                    provider=request.provider,
                    amount=request.amount,
                    country=request.country,
                    payer=request.payer,
                    expires_in_days=request.expires_in_days,
                    description=request.description,
                ),
                start_to_close_timeout=CREATE_START_TO_CLOSE,
                schedule_to_close_timeout=CREATE_SCHEDULE_TO_CLOSE,
                retry_policy=CREATE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            refused = isinstance(cause, ApplicationError) and cause.non_retryable
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            self._view = self._view.model_copy(
                update={
                    "failure_code": "voucher_refused" if refused else "network_unavailable",
                    "failure_message": message,
                }
            )
            if not refused:
                await self._withdraw_unseen_voucher()
            self._set_status(CashOrderStatus.FAILED)
            return None
        voucher = result.voucher
        self._view = self._view.model_copy(
            update={
                "voucher_reference": voucher.voucher_reference,
                "barcode": voucher.barcode,
                "receipt_url": voucher.receipt_url,
                "expires_at": voucher.expires_at,
                "instructions": result.instructions,
            }
        )
        self._set_status(CashOrderStatus.AWAITING_PAYMENT)
        self._provider.accept(voucher.report, EventSource.SUBMIT)
        return voucher

    async def _withdraw_unseen_voucher(self) -> None:
        """After create gave no answer for good: cancel what the network may hold.

        The payer never saw a reference, but a voucher the network issued in silence
        must not stay payable while the order says failed.
        """
        try:
            await self._cancel()
        except ActivityError as err:
            workflow.logger.warning(
                "cash order %s: cancel after a failed create failed: %s",
                self._request.order_id,
                err,
            )

    async def _stock(self, action: StockAction, until: datetime | None, reason: str = "") -> None:
        """Call the merchant's stock hook (hold at issue, release at expiry).

        A hook that refuses or stays unreachable is noted in the view (``stock``
        ``hold_failed`` / ``release_failed``) and logged; the order goes on: the money
        must not wait for the merchant's stock system.
        """
        try:
            called = await workflow.execute_activity_method(
                CashOrderActivities.notify_stock,
                StockHookInput(
                    order_id=self._request.order_id,
                    merchant_id=self._request.merchant_id,
                    action=action,
                    merchant_reference=self._request.merchant_reference,
                    until=until,
                    reason=reason or None,
                ),
                start_to_close_timeout=STOCK_START_TO_CLOSE,
                schedule_to_close_timeout=STOCK_SCHEDULE_TO_CLOSE,
                retry_policy=STOCK_RETRY,
            )
        except ActivityError as err:
            cause = failure_cause(err)
            workflow.logger.warning(
                "cash order %s: stock %s hook failed: %s",
                self._request.order_id,
                action.value,
                cause.message if cause is not None else err,
            )
            self._view = self._view.model_copy(update={"stock": f"{action.value}_failed"})
            return
        if called:
            state = "held" if action is StockAction.HOLD else "released"
            self._view = self._view.model_copy(update={"stock": state})

    async def _query_status(self) -> ProviderEvent | None:
        result = await workflow.execute_activity_method(
            CashOrderActivities.get_voucher_status,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=STATUS_START_TO_CLOSE,
            retry_policy=STATUS_RETRY,
        )
        return result.report

    async def _cancel(self) -> bool:
        """Cancel the voucher at the network; True when it refused (the payer paid)."""
        workflow.logger.info("cash order %s: voucher expired unpaid", self._request.order_id)
        result = await workflow.execute_activity_method(
            CashOrderActivities.cancel_voucher,
            TransferStatusInput(
                reference=self._request.workflow_id, provider=self._request.provider
            ),
            start_to_close_timeout=CANCEL_START_TO_CLOSE,
            retry_policy=CANCEL_RETRY,
        )
        if result.report is not None:
            # The cancel's answer is the network's own: as good as a status query.
            self._provider.accept(result.report, EventSource.STATUS_QUERY)
        return result.refused and self._provider.final is None

    async def _expire(self, final: ProviderEvent | None) -> None:
        """Release the stock; the order is expired (and then listens for a late payment)."""
        if final is not None and final.failure_code not in (None, "expired", "cancelled"):
            self._view = self._view.model_copy(
                update={"failure_code": final.failure_code, "failure_message": final.message}
            )
        await self._stock(StockAction.RELEASE, None, reason="expired")
        self._set_status(CashOrderStatus.EXPIRED)

    async def _watch_late_payment(self) -> ProviderEvent | None:
        """After the expiry, listen for a payment the network accepted late.

        Notifications wake it up; without them the network is asked on a doubling
        interval. Only a verified payment of our amount ends the watch early.
        """
        request = self._request
        end = workflow.now() + timedelta(seconds=request.late_payment_watch_seconds)
        interval = timedelta(seconds=request.first_poll_seconds)
        self._late_watch = True
        while True:
            remaining = end - workflow.now()
            if remaining <= timedelta(0):
                return None
            hinted = True
            try:
                await workflow.wait_condition(
                    lambda: bool(self._late_hints), timeout=min(interval, remaining)
                )
            except TimeoutError:
                hinted = False
            self._late_hints.clear()
            try:
                truth = await self._query_status()
            except ActivityError as err:
                workflow.logger.warning(
                    "cash order %s: late payment check failed: %s", request.order_id, err
                )
                truth = None
            self._view = self._view.model_copy(
                update={"status_queries": self._view.status_queries + 1}
            )
            if truth is not None and truth.outcome is TransferOutcome.SUCCEEDED:
                problem = truth.mismatch(request.workflow_id, request.amount)
                if problem is None:
                    return truth
                self._refuse_late(truth, problem)
                return None
            if not hinted:
                interval = min(interval * 2, timedelta(seconds=request.max_poll_seconds))

    def _refuse_late(self, report: ProviderEvent, problem: str) -> None:
        """A late payment for another amount or currency: a person decides."""
        evidence = list(self._view.evidence)
        if len(evidence) < MAX_LATE_EVIDENCE:
            evidence.append(
                Evidence(
                    flag=ReviewFlag.PROVIDER_MISMATCH,
                    source=EventSource.STATUS_QUERY,
                    event_id=report.event_id,
                    provider_status=report.provider_status,
                    detail=problem,
                    at=workflow.now(),
                )
            )
        flags = [*self._view.review_flags, ReviewFlag.PROVIDER_MISMATCH]
        self._view = self._view.model_copy(update={"evidence": evidence, "review_flags": flags})
        workflow.logger.warning(
            "cash order %s: late payment not applied: %s", self._request.order_id, problem
        )
        self._set_status(CashOrderStatus.NEEDS_REVIEW)

    async def _paid(self, final: ProviderEvent) -> None:
        """Book the payment, wait for the network's settlement day, then settle it."""
        request = self._request
        paid_at = final.occurred_at or workflow.now()
        expires_at = self._view.expires_at
        late = self._late_watch or (expires_at is not None and paid_at > expires_at)
        ledger_input = CashOrderLedgerInput(
            order_id=request.order_id,
            merchant_id=request.merchant_id,
            provider=request.provider,
            amount=request.amount,
            fee=(
                Money(amount=final.fee_minor, currency=request.amount.currency)
                if final.fee_minor is not None
                else None
            ),
            # No time: the network settles days after the payment, and its report
            # lists the payment on the settlement day, which is when it is recorded.
            provider_transaction_id=final.provider_transaction_id
            or self._view.provider_transaction_id,
        )
        await workflow.execute_local_activity_method(
            LedgerActivities.book_cash_payment,
            ledger_input,
            start_to_close_timeout=LEDGER_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )
        update: dict[str, object] = {
            "paid_at": paid_at,
            "provider_status": final.provider_status,
            "provider_transaction_id": final.provider_transaction_id
            or self._view.provider_transaction_id,
            "failure_code": None,
            "failure_message": None,
        }
        if late:
            update["review_flags"] = [*self._view.review_flags, ReviewFlag.PAID_AFTER_EXPIRY]
            workflow.logger.warning(
                "cash order %s was paid after its voucher expired: needs review",
                request.order_id,
            )
        self._view = self._view.model_copy(update=update)
        self._set_status(CashOrderStatus.NEEDS_REVIEW if late else CashOrderStatus.PAID)
        when = await workflow.execute_local_activity_method(
            CashOrderActivities.settlement_time,
            SettlementTimeInput(
                provider=request.provider,
                paid_at=paid_at,
                business_days=(
                    DEFAULT_SETTLEMENT_BUSINESS_DAYS
                    if request.settlement_business_days is None
                    else request.settlement_business_days
                ),
            ),
            start_to_close_timeout=CALENDAR_TIMEOUT,
            retry_policy=CALENDAR_RETRY,
        )
        self._view = self._view.model_copy(update={"settle_at": when.settle_at})
        self._set_details()
        wait = when.settle_at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        try:
            posted = await workflow.execute_local_activity_method(
                LedgerActivities.settle_cash_payment,
                ledger_input,
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            # The network's fee cannot be taken (e.g. not below the amount): a person
            # decides; the payment stays booked, pending settlement.
            cause = failure_cause(err)
            message = cause.message if cause is not None else str(err)
            self._view = self._view.model_copy(
                update={"failure_code": "settlement_refused", "failure_message": message}
            )
            self._set_status(CashOrderStatus.NEEDS_REVIEW)
            return
        fee = next(
            (
                Money(amount=p.amount, currency=posted.currency)
                for p in posted.postings
                if p.account.startswith("provider:") and p.account.endswith(":fees")
            ),
            Money(amount=0, currency=posted.currency),
        )
        self._view = self._view.model_copy(update={"fee": fee, "settled_at": workflow.now()})
        if late:
            self._set_details()
            return
        self._set_status(CashOrderStatus.SETTLED)

    def _sync_provider_view(self) -> None:
        """Copy what the provider wait knows into the view."""
        self._view = self._view.model_copy(update=self._provider.view_fields())
        self._set_details()

    def _set_status(self, status: CashOrderStatus) -> None:
        if status is self._view.status:
            return
        self._view = self._view.model_copy(update={"status": status, "updated_at": workflow.now()})
        self._set_details()
        # Started without search attributes (the time-skipping server cannot define
        # custom ones), an order keeps none.
        if sa.PAYMENT_STATUS in workflow.info().typed_search_attributes:
            workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])

    def _set_details(self) -> None:
        """The Web UI's current details: the business story, the payer masked."""
        view = self._view
        text = (
            f"Cash order {cash_order_summary(view.amount, view.provider, view.payer)}"
            f" — {view.status.value}"
        )
        if view.voucher_reference and view.status is CashOrderStatus.AWAITING_PAYMENT:
            text += f", reference {view.voucher_reference}"
            if view.expires_at is not None:
                text += f", expires {view.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if view.settle_at is not None and view.settled_at is None:
            text += f", settles {view.settle_at:%Y-%m-%d %H:%M %Z}"
        if view.status in (CashOrderStatus.FAILED, CashOrderStatus.EXPIRED) and view.failure_code:
            text += f": {view.failure_code}"
        if view.review_flags:
            text += f" [{', '.join(flag.value for flag in view.review_flags)}]"
        workflow.set_current_details(text)
