"""The MoMo API (MTN MoMo shape): disbursement transfers, collections' requests to pay.

Disbursements: a transfer, its status, the balance. Collections: a request to pay, which
asks the payer to approve within MoMo's window, and its status; MTN has no cancel, so
there is none.

Every endpoint needs ``Ocp-Apim-Subscription-Key: <api_key>`` (else 401) and
``X-Target-Environment: sandbox`` (else 400). A transfer or request to pay is identified
by the client's ``X-Reference-Id`` (a UUID; transfers and requests to pay are separate
namespaces): the first request with it creates it and answers 202 with an empty body, any
later one answers 409 and changes nothing, whatever its body. Errors are
``{"code": ..., "message": ...}``; validation errors name the fields, never their values
(they hold personal data).

Faults applied: ``latency_ms`` and ``error_rate`` (503 before anything) on every call;
``hold_submissions`` and ``error_after_execute_rate`` (created, then 500) on transfers and
requests to pay. ``duplicate_webhooks`` and ``out_of_order_webhooks`` are ignored: MoMo
sends each callback once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from payments_engine.domain.errors import InvalidAmount, UnknownCurrency
from payments_engine.domain.money import Money, check_currency
from payments_engine.sandbox.common.http import (
    ApiError,
    error_route_class,
    fail_before_call,
    hold_for,
    hold_while,
    key_matches,
)
from payments_engine.sandbox.momo.records import RequestToPayOrder, TransferOrder
from payments_engine.sandbox.momo.scenarios import MomoScenario, request_to_pay_markdown_table
from payments_engine.sandbox.momo.state import StateDep, get_state
from payments_engine.sandbox.momo.wire import (
    DUPLICATE_MESSAGE,
    TARGET_ENVIRONMENT,
    Balance,
    ErrorCode,
    Party,
    PartyIdType,
    RequestToPay,
    RequestToPayResult,
    TransferRequest,
    TransferResult,
)

API_KEY_HEADER = "Ocp-Apim-Subscription-Key"
TARGET_HEADER = "X-Target-Environment"
REFERENCE_HEADER = "X-Reference-Id"
CALLBACK_HEADER = "X-Callback-Url"

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# An MSISDN in MoMo's form: country code and number, digits only, no "+".
_PARTY_ID = re.compile(r"[1-9][0-9]{6,14}")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")

NOT_FOUND_MESSAGE = "Requested resource was not found."

BodyT = TypeVar("BodyT", TransferRequest, RequestToPay)


class MomoError(ApiError):
    """An error answer of MoMo, rendered as ``{"code", "message"}``."""


def _describe(errors: Iterable[Mapping[str, Any]], skip: int = 0) -> str:
    # Locations and error types only: pydantic's messages may quote the input.
    parts = []
    for error in errors:
        where = ".".join(str(item) for item in tuple(error.get("loc", ()))[skip:])
        parts.append(f"{where or '<body>'} ({error.get('type')})")
    return "invalid request: " + (", ".join(parts) or "malformed")


def _invalid(exc: RequestValidationError) -> ApiError:
    return MomoError(400, ErrorCode.INVALID_PARAMETER, _describe(exc.errors(), skip=1))


async def guard(request: Request) -> None:
    """Authenticate, apply latency and error rate, then check the target environment."""
    state = get_state(request)
    if not key_matches(request.headers.get(API_KEY_HEADER), state.config.api_key):
        raise MomoError(
            401,
            ErrorCode.UNAUTHORIZED,
            f"Access denied due to a missing or invalid {API_KEY_HEADER}.",
        )
    if await fail_before_call(state.store.faults, state.roll):
        raise MomoError(503, ErrorCode.SERVICE_UNAVAILABLE, "Service temporarily unavailable.")
    if request.headers.get(TARGET_HEADER) != TARGET_ENVIRONMENT:
        raise MomoError(
            400,
            ErrorCode.NOT_ALLOWED_TARGET_ENVIRONMENT,
            f"{TARGET_HEADER} must be {TARGET_ENVIRONMENT!r}.",
        )


router = APIRouter(
    route_class=error_route_class(_invalid), dependencies=[Depends(guard)], tags=["momo"]
)


def parse_reference_id(value: str | None) -> str:
    """The ``X-Reference-Id`` in canonical (lower-case) form.

    Raises:
        MomoError: 400 INVALID_REFERENCE_ID, missing or not a UUID.
    """
    if value is None or not _UUID.fullmatch(value):
        raise MomoError(400, ErrorCode.INVALID_REFERENCE_ID, "The reference id must be a UUID.")
    return value.lower()


def parse_callback_url(value: str | None) -> str | None:
    """The ``X-Callback-Url``, if given: an absolute http(s) URL.

    Raises:
        MomoError: 400 INVALID_CALLBACK_URL_HOST.
    """
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise MomoError(
            400, ErrorCode.INVALID_CALLBACK_URL_HOST, "The callback URL is not an http(s) URL."
        )
    return value


def _invalid_body(message: str) -> MomoError:
    return MomoError(400, ErrorCode.INVALID_PARAMETER, message)


def _parse_body(model: type[BodyT], body: bytes) -> BodyT:
    """The body as ``model``; the errors name fields, never their values."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise _invalid_body(_describe(errors)) from None


