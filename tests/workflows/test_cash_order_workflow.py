"""CashOrderWorkflow on the time-skipping test server: a scripted cash network, the real
ledger on SQLite, and the real settlement calendar.

These pin down the workflow's own decisions: the expiry timer, the last status query
that races it, the cancel refused because the payer paid, a payment the network took
after the expiry, and the settlement on the network's business days (weekends and
Colombia's public holidays skipped). The real adapters run against the sandbox in the
integration tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payments_engine.activities.ledger import LedgerActivities
from payments_engine.db.ledger import Ledger
from payments_engine.db.migrate import upgrade
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.bank import DocumentType
from payments_engine.domain.cash import (
    CancelVoucherResult,
    CashOrderRequest,
    CashOrderResult,
    CashOrderStatus,
    CashOrderView,
    CreateVoucherInput,
    CreateVoucherResult,
    IssuedVoucher,
    Payer,
    SettlementTimeInput,
    SettlementTimeResult,
    StockAction,
    StockHookInput,
    is_business_day,
    settlement_time,
)
from payments_engine.domain.events import ProviderEvent, ReviewFlag, TransferOutcome
from payments_engine.domain.ledger import (
    cash_order_refundable,
    merchant_available,
    merchant_pending_settlement,
    provider_clearing,
    provider_fees,
)
from payments_engine.domain.money import Money
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.cash_order import CashOrderWorkflow

AMOUNT = Money(amount=150_000_00, currency="COP")
FEE = 4_350_00
BOGOTA = ZoneInfo("America/Bogota")
RESULT_TIMEOUT = 30.0
THREE_DAYS = timedelta(hours=72)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """The engine's ledger on a fresh SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cash.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        yield Ledger(session_factory(engine))
    finally:
        await engine.dispose()


