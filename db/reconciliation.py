"""Reconciliation's storage: the ledger's side of a day, runs and their findings.

:meth:`ReconciliationStore.load_ledger` copies a provider's ``provider_transactions`` of
one settlement date (and the day before's still unexplained ones) into DuckDB, where the
report is matched. A day can hold a million rows, so they never pass one by one through
Python objects on the async engine: SQLite is read with the stdlib ``sqlite3`` in a
thread, in batches turned into Arrow tables; PostgreSQL streams ``COPY ... TO STDOUT`` to
a CSV file that DuckDB reads. Either way one statement reads the slice, so it is one
consistent snapshot, found by ``ix_provider_transactions_provider_day``.

A run is one row per provider and report date (``reconciliation_runs``), re-used by every
re-run; its findings keep their ids across re-runs (:func:`domain.reconciliation.finding_id`),
so what a person did to a finding (resolved it, with a note) outlives a re-run of the same
report. :meth:`ReconciliationStore.complete_run` stores a run's outcome in one
transaction, including the day before's findings that this report explains.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    import duckdb

from payments_engine.db.models import ReconciliationFinding, ReconciliationRun, utcnow
from payments_engine.db.session import session_factory
from payments_engine.domain.errors import FindingConflict, FindingNotFound
from payments_engine.domain.reconciliation import (
    Finding,
    FindingKind,
    FindingState,
    RunStatus,
    RunTotals,
    RunView,
)

# Ids per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
IN_CHUNK = 500

# Findings of the day before that a row of this day's report can explain: the ledger
# booked it and the provider settled it a day later.
CARRIED_KINDS = (FindingKind.MISSING_AT_PROVIDER.value, FindingKind.TIMING.value)

# The columns of DuckDB's ``ledger`` table, in order (the caller creates the table).
_CSV_COLUMNS = (
    "{'provider_transaction_id': 'VARCHAR', 'reference': 'VARCHAR', 'kind': 'VARCHAR', "
    "'status': 'VARCHAR', 'gross': 'BIGINT', 'fee': 'BIGINT', 'currency': 'VARCHAR', "
    "'occurred_at': 'TIMESTAMP', 'settlement_date': 'DATE', 'carried': 'BOOLEAN'}"
)

# The SQLite slice is read in chunks of this many rows, each one string built by SQLite
# (a few MB at ~130 bytes a row), so Python handles one object per chunk, not per value.
LOAD_CHUNK_ROWS = 100_000

# One chunk of one half of the SQLite slice, as NDJSON lines of JSON arrays built in C by
# SQLite (json_array escapes the text and keeps NULL apart from ''): keyset-paginated on
# the id, which the index holds after (provider, settlement_date), so each chunk is a
# range of it. Every chunk is read in one transaction: one snapshot. The subquery's ORDER
# BY feeds group_concat in id order. Parameters: provider, date, last id, limit.
_CHUNK_SQLITE = """
SELECT max(id), count(*), group_concat(line, '') FROM (
    SELECT id,
           json_array(provider_transaction_id, reference, kind, status, gross, fee,
                      currency, occurred_at, settlement_date, {carried}) || char(10) AS line
      FROM provider_transactions INDEXED BY ix_provider_transactions_provider_day
     WHERE provider = ? AND settlement_date = ? AND id > ?{only}
     ORDER BY id
     LIMIT ?)
"""
_OWN_SQLITE = _CHUNK_SQLITE.format(carried=0, only="")
# The day before's records whose reference has an open finding that a late settlement
# explains. Parameters: as above, with provider and date - 1 for the run before the limit.
_CARRIED_SQLITE = _CHUNK_SQLITE.format(
    carried=1,
    only="""
       AND reference IN (
           SELECT f.reference
             FROM reconciliation_findings AS f
             JOIN reconciliation_runs AS r ON r.id = f.run_id
            WHERE r.provider = ? AND r.report_date = ?
              AND f.state = 'open' AND f.kind IN ('missing_at_provider', 'timing'))""",
)
# SQLAlchemy stores SQLite's datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here) and
# dates as 'YYYY-MM-DD': DuckDB casts both text forms itself.
_READ_SQLITE_NDJSON = """
INSERT INTO ledger
SELECT j[1], j[2], j[3], j[4], j[5]::BIGINT, j[6]::BIGINT, j[7], j[8]::TIMESTAMP,
       j[9]::DATE, j[10]::INTEGER::BOOLEAN
  FROM read_json(?, format = 'newline_delimited', records = false,
                 columns = {'j': 'VARCHAR[]'})