def _parse_money(amount: str, currency: str) -> Money:
    """A positive major-unit amount in an ISO 4217 currency, with no more decimals than it has."""
    try:
        check_currency(currency)
    except UnknownCurrency:
        raise _invalid_body("currency: not an ISO 4217 currency code") from None
    if not _AMOUNT.fullmatch(amount):
        raise _invalid_body("amount: not a decimal amount in major units, e.g. '1500.00'")
    try:
        money = Money.from_major(amount, currency)
    except InvalidAmount:
        raise _invalid_body(f"amount: more decimals than {currency} has") from None
    if money.amount <= 0:
        raise _invalid_body("amount: must be positive")
    return money


def _check_msisdn(party: Party, role: str, only: str) -> None:
    """Refuse a ``role`` party that is not an MSISDN in MoMo's form; ``only`` says why."""
    if party.party_id_type is not PartyIdType.MSISDN:
        raise _invalid_body(f"{role}.partyIdType: {only}")
    if not _PARTY_ID.fullmatch(party.party_id):
        raise _invalid_body(
            f"{role}.partyId: an MSISDN is 7 to 15 digits with the country code, no '+'"
        )


def parse_transfer(body: bytes, reference_id: str, callback_url: str | None) -> TransferOrder:
    """Validate a transfer body as MoMo does; the amount becomes minor units.

    Raises:
        MomoError: 400 INVALID_PARAMETER naming the field (never its value).
    """
    request = _parse_body(TransferRequest, body)
    money = _parse_money(request.amount, request.currency)
    _check_msisdn(request.payee, "payee", "the sandbox pays MSISDN payees only")
    return TransferOrder(
        reference_id=reference_id,
        external_id=request.external_id,
        amount=money.amount,
        amount_text=request.amount,
        currency=money.currency,
        party_id=request.payee.party_id,
        party_id_type=request.payee.party_id_type,
        payer_message=request.payer_message,
        payee_note=request.payee_note,
        callback_url=callback_url,
    )


def parse_request_to_pay(
    body: bytes, reference_id: str, callback_url: str | None
) -> RequestToPayOrder:
    """Validate a request-to-pay body exactly as a transfer body, the payer for the payee.

    Raises:
        MomoError: 400 INVALID_PARAMETER naming the field (never its value).
    """
    request = _parse_body(RequestToPay, body)
    money = _parse_money(request.amount, request.currency)
    _check_msisdn(request.payer, "payer", "the sandbox collects from MSISDN payers only")
    return RequestToPayOrder(
        reference_id=reference_id,
        external_id=request.external_id,
        amount=money.amount,
        amount_text=request.amount,
        currency=money.currency,
        party_id=request.payer.party_id,
        party_id_type=request.payer.party_id_type,
        payer_message=request.payer_message,
        payee_note=request.payee_note,
        callback_url=callback_url,
    )


