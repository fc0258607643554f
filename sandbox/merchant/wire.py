"""The merchant hooks' JSON shapes: stock holds and releases, alerts.

The engine calls ``POST /merchant/v1/stock/holds`` when a cash order is created (hold
its goods until the voucher expires) and ``POST /merchant/v1/stock/releases`` when it
expired unpaid; later processes raise ``POST /merchant/v1/alerts``. Every call carries
an ``Idempotency-Key`` header. Errors are ``{"code", "message"}``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "merchant"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class StockStatus(StrEnum):
    """What the merchant did with an order's goods."""

    HELD = "held"
    RELEASED = "released"


class ErrorCode(StrEnum):
    """Codes of the error answers."""

    UNAUTHORIZED = "unauthorized"
    INVALID_REQUEST = "invalid_request"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldRequest(_Request):
    """Body of ``POST /merchant/v1/stock/holds``: keep the order's goods until ``until``."""

    order_id: str = Field(min_length=1, max_length=100)
    merchant_id: str = Field(min_length=1, max_length=100)
    merchant_reference: str | None = Field(default=None, max_length=100)
    until: datetime | None = None


class ReleaseRequest(_Request):
    """Body of ``POST /merchant/v1/stock/releases``: the order's goods may be sold again."""

    order_id: str = Field(min_length=1, max_length=100)
    merchant_id: str = Field(min_length=1, max_length=100)
    merchant_reference: str | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=200)


class AlertRequest(_Request):
    """Body of ``POST /merchant/v1/alerts``: something the merchant must look at."""

    kind: str = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict)


class StockAnswer(BaseModel):
    """Answer of a hold or a release: where the order's goods stand now.

    ``calls`` counts the calls of that kind (holds, or releases) for the order, repeats
    included.
    """

    order_id: str
    status: StockStatus
    calls: int


class AlertAnswer(BaseModel):
    """Answer of an alert: recorded; ``calls`` counts the calls with its key."""

    idempotency_key: str
    received: bool = True
    calls: int
