"""The merchant's hooks (under ``/merchant``): stock holds and releases, and alerts.

A small recorder standing in for a merchant's own service: it answers every well-formed
call with 200 and keeps what it heard, for tests and the admin view
(:mod:`.admin_api`). Every call needs an ``Idempotency-Key`` header (else 400
``idempotency_key_required``); a call repeating a key is recorded as a repeat and holds,
releases or alerts nothing more. With ``api_key`` configured, calls need
``Authorization: Bearer <api_key>`` (else 401). Errors are ``{"code", "message"}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    key_matches,
)
from payments_engine.sandbox.merchant.state import StateDep, get_state
from payments_engine.sandbox.merchant.wire import (
    IDEMPOTENCY_HEADER,
    AlertAnswer,
    AlertRequest,
    ErrorCode,
    HoldRequest,
    ReleaseRequest,
    StockAnswer,
    StockStatus,
)

_bearer = HTTPBearer(auto_error=False, description="The recorder's api_key, if it has one.")

IdempotencyHeader = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)]


class MerchantError(ApiError):
    """An error answer of the merchant, rendered as ``{"code", "message"}``."""


def _invalid(exc: RequestValidationError) -> ApiError:
    return MerchantError(422, ErrorCode.INVALID_REQUEST, describe_errors(exc.errors()))


async def guard(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Check the bearer token when the recorder has an API key."""
    expected = get_state(request).config.api_key
    if expected is None:
        return
    token = credentials.credentials if credentials is not None else None
    if not key_matches(token, expected):
        raise MerchantError(
            401,
            ErrorCode.UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(
    route_class=error_route_class(_invalid), dependencies=[Depends(guard)], tags=["merchant"]
)


def _key(value: str | None) -> str:
    if value is None or not 1 <= len(value) <= 255:
        raise MerchantError(
            400,
            ErrorCode.IDEMPOTENCY_KEY_REQUIRED,
            f"the {IDEMPOTENCY_HEADER} header is required (1 to 255 characters)",
        )
    return value


@router.post("/v1/stock/holds", response_model=StockAnswer, summary="Hold an order's goods")
async def hold_stock(
    body: HoldRequest, state: StateDep, idempotency_key: IdempotencyHeader = None
) -> StockAnswer:
    """Hold the goods of a new cash order until it is paid or expires (once per key)."""
    record = state.store.hold(_key(idempotency_key), body)
    return StockAnswer(order_id=record.order_id, status=StockStatus.HELD, calls=record.hold_calls)


@router.post("/v1/stock/releases", response_model=StockAnswer, summary="Release an order's goods")
async def release_stock(
    body: ReleaseRequest, state: StateDep, idempotency_key: IdempotencyHeader = None
) -> StockAnswer:
    """Release the goods of an order that expired unpaid; also of one never held."""
    record = state.store.release(_key(idempotency_key), body)
    return StockAnswer(
        order_id=record.order_id, status=StockStatus.RELEASED, calls=record.release_calls
    )


@router.post("/v1/alerts", response_model=AlertAnswer, summary="Raise an alert")
async def raise_alert(
    body: AlertRequest, state: StateDep, idempotency_key: IdempotencyHeader = None
) -> AlertAnswer:
    """Record an alert once per key."""
    alert = state.store.alert(_key(idempotency_key), body)
    return AlertAnswer(idempotency_key=alert.idempotency_key, calls=alert.calls)
