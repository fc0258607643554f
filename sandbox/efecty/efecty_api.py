"""The Efecty API (PayU's ``EFECTY`` cash method): issue a voucher, read it, cancel it.

Every ``/v4`` call needs ``Authorization: Bearer <api_key>`` (else 401). The
``referenceCode`` is the merchant's idempotency key: the first request with it issues the
voucher (201), any later one answers 409 ``DUPLICATE_REFERENCE_CODE`` and changes
nothing (ask ``GET /v4/transactions/{referenceCode}`` for it); a payer the network
refuses (document ending ``08``) is answered 422 ``PAYER_BLOCKED``, every time. The
printable voucher is served without credentials under ``/receipts``.

Faults applied: ``latency_ms`` and ``error_rate`` (503 before anything) on every call;
``hold_submissions`` and ``error_after_execute_rate`` (issued, then 500) on creates;
``duplicate_webhooks`` (every notification twice). ``out_of_order_webhooks`` is
ignored: only final states are notified.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from payments_engine.domain.money import Money
from payments_engine.sandbox.cash.orders import PayerRefused, check_payer, describe, fingerprint
from payments_engine.sandbox.cash.receipts import receipt_html, receipt_pdf
from payments_engine.sandbox.cash.records import VoucherOrder, VoucherRecord, VoucherState
from payments_engine.sandbox.cash.scenarios import markdown_table
from payments_engine.sandbox.cash.store import AlreadyPaid, VoucherNotFound
from payments_engine.sandbox.common.http import (
    ApiError,
    error_route_class,
    fail_before_call,
    hold_while,
    key_matches,
)
from payments_engine.sandbox.efecty.state import StateDep, get_state
from payments_engine.sandbox.efecty.wire import (
    COUNTRY,
    CURRENCY,
    DEFAULT_EXPIRY_DAYS,
    DOCUMENT_TYPES,
    MAX_EXPIRY_DAYS,
    MAX_PESOS,
    MIN_PESOS,
    PAYMENT_METHOD,
    PENDING_REASON,
    TIMEZONE,
    ErrorCode,
    ExtraParameters,
    TransactionAnswer,
    TransactionRequest,
    TransactionResponse,
    TransactionState,
)

NETWORK = "Efecty"
CLOCK_SKEW = timedelta(seconds=60)
"""How far past the longest expiry a requested date may be: the client's clock may differ."""

_PESOS = re.compile(r"[0-9]{1,12}")
_ZONE = ZoneInfo(TIMEZONE)


class EfectyError(ApiError):
    """An error answer: ``{"code": "ERROR", "error": <code>, "message": ...}``."""

    def response(self) -> JSONResponse:
        """The JSON answer."""
        return JSONResponse(
            {"code": "ERROR", "error": self.code, "message": self.message},
            status_code=self.status_code,
            headers=self.headers,
        )


def _invalid(exc: RequestValidationError) -> ApiError:
    return EfectyError(400, ErrorCode.INVALID_REQUEST, describe(exc.errors()))


async def guard(request: Request) -> None:
    """Authenticate, then apply latency and the error rate."""
    state = get_state(request)
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
    if not key_matches(token, state.config.api_key):
        raise EfectyError(401, ErrorCode.UNAUTHORIZED, "Invalid or missing API key.")
    if await fail_before_call(state.store.faults, state.roll):
        raise EfectyError(503, ErrorCode.SERVICE_UNAVAILABLE, "Service temporarily unavailable.")


api = APIRouter(route_class=error_route_class(_invalid), dependencies=[Depends(guard)])
receipts = APIRouter(route_class=error_route_class(_invalid))


def _bad(code: ErrorCode, message: str) -> EfectyError:
    return EfectyError(400, code, message)


def _expiry(requested: datetime | None, now: datetime) -> datetime:
    """The voucher's expiry: the requested one (naive is Bogota's time), else 7 days."""
    if requested is None:
        return now + timedelta(days=DEFAULT_EXPIRY_DAYS)
    if requested.tzinfo is None:
        requested = requested.replace(tzinfo=_ZONE)
    if requested <= now:
        raise _bad(ErrorCode.INVALID_EXPIRATION_DATE, "expirationDate: must be in the future")
    if requested > now + timedelta(days=MAX_EXPIRY_DAYS) + CLOCK_SKEW:
        raise _bad(
            ErrorCode.INVALID_EXPIRATION_DATE,
            f"expirationDate: at most {MAX_EXPIRY_DAYS} days from now",
        )
    return requested