def _inline_refs(schema: Any, defs: Mapping[str, Any]) -> Any:
    """``schema`` with its ``$defs`` references replaced by the definitions."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline_refs(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


def _request_body_doc(model: type[TransferRequest | RequestToPay]) -> dict[str, Any]:
    # The body is parsed by hand (a taken reference id wins over any body), so FastAPI
    # cannot document it: describe it here.
    schema = model.model_json_schema(by_alias=True)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_refs(schema, schema["$defs"])}},
        },
        "parameters": [
            {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}
            for name, required in (
                (REFERENCE_HEADER, True),
                (CALLBACK_HEADER, False),
                (TARGET_HEADER, True),
                (API_KEY_HEADER, True),
            )
        ],
    }


@router.post(
    "/disbursement/v1_0/transfer",
    status_code=202,
    response_class=Response,
    summary="Transfer money to a payee",
    openapi_extra=_request_body_doc(TransferRequest),
)
async def transfer(request: Request, state: StateDep) -> Response:
    """Create and execute a transfer once per ``X-Reference-Id``; answer 202, empty."""
    reference_id = parse_reference_id(request.headers.get(REFERENCE_HEADER))
    if state.store.note_repeat(reference_id) is not None:
        raise MomoError(409, ErrorCode.RESOURCE_ALREADY_EXIST, DUPLICATE_MESSAGE)
    callback_url = parse_callback_url(request.headers.get(CALLBACK_HEADER))
    order = parse_transfer(await request.body(), reference_id, callback_url)
    result = state.store.submit(order)
    if not result.created:
        # The same reference id won a race while this body was being read.
        raise MomoError(409, ErrorCode.RESOURCE_ALREADY_EXIST, DUPLICATE_MESSAGE)
    if result.transfer.scenario is MomoScenario.TIMEOUT_AFTER_ACCEPT:
        await hold_for(request, state.config.timeout_after_accept_seconds)
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise MomoError(500, ErrorCode.INTERNAL_PROCESSING_ERROR, "An internal error occurred.")
    return Response(status_code=202)


@router.get(
    "/disbursement/v1_0/transfer/{reference_id}",
    response_model=TransferResult,
    response_model_exclude_none=True,
    summary="Status of a transfer by its X-Reference-Id",
)
async def get_transfer(reference_id: str, state: StateDep) -> TransferResult:
    """The transfer with that reference id, or 404 if MoMo never created it."""
    state.store.advance()
    transfer = state.store.query_status(parse_reference_id(reference_id))
    if transfer is None:
        raise MomoError(404, ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND_MESSAGE)
    return transfer.to_wire()


_REQUEST_TO_PAY_DESCRIPTION = """\
Ask the payer (``payer.partyId``) to approve a payment; answers 202 with an empty body.
The payer has ``request_to_pay_window_seconds`` (MTN's 5 minutes) to answer, else the
request FAILS with reason EXPIRED. A SUCCESSFUL request credits the float with its whole
amount; one callback (the status answer) goes to ``X-Callback-Url``, sent once. There is
no cancel.

Magic payer numbers (last six digits of ``payer.partyId``, any country):

"""


@router.post(
    "/collection/v1_0/requesttopay",
    status_code=202,
    response_class=Response,
    summary="Request a payment from a payer",
    description=_REQUEST_TO_PAY_DESCRIPTION + request_to_pay_markdown_table(),
    openapi_extra=_request_body_doc(RequestToPay),
)
async def request_to_pay(request: Request, state: StateDep) -> Response:
    """Create a request to pay once per ``X-Reference-Id``; answer 202, empty."""
    reference_id = parse_reference_id(request.headers.get(REFERENCE_HEADER))
    if state.store.note_request_repeat(reference_id) is not None:
        raise MomoError(409, ErrorCode.RESOURCE_ALREADY_EXIST, DUPLICATE_MESSAGE)
    callback_url = parse_callback_url(request.headers.get(CALLBACK_HEADER))
    order = parse_request_to_pay(await request.body(), reference_id, callback_url)
    if not state.store.request_to_pay(order).created:
        # The same reference id won a race while this body was being read.
        raise MomoError(409, ErrorCode.RESOURCE_ALREADY_EXIST, DUPLICATE_MESSAGE)
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise MomoError(500, ErrorCode.INTERNAL_PROCESSING_ERROR, "An internal error occurred.")
    return Response(status_code=202)


@router.get(
    "/collection/v1_0/requesttopay/{reference_id}",
    response_model=RequestToPayResult,
    response_model_exclude_none=True,
    summary="Status of a request to pay by its X-Reference-Id",
)
async def get_request_to_pay(reference_id: str, state: StateDep) -> RequestToPayResult:
    """The request to pay with that reference id, or 404 if MoMo never created it."""
    state.store.advance()
    found = state.store.query_request_to_pay(parse_reference_id(reference_id))
    if found is None:
        raise MomoError(404, ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND_MESSAGE)
    return found.to_wire()


@router.get(
    "/disbursement/v1_0/account/balance",
    response_model=Balance,
    summary="The float in one currency",
)
async def get_balance(state: StateDep, currency: str | None = None) -> Balance:
    """The float in ``currency`` as a major-unit string.

    Without ``currency`` the float must hold a single currency, which is then shown.
    """
    state.store.advance()
    balances = state.store.balances()
    if currency is None:
        if len(balances) != 1:
            raise MomoError(400, ErrorCode.INVALID_PARAMETER, "currency: required")
        (currency,) = balances
    try:
        check_currency(currency)
    except UnknownCurrency:
        raise MomoError(
            400, ErrorCode.INVALID_PARAMETER, "currency: not an ISO 4217 currency code"
        ) from None
    available = Money(amount=balances.get(currency, 0), currency=currency).to_major()
    return Balance(available_balance=available, currency=currency)
