"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

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
    latency). The hot writes (ledger postings, the relay's webhook rows) go through the
    engine's :class:`SqliteWriter` instead (:func:`write`), which holds the lock for one
    function call rather than across event-loop round trips. Across processes (CLI, a
    second worker) writers wait on the lock up to the busy timeout, kept below the
    ledger activities' timeout so an attempt fails and is retried rather than being
    abandoned mid-statement.
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
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
        kwargs.setdefault("max_overflow", POSTGRES_MAX_OVERFLOW)
    return create_async_engine(url, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()


T = TypeVar("T")


class SqliteWriter:
    """Runs a whole SQLite write transaction in one hop to its own thread.

    Through aiosqlite every statement, and its BEGIN, fetch and COMMIT, is a round trip
    between the event loop and the connection's thread, and SQLite's write lock is held
    across all of them: on a busy loop (a worker running dozens of workflows) that is a
    few milliseconds each, so writers queued for whole seconds. Here the transaction
    runs start to commit in one function call on a plain ``sqlite3`` connection, in one
    thread, and holds the lock only as long as SQLite needs. Writers of this process
    queue on that thread, in order; other connections (the async engine's, other
    processes) wait on the file lock up to the busy timeout, as before.

    Args:
        url: the async engine's URL (``sqlite+aiosqlite:///path``).
    """

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._engine = create_sync_engine(
            sync_url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                # The connection only ever runs on the writer's one thread.
                "check_same_thread": False,
            },
        )
        event.listen(self._engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    @property
    def engine(self) -> Engine:
        """The synchronous engine the writer's transactions run on."""
        return self._engine

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(connection, *args)`` in one transaction on the writer's thread.

        The transaction commits when ``work`` returns and rolls back when it raises; the
        exception reaches the caller as raised.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work, args)

    def _transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._engine.begin() as connection:
            return work(connection, *args)

    def close(self) -> None:
        """Let the thread finish what it runs, then close the connection."""
        self._thread.shutdown(wait=True)
        self._engine.dispose()


_writers: weakref.WeakKeyDictionary[Engine, SqliteWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def sqlite_writer(engine: AsyncEngine) -> SqliteWriter:
    """The writer of a SQLite engine: one per engine, closed when the engine is disposed."""
    with _writers_lock:
        writer = _writers.get(engine.sync_engine)
        if writer is None:
            writer = SqliteWriter(engine.url.render_as_string(hide_password=False))
            _writers[engine.sync_engine] = writer
            event.listen(engine.sync_engine, "engine_disposed", _close_writer)
        return writer


def _close_writer(engine: Engine) -> None:
    with _writers_lock:
        writer = _writers.pop(engine, None)
    if writer is not None:
        writer.close()


async def write(engine: AsyncEngine, work: Callable[..., T], *args: Any) -> T:
    """Run ``work(connection, *args)`` in one write transaction on ``engine``'s database.

    SQLite: in one hop on the engine's :class:`SqliteWriter`. Others: through
    ``AsyncConnection.run_sync``, one round trip per statement as before.
    """
    if engine.dialect.name == "sqlite":
        return await sqlite_writer(engine).run(work, *args)
    async with engine.begin() as conn:
        return await conn.run_sync(work, *args)