def _notify_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise _bad(ErrorCode.INVALID_REQUEST, "notifyUrl: not an http(s) URL")
    return value


def parse_order(body: TransactionRequest, now: datetime) -> VoucherOrder:
    """Validate a transaction as Efecty does; the amount becomes centavos.

    Raises:
        EfectyError: 400 naming the field (never its value).
    """
    if body.payment_method != PAYMENT_METHOD:
        raise _bad(ErrorCode.INVALID_PAYMENT_METHOD, f"paymentMethod: {PAYMENT_METHOD} only")
    if body.payment_country != COUNTRY:
        raise _bad(ErrorCode.INVALID_COUNTRY, f"paymentCountry: {NETWORK} serves {COUNTRY} only")
    if body.currency != CURRENCY:
        raise _bad(ErrorCode.INVALID_CURRENCY, f"currency: {NETWORK} takes {CURRENCY} only")
    if not _PESOS.fullmatch(body.value):
        raise _bad(ErrorCode.INVALID_VALUE, "value: whole pesos, digits only (no centavos)")
    whole = int(body.value)
    if not MIN_PESOS <= whole <= MAX_PESOS:
        raise _bad(
            ErrorCode.INVALID_VALUE, f"value: from {MIN_PESOS} to {MAX_PESOS} pesos per voucher"
        )
    buyer = body.buyer
    try:
        payer = check_payer(buyer.full_name, buyer.dni_type, buyer.dni_number, DOCUMENT_TYPES)
    except PayerRefused as exc:
        raise _bad(ErrorCode.INVALID_BUYER, f"buyer: {exc}") from None
    return VoucherOrder(
        key=body.reference_code,
        reference=body.reference_code,
        amount=whole * 100,
        amount_text=str(whole),
        currency=CURRENCY,
        payer_masked=payer.payer_masked,
        document_type=payer.document_type,
        document_masked=payer.document_masked,
        scenario=payer.scenario,
        requested_expiry=_expiry(body.expiration_date, now),
        fingerprint=fingerprint(body),
        description=body.description,
        notify_url=_notify_url(body.notify_url),
    )


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _pesos(minor: int) -> str:
    return str(Money(amount=minor, currency=CURRENCY).amount // 100)


def transaction_answer(voucher: VoucherRecord, request: Request) -> TransactionAnswer:
    """The API's view of a voucher: the payment is shown once the network confirmed it."""
    assert voucher.voucher_reference is not None and voucher.barcode is not None
    state = TransactionState(voucher.status.value)
    approved = voucher.status is VoucherState.APPROVED
    reference = voucher.voucher_reference
    html_url = request.url_for("efecty_receipt_html", voucher_reference=reference)
    pdf_url = request.url_for("efecty_receipt_pdf", voucher_reference=reference)
    return TransactionAnswer(
        transaction_response=TransactionResponse(
            order_id=voucher.order_number,
            transaction_id=voucher.network_id,
            reference_code=voucher.order.key,
            state=state,
            pending_reason=PENDING_REASON if state is TransactionState.PENDING else None,
            response_code=state.response_code,
            value=voucher.order.amount_text,
            currency=voucher.order.currency,
            operation_date=_ms(voucher.created_at),
            payment_date=_ms(voucher.paid_at) if approved and voucher.paid_at else None,
            confirmation_date=_ms(voucher.confirmed_at) if voucher.confirmed_at else None,
            fee=_pesos(voucher.fee) if approved and voucher.fee is not None else None,
            extra_parameters=ExtraParameters(
                reference=int(reference),
                bar_code=voucher.barcode,
                expiration_date=_ms(voucher.expires_at),
                url_payment_receipt_html=str(html_url),
                url_payment_receipt_pdf=str(pdf_url),
            ),
        )
    )


def _blocked() -> EfectyError:
    return EfectyError(
        422, ErrorCode.PAYER_BLOCKED, "The network refuses to issue a voucher to this payer."
    )


@api.post(
    "/v4/transactions",
    status_code=201,
    response_model=TransactionAnswer,
    summary="Issue a cash voucher",
    description="Issue a voucher the payer pays in cash at an Efecty point. Magic values "
    "(last two digits of the buyer's dniNumber):\n\n" + markdown_table(),
)
async def create_transaction(
    body: TransactionRequest, request: Request, state: StateDep
) -> TransactionAnswer:
    """Issue a voucher once per ``referenceCode``; answer it 201, PENDING."""
    store = state.store
    store.advance()
    # A taken referenceCode wins over any body.
    existing = store.repeat(body.reference_code)
    if existing is not None:
        if not existing.issued:
            raise _blocked()
        raise EfectyError(
            409,
            ErrorCode.DUPLICATE_REFERENCE_CODE,
            "A transaction with this referenceCode exists; query it instead.",
        )
    result = store.create(parse_order(body, store.now()))
    if not result.voucher.issued:
        raise _blocked()
    await hold_while(request, lambda: store.faults.hold_submissions)
    if state.roll(store.faults.error_after_execute_rate):
        raise EfectyError(500, ErrorCode.INTERNAL_ERROR, "An internal error occurred.")
    return transaction_answer(result.voucher, request)


def _not_found() -> EfectyError:
    return EfectyError(404, ErrorCode.NOT_FOUND, "No transaction with this referenceCode.")


@api.get(
    "/v4/transactions/{reference_code}",
    response_model=TransactionAnswer,
    summary="A voucher by the merchant's referenceCode",
)
async def get_transaction(
    reference_code: str, request: Request, state: StateDep
) -> TransactionAnswer:
    """The voucher issued under ``referenceCode``; 404 if none was (or it was refused)."""
    state.store.advance()
    voucher = state.store.issued(reference_code)
    if voucher is None:
        raise _not_found()
    return transaction_answer(voucher, request)


@api.post(
    "/v4/transactions/{reference_code}/cancel",
    response_model=TransactionAnswer,
    summary="Cancel a voucher not paid yet",
)
async def cancel_transaction(
    reference_code: str, request: Request, state: StateDep
) -> TransactionAnswer:
    """CANCELLED (and notified); an expired or cancelled voucher answers as it is; 409
    ``ALREADY_PAID`` once the payer paid at the shop, confirmed or not."""
    try:
        voucher = state.store.cancel(reference_code)
    except VoucherNotFound:
        raise _not_found() from None
    except AlreadyPaid as exc:
        raise EfectyError(409, ErrorCode.ALREADY_PAID, str(exc)) from None
    return transaction_answer(voucher, request)


def _receipt_voucher(voucher_reference: str, state: StateDep) -> VoucherRecord:
    state.store.advance()
    voucher = state.store.by_voucher_reference(voucher_reference)
    if voucher is None:
        raise EfectyError(404, ErrorCode.NOT_FOUND, "No voucher with this reference.")
    return voucher


@receipts.get(
    "/receipts/{voucher_reference}.html",
    name="efecty_receipt_html",
    response_class=HTMLResponse,
    summary="The payer's voucher as a web page",
)
async def receipt_page(voucher_reference: str, state: StateDep) -> HTMLResponse:
    """The printable voucher, without credentials (its reference is the secret)."""
    voucher = _receipt_voucher(voucher_reference, state)
    return HTMLResponse(receipt_html(voucher, NETWORK, TIMEZONE))


@receipts.get(
    "/receipts/{voucher_reference}.pdf",
    name="efecty_receipt_pdf",
    response_class=Response,
    summary="The payer's voucher as a PDF",
)
async def receipt_document(voucher_reference: str, state: StateDep) -> Response:
    """The printable voucher as a one-page PDF."""
    voucher = _receipt_voucher(voucher_reference, state)
    return Response(receipt_pdf(voucher, NETWORK, TIMEZONE), media_type="application/pdf")


router = APIRouter(tags=["efecty"])
router.include_router(api)
router.include_router(receipts)
