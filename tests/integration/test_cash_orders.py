"""Cash orders end to end: the Efecty and OXXO sandboxes, the relay, the worker, the
ledger and the merchant's stock hooks; refunds by bank transfer through the bank sandbox.

Every scenario is checked against the networks' own record (the sandbox's admin API):
one voucher per order, paid once; and against the ledger.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from payments_engine.domain.bank import AccountType, BankAccount, DocumentType
from payments_engine.domain.cash import CashOrderRequest, CashOrderStatus, CashOrderView, Payer
from payments_engine.domain.errors import InvalidAmount, ValidationFailed
from payments_engine.domain.events import ReviewFlag
from payments_engine.domain.ledger import (
    cash_order_refundable,
    merchant_available,
    merchant_pending_settlement,
    provider_fees,
)
from payments_engine.domain.money import Money
from payments_engine.domain.refund import RefundStatus
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import CRASH_QUEUE, WorkerProcesses, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COP = Money(amount=150_000_00, currency="COP")
MXN = Money(amount=1_234_50, currency="MXN")
# The sandboxes' vouchers live a few seconds in these tests (SANDBOX_OVERRIDES): the
# engine polls every second or two, and an expired order listens briefly.
FAST = {
    "first_poll_seconds": 1,
    "max_poll_seconds": 2,
    "late_payment_watch_seconds": 15,
    "settlement_business_days": 0,
}
TIMEOUT = 45.0


def order(network: str, magic: str, **extra: Any) -> CashOrderRequest:
    """An order on ``network`` whose payer's document ends in the sandbox's ``magic``."""
    if network == "efecty":
        payer = Payer(
            name="María Gómez", document_type=DocumentType.CC, document_number=f"10203040{magic}"
        )
        amount, country = COP, "CO"
    else:
        payer = Payer(
            name="Ana Ruiz",
            document_type=DocumentType.CURP,
            document_number=f"RUAA800101MDFZNN{magic}",
        )
        amount, country = MXN, "MX"
    fields: dict[str, Any] = {
        "order_id": f"it-{network}-{magic}-{uuid.uuid4().hex[:8]}",
        "merchant_id": f"m-{uuid.uuid4().hex[:8]}",
        "amount": amount,
        "country": country,
        "provider": network,
        "payer": payer,
        **FAST,
        **extra,
    }
    return CashOrderRequest.model_validate(fields)


@pytest.fixture
async def sandbox(stack: EngineStack) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's admin API (every simulator's, under ``/admin``)."""
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin") as client:
        yield client


async def voucher(sandbox: httpx.AsyncClient, network: str, reference: str) -> dict[str, Any]:
    response = await sandbox.get(f"/{network}/vouchers/{reference}")
    response.raise_for_status()
    return dict(response.json())


async def vouchers_of(sandbox: httpx.AsyncClient, network: str, reference: str) -> list[Any]:
    response = await sandbox.get(f"/{network}/vouchers")
    response.raise_for_status()
    return [v for v in response.json() if v["reference"] == reference]


