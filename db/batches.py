"""Batch payouts' storage: a batch file's lines, paged by line number, and their outcomes.

A batch is stored once (:meth:`BatchStore.create`): the same batch id with the same file
hash and merchant is a repeat and writes nothing; with another one it is a conflict. Its
lines are inserted in the same transaction, many rows a statement (executemany, in
chunks), so a file of 10,000 lines is stored in a fraction of a second on either backend.

The batch workflow keeps only counts in its history: it takes the lines a page at a time
(:meth:`BatchStore.claim`, which marks them running; :meth:`BatchStore.page` only reads),
both by ``uq_payout_batch_lines_batch_pk_line_no``, and writes back how each ended
(:meth:`BatchStore.record`). :meth:`BatchStore.results` reads them out for
the result file in chunks, holding no connection between them.

A line's ``msisdn`` and ``name`` are personal data: nothing here logs them, and a
database error while storing the lines is re-raised without its statement's parameters
(SQLAlchemy puts them in the message).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from payments_engine.db.models import PayoutBatchLineRow, PayoutBatchRow, utcnow
from payments_engine.domain.batch import (
    BatchLine,
    BatchLineState,
    CurrencyTotal,
    LineOutcome,
    payout_id_for,
)
from payments_engine.domain.errors import ReferenceConflict
from payments_engine.domain.money import Money

# Rows per INSERT executemany: big enough to keep round trips few, small enough that one
# chunk's parameters stay a few MB.
INSERT_CHUNK = 1_000

# Line numbers per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535 bound
# parameters.
IN_CHUNK = 500

# Lines per read of :meth:`BatchStore.results`.
RESULTS_CHUNK = 2_000

_PENDING = BatchLineState.PENDING.value
_RUNNING = BatchLineState.RUNNING.value


@dataclass(frozen=True)
class StoredBatch:
    """A stored batch, as :meth:`BatchStore.create` and :meth:`BatchStore.get` return it.

    Attributes:
        batch_id: the batch's id.
        merchant_id: whose money pays it.
        file_sha256: the hash of the file it came from.
        lines: how many lines it has.
        totals: lines and minor units per currency.
        created: True when this call stored it, False when it was stored before.
    """

    batch_id: str
    merchant_id: str
    file_sha256: str
    lines: int
    totals: list[CurrencyTotal]
    created: bool


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored(row: Any, *, created: bool) -> StoredBatch:
    return StoredBatch(
        batch_id=row.batch_id,
        merchant_id=row.merchant_id,
        file_sha256=row.file_sha256,
        lines=row.lines,
        totals=[CurrencyTotal.model_validate(total) for total in row.totals or []],
        created=created,
    )


def _batch_pk(batch_id: str) -> ColumnElement[int]:
    """The batch's primary key, as a scalar subquery (NULL for an unknown batch)."""
    return select(PayoutBatchRow.id).where(PayoutBatchRow.batch_id == batch_id).scalar_subquery()


def _line_values(batch_pk: int, batch_id: str, line: BatchLine, now: Any) -> dict[str, Any]:
    return {
        "batch_pk": batch_pk,
        "line_no": line.line_no,
        "reference": line.reference,
        "payout_id": payout_id_for(batch_id, line.reference),
        "provider": line.provider,
        "country": line.country,
        "currency": line.amount.currency,
        "amount": line.amount.amount,
        "msisdn": line.msisdn,
        "name": line.name,
        "narration": line.narration,
        "state": _PENDING,
        "provider_transaction_id": None,
        "failure_code": None,
        "updated_at": now,
    }


_LINE_COLUMNS = (
    PayoutBatchLineRow.line_no,
    PayoutBatchLineRow.reference,
    PayoutBatchLineRow.amount,
    PayoutBatchLineRow.currency,
    PayoutBatchLineRow.msisdn,
    PayoutBatchLineRow.country,
    PayoutBatchLineRow.name,
    PayoutBatchLineRow.narration,
    PayoutBatchLineRow.provider,
)


def _to_line(row: Any) -> BatchLine:
    """A row of :data:`_LINE_COLUMNS` as the line it was stored from (validated again)."""
    return BatchLine(
        line_no=row.line_no,
        reference=row.reference,
        amount=Money(amount=row.amount, currency=row.currency),
        msisdn=row.msisdn,
        country=row.country,
        name=row.name,
        narration=row.narration,
        provider=row.provider,
    )


