"""What the merchant recorder heard: stock holds and releases per order, and alerts.

Synchronous and never awaiting, like the simulators' stores, so on one event loop every
method runs atomically. Every call is recorded, repeats included: a call whose
``Idempotency-Key`` was seen before counts as a repeat and changes nothing else, so an
order's goods are held once and released once however often the engine retries. With
a state file, each change is written through before the method returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payments_engine.sandbox.common.persistence import (
    Document,
    DocumentStore,
    Journal,
    decode_required_time,
    decode_time,
    encode_time,
)
from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.merchant.wire import (
    PROVIDER,
    AlertRequest,
    HoldRequest,
    ReleaseRequest,
    StockStatus,
)

STOCK = "stock"
ALERT = "alert"
"""The state-file kinds of the merchant's documents."""


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class StockCall:
    """One hold or release call as it arrived.

    Attributes:
        repeat: its idempotency key had been seen before: it changed nothing.
    """

    action: StockStatus
    idempotency_key: str
    at: datetime
    repeat: bool


@dataclass(eq=False)
class StockRecord:
    """One order's goods as the merchant handled them.

    Attributes:
        held_at: when the first hold arrived; None if none ever did.
        released_at: when the first release arrived; None while not released.
        reason: the first release's reason.
        hold_calls: hold calls for the order, repeats included.
        release_calls: release calls for the order, repeats included.
        calls: every call, oldest first.
    """

    order_id: str
    merchant_id: str
    merchant_reference: str | None = None
    until: datetime | None = None
    held_at: datetime | None = None
    released_at: datetime | None = None
    reason: str | None = None
    hold_calls: int = 0
    release_calls: int = 0
    calls: list[StockCall] = field(default_factory=list)

    def seen(self, idempotency_key: str) -> bool:
        """True if a call with this key was recorded before."""
        return any(call.idempotency_key == idempotency_key for call in self.calls)


@dataclass(eq=False)
class AlertRecord:
    """One alert, filed under its idempotency key; ``calls`` counts its repeats too."""

    idempotency_key: str
    kind: str
    subject: str
    message: str
    details: dict[str, Any]
    received_at: datetime
    calls: int = 1