async def stock(sandbox: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await sandbox.get(f"/merchant/stock/{order_id}")
    response.raise_for_status()
    return dict(response.json())


async def reaches(
    payments: PaymentsClient, order_id: str, *statuses: CashOrderStatus
) -> CashOrderView:
    return await eventually(
        lambda: payments.cash_orders.get(order_id),
        lambda view: view.status in statuses,
        timeout=TIMEOUT,
    )


async def balance(stack: EngineStack, account: str, currency: str) -> int:
    return await stack.ledger.balance(account, currency)


@pytest.mark.parametrize("network", ["efecty", "oxxo"])
async def test_a_paid_voucher_is_confirmed_booked_and_settled(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient, network: str
) -> None:
    request = order(network, "01")
    await payments.cash_orders.create(request)
    view = await reaches(payments, request.order_id, CashOrderStatus.SETTLED)

    record = await voucher(sandbox, network, request.workflow_id)
    assert record["status"] == "APPROVED"
    assert view.voucher_reference == record["voucher_reference"]
    assert view.paid_at is not None and not view.review_flags
    # The notification arrived (Efecty's with details, OXXO's without) and was confirmed.
    assert view.events_applied >= 1 and view.status_queries >= 1
    fee = record["fee_minor"]
    assert view.fee == Money(amount=fee, currency=request.amount.currency)
    currency = request.amount.currency
    assert await balance(stack, merchant_available(request.merchant_id), currency) == (
        request.amount.amount - fee
    )
    assert await balance(stack, merchant_pending_settlement(request.merchant_id), currency) == 0
    assert await balance(stack, provider_fees(network), currency) >= fee
    held = await stock(sandbox, request.order_id)
    assert held["held_at"] is not None and held["released_at"] is None
    assert len(await vouchers_of(sandbox, network, request.workflow_id)) == 1


@pytest.mark.parametrize("network", ["efecty", "oxxo"])
async def test_an_unpaid_voucher_expires_is_cancelled_and_releases_the_stock(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient, network: str
) -> None:
    request = order(network, "02")
    await payments.cash_orders.create(request)
    view = await reaches(payments, request.order_id, CashOrderStatus.EXPIRED)

    assert view.paid_at is None and view.stock == "released"
    record = await voucher(sandbox, network, request.workflow_id)
    assert record["status"] in ("EXPIRED", "CANCELLED")
    released = await eventually(
        lambda: stock(sandbox, request.order_id), lambda s: s["released_at"] is not None
    )
    assert released["release_calls"] >= 1
    currency = request.amount.currency
    assert await balance(stack, merchant_pending_settlement(request.merchant_id), currency) == 0


@pytest.mark.parametrize("network", ["efecty", "oxxo"])
async def test_a_duplicate_notification_moves_the_money_once(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient, network: str
) -> None:
    request = order(network, "05")
    await payments.cash_orders.create(request)
    view = await reaches(payments, request.order_id, CashOrderStatus.SETTLED)
    record = await eventually(
        lambda: voucher(sandbox, network, request.workflow_id),
        lambda v: len(v["notifications"]) >= 2,
    )
    assert len(record["notifications"]) >= 2
    assert view.events_applied >= 1
    currency = request.amount.currency
    # Booked once: what was paid, refundable once; settled once.
    refundable = await balance(stack, cash_order_refundable(request.order_id), currency)
    assert refundable == request.amount.amount
    assert await balance(stack, merchant_available(request.merchant_id), currency) == (
        request.amount.amount - record["fee_minor"]
    )


@pytest.mark.parametrize("network", ["efecty", "oxxo"])
async def test_a_lost_notification_is_found_by_polling(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient, network: str
) -> None:
    request = order(network, "06")
    await payments.cash_orders.create(request)
    view = await reaches(payments, request.order_id, CashOrderStatus.SETTLED)
    assert view.events_applied == 0 and view.status_queries >= 1
    record = await voucher(sandbox, network, request.workflow_id)
    assert record["notifications"] == []


async def test_a_payment_the_network_took_after_expiry_is_flagged_never_lost(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient
) -> None:
    request = order("efecty", "04")
    await payments.cash_orders.create(request)
    await reaches(payments, request.order_id, CashOrderStatus.EXPIRED)
    view = await eventually(
        lambda: payments.cash_orders.get(request.order_id),
        lambda v: v.status is CashOrderStatus.NEEDS_REVIEW and v.settled_at is not None,
        timeout=TIMEOUT,
    )
    assert view.review_flags == [ReviewFlag.PAID_AFTER_EXPIRY]
    assert view.stock == "released"
    record = await voucher(sandbox, "efecty", request.workflow_id)
    assert record["paid_after_expiry"] is True
    assert await balance(stack, merchant_available(request.merchant_id), "COP") == (
        request.amount.amount - record["fee_minor"]
    )


async def test_a_cancel_refused_because_the_payer_paid_waits_for_the_confirmation(
    payments: PaymentsClient, sandbox: httpx.AsyncClient
) -> None:
    request = order("efecty", "07")
    await payments.cash_orders.create(request)
    view = await reaches(payments, request.order_id, CashOrderStatus.SETTLED)
    # Paid before the expiry, confirmed after it: honoured, the stock never released.
    assert not view.review_flags and view.stock == "held"
    assert view.paid_at is not None and view.expires_at is not None
    assert view.paid_at < view.expires_at


async def test_worker_killed_while_the_order_waits_for_the_payer(
    stack: EngineStack, sandbox: httpx.AsyncClient, workers: WorkerProcesses
) -> None:
    # The order runs on the crash queue, served only by the worker processes below.
    crashing = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    first = workers.start()
    request = order("efecty", "00", late_payment_watch_seconds=0)
    # A manual voucher lives as long as the others: pay it before it expires.
    await crashing.cash_orders.create(request)
    view = await reaches(crashing, request.order_id, CashOrderStatus.AWAITING_PAYMENT)
    assert view.voucher_reference is not None

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    paid = await sandbox.post(f"/efecty/vouchers/{view.voucher_reference}/payments")
    paid.raise_for_status()
    await asyncio.sleep(1.0)
    workers.start()

    settled = await reaches(crashing, request.order_id, CashOrderStatus.SETTLED)
    assert settled.paid_at is not None
    assert len(await vouchers_of(sandbox, "efecty", request.workflow_id)) == 1
    assert await balance(stack, merchant_available(request.merchant_id), "COP") > 0


def bank_account(ending: str) -> BankAccount:
    return BankAccount(
        bank_code="007",
        account_type=AccountType.SAVINGS,
        account_number=f"12345678{ending}",
        document_type=DocumentType.CC,
        document_number="1020304050",
        holder_name="María Gómez",
        country="CO",
    )


async def test_a_cash_order_is_refunded_by_bank_transfer_and_a_returned_one_restored(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient
) -> None:
    request = order("efecty", "01")
    await payments.cash_orders.create(request)
    await reaches(payments, request.order_id, CashOrderStatus.SETTLED)
    refundable = cash_order_refundable(request.order_id)
    part = Money(amount=50_000_00, currency="COP")

    refund = payments.cash_orders.refund_request(
        request.order_id,
        refund_id=f"rf-{uuid.uuid4().hex[:8]}",
        amount=part,
        reason="returned goods",
        bank_account=bank_account("11"),
        merchant_id=request.merchant_id,
    )
    await payments.refunds.create(refund)
    done = await payments.refunds.wait(refund.refund_id)
    assert done.status is RefundStatus.PROCESSED
    assert done.destination == "bank 007 savings ****7811 (CC ******4050)"
    transfer = (await sandbox.get(f"/bank/transfers/{refund.workflow_id}")).json()
    assert transfer["status"] == "SETTLED" and transfer["amount"] == "50000.00"
    assert await balance(stack, refundable, "COP") == request.amount.amount - part.amount

    returned = payments.cash_orders.refund_request(
        request.order_id,
        refund_id=f"rf-{uuid.uuid4().hex[:8]}",
        amount=part,
        reason="returned goods",
        bank_account=bank_account("09"),
        merchant_id=request.merchant_id,
    )
    await payments.refunds.create(returned)
    failed = await payments.refunds.wait(returned.refund_id)
    assert failed.status is RefundStatus.FAILED
    assert failed.failure_code == "account_closed"
    # The bank returned it: the amount is the merchant's, and refundable, again.
    assert await balance(stack, refundable, "COP") == request.amount.amount - part.amount
    available = await balance(stack, merchant_available(request.merchant_id), "COP")
    assert (
        available
        == request.amount.amount
        - part.amount
        - (await voucher(sandbox, "efecty", request.workflow_id))["fee_minor"]
    )


async def test_bad_input_is_refused_and_nothing_is_created(
    stack: EngineStack, payments: PaymentsClient, sandbox: httpx.AsyncClient
) -> None:
    good = order("efecty", "01")
    bad = [
        good.model_copy(update={"amount": Money(amount=150_000_50, currency="COP")}),
        good.model_copy(update={"amount": Money(amount=19_999_00, currency="COP")}),
        good.model_copy(update={"expires_in_days": 8}),
        good.model_copy(update={"amount": Money(amount=1_000_00, currency="MXN")}),
        good.model_copy(update={"provider": "hub"}),
    ]
    for request in bad:
        with pytest.raises((InvalidAmount, ValidationFailed)):
            await payments.cash_orders.create(request)
    assert await vouchers_of(sandbox, "efecty", good.workflow_id) == []
    handle = stack.client.get_workflow_handle(good.workflow_id)
    with pytest.raises(Exception, match="not found"):
        await handle.describe()
