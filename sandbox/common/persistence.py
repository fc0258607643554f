"""State files of the simulators: JSON documents per (provider, kind, id) in SQLite.

A simulator keeps its records (transfers, webhook deliveries, floats ...) as JSON
documents and never writes SQL: :class:`DocumentStore` stores and loads them, and a
:class:`Journal` collects what one store method changed so that it is written through in
one small transaction before the method returns. Documents keep their insertion order
(oldest first), and an update keeps a document's place. Several simulators may share a
file: each only sees and clears its own provider's documents.

WAL with ``synchronous=NORMAL`` keeps a commit cheap (no wait for the disk) while losing
nothing when the process dies; a power cut may lose the last commits, which a local
simulator can afford. The module is synchronous (stdlib ``sqlite3``), like the stores.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
"""Version 1 was the hub's own tables (``transfers``, ``deliveries``, ``floats``)."""

Document = dict[str, Any]
"""A JSON object: what a simulator stores per record."""

Row = tuple[str, str, Document]
"""(kind, id, document)."""

LegacyImport = Callable[[sqlite3.Connection], Iterable[Row]]
"""Reads a version-1 file's tables and returns its records as documents."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (provider, kind, id)
)
"""

# ``seq`` keeps insertion order; an upsert keeps a row's seq.
_UPSERT = """
INSERT INTO documents (provider, kind, id, body) VALUES (?, ?, ?, ?)
ON CONFLICT (provider, kind, id) DO UPDATE SET body = excluded.body
"""


class SandboxStateError(RuntimeError):
    """The state file cannot be used (not SQLite, or written by another schema version)."""


def encode_time(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 text, for a document."""
    return None if value is None else value.isoformat()


def decode_time(value: str | None) -> datetime | None:
    """The datetime :func:`encode_time` wrote."""
    return None if value is None else datetime.fromisoformat(value)


def decode_required_time(value: str) -> datetime:
    """Like :func:`decode_time`, for a time that is always set."""
    return datetime.fromisoformat(value)


class DocumentStore:
    """One provider's documents in a state file, open for the life of its store.

    Args:
        path: the SQLite file; it and its directory are created if missing.
        provider: whose documents these are (``hub``, ``momo`` ...).
        legacy: converts the tables of a version-1 file (the hub's own schema) into
            documents of this provider; without it such a file is refused.

    Raises:
        SandboxStateError: the file is not a usable state file.
    """

    def __init__(self, path: Path, provider: str, *, legacy: LegacyImport | None = None) -> None:
        """Open (or create) the file and make sure its table exists."""
        self.path = path
        self.provider = provider
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path)
        self._conn.row_factory = sqlite3.Row
        try:
            self._prepare(legacy)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise SandboxStateError(f"{path} is not a sandbox state file: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def _prepare(self, legacy: LegacyImport | None) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION) or (version == 1 and legacy is None):
            raise SandboxStateError(
                f"{self.path} has schema version {version}, this sandbox needs"
                f" {SCHEMA_VERSION}: delete the file to start afresh"
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn as conn:
            conn.execute(_SCHEMA)
            if version == 1 and legacy is not None:
                rows = list(legacy(conn))
                conn.executemany(_UPSERT, [self._row(kind, id_, doc) for kind, id_, doc in rows])
                for table in ("transfers", "deliveries", "floats"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _row(self, kind: str, id_: str, document: Document) -> tuple[str, str, str, str]:
        return (self.provider, kind, id_, json.dumps(document, separators=(",", ":")))

    def close(self) -> None:
        """Close the connection; every change is already committed."""
        self._conn.close()

    def load(self, kind: str) -> list[tuple[str, Document]]:
        """Every document of ``kind``, oldest first, as (id, document)."""
        cursor = self._conn.execute(
            "SELECT id, body FROM documents WHERE provider = ? AND kind = ? ORDER BY seq",
            (self.provider, kind),
        )
        return [(str(row["id"]), json.loads(row["body"])) for row in cursor]

    def save(self, rows: Iterable[Row]) -> None:
        """Write the given documents as they are now, in one transaction."""
        values = [self._row(kind, id_, document) for kind, id_, document in rows]
        if not values:
            return
        # The connection as a context manager commits, or rolls back on an exception.
        with self._conn as conn:
            conn.executemany(_UPSERT, values)

    def clear(self) -> None:
        """Delete every document of this provider."""
        with self._conn as conn:
            conn.execute("DELETE FROM documents WHERE provider = ?", (self.provider,))


class Journal:
    """What the current store method changed, written through by :meth:`flush`.

    A change is recorded as a function returning the record's document, called at flush
    time, so a record changed twice in one method is written once, as it ends up.

    Args:
        db: the state file; None keeps everything in memory (changes are dropped).
    """

    def __init__(self, db: DocumentStore | None) -> None:
        """Start with nothing pending."""
        self.db = db
        self._pending: dict[tuple[str, str], Callable[[], Document]] = {}

    def put(self, kind: str, id_: str, document: Callable[[], Document]) -> None:
        """Note that the record ``(kind, id_)`` changed; ``document`` encodes it."""
        if self.db is not None:
            self._pending[(kind, id_)] = document

    def flush(self) -> None:
        """Write every pending change in one transaction."""
        if self.db is None or not self._pending:
            self._pending.clear()
            return
        rows = [(kind, id_, encode()) for (kind, id_), encode in self._pending.items()]
        # A failed write raises before the clearing below, so the next flush retries it.
        self.db.save(rows)
        self._pending.clear()

    def discard(self) -> None:
        """Forget the pending changes (after a reset)."""
        self._pending.clear()
