"""The reconciliation activities: a resumable download, the stored run, the alert hook.

Downloads and the alert hook run against ``httpx.MockTransport``; the reconcile
activity against a migrated SQLite ledger and a person's report file.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.reconciliation import ReconciliationActivities, download
from payments_engine.db.ledger import Ledger
from payments_engine.db.reconciliation import ReconciliationStore
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain import recipes
from payments_engine.domain.ledger import FundMerchantInput, PayoutLedgerInput
from payments_engine.domain.money import Money
from payments_engine.domain.reconciliation import (
    AlertInput,
    FindingKind,
    ReconcileInput,
    RunStatus,
)

BODY = b"".join(f"line {n:05d}\n".encode() for n in range(5000))
HEADER = (
    "transactionId,thirdPartyTransId,transactionType,grossAmount,feeAmount,netAmount,"
    "currency,status,transactionTime,settlementDate\n"
)
DAY = date(2026, 11, 24)


def env(details: list[object] | None = None) -> tuple[ActivityEnvironment, list[object]]:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, heartbeat_details=details or [], attempt=2 if details else 1
    )
    beats: list[object] = []
    environment.on_heartbeat = lambda *args: beats.extend(args)
    return environment, beats


def serving(seen: list[str | None], *, honour_range: bool = True, cut: int = 0) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("range")
        seen.append(wanted)
        if wanted and honour_range:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            part = BODY[start:]
            return httpx.Response(
                206,
                content=part,
                headers={
                    "Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}",
                    "Content-Length": str(len(part)),
                },
            )
        body = BODY[: len(BODY) - cut]
        return httpx.Response(200, content=body, headers={"Content-Length": str(len(BODY))})

    return httpx.AsyncClient(  # type: ignore[return-value]
        base_url="http://provider.test", transport=httpx.MockTransport(handler)
    )


async def test_a_retried_download_resumes_from_the_bytes_its_heartbeat_vouched_for(
    tmp_path: Path,
) -> None:
    part = tmp_path / "report.part"
    part.write_bytes(BODY[:20_000] + b"garbage written after the last heartbeat")
    seen: list[str | None] = []
    environment, beats = env([20_000])
    async with serving(seen) as http:
        await environment.run(download, http, "/v1/settlements/2026-11-24", part)
    assert seen == ["bytes=20000-"]
    assert part.read_bytes() == BODY
    assert beats and beats[-1] == len(BODY)


async def test_a_provider_that_ignores_the_range_gets_the_whole_file_again(
    tmp_path: Path,
) -> None:
    part = tmp_path / "report.part"
    part.write_bytes(BODY[:1000])
    seen: list[str | None] = []
    environment, _ = env([1000])
    async with serving(seen, honour_range=False) as http:
        await environment.run(download, http, "/v1/settlements/2026-11-24", part)
    assert part.read_bytes() == BODY


async def test_a_body_cut_short_is_retried_not_taken(tmp_path: Path) -> None:
    environment, _ = env()
    async with serving([], cut=100) as http:
        with pytest.raises(ApplicationError) as caught:
            await environment.run(download, http, "/r", tmp_path / "report.part")
    assert not caught.value.non_retryable
    assert "cut short" in str(caught.value)


@pytest.mark.parametrize(("status", "final"), [(404, False), (400, True), (401, True)])
async def test_a_report_not_out_yet_is_retried_a_refused_request_is_final(
    tmp_path: Path, status: int, final: bool
) -> None:
    http = httpx.AsyncClient(
        base_url="http://provider.test",
        transport=httpx.MockTransport(lambda _: httpx.Response(status, json={"message": "no"})),
    )
    environment, _ = env()
    async with http:
        with pytest.raises(ApplicationError) as caught:
            await environment.run(download, http, "/r", tmp_path / "report.part")
    assert caught.value.non_retryable is final


@pytest.fixture
async def engine(migrated_url: str) -> AsyncEngine:
    created = create_engine(migrated_url)
    yield created  # type: ignore[misc]
    await created.dispose()


async def _book_payout(engine: AsyncEngine, payout_id: str, amount: int) -> None:
    ledger = Ledger(session_factory(engine))
    await ledger.fund_merchant(
        FundMerchantInput(
            merchant_id="m1", amount=Money(amount=amount, currency="KES"), reference=payout_id
        )
    )
    inp = PayoutLedgerInput(
        payout_id=payout_id,
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=amount, currency="KES"),
        provider_transaction_id=f"TX-{payout_id}",
        occurred_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )
    await ledger.post(recipes.reserve_payout(inp))
    await ledger.post(recipes.settle_payout(inp))


def _inp(report: Path) -> ReconcileInput:
    return ReconcileInput(
        provider="hub",
        day=DAY,
        file=str(report),
        workflow_id="reconcile-hub-2026-11-24",
        run_id="r1",
    )


async def test_a_persons_file_is_matched_against_what_the_ledger_booked(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _book_payout(engine, "p1", 150_00)
    await _book_payout(engine, "p2", 200_00)
    report = tmp_path / "portal-export.csv"
    report.write_text(
        HEADER
        + "TX-p1,payout-p1,payout,150.00,0.00,150.00,KES,success,2026-11-24T10:00:00Z,2026-11-24\n"
        + "TX-p2,payout-p2,payout,201.00,0.00,201.00,KES,success,2026-11-24T10:00:00Z,2026-11-24\n",
        encoding="utf-8",
    )
    store = ReconciliationStore(engine)
    activities = ReconciliationActivities({}, store, tmp_path / "work")
    (tmp_path / "work").mkdir()
    environment, _ = env()
    outcome = await environment.run(activities.reconcile, _inp(report))
    assert outcome.totals.report_lines == 2 and outcome.totals.matched == 1
    assert outcome.findings == {FindingKind.AMOUNT_MISMATCH.value: 1}
    assert outcome.review == 1 and outcome.review_amount == {"KES": 100}
    run = await store.get_run("hub", DAY)
    assert run is not None and run.status is RunStatus.COMPLETED and run.source == "file"
    assert run.report_sha256 == outcome.report_sha256
    # The raw file is kept beside the run, named by its content.
    kept = list((tmp_path / "work" / "reports" / "hub").glob("2026-11-24.*.csv"))
    assert [path.read_bytes() for path in kept] == [report.read_bytes()]


async def test_an_unreadable_file_fails_the_run_and_stores_only_the_error(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _book_payout(engine, "p1", 150_00)
    report = tmp_path / "bad.csv"
    report.write_text(
        HEADER + "TX-p1,payout-p1,payout,150.00,0.00,150.00,KES,success,2026-11-24T10:00:00Z,2026"
        "-11-24\nTX-p9,payout-p9,payout,12a,0.00,12,KES,success,2026-11-24T10:00:00Z,2026-11-24\n",
        encoding="utf-8",
    )
    store = ReconciliationStore(engine)
    (tmp_path / "work").mkdir()
    activities = ReconciliationActivities({}, store, tmp_path / "work")
    environment, _ = env()
    with pytest.raises(ApplicationError) as caught:
        await environment.run(activities.reconcile, _inp(report))
    assert caught.value.non_retryable and caught.value.type == "ReportInvalid"
    assert "line 3" in caught.value.message and "12a" in caught.value.message
    run = await store.get_run("hub", DAY)
    assert run is not None and run.status is RunStatus.FAILED and run.findings == []
    assert run.error is not None and "line 3" in run.error


async def test_a_file_that_is_not_there_fails_the_run(engine: AsyncEngine, tmp_path: Path) -> None:
    store = ReconciliationStore(engine)
    activities = ReconciliationActivities({}, store, tmp_path)
    environment, _ = env()
    with pytest.raises(ApplicationError) as caught:
        await environment.run(activities.reconcile, _inp(tmp_path / "nowhere.csv"))
    assert caught.value.type == "ReportInvalid"
    run = await store.get_run("hub", DAY)
    assert run is not None and run.status is RunStatus.FAILED


async def test_the_alert_carries_its_key_and_the_figures(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"idempotency_key": request.headers["idempotency-key"]})

    alert = AlertInput(
        key="reconcile-hub-2026-11-24:abc",
        provider="hub",
        day=DAY,
        review=2,
        review_amount={"KES": 300},
        findings={"amount_mismatch": 2},
    )
    http = httpx.AsyncClient(base_url="http://merchant.test", transport=httpx.MockTransport(hook))
    async with http:
        activities = ReconciliationActivities({}, None, tmp_path, http)  # type: ignore[arg-type]
        environment, _ = env()
        assert await environment.run(activities.alert, alert) is True
    assert calls[0].url.path == "/v1/alerts"
    assert calls[0].headers["idempotency-key"] == alert.key
    body = json.loads(calls[0].content)
    assert body["kind"] == "reconciliation_findings" and "2 finding(s)" in body["message"]


@pytest.mark.parametrize(("status", "final"), [(400, True), (503, False)])
async def test_the_alert_hook_refusing_is_final_and_down_is_retried(
    tmp_path: Path, status: int, final: bool
) -> None:
    http = httpx.AsyncClient(
        base_url="http://merchant.test",
        transport=httpx.MockTransport(lambda _: httpx.Response(status, json={})),
    )
    alert = AlertInput(key="k", provider="hub", day=DAY, review=1, review_amount={}, findings={})
    async with http:
        activities = ReconciliationActivities({}, None, tmp_path, http)  # type: ignore[arg-type]
        environment, _ = env()
        with pytest.raises(ApplicationError) as caught:
            await environment.run(activities.alert, alert)
    assert caught.value.non_retryable is final
