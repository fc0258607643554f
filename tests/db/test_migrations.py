"""The Alembic migrations: they build the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from db.ledger import Ledger
from db.migrate import alembic_config, main, upgrade
from db.models import Base
from db.session import create_engine, session_factory
from domain.ledger import FundMerchantInput, merchant_available
from domain.money import Money

TABLES = {"ledger_accounts", "ledger_entries", "ledger_postings", "webhook_events"}


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
    assert version == "0001"
    assert {
        "uq_ledger_accounts_code",
        "uq_ledger_entries_idempotency_key",
        "uq_webhook_events_provider_event",
    } <= schema["uniques"]
    assert {
        "ix_ledger_entries_reference",
        "ix_ledger_postings_entry_id",
        "ix_ledger_postings_account_id",
        "ix_webhook_events_reference",
        "ix_webhook_events_state",
    } <= schema["indexes"]
    assert schema["fks"] == {
        "fk_ledger_postings_entry_id_ledger_entries",
        "fk_ledger_postings_account_id_ledger_accounts",
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
    assert version == "0001"


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
    assert version == "0001"


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
    assert version == "0001"


def test_alembic_config_escapes_percent_in_url() -> None:
    url = "postgresql+psycopg://user:p%40ss@db.example:5432/ledger"
    config = alembic_config(url)
    assert config.get_main_option("sqlalchemy.url") == url
    assert make_url(url).password == "p@ss"