"""

# The session's DateStyle is set to ISO in the COPY's transaction, so occurred_at leaves
# as 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC wall time and settlement_date as 'YYYY-MM-DD':
# PostgreSQL's own output functions, far cheaper than to_char. %s are bound client-side
# by psycopg (COPY takes no parameters).
_SLICE_POSTGRES = """
COPY (
SELECT provider_transaction_id, reference, kind, status, gross, fee, currency,
       occurred_at AT TIME ZONE 'UTC', settlement_date, false
  FROM provider_transactions
 WHERE provider = %s AND settlement_date = %s
UNION ALL
SELECT provider_transaction_id, reference, kind, status, gross, fee, currency,
       occurred_at AT TIME ZONE 'UTC', settlement_date, true
  FROM provider_transactions
 WHERE provider = %s AND settlement_date = %s
   AND reference IN (
       SELECT f.reference
         FROM reconciliation_findings AS f
         JOIN reconciliation_runs AS r ON r.id = f.run_id
        WHERE r.provider = %s AND r.report_date = %s
          AND f.state = 'open' AND f.kind IN ('missing_at_provider', 'timing'))
) TO STDOUT (FORMAT csv)
"""

# What a report says about a finding: a re-run overwrites these, never the rest.
_DESCRIPTIVE = (
    "run_id",
    "reference",
    "provider_transaction_id",
    "line_no",
    "currency",
    "report_gross",
    "report_fee",
    "report_currency",
    "report_status",
    "ledger_gross",
    "ledger_fee",
    "ledger_currency",
    "ledger_status",
    "at_stake",
    "detail",
    "raw",
    "review",
)


@dataclass(frozen=True)
class CompletedRun:
    """What :meth:`ReconciliationStore.complete_run` changed.

    Attributes:
        stored: findings of this run written (new or updated).
        removed: open findings of an earlier run of the same report no longer found.
        auto_resolved: open findings of the day before that this report explains.
    """

    stored: int
    removed: int
    auto_resolved: int


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything the schema stores is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_for(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT of findings, which knows ON CONFLICT."""
    if dialect == "postgresql":
        return postgresql.insert(ReconciliationFinding)
    return sqlite.insert(ReconciliationFinding)


