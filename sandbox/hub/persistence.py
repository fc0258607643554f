"""The hub's records as state-file documents, and the import of its old state files.

Version 1 of the state file held the hub's own tables (``transfers``, ``deliveries``,
``floats``); :func:`import_v1` turns them into documents, so a ``payments dev`` data
directory from before the generic state file keeps its transfers and webhooks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime

from payments_engine.sandbox.common import floats, outbox, records
from payments_engine.sandbox.common.outbox import Delivery, encode_delivery
from payments_engine.sandbox.common.persistence import Document, Row
from payments_engine.sandbox.common.records import decode_progress, encode_progress
from payments_engine.sandbox.hub.records import PayoutOrder, PlannedStep, Transfer
from payments_engine.sandbox.hub.scenarios import Scenario
from payments_engine.sandbox.hub.wire import HubStatus

TRANSFER = records.KIND


def encode_transfer(transfer: Transfer) -> Document:
    """The state-file document of a transfer, its remaining plan and counters included."""
    order = transfer.order
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
        **encode_progress(
            transfer, [[step.at, step.status.value, step.notify] for step in transfer.plan]
        ),
    }


def decode_transfer(document: Document) -> Transfer:
    """The transfer :func:`encode_transfer` wrote."""
    order = PayoutOrder(
        third_party_trans_id=document["reference"],
        msisdn=document["msisdn"],
        country=document["country"],
        currency=document["currency"],
        amount=int(document["amount"]),
        description=document["description"],
    )
    plan = [
        PlannedStep(at=float(at), status=HubStatus(status), notify=bool(notify))
        for at, status, notify in document["plan"]
    ]
    return Transfer(
        order=order,
        transaction_id=document["transaction_id"],
        scenario=Scenario(document["scenario"]),
        status=HubStatus(document["status"]),
        ack_code=document["ack_code"],
        executed=bool(document["executed"]),
        plan=plan,
        **decode_progress(document),
    )


def import_v1(conn: sqlite3.Connection) -> Iterator[Row]:
    """The records of a version-1 hub state file, as documents, oldest first.

    The webhook URL was not kept in version 1: it is recorded as an empty string, which
    the hub's store replaces with its configured URL when it loads the deliveries.
    """
    for row in conn.execute("SELECT * FROM transfers ORDER BY id"):
        document = {key: row[key] for key in row.keys() if key != "id"}
        document["executed"] = bool(document["executed"])
        document["plan"] = json.loads(document["plan"])
        yield TRANSFER, str(row["reference"]), document
    for row in conn.execute("SELECT * FROM deliveries ORDER BY id"):
        delivery = Delivery(
            delivery_id=row["delivery_id"],
            event_id=row["event_id"],
            reference=row["reference"],
            record_id=row["reference"],
            status=row["status"],
            body=bytes(row["body"]),
            url="",
            next_attempt_at=float(row["next_attempt_at"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            attempts=row["attempts"],
            delivered=bool(row["delivered"]),
            gave_up=bool(row["gave_up"]),
            last_http_status=row["last_http_status"],
            last_error=row["last_error"],
            last_attempt_at=(
                datetime.fromisoformat(row["last_attempt_at"]) if row["last_attempt_at"] else None
            ),
        )
        document = encode_delivery(delivery)
        document["after"] = row["after_delivery_id"]
        yield outbox.KIND, delivery.delivery_id, document
    for row in conn.execute("SELECT currency, amount FROM floats"):
        yield floats.KIND, str(row["currency"]), {"amount": int(row["amount"])}
