"""Reconciliation's storage: the ledger's side of a day in DuckDB, runs and findings.

Each test runs on SQLite and on PostgreSQL (``migrated_url``). Provider transactions are
written straight into the table, as the ledger would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from payments_engine.db.models import ProviderTransactionRow
from payments_engine.db.reconciliation import CompletedRun, ReconciliationStore
from payments_engine.db.session import create_engine
from payments_engine.domain.errors import FindingConflict, FindingNotFound
from payments_engine.domain.reconciliation import (
    CurrencyTotals,
    Finding,
    FindingKind,
    FindingState,
    RunStatus,
    RunTotals,
    finding_id,
)

PROVIDER = "hub"
DAY = date(2026, 3, 10)
BEFORE = DAY - timedelta(days=1)
LEDGER_DDL = """
CREATE TABLE ledger (
    provider_transaction_id VARCHAR,
    reference VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    gross BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    currency VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    settlement_date DATE NOT NULL,
    carried BOOLEAN NOT NULL
)
"""


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh migrated database."""
    engine = create_engine(migrated_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def store(engine: AsyncEngine) -> ReconciliationStore:
    """The store under test."""
    return ReconciliationStore(engine)


@pytest.fixture
def duck() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the empty ``ledger`` table, as the caller creates it."""
    con = duckdb.connect()
    con.execute(LEDGER_DDL)
    return con


async def add_transactions(engine: AsyncEngine, *rows: dict[str, Any]) -> None:
    """Insert provider transactions; each dict overrides a default row."""
    defaults: dict[str, Any] = {
        "provider": PROVIDER,
        "kind": "payout",
        "provider_transaction_id": None,
        "status": "succeeded",
        "gross": 1000,
        "fee": 10,
        "currency": "KES",
        "occurred_at": datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
        "settlement_date": DAY,
        "updated_at": datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
    }
    values = [{**defaults, "entry_key": f"entry:{row['reference']}", **row} for row in rows]
    async with engine.begin() as conn:
        await conn.execute(insert(ProviderTransactionRow), values)


def make_finding(
    kind: FindingKind, reference: str, *, day: date = DAY, at_stake: int = 1000
) -> Finding:
    """A finding of the hub's report of ``day``, with its stable id."""
    return Finding(
        id=finding_id(PROVIDER, day, kind.value, reference, 0),
        provider=PROVIDER,
        day=day,
        kind=kind,
        reference=reference,
        provider_transaction_id=f"tx-{reference}",
        line_no=7,
        currency="KES",
        ledger_gross=at_stake,
        ledger_currency="KES",
        ledger_status="succeeded",
        at_stake=at_stake,
        detail=f"{kind.value} {reference}",
        review=True,
    )


async def run(
    store: ReconciliationStore,
    findings: list[Finding],
    *,
    day: date = DAY,
    resolved_carried: list[tuple[str, str]] | None = None,
) -> CompletedRun:
    """Begin and complete a run of the hub's report of ``day``."""
    await store.begin_run(PROVIDER, day, workflow_id=f"reconcile-hub-{day}", source="download")
    return await store.complete_run(
        PROVIDER,
        day,
        totals=RunTotals(report_lines=3, ledger_records=2, matched=1, with_findings=len(findings)),
        findings=findings,
        resolved_carried=resolved_carried or [],
        report_sha256="ab" * 32,
        report_path=None,
    )


def ledger_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """The ``ledger`` table, by reference."""
    return con.execute("SELECT * FROM ledger ORDER BY reference").fetchall()


# -- load_ledger -------------------------------------------------------------------------


async def test_load_ledger_reads_the_providers_day_with_utc_times(
    store: ReconciliationStore,
    engine: AsyncEngine,
    duck: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    late = datetime(2026, 3, 10, 23, 59, 59, 123456, tzinfo=UTC)
    await add_transactions(
        engine,
        {"reference": "p-1", "provider_transaction_id": "T1", "occurred_at": late},
        {"reference": "p-2", "kind": "collection", "status": "failed", "gross": 0, "fee": 0},
        {"reference": "p-3", "provider_transaction_id": "", "currency": "UGX"},
        {"reference": "other-provider", "provider": "bank"},
        {"reference": "next-day", "settlement_date": DAY + timedelta(days=1)},
        # The day before, with no finding in its run: not carried.
        {"reference": "day-before", "settlement_date": BEFORE},
    )

    workdir = tmp_path / "work"
    assert await store.load_ledger(duck, PROVIDER, DAY, workdir=workdir) == 3

    noon, late_naive = datetime(2026, 3, 10, 12, 0), late.replace(tzinfo=None)
    assert ledger_rows(duck) == [
        ("T1", "p-1", "payout", "succeeded", 1000, 10, "KES", late_naive, DAY, False),
        (None, "p-2", "collection", "failed", 0, 0, "KES", noon, DAY, False),
        # An empty provider id stays empty, not NULL.
        ("", "p-3", "payout", "succeeded", 1000, 10, "UGX", noon, DAY, False),
    ]
    # The staged CSV (PostgreSQL) is gone.
    assert not workdir.exists() or list(workdir.iterdir()) == []


async def test_load_ledger_carries_the_day_befores_unexplained_records(
    store: ReconciliationStore,
    engine: AsyncEngine,
    duck: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    await add_transactions(
        engine,
        {"reference": "today"},
        *(
            {"reference": ref, "settlement_date": BEFORE}
            for ref in ("missing", "timing", "resolved", "mismatch", "no-finding")
        ),
        {"reference": "bank-missing", "provider": "bank", "settlement_date": BEFORE},
    )
    await run(
        store,
        [
            make_finding(FindingKind.MISSING_AT_PROVIDER, "missing", day=BEFORE),
            make_finding(FindingKind.TIMING, "timing", day=BEFORE),
            make_finding(FindingKind.MISSING_AT_PROVIDER, "resolved", day=BEFORE),
            make_finding(FindingKind.AMOUNT_MISMATCH, "mismatch", day=BEFORE),
        ],
        day=BEFORE,
    )
    await store.resolve(
        make_finding(FindingKind.MISSING_AT_PROVIDER, "resolved", day=BEFORE).id, "ok"
    )
    # Another provider's open finding carries nothing of the hub's.
    await store.begin_run("bank", BEFORE, workflow_id="reconcile-bank", source="download")

    assert await store.load_ledger(duck, PROVIDER, DAY, workdir=tmp_path) == 1

    assert [(r[1], r[8], r[9]) for r in ledger_rows(duck)] == [
        ("missing", BEFORE, True),
        ("timing", BEFORE, True),
        ("today", DAY, False),
    ]


async def test_load_ledger_of_an_empty_day_leaves_the_table_empty(
    store: ReconciliationStore,
    engine: AsyncEngine,
    duck: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    await add_transactions(engine, {"reference": "elsewhere", "provider": "bank"})

    assert await store.load_ledger(duck, PROVIDER, DAY, workdir=tmp_path) == 0

    assert ledger_rows(duck) == []


# -- runs --------------------------------------------------------------------------------


async def test_a_re_run_of_the_same_report_keeps_what_a_person_did(
    store: ReconciliationStore,
) -> None:
    missing = make_finding(FindingKind.MISSING_IN_LEDGER, "a")
    mismatch = make_finding(FindingKind.AMOUNT_MISMATCH, "b")
    fee = make_finding(FindingKind.FEE_MISMATCH, "c")
    assert await run(store, [missing, mismatch, fee]) == CompletedRun(3, 0, 0)

    view = await store.get_run(PROVIDER, DAY)
    assert view is not None
    assert (view.status, view.attempts, view.source, view.error) == (
        RunStatus.COMPLETED,
        1,
        "download",
        None,
    )
    assert view.started_at.tzinfo is not None and view.finished_at is not None
    assert view.finished_at.utcoffset() == timedelta(0)
    assert view.totals.with_findings == 3 and view.report_sha256 == "ab" * 32
    assert [f.kind for f in view.findings] == sorted(f.kind for f in view.findings)
    assert view.findings[0] == mismatch  # stored as given, provider and day from the run

    resolved = await store.resolve(missing.id, "booked by hand")
    assert resolved.state == FindingState.RESOLVED and resolved.resolution == "manual"
    assert resolved.resolved_at is not None and resolved.resolved_at.tzinfo is not None

    await store.begin_run(PROVIDER, DAY, workflow_id="reconcile-hub-x", source="file")
    view = await store.get_run(PROVIDER, DAY)
    assert view is not None
    assert (view.status, view.attempts, view.source) == (RunStatus.RUNNING, 2, "file")
    assert len(view.findings) == 3  # untouched while running

    # The same report again: nothing a person did changes.
    assert await store.complete_run(
        PROVIDER,
        DAY,
        totals=RunTotals(report=[CurrencyTotals(currency="KES", lines=3, gross=30)]),
        findings=[fee, mismatch, missing],
        resolved_carried=[],
        report_sha256="cd" * 32,
        report_path="/reports/hub-2026-03-10.csv",
    ) == CompletedRun(3, 0, 0)
    view = await store.get_run(PROVIDER, DAY)
    assert view is not None
    assert view.status == RunStatus.COMPLETED and view.attempts == 2
    assert view.totals.report == [CurrencyTotals(currency="KES", lines=3, gross=30)]
    assert {f.id: f for f in view.findings}[missing.id] == resolved

    # A report where only the amount mismatch remains: the open fee finding goes, the
    # resolved one stays.
    assert await run(store, [mismatch]) == CompletedRun(1, 1, 0)
    view = await store.get_run(PROVIDER, DAY)
    assert view is not None
    assert [f.id for f in view.findings] == [mismatch.id, missing.id]
    assert await store.open_findings(PROVIDER, DAY) == [mismatch]


async def test_the_next_report_resolves_the_day_befores_late_records(
    store: ReconciliationStore,
) -> None:
    late = make_finding(FindingKind.MISSING_AT_PROVIDER, "late", day=BEFORE)
    timing = make_finding(FindingKind.TIMING, "timing", day=BEFORE)
    mismatch = make_finding(FindingKind.AMOUNT_MISMATCH, "mismatch", day=BEFORE)
    gone = make_finding(FindingKind.MISSING_AT_PROVIDER, "gone", day=BEFORE)
    await run(store, [late, timing, mismatch, gone], day=BEFORE)

    carried = [("payout", "late"), ("payout", "timing"), ("payout", "mismatch")]
    assert await run(store, [], resolved_carried=carried) == CompletedRun(0, 0, 2)

    view = await store.get_run(PROVIDER, BEFORE)
    assert view is not None
    by_ref = {f.reference: f for f in view.findings}
    for ref in ("late", "timing"):
        resolved = by_ref[ref]
        assert (resolved.kind, resolved.state, resolved.resolution) == (
            FindingKind.TIMING,
            FindingState.RESOLVED,
            "auto",
        )
        assert resolved.note == "in the report of 2026-03-10: settled a day later"
        assert resolved.resolved_at is not None and resolved.resolved_at.tzinfo is not None
    assert by_ref["mismatch"].state == FindingState.OPEN
    assert by_ref["gone"].state == FindingState.OPEN
    assert [f.reference for f in await store.open_findings(PROVIDER, BEFORE)] == [
        "mismatch",
        "gone",
    ]

    # Both reports again: nothing more to resolve, and the resolved stays timing.
    assert await run(store, [late, timing, mismatch, gone], day=BEFORE) == CompletedRun(4, 0, 0)
    assert await run(store, [], resolved_carried=carried) == CompletedRun(0, 0, 0)
    view = await store.get_run(PROVIDER, BEFORE)
    assert view is not None
    assert {f.reference: f.kind for f in view.findings}["late"] == FindingKind.TIMING


async def test_a_failed_run_keeps_the_findings_of_the_last_one(
    store: ReconciliationStore,
) -> None:
    finding = make_finding(FindingKind.DUPLICATE, "d")
    await run(store, [finding])
    await store.begin_run(PROVIDER, DAY, workflow_id="reconcile-hub", source="download")

    await store.fail_run(PROVIDER, DAY, error="line 57: bad amount")

    view = await store.get_run(PROVIDER, DAY)
    assert view is not None
    assert (view.status, view.error, view.attempts) == (RunStatus.FAILED, "line 57: bad amount", 2)
    assert view.finished_at is not None
    assert view.findings == [finding]
    assert await store.get_run(PROVIDER, BEFORE) is None
    assert await store.open_findings(PROVIDER, BEFORE) == []


async def test_complete_run_stores_many_findings_in_bulk(store: ReconciliationStore) -> None:
    findings = [make_finding(FindingKind.MISSING_IN_LEDGER, f"r-{i:05d}") for i in range(3000)]
    assert await run(store, findings) == CompletedRun(3000, 0, 0)

    assert await run(store, findings[:1000]) == CompletedRun(1000, 2000, 0)
    assert len(await store.open_findings(PROVIDER, DAY)) == 1000


# -- people ------------------------------------------------------------------------------


async def test_resolve_is_idempotent_with_the_same_note(store: ReconciliationStore) -> None:
    finding = make_finding(FindingKind.STATUS_MISMATCH, "s")
    await run(store, [finding])

    with pytest.raises(FindingNotFound, match="no finding 'rf_unknown'"):
        await store.resolve("rf_unknown", "x")

    first = await store.resolve(finding.id, "refund reversed at the provider")
    assert first.model_dump(exclude={"state", "resolution", "note", "resolved_at"}) == (
        finding.model_dump(exclude={"state", "resolution", "note", "resolved_at"})
    )
    assert await store.resolve(finding.id, "refund reversed at the provider") == first
    with pytest.raises(FindingConflict, match=r"manual.*refund reversed at the provider"):
        await store.resolve(finding.id, "another note")
    assert await store.open_findings(PROVIDER, DAY) == []


async def test_mark_evidence_counts_the_findings_it_changed(store: ReconciliationStore) -> None:
    one = make_finding(FindingKind.MISSING_IN_LEDGER, "e-1")
    two = make_finding(FindingKind.MISSING_IN_LEDGER, "e-2")
    three = make_finding(FindingKind.MISSING_IN_LEDGER, "e-3")
    await run(store, [one, two, three])

    assert await store.mark_evidence([one.id, two.id, one.id, "rf_unknown"]) == 2
    assert await store.mark_evidence([one.id, two.id]) == 0
    assert await store.mark_evidence([]) == 0

    await run(store, [one, two, three])  # a re-run keeps the mark
    sent = {f.reference: f.evidence_sent for f in await store.open_findings(PROVIDER, DAY)}
    assert sent == {"e-1": True, "e-2": True, "e-3": False}


async def test_load_ledger_keeps_awkward_text_and_times_exactly(
    store: ReconciliationStore,
    engine: AsyncEngine,
    duck: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    # The rows travel as text (NDJSON from SQLite, CSV from PostgreSQL): quoting,
    # escapes, NULL against 'NULL' and '', and every digit of the microseconds survive.
    awkward = 'a "quoted", comma\nnew line \\ back\tslash é ✓'
    await add_transactions(
        engine,
        {
            "reference": "r-1",
            "provider_transaction_id": awkward,
            "occurred_at": datetime(2026, 3, 10, 0, 0, 0, 1, tzinfo=UTC),
        },
        {
            "reference": "r-2",
            "provider_transaction_id": "NULL",
            "occurred_at": datetime(2026, 3, 10, 9, 30, 0, 500000, tzinfo=UTC),
            "gross": 9_007_199_254_740_993,
            "fee": -5,
        },
        {"reference": 'r-3 "', "provider_transaction_id": None},
        {"reference": "r-4", "provider_transaction_id": ""},
    )

    assert await store.load_ledger(duck, PROVIDER, DAY, workdir=tmp_path / "w") == 4

    rows = ledger_rows(duck)
    assert [(r[0], r[1], r[4], r[5], r[7]) for r in rows] == [
        (awkward, "r-1", 1000, 10, datetime(2026, 3, 10, 0, 0, 0, 1)),
        ("NULL", "r-2", 9_007_199_254_740_993, -5, datetime(2026, 3, 10, 9, 30, 0, 500000)),
        (None, 'r-3 "', 1000, 10, datetime(2026, 3, 10, 12, 0)),
        ("", "r-4", 1000, 10, datetime(2026, 3, 10, 12, 0)),
    ]
    assert {(r[8], r[9]) for r in rows} == {(DAY, False)}
    assert list((tmp_path / "w").iterdir()) == []