def _in_groups(groups: Sequence[str]) -> ColumnElement[bool] | None:
    """Lines of any of ``groups`` (``country:KE``, ``provider:hub``); None when none."""
    countries = sorted({g.removeprefix("country:") for g in groups if g.startswith("country:")})
    providers = sorted({g.removeprefix("provider:") for g in groups if g.startswith("provider:")})
    unknown = [g for g in groups if not g.startswith(("country:", "provider:"))]
    if unknown:
        raise ValueError(f"not a group of a batch: {unknown[0]!r} (country:XX or provider:name)")
    clauses = []
    if countries:
        clauses.append(PayoutBatchLineRow.country.in_(countries))
    if providers:
        clauses.append(PayoutBatchLineRow.provider.in_(providers))
    return or_(*clauses) if clauses else None


@dataclass(frozen=True)
class ClaimedLines:
    """What :meth:`BatchStore.claim` took.

    Attributes:
        lines: the lines claimed (now running), in order.
        last_line: where the next claim starts: the last line claimed, or ``after_line``
            when none was.
        exhausted: no pending line of the groups not skipped is left after ``last_line``.
    """

    lines: list[BatchLine]
    last_line: int
    exhausted: bool


class _BatchRaced(Exception):
    """Another transaction stored the same batch id first."""


