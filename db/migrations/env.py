"""Alembic environment: runs the ledger migrations on an async engine.

The URL comes from the config's ``sqlalchemy.url``, which
:func:`payments_engine.db.migrate.upgrade` sets at run time (the alembic CLI may pass
``-x url=...`` instead). A caller that already holds
a synchronous connection can hand it over as ``config.attributes["connection"]``; then no
engine is created here.

Alembic's command API is synchronous, and online migrations call :func:`asyncio.run`,
so they must run in a thread without an event loop: ``payments_engine.db.migrate.upgrade`` uses
:func:`asyncio.to_thread` for that.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from payments_engine.db.models import Base
from payments_engine.db.session import create_engine

config = context.config
target_metadata = Base.metadata

_PLACEHOLDER_PREFIX = "driver://"


def _url() -> str:
    """The database URL: ``-x url=...`` wins over ``sqlalchemy.url``."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url or url.startswith(_PLACEHOLDER_PREFIX):
        raise RuntimeError(
            "no database URL: use `payments migrate` or pass `-x url=...` to alembic"
        )
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode lets later revisions recreate tables.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    # NullPool: a migration is a one-off, nothing should outlive it.
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Emit the migration SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a passed connection, or on a fresh async engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