@dataclass
class Network:
    """A scripted cash network: when the payer pays and when the network confirms it.

    Offsets count from the voucher's creation, in workflow (server) time.
    """

    expiry: timedelta = THREE_DAYS
    paid_after: timedelta | None = None
    """When the payer pays at the shop; None never."""
    confirmed_after: timedelta | None = None
    """When the network confirms the payment; None at once."""
    refuse_create: bool = False
    unreachable: bool = False
    """Every create attempt fails as if the network never answered."""
    auto_expire: bool = True
    """The network marks an unpaid voucher expired at its expiry (else only a cancel ends it)."""
    reported_amount: Money = AMOUNT
    started: datetime | None = None
    cancelled: bool = False
    calls: list[str] = field(default_factory=list)
    stock: list[StockHookInput] = field(default_factory=list)

    def _elapsed(self) -> timedelta:
        assert self.started is not None
        return activity.info().current_attempt_scheduled_time - self.started

    def report(self, reference: str, event_id: str) -> ProviderEvent:
        elapsed = self._elapsed()
        paid = self.paid_after is not None and elapsed >= self.paid_after
        confirm = self.confirmed_after if self.confirmed_after is not None else self.paid_after
        base: dict[str, Any] = {
            "provider": "efecty",
            "event_id": event_id,
            "reference": reference,
            "provider_transaction_id": "EF-1",
            "currency": self.reported_amount.currency,
            "amount_reported": str(self.reported_amount.amount // 100),
            "amount_minor": self.reported_amount.amount,
        }
        if paid and confirm is not None and elapsed >= confirm:
            assert self.started is not None and self.paid_after is not None
            return ProviderEvent(
                outcome=TransferOutcome.SUCCEEDED,
                provider_status="APPROVED",
                occurred_at=self.started + self.paid_after,
                fee_reported=str(FEE // 100),
                fee_minor=FEE,
                **base,
            )
        if self.cancelled or (self.auto_expire and not paid and elapsed >= self.expiry):
            code = "cancelled" if self.cancelled else "expired"
            return ProviderEvent(
                outcome=TransferOutcome.FAILED,
                provider_status=code.upper(),
                failure_code=code,
                **base,
            )
        status = "PAID_AWAITING_CONFIRMATION" if paid else "PENDING"
        return ProviderEvent(outcome=TransferOutcome.PENDING, provider_status=status, **base)

    def activities(self) -> list[object]:
        @activity.defn(name="create_voucher")
        async def create_voucher(inp: CreateVoucherInput) -> CreateVoucherResult:
            self.calls.append("create")
            if self.refuse_create:
                raise ApplicationError("payer blocked", type="ProviderRejected", non_retryable=True)
            if self.unreachable:
                raise ApplicationError("efecty answered HTTP 503", type="ProviderUnavailable")
            if self.started is None:
                self.started = activity.info().current_attempt_scheduled_time
            # A network answers a new voucher pending, whatever happens next.
            voucher = IssuedVoucher(
                report=ProviderEvent(
                    provider="efecty",
                    event_id="ack:create",
                    reference=inp.reference,
                    outcome=TransferOutcome.PENDING,
                    provider_status="PENDING",
                ),
                voucher_reference="123456789",
                barcode="4157709998461239",
                expires_at=self.started + self.expiry,
                receipt_url="https://sandbox.example/receipt/123456789",
            )
            return CreateVoucherResult(voucher=voucher)

        @activity.defn(name="get_voucher_status")
        async def get_voucher_status(inp: TransferStatusInput) -> TransferStatusResult:
            self.calls.append("poll")
            report = self.report(inp.reference, "status:x")
            return TransferStatusResult(
                report=report.model_copy(update={"event_id": f"status:{report.provider_status}"})
            )

        @activity.defn(name="cancel_voucher")
        async def cancel_voucher(inp: TransferStatusInput) -> CancelVoucherResult:
            self.calls.append("cancel")
            if self.started is None:
                return CancelVoucherResult()
            elapsed = self._elapsed()
            if self.paid_after is not None and elapsed >= self.paid_after:
                return CancelVoucherResult(refused=True)
            self.cancelled = True
            return CancelVoucherResult(report=self.report(inp.reference, "status:cancel"))

        @activity.defn(name="notify_stock")
        async def notify_stock(inp: StockHookInput) -> bool:
            self.calls.append(f"stock:{inp.action.value}")
            self.stock.append(inp)
            return True

        @activity.defn(name="settlement_time")
        async def settlement_time_(inp: SettlementTimeInput) -> SettlementTimeResult:
            # Efecty's calendar: Colombia's business days in Bogotá time.
            return SettlementTimeResult(
                settle_at=settlement_time(inp.paid_at, inp.business_days, "CO", "America/Bogota")
            )

        return [create_voucher, get_voucher_status, cancel_voucher, notify_stock, settlement_time_]


def order(**overrides: object) -> CashOrderRequest:
    fields: dict[str, object] = {
        "order_id": f"co-{uuid.uuid4().hex[:10]}",
        "merchant_id": "shop",
        "amount": AMOUNT,
        "country": "CO",
        "provider": "efecty",
        "payer": Payer(
            name="María Gómez", document_type=DocumentType.CC, document_number="1020304050"
        ),
        "expires_in_days": 3,
    }
    fields.update(overrides)
    return CashOrderRequest.model_validate(fields)


@dataclass
class Run:
    env: WorkflowEnvironment
    network: Network
    ledger: Ledger
    task_queue: str = field(default_factory=lambda: f"cash-{uuid.uuid4().hex[:8]}")

    def worker(self) -> Worker:
        ledger_activities = LedgerActivities(self.ledger)
        return Worker(
            self.env.client,
            task_queue=self.task_queue,
            workflows=[CashOrderWorkflow],
            activities=[
                *self.network.activities(),
                ledger_activities.book_cash_payment,
                ledger_activities.settle_cash_payment,
            ],
            workflow_runner=WORKFLOW_RUNNER,
        )

    async def start(self, request: CashOrderRequest) -> WorkflowHandle[Any, CashOrderResult]:
        return await self.env.client.start_workflow(
            CashOrderWorkflow.run, request, id=request.workflow_id, task_queue=self.task_queue
        )

    async def result(self, request: CashOrderRequest | None = None) -> CashOrderView:
        request = request or order()
        async with self.worker():
            handle = await self.start(request)
            return (await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)).order

    async def balances(self, request: CashOrderRequest) -> dict[str, int]:
        accounts = {
            "pending": merchant_pending_settlement(request.merchant_id),
            "available": merchant_available(request.merchant_id),
            "fees": provider_fees(request.provider),
            "clearing": provider_clearing(request.provider),
            "refundable": cash_order_refundable(request.order_id),
        }
        return {
            name: await self.ledger.balance(account, request.amount.currency)
            for name, account in accounts.items()
        }


async def status_becomes(
    handle: WorkflowHandle[Any, CashOrderResult], status: CashOrderStatus, timeout: float = 10.0
) -> CashOrderView:
    """Poll the order's query (real time: no time skipping while we query)."""
    deadline = time.monotonic() + timeout
    while True:
        view = await handle.query(CashOrderWorkflow.get_status)
        if view.status is status:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"order is {view.status.value}, not {status.value}")
        await asyncio.sleep(0.05)


