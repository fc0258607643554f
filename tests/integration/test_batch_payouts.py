"""Batch payouts end to end: a file -> stored lines -> BatchPayoutWorkflow -> child payouts
-> the sandbox hub, checked against the hub's own record of every transfer.

Small batches with small pages and runs, so continue-as-new, the breaker, pause, resume
and cancel all happen in seconds; the 10,000-line run is ``bench/batch_payout.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from payments_engine.domain.batch import (
    BatchBreaker,
    BatchLineState,
    BatchProgress,
    BatchStatus,
    batch_id_for,
    payout_id_for,
)
from payments_engine.domain.ids import payout_workflow_id
from payments_engine.domain.ledger import FundMerchantInput, merchant_available
from payments_engine.domain.money import Money
from payments_engine.starter.batches import BatchFileInvalid
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import CRASH_QUEUE, WorkerProcesses, eventually

pytestmark = pytest.mark.integration

HEADER = "reference,amount,currency,msisdn,country,name,narration\n"
KE_OK = "+254712345678"
UG_FAILS = "+256770000001"  # the hub's insufficient_funds: accepted, then ER102


def batch_file(lines: list[tuple[str, str, str]]) -> bytes:
    """CSV of (reference, msisdn, country) lines of 10.00 in the country's currency."""
    currency = {"KE": "KES", "UG": "UGX"}
    rows = [
        f"{ref},{'10.00' if country == 'KE' else '1000'},{currency[country]},{number},"
        f"{country},Test Person,commission"
        for ref, number, country in lines
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


async def funded(stack: EngineStack) -> str:
    merchant = f"mb-{uuid.uuid4().hex[:8]}"
    for currency, amount in (("KES", 1_000_000), ("UGX", 10_000_000)):
        await stack.ledger.fund_merchant(
            FundMerchantInput(
                merchant_id=merchant,
                amount=Money(amount=amount, currency=currency),
                reference=f"fund-{merchant}-{currency}",
            )
        )
    return merchant


async def ended(payments: PaymentsClient, batch_id: str, timeout: float = 90) -> BatchProgress:
    return await eventually(
        lambda: payments.batches.progress(batch_id),
        lambda p: p.status in (BatchStatus.COMPLETED, BatchStatus.CANCELLED),
        timeout=timeout,
        interval=0.3,
    )


async def transfers(sandbox_admin: httpx.AsyncClient, batch_id: str, refs: list[str]) -> dict:
    found = {}
    for ref in refs:
        reference = payout_workflow_id(payout_id_for(batch_id, ref))
        answer = await sandbox_admin.get(f"/transfers/{reference}")
        found[ref] = answer.json() if answer.status_code == 200 else None
    return found


async def test_a_batch_pays_every_line_once_across_runs_and_the_same_file_pays_once(
    stack: EngineStack, payments: PaymentsClient, sandbox_admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    merchant = await funded(stack)
    tag = uuid.uuid4().hex[:6]
    refs = [f"r{tag}-{n}" for n in range(16)]
    data = batch_file([(ref, KE_OK, "KE") for ref in refs])
    submitted = await payments.batches.submit(
        data, merchant_id=merchant, concurrency=6, page_size=4, lines_per_run=6
    )
    assert submitted.created and submitted.lines == 16
    assert submitted.batch_id == batch_id_for(None, hashlib.sha256(data).hexdigest())
    final = await ended(payments, submitted.batch_id)
    assert (final.status, final.succeeded, final.failed, final.done) == (
        BatchStatus.COMPLETED,
        16,
        0,
        16,
    )
    assert final.paid == {"KES": 16 * 10_00}
    # 16 lines, 6 per run: the batch continued as new at least twice.
    assert final.runs >= 3
    seen = await transfers(sandbox_admin, submitted.batch_id, refs)
    assert all(t is not None and t["submit_count"] == 1 for t in seen.values()), seen

    rows = [row async for row in payments.batches.results(submitted.batch_id)]
    assert [row[0] for row in rows] == refs
    assert {row[1] for row in rows} == {BatchLineState.SUCCEEDED.value}
    assert all(row[2] for row in rows)  # the hub's transaction id of each

    # The same file again is the same batch: nothing more is paid.
    again = await payments.batches.submit(data, merchant_id=merchant)
    assert (again.batch_id, again.created) == (submitted.batch_id, False)
    assert (await payments.batches.progress(submitted.batch_id)).succeeded == 16
    seen = await transfers(sandbox_admin, submitted.batch_id, refs)
    assert all(t["submit_count"] == 1 for t in seen.values())


async def test_a_file_with_bad_lines_is_refused_with_every_reason_and_starts_nothing(
    stack: EngineStack, payments: PaymentsClient
) -> None:
    merchant = await funded(stack)
    data = (
        HEADER
        + "ok-1,10.00,KES,+254712345678,KE,A,x\n"
        + "bad-1,10.005,KES,+254712345678,KE,A,x\n"
        + "bad-2,10.00,KES,+256770000001,KE,A,x\n"
        + "ok-1,10.00,KES,+254712345678,KE,A,x\n"
    ).encode()
    with pytest.raises(BatchFileInvalid) as refused:
        await payments.batches.submit(data, merchant_id=merchant)
    lines = {problem.line_no for problem in refused.value.problems}
    assert lines == {3, 4, 5}
    assert all("+25" not in problem.reason for problem in refused.value.problems)
    batch_id = batch_id_for(None, hashlib.sha256(data).hexdigest())
    assert await payments.batches._require_store().get(batch_id) is None  # noqa: SLF001


async def test_the_breaker_pauses_a_failing_country_and_the_rest_completes(
    stack: EngineStack, payments: PaymentsClient, sandbox_admin: httpx.AsyncClient
) -> None:
    merchant = await funded(stack)
    tag = uuid.uuid4().hex[:6]
    # One Ugandan line (every one fails at the hub) to two Kenyan ones (all paid): the
    # hub's failure share stays at a third, Uganda's is all.
    lines = []
    for n in range(4):
        lines += [
            (f"u{tag}-{n}", UG_FAILS, "UG"),
            (f"k{tag}-{n}a", KE_OK, "KE"),
            (f"k{tag}-{n}b", KE_OK, "KE"),
        ]
    submitted = await payments.batches.submit(
        batch_file(lines),
        merchant_id=merchant,
        concurrency=1,
        breaker=BatchBreaker(window=2, threshold=0.75),
    )
    batch_id = submitted.batch_id
    paused = await eventually(
        lambda: payments.batches.progress(batch_id),
        lambda p: p.succeeded == 8 and p.running == 0,
        timeout=90,
        interval=0.3,
    )
    groups = {group.group: group for group in paused.groups}
    assert groups["country:UG"].paused and not groups["provider:hub"].paused
    assert (paused.failed, paused.status) == (2, BatchStatus.RUNNING)
    alerts = (await sandbox_admin.get("/merchant/alerts")).json()
    assert any(a["idempotency_key"].startswith(f"batch-{batch_id}:country:UG") for a in alerts)

    await payments.batches.cancel(batch_id, group="country:UG")
    final = await ended(payments, batch_id)
    assert (final.status, final.succeeded, final.failed, final.cancelled) == (
        BatchStatus.COMPLETED,
        8,
        2,
        2,
    )
    seen = await transfers(sandbox_admin, batch_id, [ref for ref, _, _ in lines])
    never = [ref for ref, t in seen.items() if t is None]
    assert len(never) == 2 and all(ref.startswith("u") for ref in never)


async def test_pause_resume_and_cancel(
    stack: EngineStack, payments: PaymentsClient, sandbox_admin: httpx.AsyncClient
) -> None:
    merchant = await funded(stack)
    tag = uuid.uuid4().hex[:6]
    refs = [f"p{tag}-{n}" for n in range(10)]
    submitted = await payments.batches.submit(
        batch_file([(ref, KE_OK, "KE") for ref in refs]), merchant_id=merchant, concurrency=1
    )
    batch_id = submitted.batch_id
    paused = await payments.batches.pause(batch_id)
    assert paused.status is BatchStatus.PAUSED
    await eventually(lambda: payments.batches.progress(batch_id), lambda p: p.running == 0)
    held = (await payments.batches.progress(batch_id)).started
    await asyncio.sleep(1.0)
    assert (await payments.batches.progress(batch_id)).started == held
    await payments.batches.resume(batch_id)
    await eventually(lambda: payments.batches.progress(batch_id), lambda p: p.done >= held + 2)
    cancelling = await payments.batches.cancel(batch_id)
    assert cancelling.status is BatchStatus.CANCELLING
    final = await ended(payments, batch_id)
    assert final.status is BatchStatus.CANCELLED
    assert final.succeeded + final.cancelled == 10 and final.cancelled > 0
    seen = await transfers(sandbox_admin, batch_id, refs)
    assert sum(t is not None for t in seen.values()) == final.succeeded
    rows = [row async for row in payments.batches.results(batch_id)]
    assert sum(row[1] == BatchLineState.CANCELLED.value for row in rows) == final.cancelled


CRASH_LINES = 12


@pytest.mark.slow
async def test_a_worker_killed_mid_batch_every_line_is_paid_once(
    stack: EngineStack, workers: WorkerProcesses, sandbox_admin: httpx.AsyncClient
) -> None:
    merchant = await funded(stack)
    before = await stack.ledger.balance(merchant_available(merchant), "KES")
    # The batch and its payouts run on the crash queue, served only by worker processes.
    crashing = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    tag = uuid.uuid4().hex[:6]
    refs = [f"c{tag}-{n}" for n in range(CRASH_LINES)]
    first = workers.start()
    submitted = await crashing.batches.submit(
        batch_file([(ref, KE_OK, "KE") for ref in refs]),
        merchant_id=merchant,
        concurrency=4,
        page_size=4,
        lines_per_run=4,
    )
    await eventually(
        lambda: crashing.batches.progress(submitted.batch_id),
        lambda p: p.done >= CRASH_LINES // 3,
        timeout=120,
        interval=0.2,
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    workers.start()
    final = await ended(crashing, submitted.batch_id, timeout=240)
    assert (final.status, final.succeeded, final.done) == (
        BatchStatus.COMPLETED,
        CRASH_LINES,
        CRASH_LINES,
    )
    assert final.runs >= 3
    seen = await transfers(sandbox_admin, submitted.batch_id, refs)
    assert all(t is not None and t["submit_count"] == 1 for t in seen.values()), seen
    after = await stack.ledger.balance(merchant_available(merchant), "KES")
    assert before - after == CRASH_LINES * 10_00
