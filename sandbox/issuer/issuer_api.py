"""The card issuer API (under ``/issuer``): cardholders and their KYC, cards, transactions.

Every endpoint needs ``Authorization: Bearer <api_key>`` (else 401). Creations need an
``Idempotency-Key`` header (else 400): the same key again answers 200 with the same
record, with another body 409 ``idempotency_key_reused``. Errors are
``{"error": <code>, "message": <why>}``; validation errors (422) name the fields, never
their values (they hold personal data). The full card number and the CVV are in no
answer.

Faults applied: ``latency_ms`` and ``error_rate`` (503 before anything) on every call;
``duplicate_webhooks`` on the card events (each sent twice, same ``webhook-id``). The
others are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    fail_before_call,
    key_matches,
)
from payments_engine.sandbox.issuer.scenarios import markdown_table
from payments_engine.sandbox.issuer.state import StateDep, get_state
from payments_engine.sandbox.issuer.store import NotFound, Refused
from payments_engine.sandbox.issuer.wire import (
    Card,
    Cardholder,
    CardholderRequest,
    CardRequest,
    ErrorCode,
    Notification,
    NotificationRequest,
    Transaction,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

ModelT = TypeVar("ModelT", bound=BaseModel)


class IssuerError(ApiError):
    """An error answer of the issuer, rendered as ``{"error": <code>, "message": <why>}``."""

    def response(self) -> JSONResponse:
        """The JSON answer."""
        return JSONResponse(
            {"error": self.code, "message": self.message},
            status_code=self.status_code,
            headers=self.headers,
        )


def not_found(what: str) -> IssuerError:
    """The 404 of an unknown record."""
    return IssuerError(404, ErrorCode.NOT_FOUND, f"no such {what}")


def refused(exc: Refused, status_code: int = 409) -> IssuerError:
    """The answer to a request the store refused."""
    return IssuerError(status_code, exc.code, exc.message)


def invalid(exc: RequestValidationError) -> ApiError:
    """The 422 of a body FastAPI could not validate."""
    return IssuerError(422, ErrorCode.INVALID_REQUEST, describe_errors(exc.errors()))


def parse_body(model: type[ModelT], content: bytes) -> ModelT:
    """The body as ``model``; the 422's message names fields, never their values."""
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        raise IssuerError(422, ErrorCode.INVALID_REQUEST, describe_errors(errors, skip=0)) from None


async def guard(request: Request) -> None:
    """Authenticate, then apply the latency and error-rate faults."""
    state = get_state(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key_matches(token.strip(), state.config.api_key):
        raise IssuerError(
            401,
            ErrorCode.UNAUTHORIZED,
            "a valid Authorization: Bearer <api key> header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if await fail_before_call(state.store.faults, state.roll):
        raise IssuerError(503, ErrorCode.SERVICE_UNAVAILABLE, "service temporarily unavailable")


router = APIRouter(
    route_class=error_route_class(invalid), dependencies=[Depends(guard)], tags=["issuer"]
)


def _idempotency_key(value: str | None) -> str:
    if value is None or not value.strip() or len(value) > 255:
        raise IssuerError(
            400,
            ErrorCode.IDEMPOTENCY_KEY_REQUIRED,
            f"the {IDEMPOTENCY_HEADER} header is required (1 to 255 characters)",
        )
    return value


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


def _creation_doc(model: type[BaseModel]) -> dict[str, Any]:
    # The body is parsed by hand (a missing key is a 400 before any 422), so FastAPI
    # cannot document it: describe it here.
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(schema, schema.get("$defs", {}))}
            },
        },
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
    }


IdempotencyHeader = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, include_in_schema=False)]

_CARDHOLDER_DESCRIPTION = """\
Create a cardholder and run its KYC check: 201, or 200 with the same cardholder for the
same `Idempotency-Key`. The check is chosen by the last four characters of
`id_document.number`; a review ends with a `cardholder.kyc_updated` webhook.

"""


@router.post(
    "/v1/cardholders",
    response_model=Cardholder,
    status_code=201,
    summary="Create a cardholder (KYC)",
    description=_CARDHOLDER_DESCRIPTION + markdown_table(),
    openapi_extra=_creation_doc(CardholderRequest),
    responses={200: {"description": "the same Idempotency-Key: the same cardholder"}},
)
async def create_cardholder(
    request: Request, response: Response, state: StateDep, key: IdempotencyHeader = None
) -> Cardholder:
    """Create a cardholder once per idempotency key."""
    idempotency_key = _idempotency_key(key)
    body = parse_body(CardholderRequest, await request.body())
    try:
        created = state.store.create_cardholder(idempotency_key, body)
    except Refused as exc:
        raise refused(exc) from None
    response.status_code = 201 if created.created else 200
    return created.record.to_wire()


@router.get(
    "/v1/cardholders/{token}", response_model=Cardholder, summary="A cardholder and its KYC"
)
async def get_cardholder(token: str, state: StateDep) -> Cardholder:
    """The cardholder with its current KYC status."""
    try:
        return state.store.cardholder(token).to_wire()
    except NotFound:
        raise not_found("cardholder") from None


@router.post(
    "/v1/cards",
    response_model=Card,
    status_code=201,
    summary="Issue a card",
    openapi_extra=_creation_doc(CardRequest),
    responses={200: {"description": "the same Idempotency-Key: the same card"}},
)
async def create_card(
    request: Request, response: Response, state: StateDep, key: IdempotencyHeader = None
) -> Card:
    """Issue a card to an APPROVED cardholder once per idempotency key.

    409 ``kyc_not_approved`` while its KYC is pending or rejected; 404 for an unknown
    cardholder.
    """
    idempotency_key = _idempotency_key(key)
    body = parse_body(CardRequest, await request.body())
    try:
        created = state.store.create_card(idempotency_key, body)
    except NotFound:
        raise not_found("cardholder") from None
    except Refused as exc:
        raise refused(exc) from None
    response.status_code = 201 if created.created else 200
    return created.record.to_wire()


@router.get("/v1/cards/{token}", response_model=Card, summary="A card (never its number)")
async def get_card(token: str, state: StateDep) -> Card:
    """The card: its last four digits, expiry and state."""
    try:
        return state.store.card(token).to_wire()
    except NotFound:
        raise not_found("card") from None


@router.post("/v1/cards/{token}/close", response_model=Card, summary="Close a card")
async def close_card(token: str, state: StateDep) -> Card:
    """Close the card for good (idempotent); the network declines its purchases itself."""
    try:
        return state.store.close_card(token).to_wire()
    except NotFound:
        raise not_found("card") from None


@router.get(
    "/v1/transactions/{token}",
    response_model=Transaction,
    summary="The authoritative record of a network event",
)
async def get_transaction(token: str, state: StateDep) -> Transaction:
    """A capture, reversal, refund or expiry, as the network recorded it."""
    try:
        return state.store.transaction(token)
    except NotFound:
        raise not_found("transaction") from None


@router.post(
    "/v1/notifications",
    response_model=Notification,
    status_code=201,
    summary="Record an alert for a cardholder",
    responses={200: {"description": "the same idempotency_key: the same notification"}},
)
async def create_notification(
    body: NotificationRequest, response: Response, state: StateDep
) -> Notification:
    """Record the alert (the platform's alert channel); 200 for a repeated key."""
    created = state.store.record_notification(body)
    response.status_code = 201 if created.created else 200
    return created.record