class MerchantStore:
    """Every stock call and alert the recorder received, in memory and in its state file.

    Args:
        config: the recorder's configuration (its state file).
        wall_clock: aware UTC now, for every timestamp.

    Raises:
        SandboxStateError: ``config.state_file`` is not a usable state file.
    """

    def __init__(
        self, config: MerchantSandboxConfig, *, wall_clock: Callable[[], datetime] = utc_now
    ) -> None:
        """Start from the state file if there is one, else empty."""
        self.config = config
        self._wall_clock = wall_clock
        self._db = (
            DocumentStore(config.state_file, PROVIDER) if config.state_file is not None else None
        )
        self._journal = Journal(self._db)
        self._stock: dict[str, StockRecord] = {}
        self._alerts: dict[str, AlertRecord] = {}
        if self._db is not None:
            for order_id, document in self._db.load(STOCK):
                self._stock[order_id] = _decode_stock(document)
            for key, document in self._db.load(ALERT):
                self._alerts[key] = _decode_alert(document)

    def close(self) -> None:
        """Close the state file, if any; later changes would stay in memory only."""
        if self._db is not None:
            self._db.close()
            self._db = None
            self._journal.db = None

    def reset(self) -> None:
        """Forget everything; the state file, if any, is emptied too."""
        self._journal.discard()
        self._stock.clear()
        self._alerts.clear()
        if self._db is not None:
            self._db.clear()

    # -- stock -------------------------------------------------------------------------

    def stock(self) -> list[StockRecord]:
        """Every order's record, oldest first."""
        return list(self._stock.values())

    def stock_of(self, order_id: str) -> StockRecord | None:
        """The record of one order, if any call named it."""
        return self._stock.get(order_id)

    def hold(self, idempotency_key: str, request: HoldRequest) -> StockRecord:
        """Record a hold; the goods are held at the first one, later ones are counted."""
        record = self._record(request.order_id, request.merchant_id, request.merchant_reference)
        now = self._wall_clock()
        repeat = record.seen(idempotency_key)
        record.calls.append(StockCall(StockStatus.HELD, idempotency_key, now, repeat))
        record.hold_calls += 1
        if record.held_at is None and not repeat:
            record.held_at = now
            record.until = request.until
        self._changed(record)
        return record

    def release(self, idempotency_key: str, request: ReleaseRequest) -> StockRecord:
        """Record a release, also of an order never held; released at the first one."""
        record = self._record(request.order_id, request.merchant_id, request.merchant_reference)
        now = self._wall_clock()
        repeat = record.seen(idempotency_key)
        record.calls.append(StockCall(StockStatus.RELEASED, idempotency_key, now, repeat))
        record.release_calls += 1
        if record.released_at is None and not repeat:
            record.released_at = now
            record.reason = request.reason
        self._changed(record)
        return record

    def _record(
        self, order_id: str, merchant_id: str, merchant_reference: str | None
    ) -> StockRecord:
        record = self._stock.get(order_id)
        if record is None:
            record = StockRecord(
                order_id=order_id, merchant_id=merchant_id, merchant_reference=merchant_reference
            )
            self._stock[order_id] = record
        elif record.merchant_reference is None and merchant_reference is not None:
            record.merchant_reference = merchant_reference
        return record

    def _changed(self, record: StockRecord) -> None:
        self._journal.put(STOCK, record.order_id, lambda: _encode_stock(record))
        self._journal.flush()

    # -- alerts ------------------------------------------------------------------------

    def alerts(self) -> list[AlertRecord]:
        """Every alert, oldest first."""
        return list(self._alerts.values())

    def alert(self, idempotency_key: str, request: AlertRequest) -> AlertRecord:
        """Record an alert once per idempotency key; a repeat is counted."""
        alert = self._alerts.get(idempotency_key)
        if alert is None:
            alert = AlertRecord(
                idempotency_key=idempotency_key,
                kind=request.kind,
                subject=request.subject,
                message=request.message,
                details=dict(request.details),
                received_at=self._wall_clock(),
            )
            self._alerts[idempotency_key] = alert
        else:
            alert.calls += 1
        self._journal.put(ALERT, idempotency_key, lambda: _encode_alert(alert))
        self._journal.flush()
        return alert


def _encode_stock(record: StockRecord) -> Document:
    return {
        "order_id": record.order_id,
        "merchant_id": record.merchant_id,
        "merchant_reference": record.merchant_reference,
        "until": encode_time(record.until),
        "held_at": encode_time(record.held_at),
        "released_at": encode_time(record.released_at),
        "reason": record.reason,
        "hold_calls": record.hold_calls,
        "release_calls": record.release_calls,
        "calls": [
            {
                "action": call.action.value,
                "idempotency_key": call.idempotency_key,
                "at": encode_time(call.at),
                "repeat": call.repeat,
            }
            for call in record.calls
        ],
    }


def _decode_stock(document: Document) -> StockRecord:
    return StockRecord(
        order_id=document["order_id"],
        merchant_id=document["merchant_id"],
        merchant_reference=document["merchant_reference"],
        until=decode_time(document["until"]),
        held_at=decode_time(document["held_at"]),
        released_at=decode_time(document["released_at"]),
        reason=document["reason"],
        hold_calls=int(document["hold_calls"]),
        release_calls=int(document["release_calls"]),
        calls=[
            StockCall(
                action=StockStatus(call["action"]),
                idempotency_key=call["idempotency_key"],
                at=decode_required_time(call["at"]),
                repeat=bool(call["repeat"]),
            )
            for call in document["calls"]
        ],
    )


def _encode_alert(alert: AlertRecord) -> Document:
    return {
        "idempotency_key": alert.idempotency_key,
        "kind": alert.kind,
        "subject": alert.subject,
        "message": alert.message,
        "details": alert.details,
        "received_at": encode_time(alert.received_at),
        "calls": alert.calls,
    }


def _decode_alert(document: Document) -> AlertRecord:
    return AlertRecord(
        idempotency_key=document["idempotency_key"],
        kind=document["kind"],
        subject=document["subject"],
        message=document["message"],
        details=dict(document["details"]),
        received_at=decode_required_time(document["received_at"]),
        calls=int(document["calls"]),
    )
