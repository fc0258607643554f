"""The bank's API (an ACH/PSE-like originator): send a transfer, ask where it stands.

Every endpoint needs ``Authorization: Bearer <api_key>`` (else 401). A transfer is
identified by the client's ``external_id``, its idempotency key: the first request
creates it (201); the same ``external_id`` with the same body answers the same transfer
(200), with another body 409 ``idempotency_conflict``. Errors are ``{"code",
"message"}``; validation errors (422 ``invalid_request``) name the fields, never their
values (they hold personal data). A business refusal is a 400 and creates nothing.

Faults applied: ``latency_ms`` and ``error_rate`` (503 before anything) on every call;
``hold_submissions`` and ``error_after_execute_rate`` (accepted, then 500) on
submissions; ``duplicate_webhooks`` sends each event twice. ``out_of_order_webhooks``
is ignored: the bank only announces final statuses.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.money import Money, currency_exponent
from payments_engine.sandbox.bank.records import TransferOrder
from payments_engine.sandbox.bank.scenarios import markdown_table
from payments_engine.sandbox.bank.state import StateDep, get_state
from payments_engine.sandbox.bank.store import SubmitOutcome, SubmitRefused
from payments_engine.sandbox.bank.wire import (
    NOT_FOUND_MESSAGE,
    DocumentType,
    ErrorBody,
    ErrorCode,
    Transfer,
    TransferRequest,
)
from payments_engine.sandbox.common.http import (
    ApiError,
    describe_errors,
    error_route_class,
    fail_before_call,
    hold_while,
    key_matches,
)

_bearer = HTTPBearer(auto_error=False, description="The bank simulator's api_key.")

COUNTRY_OF_CURRENCY = {"COP": "CO", "MXN": "MX"}
"""The bank pays each currency into accounts of one country."""

DOCUMENTS_BY_COUNTRY: dict[str, tuple[DocumentType, ...]] = {
    "CO": (DocumentType.CC, DocumentType.CE, DocumentType.NIT, DocumentType.PP),
    "MX": (DocumentType.CURP, DocumentType.RFC, DocumentType.PP),
}

_DOCUMENT_PATTERNS: dict[DocumentType, re.Pattern[str]] = {
    DocumentType.CC: re.compile(r"[0-9]{5,10}"),
    DocumentType.CE: re.compile(r"[A-Z0-9]{5,12}"),
    DocumentType.NIT: re.compile(r"[0-9]{9,10}(-[0-9])?"),
    DocumentType.PP: re.compile(r"[A-Z0-9]{5,20}"),
    DocumentType.CURP: re.compile(r"[A-Z]{4}[0-9]{6}[HMX][A-Z]{5}[A-Z0-9][0-9]"),
    DocumentType.RFC: re.compile(r"[A-Z&]{3,4}[0-9]{6}[A-Z0-9]{3}"),
}
_BANK_CODE = re.compile(r"[0-9]{3,5}")
_ACCOUNT_NUMBER = re.compile(r"[0-9]{6,20}")

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "invalid_account or insufficient_funds: refused, nothing created"),
        (401, "unauthorized"),
        (409, "idempotency_conflict: the external_id came with another body"),
        (422, "invalid_request"),
        (503, "service_unavailable (an injected fault)"),
    )
}


class BankError(ApiError):
    """An error answer of the bank, rendered as ``{"code", "message"}``."""


def _invalid(exc: RequestValidationError) -> ApiError:
    # describe_errors leaves the input out: bodies carry account and document numbers.
    return BankError(422, ErrorCode.INVALID_REQUEST, describe_errors(exc.errors()))


def _invalid_field(message: str) -> BankError:
    return BankError(422, ErrorCode.INVALID_REQUEST, message)


async def guard(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Authenticate, then apply the latency and error-rate faults, before any work."""
    state = get_state(request)
    token = credentials.credentials if credentials is not None else None
    if not key_matches(token, state.config.api_key):
        raise BankError(
            401,
            ErrorCode.UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if await fail_before_call(state.store.faults, state.roll):
        raise BankError(503, ErrorCode.SERVICE_UNAVAILABLE, "service temporarily unavailable")


router = APIRouter(
    route_class=error_route_class(_invalid), dependencies=[Depends(guard)], tags=["bank"]
)


def _parse_money(amount: str, currency: str) -> Money:
    """A positive amount with exactly the currency's decimals, in COP or MXN."""
    if currency not in COUNTRY_OF_CURRENCY:
        raise _invalid_field(
            f"currency: the bank pays {' and '.join(COUNTRY_OF_CURRENCY)} transfers only"
        )
    exponent = currency_exponent(currency)
    shape = rf"[0-9]+\.[0-9]{{{exponent}}}" if exponent else r"[0-9]+"
    if not re.fullmatch(shape, amount):
        example = "150000." + "0" * exponent if exponent else "150000"
        raise _invalid_field(
            f"amount: {currency} amounts have exactly {exponent} decimal(s), e.g. {example!r}"
        )
    try:
        money = Money.from_major(amount, currency)
    except InvalidAmount:
        raise _invalid_field("amount: too large") from None
    if money.amount <= 0:
        raise _invalid_field("amount: must be positive")
    return money


def parse_transfer(request: TransferRequest) -> TransferOrder:
    """Validate a transfer as the bank does; the amount becomes minor units.

    Raises:
        BankError: 422 ``invalid_request`` naming the field (never its value).
    """
    money = _parse_money(request.amount, request.currency)
    beneficiary = request.beneficiary
    country = beneficiary.country
    if country != COUNTRY_OF_CURRENCY[money.currency]:
        raise _invalid_field(
            f"beneficiary.country: {money.currency} transfers pay accounts in"
            f" {COUNTRY_OF_CURRENCY[money.currency]}"
        )
    if not _BANK_CODE.fullmatch(beneficiary.bank_code):
        raise _invalid_field("beneficiary.bank_code: 3 to 5 digits")
    if not _ACCOUNT_NUMBER.fullmatch(beneficiary.account_number):
        raise _invalid_field("beneficiary.account_number: 6 to 20 digits")
    document_type = beneficiary.document_type
    if document_type not in DOCUMENTS_BY_COUNTRY[country]:
        allowed = ", ".join(DOCUMENTS_BY_COUNTRY[country])
        raise _invalid_field(f"beneficiary.document_type: one of {allowed} in {country}")
    if not _DOCUMENT_PATTERNS[document_type].fullmatch(beneficiary.document_number):
        raise _invalid_field(
            f"beneficiary.document_number: not a valid {document_type.value} number"
        )
    holder_name = " ".join(beneficiary.holder_name.split())
    if len(holder_name) < 2:
        raise _invalid_field("beneficiary.holder_name: the holder's name is needed")
    return TransferOrder(
        external_id=request.external_id,
        amount=money.amount,
        amount_text=request.amount,
        currency=money.currency,
        bank_code=beneficiary.bank_code,
        account_type=beneficiary.account_type,
        account_number=beneficiary.account_number,
        document_type=document_type,
        document_number=beneficiary.document_number,
        holder_name=holder_name,
        country=country,
        description=request.description,
    )


_SUBMIT_DESCRIPTION = f"""\
Send a bank transfer to the beneficiary's account, once per `external_id` (the
idempotency key): the same `external_id` with the same body answers the same transfer
(200), with another body it is a 409 `idempotency_conflict`. A new transfer answers 201
`ACCEPTED`; it is `SETTLED` or `RETURNED` after `settlement_delay_seconds` (a day by
default), announced by a signed `transfer.settled` / `transfer.returned` webhook.

Magic account numbers (last two digits of `beneficiary.account_number`):

{markdown_table()}
"""


@router.post(
    "/v1/transfers",
    response_model=Transfer,
    status_code=201,
    summary="Send a bank transfer",
    description=_SUBMIT_DESCRIPTION,
    responses={200: {"model": Transfer, "description": "a repeat: the same transfer"}, **_ERRORS},
)
async def submit_transfer(
    request: Request, response: Response, payload: TransferRequest, state: StateDep
) -> Transfer:
    """Accept a transfer once per ``external_id``; a repeat answers the first one."""
    order = parse_transfer(payload)
    # A pending transfer may be due: a repeat answers it as it is now.
    state.store.advance()
    try:
        result = state.store.submit(order)
    except SubmitRefused as exc:
        raise BankError(exc.http_status, exc.code, exc.message) from None
    if result.outcome is SubmitOutcome.REPEATED:
        response.status_code = 200
    await hold_while(request, lambda: state.store.faults.hold_submissions)
    if state.roll(state.store.faults.error_after_execute_rate):
        raise BankError(500, ErrorCode.INTERNAL_ERROR, "internal error")
    return result.transfer.to_wire()


@router.get(
    "/v1/transfers/{external_id}",
    response_model=Transfer,
    summary="Status of a transfer by our external_id",
    responses={404: {"model": ErrorBody, "description": "not_found"}},
)
async def get_transfer(external_id: str, state: StateDep) -> Transfer:
    """The transfer with that ``external_id``, or 404 if the bank holds none."""
    state.store.advance()
    transfer = state.store.query_status(external_id)
    if transfer is None:
        raise BankError(404, ErrorCode.NOT_FOUND, NOT_FOUND_MESSAGE)
    return transfer.to_wire()
