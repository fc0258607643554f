"""Batch payouts' storage: lines stored once, paged, marked and read out in order.

Each test runs on SQLite and on PostgreSQL, on one migrated database per backend for
the module (as ``migrated_url`` builds it); tests keep apart by their batch ids.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments_engine.db.batches import RESULTS_CHUNK, BatchStore, ClaimedLines, StoredBatch
from payments_engine.db.migrate import upgrade
from payments_engine.db.models import PayoutBatchLineRow, PayoutBatchRow
from payments_engine.db.session import create_engine
from payments_engine.domain.batch import (
    BatchLine,
    BatchLineState,
    CurrencyTotal,
    LineOutcome,
    payout_id_for,
)
from payments_engine.domain.errors import ReferenceConflict
from payments_engine.domain.money import Money
from tests.conftest import drop_postgres_database, make_postgres_database, require_postgres

MERCHANT = "m1"
SHA = "a" * 64


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
async def shared_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One migrated database per backend for the module: each test has its own batch id.

    ``migrated_url`` migrates a database per test, which would cost more than the
    tests themselves (about half a second each on PostgreSQL).
    """
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('batches') / 'ledger.db'}"
        await upgrade(url)
        yield url
        return
    require_postgres()
    url, name = make_postgres_database()
    try:
        await upgrade(url)
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture(scope="module")
async def engine(shared_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the module's database."""
    engine = create_engine(shared_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def batch() -> str:
    """A batch id of this test alone."""
    return f"b-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(engine: AsyncEngine) -> BatchStore:
    """The store under test."""
    return BatchStore(engine)


def make_lines(count: int) -> list[BatchLine]:
    """``count`` lines numbered from 2 (the header is line 1), KES and UGX alternating."""
    return [
        BatchLine(
            line_no=n + 2,
            reference=f"ref-{n}",
            amount=Money(amount=100 + n, currency="KES" if n % 2 == 0 else "UGX"),
            msisdn="+254712345678" if n % 2 == 0 else "+256712345678",
            country="KE" if n % 2 == 0 else "UG",
            name=None if n % 3 == 0 else f"Recipient {n}",
            narration=None if n % 5 == 0 else f"salary {n}",
            provider="hub",
        )
        for n in range(count)
    ]


def totals_of(lines: list[BatchLine]) -> list[CurrencyTotal]:
    """Lines and minor units per currency, by currency."""
    totals: dict[str, CurrencyTotal] = {}
    for line in lines:
        seen = totals.get(line.amount.currency)
        totals[line.amount.currency] = CurrencyTotal(
            currency=line.amount.currency,
            lines=(seen.lines if seen else 0) + 1,
            amount=(seen.amount if seen else 0) + line.amount.amount,
        )
    return [totals[code] for code in sorted(totals)]


async def create(
    store: BatchStore, batch: str, lines: list[BatchLine], **overrides: str
) -> StoredBatch:
    """Store ``lines`` as ``batch`` of ``MERCHANT`` with hash ``SHA``, unless overridden."""
    args = {"batch_id": batch, "merchant_id": MERCHANT, "file_sha256": SHA} | overrides
    return await store.create(
        args["batch_id"], args["merchant_id"], args["file_sha256"], lines, totals_of(lines)
    )


async def test_create_stores_the_batch_and_its_pending_lines(
    store: BatchStore, batch: str, engine: AsyncEngine
) -> None:
    lines = make_lines(5)

    stored = await create(store, batch, lines)

    assert stored == StoredBatch(
        batch_id=batch,
        merchant_id=MERCHANT,
        file_sha256=SHA,
        lines=5,
        totals=[
            CurrencyTotal(currency="KES", lines=3, amount=100 + 102 + 104),
            CurrencyTotal(currency="UGX", lines=2, amount=101 + 103),
        ],
        created=True,
    )
    assert await store.get(batch) == StoredBatch(**{**stored.__dict__, "created": False})
    assert await store.page(batch, 0, 100) == lines
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(PayoutBatchLineRow.payout_id, PayoutBatchLineRow.state)
                .join(PayoutBatchRow, PayoutBatchRow.id == PayoutBatchLineRow.batch_pk)
                .where(PayoutBatchRow.batch_id == batch)
                .order_by(PayoutBatchLineRow.line_no)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (payout_id_for(batch, line.reference), "pending") for line in lines
    ]
    assert await store.get(f"{batch}-x") is None


async def test_create_again_with_the_same_file_writes_nothing(
    store: BatchStore, batch: str
) -> None:
    lines = make_lines(3)
    first = await create(store, batch, lines)
    await store.mark_running(batch, [2])

    again = await create(store, batch, lines)

    assert again.created is False
    assert again == StoredBatch(**{**first.__dict__, "created": False})
    # The lines were not written again: the running one is still running.
    assert (await store.counts(batch))["running"] == 1


@pytest.mark.parametrize(
    ("overrides", "why"),
    [({"file_sha256": "b" * 64}, "another file"), ({"merchant_id": "m2"}, "another merchant")],
)
async def test_create_with_another_file_or_merchant_conflicts(
    store: BatchStore, batch: str, overrides: dict[str, str], why: str
) -> None:
    await create(store, batch, make_lines(3))

    with pytest.raises(ReferenceConflict, match=f"batch '{batch}' .*{why}"):
        await create(store, batch, make_lines(4), **overrides)

    assert (await store.get(batch)) is not None
    assert len(await store.page(batch, 0, 100)) == 3


async def test_concurrent_creates_store_the_batch_once(store: BatchStore, batch: str) -> None:
    lines = make_lines(50)

    results = await asyncio.gather(*(create(store, batch, lines) for _ in range(3)))

    assert sorted(r.created for r in results) == [False, False, True]
    assert len(await store.page(batch, 0, 1000)) == 50


async def test_repeated_reference_stores_nothing_and_quotes_no_personal_data(
    store: BatchStore,
    batch: str,
) -> None:
    lines = make_lines(3)
    twin = lines[0].model_copy(update={"line_no": 9})

    with pytest.raises(ValueError, match="repeats") as caught:
        await create(store, batch, [*lines, twin])

    message = str(caught.value)
    assert "+2547" not in message and "Recipient" not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert await store.get(batch) is None
    # The batch id is free again.
    assert (await create(store, batch, lines)).created is True


async def test_page_boundaries(store: BatchStore, batch: str) -> None:
    lines = make_lines(10)  # line numbers 2..11
    await create(store, batch, lines)
    numbers = [line.line_no for line in lines]

    assert [x.line_no for x in await store.page(batch, 0, 4)] == numbers[:4]
    assert [x.line_no for x in await store.page(batch, 5, 4)] == [6, 7, 8, 9]
    assert [x.line_no for x in await store.page(batch, 9, 4)] == [10, 11]
    assert await store.page(batch, 11, 4) == []
    assert await store.page(batch, 0, 0) == []
    assert await store.page("unknown", 0, 4) == []
    assert (await store.page(batch, 10, 1))[0] == lines[-1]


async def test_lines_of_other_batches_stay_apart(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(3))
    await create(store, batch, make_lines(2), batch_id=f"{batch}-x", file_sha256="c" * 64)

    assert len(await store.page(batch, 0, 10)) == 3
    assert len(await store.page(f"{batch}-x", 0, 10)) == 2
    await store.mark_running(f"{batch}-x", [2, 3])
    assert (await store.counts(batch))["running"] == 0


async def test_mark_running_takes_pending_lines_only(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(5))  # 2..6

    assert await store.mark_running(batch, [2, 3, 3, 99]) == 2
    assert await store.mark_running(batch, [2, 3, 4]) == 1
    assert await store.mark_running(batch, []) == 0
    assert await store.mark_running("unknown", [5]) == 0
    assert await store.counts(batch) == {
        "pending": 2,
        "running": 3,
        "succeeded": 0,
        "failed": 0,
        "needs_review": 0,
        "cancelled": 0,
    }


async def test_record_is_idempotent_and_counts_changes(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(5))  # 2..6
    await store.mark_running(batch, [2, 3, 4])
    outcomes = [
        LineOutcome(line_no=2, state=BatchLineState.SUCCEEDED, provider_transaction_id="tx-2"),
        LineOutcome(line_no=3, state=BatchLineState.FAILED, failure_code="INSUFFICIENT_FUNDS"),
        LineOutcome(line_no=4, state=BatchLineState.NEEDS_REVIEW),
        LineOutcome(line_no=6, state=BatchLineState.CANCELLED),
        LineOutcome(line_no=99, state=BatchLineState.SUCCEEDED),
    ]

    assert await store.record(batch, outcomes) == 4
    assert await store.record(batch, outcomes) == 0
    # Only what differs changes: a needs_review line settled later.
    settled = LineOutcome(line_no=4, state=BatchLineState.SUCCEEDED, provider_transaction_id="tx-4")
    assert await store.record(batch, [*outcomes[:2], settled]) == 1
    assert await store.record(batch, []) == 0
    assert await store.record("unknown", outcomes) == 0
    # Recorded lines are no longer pending: mark_running leaves them alone.
    assert await store.mark_running(batch, [5, 6]) == 1

    assert await store.counts(batch) == {
        "pending": 0,
        "running": 1,
        "succeeded": 2,
        "failed": 1,
        "needs_review": 0,
        "cancelled": 1,
    }
    assert [r async for r in store.results(batch)] == [
        ("ref-0", "succeeded", "tx-2", None),
        ("ref-1", "failed", None, "INSUFFICIENT_FUNDS"),
        ("ref-2", "succeeded", "tx-4", None),
        ("ref-3", "running", None, None),
        ("ref-4", "cancelled", None, None),
    ]


async def test_claim_takes_pending_lines_of_groups_not_skipped(
    store: BatchStore, batch: str
) -> None:
    lines = make_lines(10)  # 2..11; even line numbers KE, odd UG
    await create(store, batch, lines)
    await store.mark_running(batch, [3])

    first = await store.claim(batch, 0, 3)
    assert first == ClaimedLines(lines=[lines[0], lines[2], lines[3]], last_line=5, exhausted=False)
    # Uganda paused: its lines stay pending and are not looked at.
    second = await store.claim(batch, first.last_line, 3, skip_groups=["country:UG"])
    assert [x.line_no for x in second.lines] == [6, 8, 10]
    assert (second.last_line, second.exhausted) == (10, False)
    third = await store.claim(batch, second.last_line, 3, skip_groups=["country:UG"])
    assert third == ClaimedLines(lines=[], last_line=10, exhausted=True)
    assert (await store.counts(batch))["running"] == 7

    # Another pass once Uganda resumes: the remaining pending lines, all by provider hub.
    again = await store.claim(batch, 0, 10, skip_groups=["provider:other"])
    assert [x.line_no for x in again.lines] == [7, 9, 11]
    assert again.exhausted
    assert await store.claim(batch, 0, 10) == ClaimedLines(lines=[], last_line=0, exhausted=True)
    assert await store.claim("unknown", 4, 10) == ClaimedLines([], 4, True)
    with pytest.raises(ValueError, match="not a group"):
        await store.claim(batch, 0, 10, skip_groups=["KE"])


async def test_concurrent_claims_take_each_line_once(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(60))

    claims = await asyncio.gather(*(store.claim(batch, 0, 25) for _ in range(4)))

    numbers = [line.line_no for claim in claims for line in claim.lines]
    assert len(numbers) == len(set(numbers))
    assert (await store.counts(batch))["running"] == len(numbers)


async def test_release_puts_running_lines_back(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(5))  # 2..6
    await store.claim(batch, 0, 3)  # 2, 3, 4
    await store.record(batch, [LineOutcome(line_no=2, state=BatchLineState.SUCCEEDED)])

    assert await store.release(batch, [2, 3, 4, 5]) == 2
    assert await store.release(batch, [3]) == 0
    assert await store.release(batch, []) == 0
    assert [x.line_no for x in (await store.claim(batch, 0, 2)).lines] == [3, 4]


async def test_cancel_pending_of_groups_or_all(store: BatchStore, batch: str) -> None:
    await create(store, batch, make_lines(8))  # 2..9; even KE, odd UG
    await store.claim(batch, 0, 2)  # 2, 3 running

    assert await store.cancel_pending(batch, ["country:UG"]) == 3  # 5, 7, 9
    assert await store.cancel_pending(batch, []) == 0
    assert await store.cancel_pending(batch, ["provider:other"]) == 0
    assert await store.cancel_pending(batch) == 3  # 4, 6, 8
    assert await store.cancel_pending(batch) == 0
    assert await store.cancel_pending("unknown") == 0
    counts = await store.counts(batch)
    assert (counts["pending"], counts["running"], counts["cancelled"]) == (0, 2, 6)


async def test_counts_and_results_of_an_unknown_batch(store: BatchStore, batch: str) -> None:
    assert set((await store.counts("unknown")).values()) == {0}
    assert [r async for r in store.results("unknown")] == []


async def test_ten_thousand_lines_are_stored_paged_and_read_out(
    store: BatchStore, batch: str
) -> None:
    lines = make_lines(10_000)

    started = time.perf_counter()
    stored = await create(store, batch, lines)
    created_in = time.perf_counter() - started

    assert stored.lines == 10_000 and stored.created
    assert created_in < 2.0, f"10,000 lines stored in {created_in:.2f} s"

    paged: list[BatchLine] = []
    after = 0
    while page := await store.page(batch, after, 1_000):
        paged.extend(page)
        after = page[-1].line_no
    assert paged == lines

    assert await store.mark_running(batch, range(2, 10_002, 2)) == 5_000
    outcomes = [
        LineOutcome(line_no=n, state=BatchLineState.SUCCEEDED, provider_transaction_id=f"t{n}")
        for n in range(2, 10_002, 4)
    ]
    assert await store.record(batch, outcomes) == 2_500
    counts = await store.counts(batch)
    assert (counts["pending"], counts["running"], counts["succeeded"]) == (5_000, 2_500, 2_500)

    results = [r async for r in store.results(batch)]
    assert len(results) == 10_000 > RESULTS_CHUNK
    assert [r[0] for r in results] == [line.reference for line in lines]
    assert results[0] == ("ref-0", "succeeded", "t2", None)
    assert results[1] == ("ref-1", "pending", None, None)
