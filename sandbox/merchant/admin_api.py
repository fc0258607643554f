"""The merchant recorder's admin API (under ``/admin/merchant``): what it heard.

No authentication: the sandbox is a local tool.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from payments_engine.sandbox.merchant.state import StateDep
from payments_engine.sandbox.merchant.store import AlertRecord, StockCall, StockRecord
from payments_engine.sandbox.merchant.wire import StockStatus

router = APIRouter(tags=["admin: merchant"])


class AdminStockCall(BaseModel):
    """One hold or release call; ``repeat`` when its key had been seen before."""

    action: StockStatus
    idempotency_key: str
    at: datetime
    repeat: bool

    @classmethod
    def of(cls, call: StockCall) -> AdminStockCall:
        """The admin view of a call."""
        return cls(
            action=call.action, idempotency_key=call.idempotency_key, at=call.at, repeat=call.repeat
        )


class AdminStock(BaseModel):
    """One order's goods: when held and released, and every call about them.

    Attributes:
        status: released once released, held once held, else None (never happens: a
            record exists only after a call).
        until: what the first hold asked to hold them until.
        reason: the first release's reason.
    """

    order_id: str
    merchant_id: str
    merchant_reference: str | None
    status: StockStatus | None
    until: datetime | None
    held_at: datetime | None
    released_at: datetime | None
    reason: str | None
    hold_calls: int
    release_calls: int
    calls: list[AdminStockCall]

    @classmethod
    def of(cls, record: StockRecord) -> AdminStock:
        """The admin view of an order's record."""
        shown: StockStatus | None = None
        if record.released_at is not None:
            shown = StockStatus.RELEASED
        elif record.held_at is not None:
            shown = StockStatus.HELD
        return cls(
            order_id=record.order_id,
            merchant_id=record.merchant_id,
            merchant_reference=record.merchant_reference,
            status=shown,
            until=record.until,
            held_at=record.held_at,
            released_at=record.released_at,
            reason=record.reason,
            hold_calls=record.hold_calls,
            release_calls=record.release_calls,
            calls=[AdminStockCall.of(call) for call in record.calls],
        )


class AdminAlert(BaseModel):
    """One alert; ``calls`` counts the calls with its key (repeats included)."""

    idempotency_key: str
    kind: str
    subject: str
    message: str
    details: dict[str, Any]
    received_at: datetime
    calls: int

    @classmethod
    def of(cls, alert: AlertRecord) -> AdminAlert:
        """The admin view of an alert."""
        return cls(
            idempotency_key=alert.idempotency_key,
            kind=alert.kind,
            subject=alert.subject,
            message=alert.message,
            details=alert.details,
            received_at=alert.received_at,
            calls=alert.calls,
        )


@router.get("/stock", response_model=list[AdminStock])
async def list_stock(state: StateDep) -> list[AdminStock]:
    """Every order a hold or release named, oldest first."""
    return [AdminStock.of(record) for record in state.store.stock()]


@router.get("/stock/{order_id}", response_model=AdminStock)
async def get_stock(order_id: str, state: StateDep) -> AdminStock:
    """One order's record; 404 if no call named it."""
    record = state.store.stock_of(order_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no call named this order")
    return AdminStock.of(record)


@router.get("/alerts", response_model=list[AdminAlert])
async def list_alerts(state: StateDep) -> list[AdminAlert]:
    """Every alert, oldest first."""
    return [AdminAlert.of(alert) for alert in state.store.alerts()]


@router.post("/reset")
async def reset(state: StateDep) -> dict[str, bool]:
    """Forget everything recorded; a state file, if any, is emptied too."""
    state.store.reset()
    return {"reset": True}