async def test_an_unpaid_voucher_expires_after_72_hours_in_under_a_second(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network()
    request = order(late_payment_watch_seconds=0)
    began = time.monotonic()
    view = await Run(env, network, ledger).result(request)
    elapsed = time.monotonic() - began

    assert view.status is CashOrderStatus.EXPIRED
    assert view.expires_at is not None and view.created_at is not None
    assert view.expires_at - view.created_at >= THREE_DAYS - timedelta(seconds=1)
    # Asked at the expiry: the network says expired, so there is nothing to cancel.
    assert network.calls[-2:] == ["poll", "stock:release"], network.calls
    assert "cancel" not in network.calls
    assert [s.action for s in network.stock] == [StockAction.HOLD, StockAction.RELEASE]
    assert network.stock[0].until == view.expires_at
    assert view.stock == "released" and view.paid_at is None
    # Without news the network is polled on a doubling interval capped at 6 hours:
    # a handful of questions over three days, not one every few seconds.
    assert 8 <= network.calls.count("poll") <= 25
    assert elapsed < 5.0, f"72 hours took {elapsed:.2f} s"


async def test_a_voucher_still_open_at_the_expiry_is_cancelled_then_the_stock_released(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(auto_expire=False)
    view = await Run(env, network, ledger).result(order(late_payment_watch_seconds=0))
    assert view.status is CashOrderStatus.EXPIRED
    assert network.calls[-3:] == ["poll", "cancel", "stock:release"], network.calls
    assert view.provider_status == "CANCELLED"


async def test_the_view_shows_the_voucher_and_masks_the_payer(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network()
    request = order(late_payment_watch_seconds=0)
    run = Run(env, network, ledger)
    async with run.worker():
        handle = await run.start(request)
        view = await status_becomes(handle, CashOrderStatus.AWAITING_PAYMENT)
        await handle.terminate("done")
    assert view.voucher_reference == "123456789"
    assert view.barcode == "4157709998461239"
    assert view.stock == "held"
    # Personal data never in the view: initials and the document's last digits only.
    assert view.payer == "M. G."
    assert view.payer_document == "CC ******4050"
    assert "María" not in view.model_dump_json() and "1020304050" not in view.model_dump_json()


async def test_paid_one_second_before_expiry_and_confirmed_later_is_honoured(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    # Efecty confirms about 15 minutes after the shop payment: the cancel at the expiry
    # is refused (already paid), and the confirmation that follows is in time.
    network = Network(
        paid_after=THREE_DAYS - timedelta(seconds=1),
        confirmed_after=THREE_DAYS + timedelta(minutes=15),
    )
    request = order()
    run = Run(env, network, ledger)
    view = await run.result(request)

    assert view.status is CashOrderStatus.SETTLED
    assert ReviewFlag.PAID_AFTER_EXPIRY not in view.review_flags
    assert view.paid_at is not None and view.expires_at is not None
    assert view.paid_at == view.expires_at - timedelta(seconds=1)
    assert "cancel" in network.calls
    assert [s.action for s in network.stock] == [StockAction.HOLD]
    balances = await run.balances(request)
    assert balances["available"] == AMOUNT.amount - FEE
    assert balances["fees"] == FEE and balances["pending"] == 0
    assert balances["refundable"] == AMOUNT.amount


async def test_paid_one_second_before_expiry_is_found_by_the_last_question(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(paid_after=THREE_DAYS - timedelta(seconds=1))
    view = await Run(env, network, ledger).result()
    assert view.status is CashOrderStatus.SETTLED
    assert "cancel" not in network.calls
    assert not view.review_flags


async def test_a_payment_the_network_took_after_expiry_is_booked_and_flagged(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(paid_after=THREE_DAYS + timedelta(hours=2))
    request = order()
    run = Run(env, network, ledger)
    view = await run.result(request)

    assert view.status is CashOrderStatus.NEEDS_REVIEW
    assert view.review_flags == [ReviewFlag.PAID_AFTER_EXPIRY]
    assert view.paid_at is not None and view.expires_at is not None
    assert view.paid_at > view.expires_at
    # The voucher was cancelled and the stock released before the money came in.
    assert [s.action for s in network.stock] == [StockAction.HOLD, StockAction.RELEASE]
    assert view.settled_at is not None
    balances = await run.balances(request)
    assert balances["available"] == AMOUNT.amount - FEE
    assert balances["clearing"] == -AMOUNT.amount


async def test_a_late_notification_wakes_the_expired_order_at_once(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(paid_after=THREE_DAYS + timedelta(minutes=1))
    request = order(first_poll_seconds=6 * 3600, max_poll_seconds=6 * 3600)
    run = Run(env, network, ledger)
    async with run.worker():
        handle = await run.start(request)
        await status_becomes(handle, CashOrderStatus.AWAITING_PAYMENT)
        # Skip past the expiry and the payment; the next poll would be hours away.
        await env.sleep(THREE_DAYS + timedelta(minutes=5))
        await status_becomes(handle, CashOrderStatus.EXPIRED)
        polls = network.calls.count("poll")
        await handle.signal(
            CashOrderWorkflow.provider_event,
            ProviderEvent(
                provider="efecty",
                event_id="evt-late",
                reference=request.workflow_id,
                outcome=TransferOutcome.SUCCEEDED,
                provider_status="APPROVED",
                currency="COP",
                amount_reported="150000",
                amount_minor=AMOUNT.amount,
            ),
        )
        view = await status_becomes(handle, CashOrderStatus.NEEDS_REVIEW)
        assert network.calls.count("poll") == polls + 1
        assert view.review_flags == [ReviewFlag.PAID_AFTER_EXPIRY]
        await handle.terminate("done")


def _next_weekday(after: date, weekday: int) -> date:
    day = after + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def _friday_before_a_monday_holiday(after: date) -> date:
    day = _next_weekday(after, 4)
    while is_business_day(day + timedelta(days=3), "CO") or not is_business_day(day, "CO"):
        day += timedelta(days=7)
    return day


def _friday_before_a_plain_week(after: date) -> date:
    day = _next_weekday(after, 4)
    while not all(is_business_day(day + timedelta(days=n), "CO") for n in (0, 3, 4, 5)):
        day += timedelta(days=7)
    return day


async def _settle_paid_on(
    env: WorkflowEnvironment, ledger: Ledger, friday: date
) -> tuple[CashOrderView, CashOrderView, dict[str, int], dict[str, int]]:
    """Pay an order on ``friday`` at 15:00 Bogotá; (view when paid, final view, ledger
    balances when paid, ledger balances at the end)."""
    now = await env.get_current_time()
    payment = datetime.combine(friday, datetime.min.time(), tzinfo=BOGOTA) + timedelta(hours=15)
    await env.sleep(payment - now)
    network = Network(paid_after=timedelta(0))
    request = order()
    run = Run(env, network, ledger)
    async with run.worker():
        handle = await run.start(request)
        await status_becomes(handle, CashOrderStatus.AWAITING_PAYMENT)
        # The network's notification: a hint the workflow confirms with a status query.
        await handle.signal(
            CashOrderWorkflow.provider_event,
            ProviderEvent(
                provider="efecty",
                event_id="evt-paid",
                reference=request.workflow_id,
                outcome=TransferOutcome.SUCCEEDED,
                provider_status="APPROVED",
            ),
        )
        paid = await status_becomes(handle, CashOrderStatus.PAID)
        paid_balances = await run.balances(request)
        final = (await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)).order
    return paid, final, paid_balances, await run.balances(request)


async def test_settlement_waits_three_business_days_across_a_weekend(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    now = await env.get_current_time()
    friday = _friday_before_a_plain_week(now.astimezone(BOGOTA).date())
    paid, final, at_payment, at_end = await _settle_paid_on(env, ledger, friday)

    wednesday = friday + timedelta(days=5)
    expected = datetime.combine(wednesday, datetime.min.time(), tzinfo=BOGOTA) + timedelta(hours=9)
    assert paid.settle_at == expected
    # Until then the money is the network's debt, pending for the merchant.
    assert at_payment["pending"] == AMOUNT.amount and at_payment["available"] == 0
    assert final.status is CashOrderStatus.SETTLED
    assert final.settled_at is not None and final.settled_at >= expected
    assert final.fee == Money(amount=FEE, currency="COP")
    assert at_end["pending"] == 0 and at_end["available"] == AMOUNT.amount - FEE


async def test_settlement_skips_a_colombian_monday_holiday(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    now = await env.get_current_time()
    friday = _friday_before_a_monday_holiday(now.astimezone(BOGOTA).date())
    paid, final, _, at_end = await _settle_paid_on(env, ledger, friday)

    # Monday is a holiday: Tuesday, Wednesday and Thursday are the three business days.
    thursday = friday + timedelta(days=6)
    assert is_business_day(thursday, "CO")
    expected = datetime.combine(thursday, datetime.min.time(), tzinfo=BOGOTA) + timedelta(hours=9)
    assert paid.settle_at == expected
    assert final.status is CashOrderStatus.SETTLED
    assert final.settled_at is not None and final.settled_at >= expected
    assert at_end["available"] == AMOUNT.amount - FEE


async def test_a_notification_for_another_amount_moves_no_money(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(
        paid_after=timedelta(hours=1), reported_amount=Money(amount=1_000_00, currency="COP")
    )
    request = order(late_payment_watch_seconds=0)
    run = Run(env, network, ledger)
    view = await run.result(request)
    # The network's own status API says another amount: held for a person, not booked.
    assert view.status is CashOrderStatus.NEEDS_REVIEW
    assert ReviewFlag.PROVIDER_MISMATCH in view.review_flags
    assert view.paid_at is None
    assert (await run.balances(request))["pending"] == 0


async def test_duplicate_notifications_are_confirmed_once(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(paid_after=timedelta(0))
    request = order()
    run = Run(env, network, ledger)
    async with run.worker():
        handle = await run.start(request)
        await status_becomes(handle, CashOrderStatus.AWAITING_PAYMENT)
        event = ProviderEvent(
            provider="efecty",
            event_id="evt-dup",
            reference=request.workflow_id,
            outcome=TransferOutcome.SUCCEEDED,
            provider_status="APPROVED",
        )
        for _ in range(3):
            await handle.signal(CashOrderWorkflow.provider_event, event)
        view = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert view.order.status is CashOrderStatus.SETTLED
    assert view.order.events_applied == 1
    assert network.calls.count("poll") == 1
    assert (await run.balances(request))["available"] == AMOUNT.amount - FEE


async def test_a_voucher_the_network_refuses_fails_without_holding_stock(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(refuse_create=True)
    view = await Run(env, network, ledger).result()
    assert view.status is CashOrderStatus.FAILED
    assert view.failure_code == "voucher_refused"
    assert network.stock == []


async def test_a_voucher_never_confirmed_issued_is_cancelled_and_the_order_fails(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    network = Network(unreachable=True)
    view = await Run(env, network, ledger).result()
    assert view.status is CashOrderStatus.FAILED
    assert view.failure_code == "network_unavailable"
    # Retried for ten minutes, then whatever the network may hold is withdrawn.
    assert network.calls.count("create") > 3
    assert network.calls[-1] == "cancel"
    assert network.stock == []
