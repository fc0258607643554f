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
# PostgreSQL backend each), which cost more than the postings themselves. The hot writes
# go through the writer's own connections (:func:`write`). Four processes at their peak
# (19 connections each) stay below PostgreSQL's default of 100 connections.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 5
# Connections (and threads) of a process's PostgreSQL writer: postings of one merchant
# queue on its balance rows anyway, so a few suffice.
POSTGRES_WRITER_THREADS = 4


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and foreign keys.

    SQLite takes one writer at a time. Within a process, one pooled connection makes
    writers queue in the pool, in order, instead of polling the file lock (its busy
    handler backs off up to 100 ms a try, which turns contention into seconds of
    latency). The hot writes (ledger postings, the relay's webhook rows) go through the
    engine's writer instead (:func:`write`), which holds the lock for one function call
    rather than across event-loop round trips; on PostgreSQL too. Across processes (CLI, a
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


class _ThreadWriter:
    """Runs whole write transactions in one hop each to the writer's own threads.

    Through an async driver every statement, and its BEGIN, fetch and COMMIT, is a round
    trip between the event loop and the database, and the transaction's locks are held
    across all of them: on a busy loop (a worker running dozens of workflows) that is a
    few milliseconds each, so writers of the same rows queued for whole seconds. Here the
    transaction runs start to commit in one function call on a synchronous connection, in
    a thread that waits on the network or the disk with the GIL released, and holds its
    locks only as long as the database needs.
    """

    def __init__(self, engine: Engine, threads: int, name: str) -> None:
        self._engine = engine
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(connection, *args)`` in one transaction on one of the writer's threads.

        The transaction commits when ``work`` returns and rolls back when it raises; the
        exception reaches the caller as raised.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._transaction, work, args)

    def _transaction(self, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._engine.begin() as connection:
            return work(connection, *args)

    def close(self) -> None:
        """Let the threads finish what they run, then close the connections."""
        self._threads.shutdown(wait=True)
        self._engine.dispose()


class SqliteWriter(_ThreadWriter):
    """The SQLite writer: one thread on one plain ``sqlite3`` connection.

    SQLite takes one writer at a time: writers of this process queue on the thread, in
    order; other connections (the async engine's, other processes) wait on the file lock
    up to the busy timeout, as before.

    Args:
        url: the async engine's URL (``sqlite+aiosqlite:///path``).
    """

    def __init__(self, url: str) -> None:
        engine = create_sync_engine(
            make_url(url).set(drivername="sqlite"),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                # The connection only ever runs on the writer's one thread.
                "check_same_thread": False,
            },
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        super().__init__(engine, threads=1, name="sqlite-writer")


class PostgresWriter(_ThreadWriter):
    """The PostgreSQL writer: ``POSTGRES_WRITER_THREADS`` threads, a connection each.

    Postings of one merchant update the same balance rows; each holds their row locks
    from its UPDATE to its COMMIT, two round trips here instead of two event-loop turns.

    Args:
        url: the async engine's URL (``postgresql+psycopg://...``); the writer uses
            psycopg's synchronous side.
    """

    def __init__(self, url: str) -> None:
        engine = create_sync_engine(
            make_url(url).set(drivername="postgresql+psycopg"),
            poolclass=QueuePool,
            pool_size=POSTGRES_WRITER_THREADS,
            max_overflow=0,
            pool_pre_ping=True,
        )
        super().__init__(engine, threads=POSTGRES_WRITER_THREADS, name="postgres-writer")


_writers: weakref.WeakKeyDictionary[Engine, _ThreadWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def writer(engine: AsyncEngine) -> _ThreadWriter:
    """The writer of an engine: one per engine, closed when the engine is disposed."""
    with _writers_lock:
        found = _writers.get(engine.sync_engine)
        if found is None:
            url = engine.url.render_as_string(hide_password=False)
            sqlite = engine.dialect.name == "sqlite"
            found = SqliteWriter(url) if sqlite else PostgresWriter(url)
            _writers[engine.sync_engine] = found
            event.listen(engine.sync_engine, "engine_disposed", _close_writer)
        return found


def _close_writer(engine: Engine) -> None:
    with _writers_lock:
        found = _writers.pop(engine, None)
    if found is not None:
        found.close()


async def write(engine: AsyncEngine, work: Callable[..., T], *args: Any) -> T:
    """Run ``work(connection, *args)`` in one write transaction on ``engine``'s database,
    in one hop to the engine's writer (:class:`SqliteWriter`, :class:`PostgresWriter`)."""
    return await writer(engine).run(work, *args)
