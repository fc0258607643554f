"""Collections and refunds end to end: client -> Temporal -> workflows -> sandbox hub ->
signed webhooks -> relay -> workflows -> ledger, checked against the hub's own record.

Every collection scenario of the sandbox runs at once with a 5 s approval window; each
refund scenario refunds a collection of its own. The hub's record says how many times a
refund's money left its float: once, for every refund it processed, whatever the
scenario threw at the adapter (lost answers, duplicate or missing webhooks).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError

from payments_engine.domain.collection import CollectionRequest, CollectionStatus, CollectionView
from payments_engine.domain.errors import (
    CurrencyMismatch,
    InvalidTransaction,
    ProviderNotConfigured,
    ReferenceConflict,
    RefundAmountExceeded,
    RefundWindowExpired,
)
from payments_engine.domain.events import ReviewFlag
from payments_engine.domain.ledger import (
    FundMerchantInput,
    collection_refundable,
    merchant_available,
    merchant_refunds_payable,
)
from payments_engine.domain.money import Money
from payments_engine.domain.refund import RefundRequest, RefundStatus, RefundView
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import CRASH_QUEUE, WorkerProcesses, eventually

pytestmark = pytest.mark.integration

AMOUNT = Money(amount=1_500_00, currency="KES")
FEE = 2_250  # the sandbox hub's 1.5%
WINDOW_SECONDS = 5


@dataclass(frozen=True)
class Expected:
    status: CollectionStatus
    failure_code: str | None
    booked: bool


COLLECTIONS: dict[str, Expected] = {
    "712345678": Expected(CollectionStatus.SUCCEEDED, None, True),
    "700000001": Expected(CollectionStatus.FAILED, "provider_insufficient_funds", False),
    "700000002": Expected(CollectionStatus.FAILED, "invalid_msisdn", False),
    "700000006": Expected(CollectionStatus.SUCCEEDED, None, True),
    "700000007": Expected(CollectionStatus.SUCCEEDED, None, True),
    "700000011": Expected(CollectionStatus.FAILED, "payer_declined", False),
    "700000012": Expected(CollectionStatus.EXPIRED, None, False),
    "700000013": Expected(CollectionStatus.NEEDS_REVIEW, None, True),
}


def collection(number: str, merchant: str) -> CollectionRequest:
    return CollectionRequest(
        collection_id=f"co-{uuid.uuid4().hex[:10]}",
        merchant_id=merchant,
        amount=AMOUNT,
        payer_msisdn=f"+254{number}",
        country="KE",
        approval_window_seconds=WINDOW_SECONDS,
    )


async def ended(payments: PaymentsClient, collection_id: str) -> CollectionView:
    return await eventually(
        lambda: payments.collections.get(collection_id),
        lambda v: v.status.is_final or v.status is CollectionStatus.NEEDS_REVIEW,
        timeout=60,
    )


async def admin(stack: EngineStack, path: str) -> Any:
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin") as client:
        response = await client.get(path)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
async def collected(stack: EngineStack) -> dict[str, tuple[CollectionRequest, CollectionView]]:
    """One collection per scenario, all at once, each for a merchant of its own."""
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    requests = {n: collection(n, f"m-co-{n}-{uuid.uuid4().hex[:4]}") for n in COLLECTIONS}
    for request in requests.values():
        await payments.collections.create(request)
    views = await asyncio.gather(*(ended(payments, r.collection_id) for r in requests.values()))
    return {n: (requests[n], view) for n, view in zip(requests, views, strict=True)}


@pytest.mark.parametrize("number", list(COLLECTIONS))
async def test_collection_scenario(
    number: str,
    collected: dict[str, tuple[CollectionRequest, CollectionView]],
    stack: EngineStack,
) -> None:
    request, view = collected[number]
    expected = COLLECTIONS[number]
    assert view.status is expected.status
    if expected.failure_code:
        assert view.failure_code == expected.failure_code
    record = await admin(stack, f"/collections/{request.workflow_id}")
    assert record["submit_count"] == 1, "the payer was prompted once"
    entries = await stack.ledger.entries(reference=request.collection_id)
    available = await stack.ledger.balance(merchant_available(request.merchant_id), "KES")
    refundable = await stack.ledger.balance(collection_refundable(request.collection_id), "KES")
    if expected.booked:
        assert record["executed"] is True
        assert [e.kind for e in entries] == ["collection_settle"]
        assert (available, refundable) == (AMOUNT.amount - FEE, AMOUNT.amount)
        assert view.fee == Money(amount=FEE, currency="KES")
    else:
        assert record["executed"] is False
        assert entries == [] and (available, refundable) == (0, 0)
    if expected.status is CollectionStatus.NEEDS_REVIEW:
        assert ReviewFlag.PAID_AFTER_EXPIRY in view.review_flags
    assert "712345678" not in view.payer


async def test_expired_collection_was_cancelled_or_expired_at_the_hub(
    collected: dict[str, tuple[CollectionRequest, CollectionView]], stack: EngineStack
) -> None:
    request, view = collected["700000012"]
    record = await admin(stack, f"/collections/{request.workflow_id}")
    assert record["status"] in ("ER106", "ER107")
    assert view.provider_status == record["status"]


async def test_collections_are_listed_by_status(
    collected: dict[str, tuple[CollectionRequest, CollectionView]], stack: EngineStack
) -> None:
    payments = PaymentsClient(stack.client, stack.settings.task_queue)
    late = collected["700000013"][0]

    async def review() -> list[str]:
        found = await payments.collections.list(status=CollectionStatus.NEEDS_REVIEW)
        return [c.collection_id for c in found]

    await eventually(review, lambda ids: late.collection_id in ids, timeout=15)


# MoMo: request to pay. No cancel (the window passes, MoMo expires it), no fee stated.
MOMO_COLLECTIONS: dict[str, Expected] = {
    "712345678": Expected(CollectionStatus.SUCCEEDED, None, True),
    "700000001": Expected(CollectionStatus.FAILED, "provider_insufficient_funds", False),
    "700000006": Expected(CollectionStatus.SUCCEEDED, None, True),
    "700000011": Expected(CollectionStatus.FAILED, "payer_declined", False),
    "700000012": Expected(CollectionStatus.EXPIRED, "expired", False),
    "700000013": Expected(CollectionStatus.NEEDS_REVIEW, None, True),
}


@pytest.fixture(scope="module")
async def momo_collected(
    stack: EngineStack,
) -> dict[str, tuple[CollectionRequest, CollectionView]]:
    """One MoMo request to pay per scenario, all at once."""
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    requests = {
        n: collection(n, f"m-momo-{n}-{uuid.uuid4().hex[:4]}").model_copy(
            update={"provider": "momo"}
        )
        for n in MOMO_COLLECTIONS
    }
    for request in requests.values():
        await payments.collections.create(request)
    views = await asyncio.gather(*(ended(payments, r.collection_id) for r in requests.values()))
    return {n: (requests[n], view) for n, view in zip(requests, views, strict=True)}


@pytest.mark.parametrize("number", list(MOMO_COLLECTIONS))
async def test_momo_collection_scenario(
    number: str,
    momo_collected: dict[str, tuple[CollectionRequest, CollectionView]],
    stack: EngineStack,
) -> None:
    request, view = momo_collected[number]
    expected = MOMO_COLLECTIONS[number]
    assert (view.status, view.failure_code) == (expected.status, expected.failure_code)
    found = await admin(stack, f"/momo/requests-to-pay/by-external-id/{request.workflow_id}")
    assert len(found) == 1, "one request to pay, whatever was retried"
    record = found[0]
    assert record["submit_count"] == 1, "the payer was prompted once"
    available = await stack.ledger.balance(merchant_available(request.merchant_id), "KES")
    refundable = await stack.ledger.balance(collection_refundable(request.collection_id), "KES")
    # MoMo states no fee and the stack configures none: the merchant gets it all.
    booked = (AMOUNT.amount, AMOUNT.amount) if expected.booked else (0, 0)
    assert (available, refundable) == booked
    assert record["executed"] is expected.booked


async def test_a_momo_collection_cannot_be_refunded(
    momo_collected: dict[str, tuple[CollectionRequest, CollectionView]], stack: EngineStack
) -> None:
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    original = momo_collected["712345678"][0]
    request = RefundRequest(
        refund_id=f"rf-{uuid.uuid4().hex[:10]}",
        original_id=original.collection_id,
        merchant_id=original.merchant_id,
        amount=Money(amount=100_00, currency="KES"),
        reason="x",
    )
    with pytest.raises(ProviderNotConfigured, match="does not support refunds"):
        await payments.refunds.create(request)


# -- refunds ---------------------------------------------------------------------------------

REFUNDS: dict[str, RefundStatus] = {
    "400.00": RefundStatus.PROCESSED,
    "4.91": RefundStatus.FAILED,
    "4.92": RefundStatus.REVERSED,
    "4.94": RefundStatus.PROCESSED,
    "4.96": RefundStatus.PROCESSED,
    # "4.95" (webhook never sent) is found by the first poll, 30 s in: the time-skipping
    # tests cover polling, and half a minute of waiting here would cost the suite more.
}


async def paid_collection(payments: PaymentsClient, merchant: str) -> CollectionRequest:
    request = collection("712345678", merchant)
    await payments.collections.create(request)
    view = await ended(payments, request.collection_id)
    assert view.status is CollectionStatus.SUCCEEDED
    return request


async def refund_ended(payments: PaymentsClient, refund_id: str, final: RefundStatus) -> RefundView:
    return await eventually(
        lambda: payments.refunds.get(refund_id), lambda v: v.status is final, timeout=90
    )


@dataclass(frozen=True)
class RefundRun:
    original: CollectionRequest
    request: RefundRequest
    created_twice_same_run: bool
    view: RefundView


async def run_refund(payments: PaymentsClient, amount: str) -> RefundRun:
    """A paid collection of its own merchant, then one refund of ``amount`` to its end."""
    merchant = f"m-rf-{uuid.uuid4().hex[:8]}"
    original = await paid_collection(payments, merchant)
    expected = REFUNDS[amount]
    request = RefundRequest(
        refund_id=f"rf-{uuid.uuid4().hex[:10]}",
        original_id=original.collection_id,
        merchant_id=merchant,
        amount=Money.from_major(amount, "KES"),
        reason="damaged",
        # Long enough for the sandbox's reversal (3 s), short for the others.
        reversal_watch_seconds=20 if expected is RefundStatus.REVERSED else 1,
    )
    created = await payments.refunds.create(request)
    again = await payments.refunds.create(request)
    view = await refund_ended(payments, request.refund_id, expected)
    return RefundRun(original, request, again.run_id == created.run_id, view)


@pytest.fixture(scope="module")
async def refunded(stack: EngineStack) -> dict[str, RefundRun]:
    """One refund per scenario, all at once."""
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    runs = await asyncio.gather(*(run_refund(payments, amount) for amount in REFUNDS))
    return dict(zip(REFUNDS, runs, strict=True))


@pytest.mark.parametrize("amount", list(REFUNDS))
async def test_refund_scenario(
    amount: str, refunded: dict[str, RefundRun], stack: EngineStack
) -> None:
    run, expected = refunded[amount], REFUNDS[amount]
    request, original = run.request, run.original
    assert run.created_twice_same_run
    assert run.view.status is expected and run.view.provider_refund_id
    records = [
        r for r in await admin(stack, "/refunds") if r["external_refund_id"] == request.workflow_id
    ]
    assert len(records) == 1 and records[0]["submit_count"] >= 1
    assert records[0]["execution_count"] == (0 if expected is RefundStatus.FAILED else 1)

    refund = request.amount.amount
    available = AMOUNT.amount - FEE
    merchant = request.merchant_id
    balances = [
        await stack.ledger.balance(merchant_available(merchant), "KES"),
        await stack.ledger.balance(merchant_refunds_payable(merchant), "KES"),
        await stack.ledger.balance(collection_refundable(original.collection_id), "KES"),
    ]
    if expected is RefundStatus.PROCESSED:
        assert balances == [available - refund, 0, AMOUNT.amount - refund]
    else:
        # Failed: released exactly; reversed: given back and refundable again.
        assert balances == [available, 0, AMOUNT.amount]
    assert await stack.ledger.check_consistency() == []


async def test_concurrent_partial_refunds_never_exceed_the_collection(stack: EngineStack) -> None:
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    merchant = f"m-race-{uuid.uuid4().hex[:8]}"
    original = await paid_collection(payments, merchant)
    # Money enough for every refund: only what was collected may limit them.
    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant, amount=Money(amount=1_000_000, currency="KES"), reference=merchant
        )
    )
    requests = [
        RefundRequest(
            refund_id=f"race-{uuid.uuid4().hex[:8]}-{n}",
            original_id=original.collection_id,
            merchant_id=merchant,
            amount=Money(amount=100_00, currency="KES"),
            reason="partial",
            reversal_watch_seconds=1,
        )
        for n in range(20)
    ]
    await asyncio.gather(*(payments.refunds.create(r) for r in requests))

    async def final(request: RefundRequest) -> RefundView:
        return await eventually(
            lambda: payments.refunds.get(request.refund_id),
            lambda v: v.status in (RefundStatus.PROCESSED, RefundStatus.FAILED),
            timeout=90,
        )

    views = await asyncio.gather(*(final(r) for r in requests))
    processed = [v for v in views if v.status is RefundStatus.PROCESSED]
    refused = [v for v in views if v.status is RefundStatus.FAILED]
    assert len(processed) == 15  # 15 x 100.00 = the 1,500.00 collected
    assert {v.failure_code for v in refused} == {"amount_exceeded"}
    records = {
        r["external_refund_id"]: r
        for r in await admin(stack, "/refunds")
        if r["original_transaction_id"] == original.workflow_id
    }
    # Refused by the ledger, so never sent; the others executed once each.
    assert len(records) == 15
    assert all(r["execution_count"] == 1 for r in records.values())
    refundable = await stack.ledger.balance(collection_refundable(original.collection_id), "KES")
    assert refundable == 0
    listed = await payments.refunds.list(original_id=original.collection_id, limit=100)
    assert len(listed) == 20


async def test_refund_rules_are_checked_before_anything_starts(stack: EngineStack) -> None:
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    merchant = f"m-rules-{uuid.uuid4().hex[:8]}"
    original = await paid_collection(payments, merchant)
    declined = collection("700000011", merchant)
    await payments.collections.create(declined)
    await ended(payments, declined.collection_id)

    def refund(**over: Any) -> RefundRequest:
        fields: dict[str, Any] = {
            "refund_id": f"rf-{uuid.uuid4().hex[:10]}",
            "original_id": original.collection_id,
            "merchant_id": merchant,
            "amount": Money(amount=100_00, currency="KES"),
            "reason": "x",
        }
        return RefundRequest.model_validate({**fields, **over})

    refused = [
        (refund(original_id="co-unknown"), InvalidTransaction),
        (refund(original_id=declined.collection_id), InvalidTransaction),
        (refund(merchant_id="someone-else"), InvalidTransaction),
        (refund(amount=Money(amount=100, currency="UGX")), CurrencyMismatch),
        (refund(amount=Money(amount=1_500_01, currency="KES")), RefundAmountExceeded),
    ]
    for request, error in refused:
        with pytest.raises(error):
            await payments.refunds.create(request)
        with pytest.raises(RPCError):
            await stack.client.get_workflow_handle(request.workflow_id).describe()
    # The refund window, shortened to a second for the test.
    hurried = PaymentsClient(
        stack.client, stack.settings.task_queue, stack.ledger, refund_window=timedelta(seconds=1)
    )
    await asyncio.sleep(1.5)
    late = refund()
    with pytest.raises(RefundWindowExpired):
        await hurried.refunds.create(late)
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(late.workflow_id).describe()
    before = await stack.ledger.balance(merchant_available(merchant), "KES")

    first = refund()
    await payments.refunds.create(first)
    with pytest.raises(ReferenceConflict):
        await payments.refunds.create(
            first.model_copy(update={"amount": Money(amount=200_00, currency="KES")})
        )
    # Its workflow listens for a reversal for 7 days; wait() returns once it is processed.
    view = await asyncio.wait_for(payments.refunds.wait(first.refund_id), timeout=60)
    assert view.status is RefundStatus.PROCESSED
    after = await stack.ledger.balance(merchant_available(merchant), "KES")
    assert before - after == first.amount.amount


CRASH_REFUNDS = 4


@pytest.mark.slow
async def test_worker_killed_mid_refund_every_refund_executes_once(
    stack: EngineStack, workers: WorkerProcesses
) -> None:
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    merchant = f"m-crash-{uuid.uuid4().hex[:8]}"
    original = await paid_collection(payments, merchant)
    # Refunds run on the crash queue, served only by the worker processes below.
    crashing = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    requests = [
        RefundRequest(
            refund_id=f"crash-{uuid.uuid4().hex[:8]}",
            original_id=original.collection_id,
            merchant_id=merchant,
            amount=Money(amount=100_00, currency="KES"),
            reason="crash",
            reversal_watch_seconds=1,
        )
        for _ in range(CRASH_REFUNDS)
    ]
    references = {r.workflow_id for r in requests}
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin") as hub:
        # The hub executes every refund and holds its answer: each stays in its submit
        # activity until the worker is dead.
        (await hub.put("/faults", json={"hold_submissions": True})).raise_for_status()
        try:
            first = workers.start()
            for request in requests:
                await crashing.refunds.create(request)

            async def seen() -> int:
                found = {r["external_refund_id"] for r in await admin(stack, "/refunds")}
                return len(references & found)

            await eventually(seen, lambda n: n == CRASH_REFUNDS, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            (await hub.put("/faults", json={})).raise_for_status()
    workers.start()

    views = await asyncio.gather(
        *(refund_ended(payments, r.refund_id, RefundStatus.PROCESSED) for r in requests)
    )
    assert {v.status for v in views} == {RefundStatus.PROCESSED}
    records = [r for r in await admin(stack, "/refunds") if r["external_refund_id"] in references]
    assert len(records) == CRASH_REFUNDS
    # The restarted worker asked by our id before resending: one submission, one payment.
    assert all(r["submit_count"] == 1 and r["execution_count"] == 1 for r in records)
    refundable = await stack.ledger.balance(collection_refundable(original.collection_id), "KES")
    assert refundable == AMOUNT.amount - CRASH_REFUNDS * 100_00
