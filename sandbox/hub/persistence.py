"""The hub's records as state-file documents, and the import of its old state files.

Payouts are ``transfer`` documents like every simulator's; collections and refunds are
documents of their own kinds (:data:`COLLECTION`, :data:`REFUND`), which older hubs
simply never wrote.

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
from payments_engine.sandbox.common.persistence import (
    Document,
    Row,
    decode_required_time,
    encode_time,
)
from payments_engine.sandbox.common.records import decode_progress, encode_progress
from payments_engine.sandbox.hub.records import (
    Collection,
    CollectionOrder,
    PayoutOrder,
    PlannedStep,
    Refund,
    RefundOrder,
    RefundStep,
    Transfer,
)
from payments_engine.sandbox.hub.scenarios import CollectionScenario, RefundScenario, Scenario
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus

TRANSFER = records.KIND
COLLECTION = "collection"
REFUND = "refund"


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


def encode_collection(collection: Collection) -> Document:
    """The state-file document of a collection, its remaining plan and counters included."""
    order = collection.order
    return {
        "reference": order.third_party_trans_id,
        "msisdn": order.msisdn,
        "country": order.country,
        "currency": order.currency,
        "amount": order.amount,
        "description": order.description,
        "approval_window_seconds": order.approval_window_seconds,
        "transaction_id": collection.transaction_id,
        "scenario": collection.scenario.value,
        "status": collection.status.value,
        "ack_code": collection.ack_code,
        "executed": collection.executed,
        "fee": collection.fee,
        "expires_at": encode_time(collection.expires_at),
        "paid_at": collection.paid_at,
        **encode_progress(
            collection, [[step.at, step.status.value, step.notify] for step in collection.plan]
        ),
    }


def decode_collection(document: Document) -> Collection:
    """The collection :func:`encode_collection` wrote."""
    order = CollectionOrder(
        third_party_trans_id=document["reference"],
        msisdn=document["msisdn"],
        country=document["country"],
        currency=document["currency"],
        amount=int(document["amount"]),
        description=document["description"],
        approval_window_seconds=int(document["approval_window_seconds"]),
    )
    plan = [
        PlannedStep(at=float(at), status=HubStatus(status), notify=bool(notify))
        for at, status, notify in document["plan"]
    ]
    paid_at = document["paid_at"]
    return Collection(
        order=order,
        transaction_id=document["transaction_id"],
        scenario=CollectionScenario(document["scenario"]),
        status=HubStatus(document["status"]),
        ack_code=document["ack_code"],
        executed=bool(document["executed"]),
        fee=int(document["fee"]),
        expires_at=decode_required_time(document["expires_at"]),
        paid_at=None if paid_at is None else float(paid_at),
        plan=plan,
        **decode_progress(document),
    )


def encode_refund(refund: Refund) -> Document:
    """The state-file document of a refund, its remaining plan and counters included."""
    order = refund.order
    plan = [[step.at, step.status.value, step.notify, step.failure_reason] for step in refund.plan]
    return {
        "refund_id": refund.refund_id,
        "external_refund_id": order.external_refund_id,
        "original_transaction_id": order.original_transaction_id,
        "currency": order.currency,
        "amount": order.amount,
        "reason": order.reason,
        "scenario": refund.scenario.value,
        "status": refund.status.value,
        "executed": refund.executed,
        "execution_count": refund.execution_count,
        "failure_reason": refund.failure_reason,
        **encode_progress(refund, plan),
    }


def decode_refund(document: Document) -> Refund:
    """The refund :func:`encode_refund` wrote."""
    order = RefundOrder(
        external_refund_id=document["external_refund_id"],
        original_transaction_id=document["original_transaction_id"],
        currency=document["currency"],
        amount=int(document["amount"]),
        reason=document["reason"],
    )
    plan = [
        RefundStep(
            at=float(at),
            status=HubRefundStatus(status),
            notify=bool(notify),
            failure_reason=failure_reason,
        )
        for at, status, notify, failure_reason in document["plan"]
    ]
    return Refund(
        order=order,
        refund_id=document["refund_id"],
        scenario=RefundScenario(document["scenario"]),
        status=HubRefundStatus(document["status"]),
        executed=bool(document["executed"]),
        execution_count=int(document["execution_count"]),
        failure_reason=document["failure_reason"],
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
