"""The state file of a sandbox hub: SQLite, so a restart of ``payments dev`` forgets nothing.

It keeps the transfers (with their remaining plans and counters), the webhook deliveries
(pending and done) and the floats; faults are not kept. The store writes each change
through before its method returns, in one small transaction. WAL with
``synchronous=NORMAL`` keeps a commit cheap (no wait for the disk) while losing nothing
when the process dies; a power cut may lose the last commits, which a local simulator can
afford. The module is synchronous (stdlib ``sqlite3``), like the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from payments_engine.domain.hub import HubStatus
from payments_engine.sandbox.records import Delivery, PayoutOrder, PlannedStep, Transfer
from payments_engine.sandbox.scenarios import Scenario

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    msisdn TEXT NOT NULL,
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    description TEXT,
    transaction_id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    status TEXT NOT NULL,
    ack_code TEXT NOT NULL,
    executed INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    plan TEXT NOT NULL,
    submit_count INTEGER NOT NULL,
    status_queries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    status TEXT NOT NULL,
    body BLOB NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at TEXT NOT NULL,
    after_delivery_id TEXT,
    attempts INTEGER NOT NULL,
    delivered INTEGER NOT NULL,
    gave_up INTEGER NOT NULL,
    last_http_status INTEGER,
    last_error TEXT,
    last_attempt_at TEXT
);
CREATE TABLE IF NOT EXISTS floats (
    currency TEXT PRIMARY KEY,
    amount INTEGER NOT NULL
);
"""

# The ``id`` columns keep insertion order (oldest first); an upsert keeps a row's id.
_UPSERT_TRANSFER = """
INSERT INTO transfers (
    reference, msisdn, country, currency, amount, description, transaction_id, scenario,
    status, ack_code, executed, created_at, updated_at, plan, submit_count, status_queries
) VALUES (
    :reference, :msisdn, :country, :currency, :amount, :description, :transaction_id,
    :scenario, :status, :ack_code, :executed, :created_at, :updated_at, :plan,
    :submit_count, :status_queries
)
ON CONFLICT (reference) DO UPDATE SET
    status = excluded.status,
    ack_code = excluded.ack_code,
    executed = excluded.executed,
    updated_at = excluded.updated_at,
    plan = excluded.plan,
    submit_count = excluded.submit_count,
    status_queries = excluded.status_queries
"""

_UPSERT_DELIVERY = """
INSERT INTO deliveries (
    delivery_id, event_id, reference, status, body, next_attempt_at, created_at,
    after_delivery_id, attempts, delivered, gave_up, last_http_status, last_error,
    last_attempt_at
) VALUES (
    :delivery_id, :event_id, :reference, :status, :body, :next_attempt_at, :created_at,
    :after_delivery_id, :attempts, :delivered, :gave_up, :last_http_status, :last_error,
    :last_attempt_at
)
ON CONFLICT (delivery_id) DO UPDATE SET
    next_attempt_at = excluded.next_attempt_at,
    attempts = excluded.attempts,
    delivered = excluded.delivered,
    gave_up = excluded.gave_up,
    last_http_status = excluded.last_http_status,
    last_error = excluded.last_error,
    last_attempt_at = excluded.last_attempt_at
"""

_UPSERT_FLOAT = """
INSERT INTO floats (currency, amount) VALUES (?, ?)
ON CONFLICT (currency) DO UPDATE SET amount = excluded.amount
"""


class SandboxStateError(RuntimeError):
    """The state file cannot be used (not SQLite, or written by another schema version)."""


@dataclass
class SavedState:
    """What a state file holds.

    Attributes:
        transfers: oldest first.
        deliveries: the delivery log, oldest first, each ``after`` linked to its object.
        floats: the float per currency that changed since the last reset, in minor units;
            a currency missing here still has its configured float.
    """

    transfers: list[Transfer]
    deliveries: list[Delivery]
    floats: dict[str, int]


