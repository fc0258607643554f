"""The hub API (MFS Africa shape): submit a payout, query its status, read the float.

Every endpoint needs ``Authorization: Bearer <api_key>``. Errors are JSON objects
``{"code": ..., "message": ...}`` as the hub sends them, never FastAPI's ``detail``.
Injected faults (latency, 503 before anything, 500 after executing) apply here.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import Money, check_currency, currency_exponent
from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    fail_before_call,
    hold_for,
    hold_while,
    key_matches,
)
from payments_engine.sandbox.hub.scenarios import Scenario
from payments_engine.sandbox.hub.state import StateDep, get_state
from payments_engine.sandbox.hub.store import PayoutOrder, SubmitOutcome
from payments_engine.sandbox.hub.wire import (
    ACK_REJECTED,
    DUPLICATE_MESSAGE,
    NOT_FOUND_MESSAGE,
    HubAck,
    HubBalance,
    HubBalances,
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


async def _guard(
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
    route_class=error_route_class(_invalid), dependencies=[Depends(_guard)], tags=["hub"]
)


def parse_payout(request: HubPayoutRequest) -> PayoutOrder:
    """Validate a payout request as the hub does; amounts become minor units.

    Raises:
        HubError: 422 with code 101 when the currency, amount, msisdn or country is bad.
    """
    currency = request.currency
    try:
        check_currency(currency)
    except UnknownCurrency:
        raise HubError(422, ACK_REJECTED, f"unknown currency {currency!r}") from None
    exponent = currency_exponent(currency)
    # Exactly the currency's decimals, as the hub formats them: "1500.00" KES, "1500" UGX.
    shape = rf"[0-9]+\.[0-9]{{{exponent}}}" if exponent else r"[0-9]+"
    example = "1500." + "0" * exponent if exponent else "1500"
    if not re.fullmatch(shape, request.amount):
        raise HubError(
            422,
            ACK_REJECTED,
            f"{currency} amounts have exactly {exponent} decimal(s), e.g. {example!r};"
            f" got {request.amount!r}",
        )
    try:
        money = Money.from_major(request.amount, currency)
    except InvalidAmount as exc:
        raise HubError(422, ACK_REJECTED, str(exc)) from None
    if money.amount <= 0:
        raise HubError(422, ACK_REJECTED, "the amount must be positive")
    if not _MSISDN.fullmatch(request.msisdn):
        raise HubError(422, ACK_REJECTED, "the msisdn is not an E.164 number")
    if not _COUNTRY.fullmatch(request.country):
        raise HubError(422, ACK_REJECTED, "the country is not an ISO 3166 alpha-2 code")
    return PayoutOrder(
        third_party_trans_id=request.third_party_trans_id,
        msisdn=request.msisdn,
        country=request.country,
        currency=currency,
        amount=money.amount,
        description=request.description,
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