class BatchStore:
    """Stores batch files' lines and how each line ended.

    Args:
        engine: the ledger database's engine (SQLite or PostgreSQL, see ``db.session``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- storing -------------------------------------------------------------------------

    async def create(
        self,
        batch_id: str,
        merchant_id: str,
        file_sha256: str,
        lines: Sequence[BatchLine],
        totals: Sequence[CurrencyTotal],
    ) -> StoredBatch:
        """Store a batch and its lines, all pending, in one transaction.

        Storing the same batch id again with the same file hash and merchant writes
        nothing and returns the stored batch (``created`` False).

        Args:
            batch_id: the batch's id.
            merchant_id: whose money pays it.
            file_sha256: the hash of the file the lines come from.
            lines: the file's valid lines (line numbers and references unique).
            totals: lines and minor units per currency.

        Returns:
            The stored batch.

        Raises:
            ReferenceConflict: the batch id is stored with another file or merchant.
            ValueError: the database refused the lines (a repeated line number or
                reference); the message names the batch only.
        """
        existing = await self.get(batch_id)
        if existing is None:
            try:
                return await self._insert(batch_id, merchant_id, file_sha256, lines, totals)
            except _BatchRaced:
                existing = await self.get(batch_id)
                if existing is None:  # pragma: no cover - the winner's row is committed
                    raise RuntimeError(f"batch {batch_id!r} raced and vanished") from None
        if existing.file_sha256 != file_sha256:
            raise ReferenceConflict(f"batch {batch_id!r} was already stored with another file")
        if existing.merchant_id != merchant_id:
            raise ReferenceConflict(f"batch {batch_id!r} was already stored for another merchant")
        return existing

    async def _insert(
        self,
        batch_id: str,
        merchant_id: str,
        file_sha256: str,
        lines: Sequence[BatchLine],
        totals: Sequence[CurrencyTotal],
    ) -> StoredBatch:
        """Insert the batch and its lines; :class:`_BatchRaced` if its id is taken."""
        now = utcnow()
        dumped = [total.model_dump(mode="json") for total in totals]
        failure: str | None = None
        async with self._engine.begin() as conn:
            try:
                result = await conn.execute(
                    insert(PayoutBatchRow).values(
                        batch_id=batch_id,
                        merchant_id=merchant_id,
                        file_sha256=file_sha256,
                        lines=len(lines),
                        totals=dumped,
                        created_at=now,
                    )
                )
            except IntegrityError:
                raced = True
                await conn.rollback()
            else:
                raced = False
                inserted = result.inserted_primary_key
                assert inserted is not None  # a plain single-row INSERT
                batch_pk = inserted[0]
                failure = await self._insert_lines(conn, batch_pk, batch_id, lines, now)
                if failure is not None:
                    await conn.rollback()
        # Raised outside the except blocks, so no exception holding the lines' values
        # (msisdn, name) is chained to them.
        if raced:
            raise _BatchRaced(batch_id)
        if failure is not None:
            raise ValueError(f"batch {batch_id!r}: {failure}")
        return StoredBatch(
            batch_id=batch_id,
            merchant_id=merchant_id,
            file_sha256=file_sha256,
            lines=len(lines),
            totals=[CurrencyTotal.model_validate(total) for total in dumped],
            created=True,
        )

    @staticmethod
    async def _insert_lines(
        conn: AsyncConnection,
        batch_pk: int,
        batch_id: str,
        lines: Sequence[BatchLine],
        now: Any,
    ) -> str | None:
        """Insert the lines in chunks; what went wrong (no values quoted), or None."""
        statement = insert(PayoutBatchLineRow)
        try:
            for chunk in _chunks(lines, INSERT_CHUNK):
                await conn.execute(
                    statement, [_line_values(batch_pk, batch_id, line, now) for line in chunk]
                )
        except IntegrityError:
            return "the database refused its lines: a line number or a reference repeats"
        except DBAPIError as exc:
            # The message and its parameters may quote a number or a name: the class only.
            return f"the database refused its lines ({type(exc.orig).__name__})"
        return None

    # -- reading -------------------------------------------------------------------------

    async def get(self, batch_id: str) -> StoredBatch | None:
        """The stored batch, or None (``created`` False)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        PayoutBatchRow.batch_id,
                        PayoutBatchRow.merchant_id,
                        PayoutBatchRow.file_sha256,
                        PayoutBatchRow.lines,
                        PayoutBatchRow.totals,
                    ).where(PayoutBatchRow.batch_id == batch_id)
                )
            ).one_or_none()
        return None if row is None else _stored(row, created=False)

    async def page(self, batch_id: str, after_line: int, limit: int) -> list[BatchLine]:
        """The batch's lines numbered above ``after_line``, in order, at most ``limit``.

        Empty for an unknown batch, past its last line, or for a ``limit`` below 1.
        """
        if limit < 1:
            return []
        line = PayoutBatchLineRow
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_LINE_COLUMNS)
                    .where(line.batch_pk == _batch_pk(batch_id), line.line_no > after_line)
                    .order_by(line.line_no)
                    .limit(limit)
                )
            ).all()
        return [_to_line(row) for row in rows]

    async def counts(self, batch_id: str) -> dict[str, int]:
        """Lines of the batch per state: every state is a key (0 when none, or unknown)."""
        line = PayoutBatchLineRow
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(line.state, func.count())
                    .where(line.batch_pk == _batch_pk(batch_id))
                    .group_by(line.state)
                )
            ).all()
        counts = {state.value: 0 for state in BatchLineState}
        counts.update({state: count for state, count in rows})
        return counts

    async def results(
        self, batch_id: str
    ) -> AsyncIterator[tuple[str, str, str | None, str | None]]:
        """Each line's reference, state, provider transaction id and failure code, in order.

        Read :data:`RESULTS_CHUNK` lines at a time, each chunk on a connection taken for
        it alone: a slow consumer (writing the result file) holds no connection, which
        matters with SQLite's one. Nothing for an unknown batch.
        """
        line = PayoutBatchLineRow
        after = -1
        while True:
            async with self._engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(
                            line.line_no,
                            line.reference,
                            line.state,
                            line.provider_transaction_id,
                            line.failure_code,
                        )
                        .where(line.batch_pk == _batch_pk(batch_id), line.line_no > after)
                        .order_by(line.line_no)
                        .limit(RESULTS_CHUNK)
                    )
                ).all()
            for row in rows:
                yield (row.reference, row.state, row.provider_transaction_id, row.failure_code)
            if len(rows) < RESULTS_CHUNK:
                return
            after = rows[-1].line_no

    # -- progress ------------------------------------------------------------------------

    async def record(self, batch_id: str, outcomes: Sequence[LineOutcome]) -> int:
        """Set each line's state, provider transaction id and failure code, by line number.

        Idempotent: a line that already holds the outcome is left alone (its
        ``updated_at`` too). Unknown line numbers are ignored.

        Returns:
            How many lines changed.
        """
        if not outcomes:
            return 0
        line = PayoutBatchLineRow
        now = utcnow()
        statement = (
            update(line)
            .where(
                line.batch_pk == bindparam("p_batch_pk"),
                line.line_no == bindparam("p_line_no"),
                or_(
                    line.state != bindparam("p_state"),
                    line.provider_transaction_id.is_distinct_from(bindparam("p_ptid")),
                    line.failure_code.is_distinct_from(bindparam("p_failure")),
                ),
            )
            .values(
                state=bindparam("p_state"),
                provider_transaction_id=bindparam("p_ptid"),
                failure_code=bindparam("p_failure"),
                updated_at=now,
            )
        )
        changed = 0
        async with self._engine.begin() as conn:
            batch_pk = await self._pk(conn, batch_id)
            if batch_pk is None:
                return 0
            for chunk in _chunks(outcomes, INSERT_CHUNK):
                result = await conn.execute(
                    statement,
                    [
                        {
                            "p_batch_pk": batch_pk,
                            "p_line_no": outcome.line_no,
                            "p_state": outcome.state.value,
                            "p_ptid": outcome.provider_transaction_id,
                            "p_failure": outcome.failure_code,
                        }
                        for outcome in chunk
                    ],
                )
                changed += result.rowcount
        return changed

    async def mark_running(self, batch_id: str, line_nos: Sequence[int]) -> int:
        """Mark these lines running, those still pending only.

        Returns:
            How many lines changed (those not pending, and unknown ones, do not count).
        """
        return await self._move(batch_id, line_nos, _PENDING, _RUNNING)

    async def claim(
        self,
        batch_id: str,
        after_line: int,
        limit: int,
        *,
        skip_groups: Sequence[str] = (),
        token: str | None = None,
    ) -> ClaimedLines:
        """Take the next pending lines after ``after_line``, none of ``skip_groups``.

        The lines are marked running in the same transaction, and only those this call
        moved from pending are returned: of two claims racing, each line goes to one.
        A claim repeated with the same ``token`` (an activity retried after its answer
        was lost) gets the lines the first one took, so none is left running unstarted.

        Args:
            batch_id: the batch.
            after_line: claim lines numbered above it.
            limit: at most this many lines (at least 1).
            skip_groups: groups (``country:KE``, ``provider:hub``) whose lines stay
                pending.

        Raises:
            ValueError: a skipped group is neither ``country:`` nor ``provider:``.
        """
        if limit < 1:
            raise ValueError("a claim takes at least one line")
        line = PayoutBatchLineRow
        skipped = _in_groups(skip_groups)
        now = utcnow()
        async with self._engine.begin() as conn:
            batch_pk = await self._pk(conn, batch_id)
            if batch_pk is None:
                return ClaimedLines(lines=[], last_line=after_line, exhausted=True)
            if token is not None:
                again = (
                    await conn.execute(
                        select(*_LINE_COLUMNS)
                        .where(
                            line.batch_pk == batch_pk,
                            line.claim_token == token,
                            line.state == _RUNNING,
                        )
                        .order_by(line.line_no)
                    )
                ).all()
                if again:
                    return ClaimedLines(
                        lines=[_to_line(row) for row in again],
                        last_line=again[-1].line_no,
                        exhausted=False,
                    )
            query = (
                select(*_LINE_COLUMNS)
                .where(
                    line.batch_pk == batch_pk,
                    line.line_no > after_line,
                    line.state == _PENDING,
                )
                .order_by(line.line_no)
                .limit(limit)
            )
            if skipped is not None:
                query = query.where(~skipped)
            rows = (await conn.execute(query)).all()
            taken: set[int] = set()
            if rows:
                taken = set(
                    (
                        await conn.execute(
                            update(line)
                            .where(
                                line.batch_pk == batch_pk,
                                line.line_no.in_([row.line_no for row in rows]),
                                line.state == _PENDING,
                            )
                            .values(state=_RUNNING, claim_token=token, updated_at=now)
                            .returning(line.line_no)
                        )
                    ).scalars()
                )
        return ClaimedLines(
            lines=[_to_line(row) for row in rows if row.line_no in taken],
            last_line=rows[-1].line_no if rows else after_line,
            exhausted=len(rows) < limit,
        )

    async def release(self, batch_id: str, line_nos: Sequence[int]) -> int:
        """Put lines claimed but never started back to pending (running ones only).

        Returns:
            How many lines changed.
        """
        return await self._move(batch_id, line_nos, _RUNNING, _PENDING)

    async def cancel_pending(self, batch_id: str, groups: Sequence[str] | None = None) -> int:
        """Cancel the batch's pending lines: all of them, or those of ``groups``.

        Args:
            batch_id: the batch.
            groups: None for every pending line; else ``country:KE``, ``provider:hub``
                ... (an empty list cancels nothing).

        Returns:
            How many lines were cancelled.

        Raises:
            ValueError: a group is neither ``country:`` nor ``provider:``.
        """
        line = PayoutBatchLineRow
        conditions: list[ColumnElement[bool]] = [
            line.batch_pk == _batch_pk(batch_id),
            line.state == _PENDING,
        ]
        if groups is not None:
            selected = _in_groups(groups)
            if selected is None:
                return 0
            conditions.append(selected)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(line)
                .where(*conditions)
                .values(state=BatchLineState.CANCELLED.value, updated_at=utcnow())
            )
        return result.rowcount

    async def _move(self, batch_id: str, line_nos: Sequence[int], source: str, target: str) -> int:
        """Move these lines from state ``source`` to ``target``; how many moved."""
        numbers = sorted(set(line_nos))
        if not numbers:
            return 0
        line = PayoutBatchLineRow
        now = utcnow()
        changed = 0
        async with self._engine.begin() as conn:
            batch_pk = await self._pk(conn, batch_id)
            if batch_pk is None:
                return 0
            for chunk in _chunks(numbers, IN_CHUNK):
                result = await conn.execute(
                    update(line)
                    .where(
                        line.batch_pk == batch_pk,
                        line.line_no.in_(chunk),
                        line.state == source,
                    )
                    .values(state=target, updated_at=now)
                )
                changed += result.rowcount
        return changed

    @staticmethod
    async def _pk(conn: AsyncConnection, batch_id: str) -> int | None:
        return (
            await conn.execute(select(PayoutBatchRow.id).where(PayoutBatchRow.batch_id == batch_id))
        ).scalar_one_or_none()
