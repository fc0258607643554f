"""The hub API (MFS Africa shape): payouts, collections, refunds and the float.

Submit a payout and query its status; request a collection from a payer, query it,
cancel it; refund a paid collection (:mod:`.refunds_api`, included here); read the float.
Every endpoint needs ``Authorization: Bearer <api_key>``. Errors are JSON objects
``{"code": ..., "message": ...}`` as the hub sends them, never FastAPI's ``detail``.
Injected faults apply here: latency and 503 before anything on every call; 500 after
executing and held answers on payout, collection and refund submissions alike.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    fail_before_call,
    hold_for,
    hold_while,
    key_matches,
)
from payments_engine.sandbox.hub import refunds_api
from payments_engine.sandbox.hub.amounts import AmountRefused, parse_amount
from payments_engine.sandbox.hub.scenarios import Scenario, collection_markdown_table
from payments_engine.sandbox.hub.state import StateDep, get_state
from payments_engine.sandbox.hub.store import (
    CancelRefused,
    CollectionOrder,
    PayoutOrder,
    SubmitOutcome,
    TransferNotFound,
)
from payments_engine.sandbox.hub.wire import (
    ACK_REJECTED,
    DUPLICATE_MESSAGE,
    NOT_FOUND_MESSAGE,
    HubAck,
    HubBalance,
    HubBalances,
    HubCollection,
    HubCollectionRequest,
    HubPayoutRequest,
    HubTransfer,
)

_bearer = HTTPBearer(auto_error=False, description="The sandbox's api_key.")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Plausibly E.164: an optional "+", no leading zero, 7 to 15 digits in all.
_MSISDN = re.compile(r"\+?[1-9][0-9]{6,14}")


class HubError(ApiError):
    """An error answer of the hub, rendered as ``{"code", "message"}``."""


def _invalid(exc: RequestValidationError) -> ApiError:
    return HubError(422, ACK_REJECTED, describe_errors(exc.errors()))


async def guard(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Authenticate, then apply the latency and error-rate faults, before any work."""
    state = get_state(request)
    token = credentials.credentials if credentials is not None else None
    if not key_matches(token, state.config.api_key):
        raise HubError(
            401, "401", "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
    if await fail_before_call(state.store.faults, state.roll):
        raise HubError(503, "503", "service temporarily unavailable")


router = APIRouter(
    route_class=error_route_class(_invalid), dependencies=[Depends(guard)], tags=["hub"]
)


def _check_party(currency: str, amount: str, msisdn: str, country: str) -> Money:
    """The amount as money, once the amount, msisdn and country pass the hub's checks.

    Raises:
        HubError: 422 with code 101 when the currency, amount, msisdn or country is bad.
    """
    try:
        money = parse_amount(amount, currency)
    except AmountRefused as exc:
        raise HubError(422, ACK_REJECTED, str(exc)) from None
    if not _MSISDN.fullmatch(msisdn):
        raise HubError(422, ACK_REJECTED, "the msisdn is not an E.164 number")
    if not _COUNTRY.fullmatch(country):
        raise HubError(422, ACK_REJECTED, "the country is not an ISO 3166 alpha-2 code")
    return money


def parse_payout(request: HubPayoutRequest) -> PayoutOrder:
    """Validate a payout request as the hub does; amounts become minor units.

    Raises:
        HubError: 422 with code 101 when the currency, amount, msisdn or country is bad.
    """
    money = _check_party(request.currency, request.amount, request.msisdn, request.country)
    return PayoutOrder(
        third_party_trans_id=request.third_party_trans_id,
        msisdn=request.msisdn,
        country=request.country,
        currency=request.currency,
        amount=money.amount,
        description=request.description,
    )


def parse_collection(request: HubCollectionRequest) -> CollectionOrder:
    """Validate a collection request by the payout rules; amounts become minor units.

    Raises:
        HubError: 422 with code 101 when the currency, amount, msisdn or country is bad.
    """
    money = _check_party(request.currency, request.amount, request.msisdn, request.country)
    return CollectionOrder(
        third_party_trans_id=request.third_party_trans_id,
        msisdn=request.msisdn,
        country=request.country,
        currency=request.currency,
        amount=money.amount,
        description=request.description,
        approval_window_seconds=request.approval_window_seconds,
    )


@router.post("/v1/payouts", response_model=HubAck, summary="Submit a payout")
async def submit_payout(
    request: Request,
    payload: HubPayoutRequest,
    state: StateDep,
) -> HubAck:
    """Execute a payout once per ``thirdPartyTransId``; a repeat answers the first one."""
    order = parse_payout(payload)
    result = state.store.submit(order)
    if result.outcome is SubmitOutcome.CONFLICT:
        raise HubError(409, ACK_REJECTED, DUPLICATE_MESSAGE)
    transfer = result.transfer
    if (
        result.outcome is SubmitOutcome.CREATED
        and transfer.scenario is Scenario.TIMEOUT_AFTER_ACCEPT
    ):
        # Only the first submission is held: the client's status check or idempotent
        # resubmission must then find the executed transfer, quickly.
        await hold_for(request, state.config.timeout_after_accept_seconds)
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise HubError(500, "500", "internal error")
    return transfer.ack()


@router.get(
    "/v1/payouts/{third_party_trans_id}",
    response_model=HubTransfer,
    summary="Status of a payout by our reference",
)
async def get_payout(
    third_party_trans_id: str,
    state: StateDep,
) -> HubTransfer:
    """The transfer with that ``thirdPartyTransId``, or 404 if the hub never saw it."""
    state.store.advance()
    transfer = state.store.query_status(third_party_trans_id)
    if transfer is None:
        raise HubError(404, "404", NOT_FOUND_MESSAGE)
    return transfer.to_wire()


_COLLECT_DESCRIPTION = f"""\
Push a USSD prompt to the payer's phone; the payer approves it on the handset within
`approvalWindowSeconds` (default 300, at most 600). Answered at once with `MR103`
(pending, awaiting the payer), or `101`/`ER101` for a number no prompt can reach. Once
per `thirdPartyTransId` (a namespace apart from payouts'): a repeat with the same
parameters answers the first collection, with others it is a 409. A paid collection
(`MR101`) credits the float with its amount less the hub's fee.

Magic numbers (last six digits of the payer's msisdn, any country):

{collection_markdown_table()}
"""


@router.post(
    "/v1/collections",
    response_model=HubAck,
    summary="Request a payment from a payer",
    description=_COLLECT_DESCRIPTION,
)
async def submit_collection(
    request: Request,
    payload: HubCollectionRequest,
    state: StateDep,
) -> HubAck:
    """Prompt the payer once per ``thirdPartyTransId``; a repeat answers the first one."""
    order = parse_collection(payload)
    result = state.store.collect(order)
    if result.outcome is SubmitOutcome.CONFLICT:
        raise HubError(409, ACK_REJECTED, DUPLICATE_MESSAGE)
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise HubError(500, "500", "internal error")
    return result.collection.ack()


@router.get(
    "/v1/collections/{third_party_trans_id}",
    response_model=HubCollection,
    summary="Status of a collection by our reference",
)
async def get_collection(third_party_trans_id: str, state: StateDep) -> HubCollection:
    """The collection with that ``thirdPartyTransId``, or 404 if the hub never saw it."""
    state.store.advance()
    collection = state.store.query_collection(third_party_trans_id)
    if collection is None:
        raise HubError(404, "404", NOT_FOUND_MESSAGE)
    return collection.to_wire()


@router.post(
    "/v1/collections/{third_party_trans_id}/cancel",
    response_model=HubCollection,
    summary="Cancel a collection the payer has not answered",
)
async def cancel_collection(third_party_trans_id: str, state: StateDep) -> HubCollection:
    """Withdraw the prompt: ER107 and a webhook; 409 once final or being approved.

    Cancelling a cancelled collection answers it again.
    """
    # A window that has passed, or an answer that is due, decides before the cancel.
    state.store.advance()
    try:
        collection = state.store.cancel_collection(third_party_trans_id)
    except TransferNotFound:
        raise HubError(404, "404", NOT_FOUND_MESSAGE) from None
    except CancelRefused as exc:
        raise HubError(409, ACK_REJECTED, str(exc)) from None
    return collection.to_wire()


@router.get("/v1/balance", response_model=HubBalances, summary="The hub's float")
async def get_balance(state: StateDep) -> HubBalances:
    """Each currency's float as a major-unit string."""
    state.store.advance()
    return HubBalances(
        balances=[
            HubBalance(
                currency=currency,
                available=Money(amount=amount, currency=currency).to_major(),
            )
            for currency, amount in state.store.balances().items()
        ]
    )


# After the hub's own routes; the refund routes keep their error shape, and the hub's
# authentication and faults apply to them as to every other route of this router.
router.include_router(refunds_api.router)