def _insert_run_for(dialect: str) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT of runs, which knows ON CONFLICT."""
    if dialect == "postgresql":
        return postgresql.insert(ReconciliationRun)
    return sqlite.insert(ReconciliationRun)


def _to_finding(row: ReconciliationFinding, provider: str, day: date) -> Finding:
    return Finding(
        id=row.finding_id,
        provider=provider,
        day=day,
        kind=FindingKind(row.kind),
        reference=row.reference,
        provider_transaction_id=row.provider_transaction_id,
        line_no=row.line_no,
        currency=row.currency,
        report_gross=row.report_gross,
        report_fee=row.report_fee,
        report_currency=row.report_currency,
        report_status=row.report_status,
        ledger_gross=row.ledger_gross,
        ledger_fee=row.ledger_fee,
        ledger_currency=row.ledger_currency,
        ledger_status=row.ledger_status,
        at_stake=row.at_stake,
        detail=row.detail,
        raw=row.raw,
        review=row.review,
        state=FindingState(row.state),
        resolution=row.resolution,  # type: ignore[arg-type]  # only "auto"/"manual" are written
        note=row.note,
        resolved_at=_aware(row.resolved_at),
        evidence_sent=row.evidence_sent,
    )


def _finding_values(finding: Finding, run_id: int, now: datetime) -> dict[str, Any]:
    return {
        "finding_id": finding.id,
        "run_id": run_id,
        "kind": finding.kind.value,
        "reference": finding.reference,
        "provider_transaction_id": finding.provider_transaction_id,
        "line_no": finding.line_no,
        "currency": finding.currency,
        "report_gross": finding.report_gross,
        "report_fee": finding.report_fee,
        "report_currency": finding.report_currency,
        "report_status": finding.report_status,
        "ledger_gross": finding.ledger_gross,
        "ledger_fee": finding.ledger_fee,
        "ledger_currency": finding.ledger_currency,
        "ledger_status": finding.ledger_status,
        "at_stake": finding.at_stake,
        "detail": finding.detail,
        "raw": finding.raw,
        "review": finding.review,
        "state": finding.state.value,
        "resolution": finding.resolution,
        "note": finding.note,
        "resolved_at": finding.resolved_at,
        "evidence_sent": finding.evidence_sent,
        "created_at": now,
    }


async def _run_id(conn: AsyncConnection, provider: str, day: date) -> int | None:
    return (
        await conn.execute(
            select(ReconciliationRun.id).where(
                ReconciliationRun.provider == provider, ReconciliationRun.report_date == day
            )
        )
    ).scalar_one_or_none()


class ReconciliationStore:
    """Reads the ledger's side of a reconciliation and stores runs and findings.

    Args:
        engine: the ledger database's engine (SQLite or PostgreSQL, see ``db.session``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    # -- the ledger's side ---------------------------------------------------------------

    async def load_ledger(
        self, con: duckdb.DuckDBPyConnection, provider: str, day: date, *, workdir: Path
    ) -> int:
        """Fill DuckDB's ``ledger`` table with the provider's records of ``day``.

        Adds the rows settled on ``day`` (``carried`` false) and those settled the day
        before whose reference has an open ``missing_at_provider`` or ``timing`` finding
        in the run of the day before (``carried`` true): the report may settle them a
        day late. Timestamps are UTC without zone, as the table wants them.

        Args:
            con: DuckDB connection holding the ``ledger`` table (created by the caller).
            provider: whose records.
            day: the settlement date.
            workdir: where the rows are staged for DuckDB to read (removed afterwards).

        Returns:
            The number of rows of ``day`` (carried ones not counted).
        """
        before = _count_own(con)
        previous = day - timedelta(days=1)
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            # SQLite stores dates as ISO text: compare text to text, so the index is used.
            database = make_url(str(self._engine.url)).database
            if not database or database == ":memory:":
                raise ValueError("load_ledger needs a SQLite database file, not :memory:")
            # The whole read and the DuckDB insert run off the event loop; DuckDB's
            # connection is touched by that one thread only while it runs.
            await asyncio.to_thread(
                _load_from_sqlite,
                con,
                Path(database),
                (provider, day.isoformat()),
                (provider, previous.isoformat()),
                workdir,
            )
        elif dialect == "postgresql":
            # Dates, not strings: psycopg binds COPY's parameters client-side, as typed
            # literals ('…'::date).
            params: tuple[Any, ...] = (provider, day, provider, previous, provider, previous)
            await self._load_from_postgres(con, params, workdir)
        else:
            raise ValueError(f"unsupported database dialect {dialect!r}")
        return _count_own(con) - before

    async def _load_from_postgres(
        self, con: duckdb.DuckDBPyConnection, params: tuple[Any, ...], workdir: Path
    ) -> None:
        """COPY the slice to a CSV file in ``workdir``, then read it into ``ledger``."""
        workdir.mkdir(parents=True, exist_ok=True)
        staged = workdir / f"ledger-{uuid.uuid4().hex}.csv"
        # COPY sends one message per row: a million of them through psycopg's async
        # machinery cost ~3 us each, twice what the server needs to produce them. A sync
        # connection of its own, in a thread, takes them at the server's pace; the
        # engine's settings (host, credentials, connect_timeout...) make it.
        args, kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        # The dialect's adapters belong to the async driver; defaults bind str and date.
        connect = {name: value for name, value in kwargs.items() if name != "context"}
        try:
            await asyncio.to_thread(_copy_from_postgres, staged, params, args, connect)
            # Quoted empty strings are empty strings; only PostgreSQL's unquoted empty
            # field is NULL (DuckDB would read both as NULL by default).
            await asyncio.to_thread(
                con.execute,
                "INSERT INTO ledger SELECT * FROM read_csv(?, header = false, "
                f"columns = {_CSV_COLUMNS}, allow_quoted_nulls = false, auto_detect = false)",
                [str(staged)],
            )
        finally:
            staged.unlink(missing_ok=True)

    # -- runs ----------------------------------------------------------------------------

    async def begin_run(self, provider: str, day: date, *, workflow_id: str, source: str) -> None:
        """Mark the run of ``provider`` and ``day`` running; a re-run counts an attempt.

        Its findings, and what people did to them, are left as they are.
        """
        now = utcnow()
        async with self._sessions() as session, session.begin():
            conn = await session.connection()
            stmt = _insert_run_for(conn.dialect.name).values(
                provider=provider,
                report_date=day,
                status=RunStatus.RUNNING.value,
                source=source,
                workflow_id=workflow_id,
                attempts=1,
                totals={},
                started_at=now,
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["provider", "report_date"],
                    set_={
                        "status": RunStatus.RUNNING.value,
                        "source": source,
                        "workflow_id": workflow_id,
                        "attempts": ReconciliationRun.attempts + 1,
                        "started_at": now,
                        "finished_at": None,
                        "error": None,
                    },
                )
            )

    async def complete_run(
        self,
        provider: str,
        day: date,
        *,
        totals: RunTotals,
        findings: Sequence[Finding],
        resolved_carried: Sequence[tuple[str, str]],
        report_sha256: str,
        report_path: str | None,
    ) -> CompletedRun:
        """Store a run's outcome and its findings, in one transaction.

        Findings are upserted by id: what the report says is overwritten, what was done
        to them (state, resolution, note, resolved_at, evidence_sent) is kept, so a
        re-run of the same report undoes nothing. This run's open findings not found
        again are deleted; resolved ones stay. Each reference in ``resolved_carried``
        (a record of the day before this report settled) resolves the open
        ``missing_at_provider`` or ``timing`` finding of that reference in the day
        before's run, as ``timing``.

        Args:
            provider: whose report.
            day: its date.
            totals: the run's counts.
            findings: every difference found.
            resolved_carried: (kind, reference) of the carried records the report
                settled; matched by reference, as findings name no record kind.
            report_sha256: the report file's hash.
            report_path: where the raw report is kept, if it is.

        Returns:
            How many findings were stored, removed and resolved.

        Raises:
            LookupError: :meth:`begin_run` was not called for this provider and day.
        """
        now = utcnow()
        async with self._sessions() as session, session.begin():
            conn = await session.connection()
            dialect = conn.dialect.name
            run_id = await _run_id(conn, provider, day)
            if run_id is None:
                raise LookupError(f"no reconciliation run of {provider} for {day}: begin it first")
            await conn.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.id == run_id)
                .values(
                    status=RunStatus.COMPLETED.value,
                    totals=totals.model_dump(mode="json"),
                    report_sha256=report_sha256,
                    report_path=report_path,
                    error=None,
                    finished_at=now,
                )
            )

            # Stale first: the set difference is taken in Python, as tens of thousands
            # of ids in one NOT IN would exceed the bound-parameter limits.
            found = {f.id for f in findings}
            stale = [
                fid
                for fid in (
                    await conn.execute(
                        select(ReconciliationFinding.finding_id).where(
                            ReconciliationFinding.run_id == run_id,
                            ReconciliationFinding.state == FindingState.OPEN.value,
                        )
                    )
                ).scalars()
                if fid not in found
            ]
            removed = 0
            for chunk in _chunks(stale):
                result = await conn.execute(
                    delete(ReconciliationFinding).where(
                        ReconciliationFinding.finding_id.in_(chunk),
                        ReconciliationFinding.state == FindingState.OPEN.value,
                    )
                )
                removed += result.rowcount

            if findings:
                insert = _insert_for(dialect)
                excluded = insert.excluded
                update_set: dict[str, Any] = {name: excluded[name] for name in _DESCRIPTIVE}
                # A finding the next day's report resolved became ``timing``: a re-run
                # of this day's report must not turn it back.
                update_set["kind"] = case(
                    (ReconciliationFinding.resolution == "auto", ReconciliationFinding.kind),
                    else_=excluded.kind,
                )
                # One statement, many parameter sets: executemany (psycopg pipelines it).
                await conn.execute(
                    insert.on_conflict_do_update(index_elements=["finding_id"], set_=update_set),
                    [_finding_values(f, run_id, now) for f in findings],
                )

            auto_resolved = 0
            references = sorted({reference for _kind, reference in resolved_carried})
            previous = await _run_id(conn, provider, day - timedelta(days=1))
            if previous is not None:
                for chunk in _chunks(references):
                    result = await conn.execute(
                        update(ReconciliationFinding)
                        .where(
                            ReconciliationFinding.run_id == previous,
                            ReconciliationFinding.state == FindingState.OPEN.value,
                            ReconciliationFinding.kind.in_(CARRIED_KINDS),
                            ReconciliationFinding.reference.in_(chunk),
                        )
                        .values(
                            kind=FindingKind.TIMING.value,
                            state=FindingState.RESOLVED.value,
                            resolution="auto",
                            note=f"in the report of {day.isoformat()}: settled a day later",
                            resolved_at=now,
                        )
                    )
                    auto_resolved += result.rowcount
        return CompletedRun(stored=len(found), removed=removed, auto_resolved=auto_resolved)

    async def fail_run(self, provider: str, day: date, *, error: str) -> None:
        """Mark the run failed with ``error``; findings of earlier runs stay as they are."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(ReconciliationRun)
                .where(ReconciliationRun.provider == provider, ReconciliationRun.report_date == day)
                .values(status=RunStatus.FAILED.value, error=error, finished_at=utcnow())
            )

    # -- reading -------------------------------------------------------------------------

    async def get_run(self, provider: str, day: date) -> RunView | None:
        """The run of ``provider`` and ``day`` with all its findings, or None."""
        async with self._sessions() as session:
            run = (
                await session.execute(
                    select(ReconciliationRun).where(
                        ReconciliationRun.provider == provider,
                        ReconciliationRun.report_date == day,
                    )
                )
            ).scalar_one_or_none()
            if run is None:
                return None
            rows = (
                await session.execute(
                    select(ReconciliationFinding)
                    .where(ReconciliationFinding.run_id == run.id)
                    .order_by(
                        ReconciliationFinding.kind,
                        ReconciliationFinding.reference,
                        ReconciliationFinding.finding_id,
                    )
                )
            ).scalars()
            findings = [_to_finding(row, run.provider, run.report_date) for row in rows]
        started_at = _aware(run.started_at)
        assert started_at is not None  # NOT NULL column
        return RunView(
            provider=run.provider,
            day=run.report_date,
            status=RunStatus(run.status),
            started_at=started_at,
            finished_at=_aware(run.finished_at),
            attempts=run.attempts,
            source=run.source,
            report_sha256=run.report_sha256,
            totals=RunTotals.model_validate(run.totals or {}),
            error=run.error,
            findings=findings,
        )

    async def open_findings(self, provider: str, day: date) -> list[Finding]:
        """The open findings of the run of ``provider`` and ``day``, by kind and reference."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ReconciliationFinding)
                    .join(ReconciliationRun, ReconciliationRun.id == ReconciliationFinding.run_id)
                    .where(
                        ReconciliationRun.provider == provider,
                        ReconciliationRun.report_date == day,
                        ReconciliationFinding.state == FindingState.OPEN.value,
                    )
                    .order_by(
                        ReconciliationFinding.kind,
                        ReconciliationFinding.reference,
                        ReconciliationFinding.finding_id,
                    )
                )
            ).scalars()
            return [_to_finding(row, provider, day) for row in rows]

    # -- people --------------------------------------------------------------------------

    async def resolve(self, finding_id: str, note: str) -> Finding:
        """Resolve an open finding by hand, with ``note``.

        Resolving it again with the same note returns it unchanged.

        Raises:
            FindingNotFound: no finding has that id.
            FindingConflict: it was already resolved with another note.
        """
        async with self._sessions() as session, session.begin():
            # The state is in the WHERE: of two people resolving at once, one changes the
            # row and the other reads it resolved.
            await session.execute(
                update(ReconciliationFinding)
                .where(
                    ReconciliationFinding.finding_id == finding_id,
                    ReconciliationFinding.state == FindingState.OPEN.value,
                )
                .values(
                    state=FindingState.RESOLVED.value,
                    resolution="manual",
                    note=note,
                    resolved_at=utcnow(),
                )
            )
            found = (
                await session.execute(
                    select(
                        ReconciliationFinding,
                        ReconciliationRun.provider,
                        ReconciliationRun.report_date,
                    )
                    .join(ReconciliationRun, ReconciliationRun.id == ReconciliationFinding.run_id)
                    .where(ReconciliationFinding.finding_id == finding_id)
                )
            ).one_or_none()
        if found is None:
            raise FindingNotFound(f"no finding {finding_id!r}")
        row, provider, day = found
        finding = _to_finding(row, provider, day)
        if finding.note != note:
            when = finding.resolved_at.isoformat() if finding.resolved_at else "an unknown time"
            raise FindingConflict(
                f"finding {finding_id!r} was already resolved ({finding.resolution}) at "
                f"{when} with another note: {finding.note!r}"
            )
        return finding

    async def mark_evidence(self, finding_ids: Sequence[str]) -> int:
        """Record that these findings' lines were handed to their workflows.

        Returns:
            How many findings changed (unknown ids and those already marked do not count).
        """
        ids = sorted(set(finding_ids))
        changed = 0
        async with self._sessions() as session, session.begin():
            conn = await session.connection()
            for chunk in _chunks(ids):
                result = await conn.execute(
                    update(ReconciliationFinding)
                    .where(
                        and_(
                            ReconciliationFinding.finding_id.in_(chunk),
                            ReconciliationFinding.evidence_sent.is_(False),
                        )
                    )
                    .values(evidence_sent=True)
                )
                changed += result.rowcount
        return changed


