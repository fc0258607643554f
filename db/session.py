"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
# PostgreSQL connections kept open per process, and how many more a burst may open. A
# worker runs dozens of ledger steps at once and the relay takes webhooks in bursts: with
# SQLAlchemy's default of 5 kept, every burst opened and closed connections (a new
# PostgreSQL backend each), which cost more than the postings themselves. Four processes
# at their peak stay below PostgreSQL's default of 100 connections.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 10


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and foreign keys.

    SQLite takes one writer at a time. Within a process, one pooled connection makes
    writers queue in the pool, in order, instead of polling the file lock (its busy
    handler backs off up to 100 ms a try, which turns contention into seconds of
    latency). Across processes (CLI, a second worker) writers wait on the lock up to
    the busy timeout, kept below the ledger activities' timeout so an attempt fails
    and is retried rather than being abandoned mid-statement.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
        if "poolclass" not in kwargs:
            kwargs.update(
                poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=60
            )
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
        kwargs.setdefault("max_overflow", POSTGRES_MAX_OVERFLOW)
    return create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
