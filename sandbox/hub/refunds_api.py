"""The hub's refund API: refund (part of) a paid collection, query a refund.

Served under the hub API's router (:mod:`.hub_api`), which applies its authentication
and faults; the refund routes answer errors with refund codes of their own
(:class:`~.wire.RefundErrorCode`), in the hub's ``{"code", "message"}`` shape, so a
malformed request is ``invalid_request`` here, not the transactions' ``101``.

A refund is looked up by the hub's ``refund_id`` or by our ``external_refund_id``: after
a timeout a client recovers the refund id by its own reference.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    hold_for,
    hold_while,
)
from payments_engine.sandbox.hub.amounts import AmountRefused, parse_amount
from payments_engine.sandbox.hub.records import Refund, RefundOrder
from payments_engine.sandbox.hub.scenarios import RefundScenario, refund_markdown_table
from payments_engine.sandbox.hub.state import StateDep
from payments_engine.sandbox.hub.store import RefundRefused, SubmitOutcome
from payments_engine.sandbox.hub.wire import (
    REFUND_NOT_FOUND_MESSAGE,
    HubRefund,
    HubRefundAck,
    HubRefundRequest,
    RefundErrorCode,
)


class RefundError(ApiError):
    """An error answer of the refund API, rendered as ``{"code", "message"}``."""


def _invalid(exc: RequestValidationError) -> ApiError:
    return RefundError(422, RefundErrorCode.INVALID_REQUEST, describe_errors(exc.errors()))


router = APIRouter(route_class=error_route_class(_invalid), tags=["hub refunds"])


def parse_refund(request: HubRefundRequest) -> RefundOrder:
    """Validate a refund request as the hub does; the amount becomes minor units.

    Raises:
        RefundError: 422 ``invalid_request`` when the currency or amount is bad.
    """
    try:
        money = parse_amount(request.refund_amount, request.currency)
    except AmountRefused as exc:
        raise RefundError(422, RefundErrorCode.INVALID_REQUEST, str(exc)) from None
    return RefundOrder(
        external_refund_id=request.external_refund_id,
        original_transaction_id=request.original_transaction_id,
        currency=money.currency,
        amount=money.amount,
        reason=request.reason,
    )


_SUBMIT_DESCRIPTION = f"""\
Refund (part of) a paid (MR101) collection, once per `external_refund_id`: a repeat with
the same parameters answers the first refund, with others it is a 409
`duplicate_external_refund_id`. Several refunds of one collection, also of the same
amount, are accepted while the refunds that have not failed stay within what was
collected (`amount_exceeded` otherwise).

Errors: 422 `invalid_request` (schema, amount shape, non-positive amount); 404
`invalid_transaction` (no such collection); 422 `invalid_transaction` (the collection is
not paid); 422 `currency_mismatch`; 422 `refund_window_expired`; 422 `amount_exceeded`.

Magic amounts (last two digits of the amount in minor units):

{refund_markdown_table()}
"""


@router.post(
    "/v1/refunds",
    response_model=HubRefundAck,
    summary="Refund a paid collection",
    description=_SUBMIT_DESCRIPTION,
)
async def submit_refund(
    request: Request,
    payload: HubRefundRequest,
    state: StateDep,
) -> HubRefundAck:
    """Record a refund once per ``external_refund_id``; a repeat answers the first one."""
    order = parse_refund(payload)
    # The collection's payment may be due: the refund must see it paid.
    state.store.advance()
    try:
        result = state.store.refund(order)
    except RefundRefused as exc:
        raise RefundError(exc.http_status, exc.code, exc.message) from None
    refund = result.refund
    if (
        result.outcome is SubmitOutcome.CREATED
        and refund.scenario is RefundScenario.TIMEOUT_AFTER_ACCEPT
    ):
        # Only the first request is held: the client's lookup by external_refund_id or
        # its idempotent repeat must then find the executed refund, quickly.
        await hold_for(request, state.config.timeout_after_accept_seconds)
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise RefundError(500, "500", "internal error")
    return refund.ack()


def _found(refund: Refund | None) -> HubRefund:
    if refund is None:
        raise RefundError(404, "404", REFUND_NOT_FOUND_MESSAGE)
    return refund.to_wire()


@router.get(
    "/v1/refunds",
    response_model=HubRefund,
    summary="Status of a refund by our external_refund_id",
)
async def find_refund(
    external_refund_id: Annotated[str, Query(min_length=1, max_length=80)],
    state: StateDep,
) -> HubRefund:
    """The refund with that ``external_refund_id``, or 404 if the hub holds none."""
    state.store.advance()
    return _found(state.store.query_refund_by_external_id(external_refund_id))


@router.get(
    "/v1/refunds/{refund_id}",
    response_model=HubRefund,
    summary="Status of a refund by the hub's refund_id",
)
async def get_refund(refund_id: str, state: StateDep) -> HubRefund:
    """The refund with that ``refund_id``, or 404 if the hub holds none."""
    state.store.advance()
    return _found(state.store.query_refund(refund_id))