class HubDatabase:
    """One hub's state file, open for the life of its store.

    Args:
        path: the SQLite file; it and its directory are created if missing.

    Raises:
        SandboxStateError: the file is not a usable state file.
    """

    def __init__(self, path: Path) -> None:
        """Open (or create) the file and make sure its tables exist."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path)
        self._conn.row_factory = sqlite3.Row
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise SandboxStateError(f"{path} is not a sandbox state file: {exc}") from exc
        except SandboxStateError:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise SandboxStateError(
                f"{self.path} has schema version {version}, this sandbox needs"
                f" {SCHEMA_VERSION}: delete the file to start afresh"
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection; every change is already committed."""
        self._conn.close()

    def load(self) -> SavedState:
        """Everything the file holds."""
        transfers = [
            _transfer_of(row) for row in self._conn.execute("SELECT * FROM transfers ORDER BY id")
        ]
        deliveries: list[Delivery] = []
        by_id: dict[str, Delivery] = {}
        for row in self._conn.execute("SELECT * FROM deliveries ORDER BY id"):
            # A delivery only ever waits for an older one, so that one is already loaded.
            after_id = row["after_delivery_id"]
            delivery = _delivery_of(row, by_id.get(after_id) if after_id else None)
            by_id[delivery.delivery_id] = delivery
            deliveries.append(delivery)
        floats = {
            str(row["currency"]): int(row["amount"])
            for row in self._conn.execute("SELECT currency, amount FROM floats")
        }
        return SavedState(transfers=transfers, deliveries=deliveries, floats=floats)

    def save(
        self,
        transfers: Iterable[Transfer] = (),
        deliveries: Iterable[Delivery] = (),
        floats: Mapping[str, int] | None = None,
    ) -> None:
        """Write the given records as they are now, in one transaction.

        Args:
            transfers: transfers that are new or changed.
            deliveries: deliveries that are new or changed, oldest first.
            floats: the new float of each currency that changed.
        """
        transfer_rows = [_transfer_row(transfer) for transfer in transfers]
        delivery_rows = [_delivery_row(delivery) for delivery in deliveries]
        float_rows = list((floats or {}).items())
        if not (transfer_rows or delivery_rows or float_rows):
            return
        # The connection as a context manager commits, or rolls back on an exception.
        with self._conn as conn:
            conn.executemany(_UPSERT_TRANSFER, transfer_rows)
            conn.executemany(_UPSERT_DELIVERY, delivery_rows)
            conn.executemany(_UPSERT_FLOAT, float_rows)

    def clear(self) -> None:
        """Delete every transfer, delivery and float."""
        with self._conn as conn:
            for table in ("transfers", "deliveries", "floats"):
                conn.execute(f"DELETE FROM {table}")


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_of(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _transfer_row(transfer: Transfer) -> dict[str, Any]:
    order = transfer.order
    plan = [[step.at, step.status.value, step.notify] for step in transfer.plan]
    return {
        "reference": order.third_party_trans_id,
        "msisdn": order.msisdn,
        "country": order.country,
        "currency": order.currency,
        "amount": order.amount,
        "description": order.description,
        "transaction_id": transfer.transaction_id,
        "scenario": transfer.scenario.value,
        "status": transfer.status.value,
        "ack_code": transfer.ack_code,
        "executed": transfer.executed,
        "created_at": _time(transfer.created_at),
        "updated_at": _time(transfer.updated_at),
        "plan": json.dumps(plan),
        "submit_count": transfer.submit_count,
        "status_queries": transfer.status_queries,
    }


def _transfer_of(row: sqlite3.Row) -> Transfer:
    order = PayoutOrder(
        third_party_trans_id=row["reference"],
        msisdn=row["msisdn"],
        country=row["country"],
        currency=row["currency"],
        amount=row["amount"],
        description=row["description"],
    )
    plan = [
        PlannedStep(at=float(at), status=HubStatus(status), notify=bool(notify))
        for at, status, notify in json.loads(row["plan"])
    ]
    return Transfer(
        order=order,
        transaction_id=row["transaction_id"],
        scenario=Scenario(row["scenario"]),
        status=HubStatus(row["status"]),
        ack_code=row["ack_code"],
        executed=bool(row["executed"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        plan=plan,
        submit_count=row["submit_count"],
        status_queries=row["status_queries"],
    )


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "event_id": delivery.event_id,
        "reference": delivery.third_party_trans_id,
        "status": delivery.status.value,
        "body": delivery.body,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": _time(delivery.created_at),
        "after_delivery_id": delivery.after.delivery_id if delivery.after else None,
        "attempts": delivery.attempts,
        "delivered": delivery.delivered,
        "gave_up": delivery.gave_up,
        "last_http_status": delivery.last_http_status,
        "last_error": delivery.last_error,
        "last_attempt_at": _time(delivery.last_attempt_at),
    }


def _delivery_of(row: sqlite3.Row, after: Delivery | None) -> Delivery:
    # ``in_flight`` is not kept: an attempt cut short by the restart is simply made again.
    return Delivery(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        third_party_trans_id=row["reference"],
        status=HubStatus(row["status"]),
        body=bytes(row["body"]),
        next_attempt_at=float(row["next_attempt_at"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        after=after,
        attempts=row["attempts"],
        delivered=bool(row["delivered"]),
        gave_up=bool(row["gave_up"]),
        last_http_status=row["last_http_status"],
        last_error=row["last_error"],
        last_attempt_at=_time_of(row["last_attempt_at"]),
    )
