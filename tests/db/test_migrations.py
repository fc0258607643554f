"""The Alembic migrations: they build the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from payments_engine.db.ledger import Ledger
from payments_engine.db.migrate import alembic_config, main, upgrade
from payments_engine.db.models import Base, WebhookEvent
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.ledger import FundMerchantInput, merchant_available
from payments_engine.domain.money import Money

TABLES = {
    "ledger_accounts",
    "ledger_entries",
    "ledger_postings",
    "webhook_events",
    "webhook_event_conflicts",
    "provider_transactions",
    "reconciliation_runs",
    "reconciliation_findings",
    "payout_batches",
    "payout_batch_lines",
}
HEAD = "0004"


def _schema(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    tables: set[str | None] = set(inspector.get_table_names())
    present = TABLES & tables
    return {
        "tables": tables,
        "uniques": {c["name"] for t in present for c in inspector.get_unique_constraints(t)},
        "indexes": {i["name"] for t in present for i in inspector.get_indexes(t)},
        "fks": {fk["name"] for t in present for fk in inspector.get_foreign_keys(t)},
    }


async def _read(url: str) -> tuple[dict[str, set[str | None]], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            schema = await conn.run_sync(_schema)
            version = None
            if "alembic_version" in schema["tables"]:
                version = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
        return schema, version
    finally:
        await engine.dispose()


async def test_upgrade_creates_the_tables_with_their_names(migrated_url: str) -> None:
    schema, version = await _read(migrated_url)

    assert TABLES <= schema["tables"]
    assert version == HEAD
    assert {
        "uq_ledger_accounts_code",
        "uq_ledger_entries_idempotency_key",
        "uq_webhook_events_provider_event",
        "uq_webhook_event_conflicts_provider_body",
        "uq_provider_transactions_provider_kind_ref",
        "uq_reconciliation_runs_provider_day",
        "uq_reconciliation_findings_finding_id",
        "uq_payout_batches_batch_id",
        "uq_payout_batch_lines_batch_pk_line_no",
        "uq_payout_batch_lines_batch_pk_reference",
    } <= schema["uniques"]
    assert {
        "ix_ledger_entries_reference",
        "ix_ledger_postings_entry_id",
        "ix_ledger_postings_account_id",
        "ix_webhook_events_reference",
        "ix_webhook_events_state",
        "ix_webhook_events_state_next_attempt_at",
        "ix_provider_transactions_provider_day",
        "ix_reconciliation_findings_run_id_state",
        "ix_reconciliation_findings_reference",
    } <= schema["indexes"]
    assert schema["fks"] == {
        "fk_ledger_postings_entry_id_ledger_entries",
        "fk_ledger_postings_account_id_ledger_accounts",
        "fk_reconciliation_findings_run_id_reconciliation_runs",
        "fk_payout_batch_lines_batch_pk_payout_batches",
    }


async def test_upgrade_twice_keeps_schema_and_data(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        ledger = Ledger(session_factory(engine))
        await ledger.fund_merchant(
            FundMerchantInput(
                merchant_id="m1", amount=Money(amount=500, currency="KES"), reference="t1"
            )
        )
        await upgrade(migrated_url)
        assert await ledger.balance(merchant_available("m1"), "KES") == 500
    finally:
        await engine.dispose()
    _, version = await _read(migrated_url)
    assert version == HEAD


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migration_matches_the_models(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []


async def test_downgrade_to_base_then_upgrade_again(migrated_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(migrated_url), "base")
    schema, version = await _read(migrated_url)
    assert not TABLES & schema["tables"]
    assert version is None

    await upgrade(migrated_url)
    schema, version = await _read(migrated_url)
    assert TABLES <= schema["tables"]
    assert version == HEAD


def test_main_migrates_the_configured_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent directory does not exist yet: main() must create it.
    database = tmp_path / "not" / "yet" / "ledger.db"
    monkeypatch.setenv("PAYMENTS_DATABASE_URL", f"sqlite+aiosqlite:///{database}")

    main([])

    assert database.exists()
    schema, version = asyncio.run(_read(f"sqlite+aiosqlite:///{database}"))
    assert TABLES <= schema["tables"]
    assert version == HEAD


def test_alembic_config_escapes_percent_in_url() -> None:
    url = "postgresql+psycopg://user:p%40ss@db.example:5432/ledger"
    config = alembic_config(url)
    assert config.get_main_option("sqlalchemy.url") == url
    assert make_url(url).password == "p@ss"


# webhook_events as revision 0001 left it: what a database upgraded to 0002 starts from.
_EVENTS_0001 = sa.table(
    "webhook_events",
    sa.column("provider", sa.String()),
    sa.column("event_id", sa.String()),
    sa.column("reference", sa.String()),
    sa.column("state", sa.String()),
    sa.column("signature_timestamp", sa.BigInteger()),
    sa.column("raw_body", sa.LargeBinary()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("delivered_at", sa.DateTime(timezone=True)),
    sa.column("delivery_attempts", sa.Integer()),
)
_RECEIVED_AT = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)


def _event_0001(event_id: str, state: str) -> dict[str, object]:
    return {
        "provider": "hub",
        "event_id": event_id,
        "reference": f"payout-{event_id}",
        "state": state,
        "signature_timestamp": 1_760_000_000,
        "raw_body": f'{{"eventId": "{event_id}"}}'.encode(),
        "received_at": _RECEIVED_AT + timedelta(minutes=len(event_id)),
        "delivered_at": None,
        "delivery_attempts": 1,
    }


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC datetimes.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("webhook_events")}


async def test_0002_hashes_stored_bodies_and_schedules_undelivered_events(
    database_url: str,
) -> None:
    await upgrade(database_url, "0001")
    schema_0001, _ = await _read(database_url)
    # Far more rows than one SQLite backfill batch.
    rows = [_event_0001(f"evt-{n}", "delivered" if n % 3 else "received") for n in range(1203)]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_EVENTS_0001), rows)

        await upgrade(database_url)

        async with session_factory(engine)() as session:
            events = {e.event_id: e for e in await session.scalars(sa.select(WebhookEvent))}
        assert len(events) == len(rows)
        for row in rows:
            event = events[str(row["event_id"])]
            assert event.raw_body == row["raw_body"]
            assert event.body_sha256 == hashlib.sha256(event.raw_body).hexdigest()
            if row["state"] == "received":
                # Due at once: the relay's outbox delivers what 0001 left undelivered.
                assert event.next_attempt_at is not None
                assert _utc(event.next_attempt_at) == row["received_at"]
            else:
                assert event.next_attempt_at is None

        await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
        async with engine.connect() as conn:
            columns = await conn.run_sync(_columns)
            kept = (
                await conn.execute(sa.select(sa.func.count()).select_from(_EVENTS_0001))
            ).scalar()
        assert {"body_sha256", "next_attempt_at"}.isdisjoint(columns)
        assert kept == len(rows)
        schema, version = await _read(database_url)
        # Down to exactly what 0001 built, constraint names included (SQLite rebuilt the
        # table to drop the columns).
        assert schema == schema_0001
        assert version == "0001"

        await upgrade(database_url)
        _, version = await _read(database_url)
        assert version == HEAD
    finally:
        await engine.dispose()