def _count_own(con: duckdb.DuckDBPyConnection) -> int:
    """Rows of ``ledger`` that are the day's own (not carried)."""
    # fetchall, not fetchone: DuckDB keeps a half-read result open on the connection,
    # which refuses the next statement until it is done.
    ((count,),) = con.execute("SELECT count(*) FROM ledger WHERE NOT carried").fetchall()
    return int(count)


def _copy_from_postgres(
    staged: Path, params: tuple[Any, ...], args: Sequence[Any], kwargs: dict[str, Any]
) -> None:
    """Write the PostgreSQL slice to ``staged`` as CSV, on a connection of its own."""
    import psycopg  # only PostgreSQL deployments load it

    with psycopg.connect(*args, **kwargs) as conn:
        try:
            # Local to the COPY's transaction (rolled back below): the CSV's timestamps
            # and dates are ISO whatever the server's or role's DateStyle.
            conn.execute("SELECT set_config('DateStyle', 'ISO', true)")
            with staged.open("wb") as out, conn.cursor() as cursor:
                with cursor.copy(_SLICE_POSTGRES, params) as copy:
                    for data in copy:
                        out.write(data)
        finally:
            # Nothing was written: end the read-only transaction rather than commit it.
            conn.rollback()


def _load_from_sqlite(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    own: tuple[str, ...],
    carried: tuple[str, ...],
    workdir: Path,
) -> None:
    """Stage the slice from the SQLite file as NDJSON in ``workdir``, read it into ``ledger``.

    A read-only connection of its own: the engine's pool holds one connection, which the
    read would otherwise keep from every writer for its whole length, and WAL lets the
    writers go on meanwhile.

    Args:
        con: DuckDB connection holding the ``ledger`` table.
        path: the SQLite database file.
        own: provider and date (ISO) of the day's rows.
        carried: provider and date (ISO) of the day before, for the carried rows.
        workdir: where the NDJSON is staged (removed afterwards).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    staged = workdir / f"ledger-{uuid.uuid4().hex}.ndjson"
    # isolation_level None: the explicit BEGIN below is the only transaction.
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        # One read transaction over every chunk: they all see the same snapshot.
        source.execute("BEGIN")
        with staged.open("w", encoding="utf-8", newline="") as out:
            _write_chunks(source, _OWN_SQLITE, own, (), out)
            _write_chunks(source, _CARRIED_SQLITE, carried, carried, out)
        source.execute("COMMIT")
        # The statement runs in one go, reading the file in parallel.
        con.execute(_READ_SQLITE_NDJSON, [str(staged)])
    finally:
        source.close()
        staged.unlink(missing_ok=True)


def _write_chunks(
    source: sqlite3.Connection,
    sql: str,
    where: tuple[str, ...],
    extra: tuple[str, ...],
    out: Any,
) -> None:
    """Write every chunk of ``sql`` (see :data:`_CHUNK_SQLITE`) to ``out``."""
    last = 0  # ids are positive: SQLite's rowids start at 1
    while True:
        newest, count, text = source.execute(
            sql, (*where, last, *extra, LOAD_CHUNK_ROWS)
        ).fetchone()
        if not count:
            return
        out.write(text)
        last = newest
