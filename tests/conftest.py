"""Shared fixtures: ledger databases on SQLite and on the machine's PostgreSQL.

PostgreSQL tests skip when the server is down, except on CI (``CI=true``), where a
missing server is a failure: CI must prove the ledger on the production store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "PAYMENTS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_dsn() -> str:
    url = make_url(POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(_admin_dsn(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)


def require_postgres() -> None:
    """Skip (locally) or fail (on CI) when PostgreSQL cannot be reached."""
    problem = _postgres_reachable()
    if problem is None:
        return
    message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {problem}"
    if ON_CI:
        pytest.fail(message + " (CI=true: the PostgreSQL tests must run)")
    pytest.skip(message)


def make_postgres_database() -> tuple[str, str]:
    """Create an empty database for one test; return its async URL and its name."""
    name = f"payments_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_postgres_database(name: str) -> None:
    """Drop a database made by :func:`make_postgres_database`."""
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    require_postgres()
    url, name = make_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
async def migrated_url(database_url: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied."""
    from payments_engine.db.migrate import upgrade

    await upgrade(database_url)
    yield database_url
