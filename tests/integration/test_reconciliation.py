"""Reconciliation end to end: sandbox traffic, the hub's real report, faults injected there.

Payouts (paid and failed), collections and refunds (processed and failed) go through the
hub; the ledger records each final transaction with its entry. The hub's settlement
report of the day is downloaded by the worker, matched, and every injected fault must
come back as exactly one finding of its class, nothing else about this test's
transactions. The session's stack is shared with
other tests, whose transactions are in the same report: the assertions look at this
test's references only.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from payments_engine.domain.collection import CollectionRequest, CollectionStatus
from payments_engine.domain.errors import ReportInvalid
from payments_engine.domain.ids import (
    collection_workflow_id,
    payout_workflow_id,
    refund_workflow_id,
)
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus
from payments_engine.domain.reconciliation import (
    FindingKind,
    FindingState,
    ReconciliationPolicy,
    ReconciliationRequest,
    RunStatus,
    RunView,
)
from payments_engine.domain.refund import RefundRequest, RefundStatus
from payments_engine.sandbox.hub.wire import HubStatus
from payments_engine.starter.cli import app
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually

pytestmark = pytest.mark.integration

AMOUNT = Money(amount=250_00, currency="KES")
# Deterministic whatever the hour: nothing is a timing difference by its time of day.
POLICY = ReconciliationPolicy(timing_window_seconds=0)


async def _payout(payments: PaymentsClient, merchant: str, number: str) -> str:
    payout_id = f"rc-{uuid.uuid4().hex[:10]}"
    await payments.create_payout(
        PayoutRequest(
            payout_id=payout_id,
            merchant_id=merchant,
            amount=AMOUNT,
            recipient_msisdn=f"+254{number}",
            country="KE",
        )
    )
    return payout_id


async def _collection(payments: PaymentsClient, merchant: str) -> str:
    collection_id = f"rcc-{uuid.uuid4().hex[:10]}"
    await payments.collections.create(
        CollectionRequest(
            collection_id=collection_id,
            merchant_id=merchant,
            amount=AMOUNT,
            payer_msisdn="+254712345678",
            country="KE",
            approval_window_seconds=5,
        )
    )
    return collection_id


async def _settled(payments: PaymentsClient, payout_id: str) -> PayoutStatus:
    view = await eventually(
        lambda: payments.get_payout(payout_id), lambda v: v.status.is_final, timeout=60
    )
    return view.status


async def _faults(admin: httpx.AsyncClient, day: date, faults: list[dict[str, Any]]) -> None:
    response = await admin.put(f"/hub/settlements/{day.isoformat()}/faults", json=faults)
    response.raise_for_status()


def _ours(run: RunView, references: set[str]) -> dict[str, list[FindingKind]]:
    found: dict[str, list[FindingKind]] = {}
    for finding in run.findings:
        if finding.reference in references:
            found.setdefault(finding.reference, []).append(finding.kind)
    return found


async def test_a_day_of_hub_traffic_reconciles_to_exactly_the_injected_differences(
    stack: EngineStack, payments: PaymentsClient, merchant: str, sandbox_admin: httpx.AsyncClient
) -> None:
    payouts = await asyncio.gather(*(_payout(payments, merchant, "712345678") for _ in range(7)))
    failed = await _payout(payments, merchant, "700000001")
    collections = await asyncio.gather(*(_collection(payments, merchant) for _ in range(2)))
    statuses = await asyncio.gather(*(_settled(payments, p) for p in [*payouts, failed]))
    assert statuses == [PayoutStatus.SUCCEEDED] * 7 + [PayoutStatus.FAILED]
    for collection_id in collections:
        view = await eventually(
            lambda c=collection_id: payments.collections.get(c),
            lambda v: v.status is CollectionStatus.SUCCEEDED,
            timeout=60,
        )
        assert view.status is CollectionStatus.SUCCEEDED

    # A refund the hub processes and one it fails: both on the report, both matched.
    refunds = {"100.00": RefundStatus.PROCESSED, "4.91": RefundStatus.FAILED}
    refund_ids = []
    for amount in refunds:
        refund_id = f"rcr-{uuid.uuid4().hex[:10]}"
        await payments.refunds.create(
            RefundRequest(
                refund_id=refund_id,
                original_id=collections[1],
                merchant_id=merchant,
                amount=Money.from_major(amount, "KES"),
                reason="reconciliation test",
            )
        )
        refund_ids.append(refund_id)
    for refund_id, wanted in zip(refund_ids, refunds.values(), strict=True):
        view = await eventually(
            lambda r=refund_id: payments.refunds.get(r),
            lambda v, w=wanted: v.status is w,
            timeout=60,
        )
        assert view.status is wanted

    day = datetime.now(UTC).date()
    refs = [payout_workflow_id(p) for p in payouts]
    cols = [collection_workflow_id(c) for c in collections]
    rfs = [refund_workflow_id(r) for r in refund_ids]
    report = (await sandbox_admin.get(f"/hub/settlements/{day.isoformat()}")).json()
    listed = {line["thirdPartyTransId"] for line in report}
    if not {*refs, *cols, *rfs, payout_workflow_id(failed)} <= listed:
        pytest.skip("the traffic straddled midnight UTC: its lines are in two reports")

    unknown = f"payout-unknown-{uuid.uuid4().hex[:8]}"
    await _faults(
        sandbox_admin,
        day,
        [
            {"kind": "missing_line", "reference": refs[0]},
            {"kind": "amount_difference", "reference": refs[1], "delta": 100},
            {"kind": "currency_mixup", "reference": refs[2], "currency": "USD"},
            {"kind": "duplicate_line", "reference": refs[3]},
            {"kind": "status_difference", "reference": refs[4], "status": "failed"},
            {"kind": "next_day", "reference": refs[5]},
            {"kind": "fee_difference", "reference": cols[0], "delta": 50},
            {"kind": "unknown_line", "reference": unknown, "delta": 777, "currency": "KES"},
        ],
    )
    try:
        request = ReconciliationRequest(provider="hub", day=day, policy=POLICY)
        result = await payments.reconciliation.run(request)
        assert result.status is RunStatus.COMPLETED
        run = await payments.reconciliation.report("hub", day)
        assert run is not None and run.status is RunStatus.COMPLETED
        watched = {*refs, *cols, *rfs, payout_workflow_id(failed), unknown}
        assert _ours(run, watched) == {
            refs[0]: [FindingKind.MISSING_AT_PROVIDER],
            refs[1]: [FindingKind.AMOUNT_MISMATCH],
            refs[2]: [FindingKind.CURRENCY_MISMATCH],
            refs[3]: [FindingKind.DUPLICATE],
            refs[4]: [FindingKind.STATUS_MISMATCH],
            refs[5]: [FindingKind.MISSING_AT_PROVIDER],
            cols[0]: [FindingKind.FEE_MISMATCH],
            unknown: [FindingKind.MISSING_IN_LEDGER],
        }
        by_ref = {f.reference: f for f in run.findings}
        assert by_ref[refs[1]].at_stake == 100
        assert by_ref[cols[0]].at_stake == 50
        assert by_ref[unknown].report_gross == 777
        # Every finding is for review (threshold 0): one alert, at the merchant's hook.
        assert result.alerted
        alerts = (await sandbox_admin.get("/merchant/alerts")).json()
        assert any(f"reconcile-hub-{day.isoformat()}" in a["idempotency_key"] for a in alerts)

        # A person resolves one; a re-run finds the same, keeps the resolution.
        resolved = await payments.reconciliation.resolve(by_ref[refs[2]].id, "USD typo, hub ticket")
        assert resolved.state is FindingState.RESOLVED
        again = await payments.reconciliation.run(request)
        assert again.status is RunStatus.COMPLETED
        rerun = await payments.reconciliation.report("hub", day)
        assert rerun is not None and rerun.attempts == run.attempts + 1
        assert {f.id for f in rerun.findings} == {f.id for f in run.findings}
        kept = next(f for f in rerun.findings if f.id == by_ref[refs[2]].id)
        assert kept.state is FindingState.RESOLVED and kept.note == "USD typo, hub ticket"

        # The next day's report holds the line moved past midnight: a timing difference,
        # resolved by that run, not by a person.
        nxt = await payments.reconciliation.run(
            ReconciliationRequest(provider="hub", day=day + timedelta(days=1), policy=POLICY)
        )
        assert nxt.status is RunStatus.COMPLETED
        after = await payments.reconciliation.report("hub", day)
        assert after is not None
        moved = next(f for f in after.findings if f.reference == refs[5])
        assert (moved.kind, moved.state, moved.resolution) == (
            FindingKind.TIMING,
            FindingState.RESOLVED,
            "auto",
        )
        tomorrow = await payments.reconciliation.report("hub", day + timedelta(days=1))
        assert tomorrow is not None and not _ours(tomorrow, watched)
    finally:
        await _faults(sandbox_admin, day, [])


async def test_a_stuck_payout_is_resolved_by_the_report(
    stack: EngineStack, payments: PaymentsClient, merchant: str, sandbox_admin: httpx.AsyncClient
) -> None:
    # 000006: the hub pays but never sends the webhook; the payout would wait for its
    # first poll (30 s). The report shows the transfer paid: that is evidence.
    payout_id = await _payout(payments, merchant, "700000006")
    reference = payout_workflow_id(payout_id)
    transfer = await eventually(
        lambda: sandbox_admin.get(f"/transfers/{reference}"),
        lambda r: r.status_code == 200 and r.json()["status"] == HubStatus.SUCCESS.value,
        timeout=30,
    )
    assert transfer.status_code == 200
    assert (await payments.get_payout(payout_id)).status is PayoutStatus.SUBMITTED
    started = asyncio.get_running_loop().time()
    day = datetime.now(UTC).date()
    result = await payments.reconciliation.run(
        ReconciliationRequest(provider="hub", day=day, policy=POLICY)
    )
    view = await eventually(
        lambda: payments.get_payout(payout_id), lambda v: v.status.is_final, timeout=20
    )
    assert view.status is PayoutStatus.SUCCEEDED
    # Well before the first poll: the report's line, verified, settled it.
    assert asyncio.get_running_loop().time() - started < 20
    run = await payments.reconciliation.report("hub", day)
    assert run is not None
    finding = next(f for f in run.findings if f.reference == reference)
    assert finding.kind is FindingKind.MISSING_IN_LEDGER
    assert finding.id in result.evidence_sent and finding.evidence_sent


async def test_a_truncated_report_file_fails_the_run_naming_the_line(
    stack: EngineStack, payments: PaymentsClient, tmp_path: Path
) -> None:
    day = date(2020, 2, 29)
    report = tmp_path / "hub-2020-02-29.csv"
    report.write_text(
        "transactionId,thirdPartyTransId,transactionType,grossAmount,feeAmount,netAmount,"
        "currency,status,transactionTime,settlementDate\n"
        "TX1,payout-a,payout,1500.00,0.00,1500.00,UGX,success,2020-02-29T10:00:00Z,2020-02-29\n"
        "TX2,payout-b,payout,15",
        encoding="utf-8",
    )
    with pytest.raises(ReportInvalid, match="line 3"):
        await payments.reconciliation.run(
            ReconciliationRequest(provider="hub", day=day, file=str(report))
        )
    run = await payments.reconciliation.report("hub", day)
    assert run is not None and run.status is RunStatus.FAILED
    assert run.error is not None and "line 3" in run.error
    assert run.findings == []

    # The CLI says the same in one line, exit 2, and the report shows the failed run.
    cli = CliRunner(
        env={
            "PAYMENTS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "PAYMENTS_TASK_QUEUE": stack.settings.task_queue,
            "PAYMENTS_DATABASE_URL": stack.settings.resolved_database_url,
        }
    )
    args = ["reconcile", "run", "--provider", "hub", "--date", "2020-02-29"]
    outcome = await asyncio.to_thread(cli.invoke, app, [*args, "--file", str(report)])
    assert outcome.exit_code == 2, outcome.output
    said = " ".join(outcome.stderr.split())
    assert "ReportInvalid" in said and "line 3" in said
    shown = await asyncio.to_thread(
        cli.invoke, app, ["reconcile", "report", "--provider", "hub", "--date", "2020-02-29"]
    )
    assert shown.exit_code == 0, shown.output
    assert "failed" in shown.stdout
