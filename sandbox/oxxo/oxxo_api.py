"""The OXXO API (Stripe's OXXO vouchers): issue a voucher, read it, cancel it.

Every ``/v1`` call needs ``Authorization: Bearer <api_key>`` (else 401). A voucher is
created once per ``Idempotency-Key`` (required): the same key with the same body answers
the same PaymentIntent, with another body 400 ``idempotency_error``; a payer the network
refuses (document ending ``08``) is answered 402 ``payer_blocked``, every time. The
hosted voucher is served without credentials under ``/vouchers``.

Faults applied: ``latency_ms`` and ``error_rate`` (503 before anything) on every call;
``hold_submissions`` and ``error_after_execute_rate`` (issued, then 500) on creates;
``duplicate_webhooks`` (every notification twice). ``out_of_order_webhooks`` is
ignored: only final states are notified.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from payments_engine.domain.money import Money
from payments_engine.sandbox.cash.orders import PayerRefused, check_payer, describe, fingerprint
from payments_engine.sandbox.cash.receipts import receipt_html
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
from payments_engine.sandbox.oxxo.state import StateDep, get_state
from payments_engine.sandbox.oxxo.wire import (
    CURRENCY,
    DEFAULT_EXPIRY_DAYS,
    DOCUMENT_TYPES,
    EXPIRED_CODE,
    EXPIRY_TIME,
    MAX_AMOUNT,
    MAX_EXPIRY_DAYS,
    MIN_AMOUNT,
    MIN_EXPIRY_DAYS,
    PAYMENT_METHOD,
    REFERENCE_KEY,
    TIMEZONE,
    Charge,
    ErrorType,
    IntentStatus,
    NextAction,
    OxxoDisplayDetails,
    PaymentError,
    PaymentIntent,
    PaymentIntentList,
    PaymentIntentRequest,
)

NETWORK = "OXXO"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
_ZONE = ZoneInfo(TIMEZONE)


class OxxoError(ApiError):
    """An error answer: ``{"error": {"type", "code", "message"}}``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        error_type: ErrorType = ErrorType.INVALID_REQUEST,
    ) -> None:
        """Keep the Stripe error type beside the status, code and message."""
        super().__init__(status_code, code, message)
        self.error_type = error_type

    def response(self) -> JSONResponse:
        """The JSON answer."""
        body = {"type": self.error_type.value, "code": self.code, "message": self.message}
        return JSONResponse({"error": body}, status_code=self.status_code)


def _invalid(exc: RequestValidationError) -> ApiError:
    return OxxoError(400, "parameter_invalid", describe(exc.errors()))


async def guard(request: Request) -> None:
    """Authenticate, then apply latency and the error rate."""
    state = get_state(request)
    authorization = request.headers.get("Authorization", "")
    token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
    if not key_matches(token, state.config.api_key):
        raise OxxoError(401, "api_key_invalid", "Invalid API key.", ErrorType.AUTHENTICATION)
    if await fail_before_call(state.store.faults, state.roll):
        raise OxxoError(503, "api_error", "Service temporarily unavailable.", ErrorType.API)


api = APIRouter(route_class=error_route_class(_invalid), dependencies=[Depends(guard)])
vouchers = APIRouter(route_class=error_route_class(_invalid))


def _bad(code: str, message: str) -> OxxoError:
    return OxxoError(400, code, message)


def _expiry(days: int | None, now: datetime) -> datetime:
    """23:59:59 in Mexico City, ``days`` calendar days from today there."""
    days = DEFAULT_EXPIRY_DAYS if days is None else days
    if not MIN_EXPIRY_DAYS <= days <= MAX_EXPIRY_DAYS:
        raise _bad(
            "parameter_invalid_integer",
            f"payment_method_options.oxxo.expires_after_days: {MIN_EXPIRY_DAYS} to "
            f"{MAX_EXPIRY_DAYS}",
        )
    last_day = now.astimezone(_ZONE).date() + timedelta(days=days)
    return datetime.combine(last_day, EXPIRY_TIME, tzinfo=_ZONE)


def parse_order(body: PaymentIntentRequest, key: str, now: datetime) -> VoucherOrder:
    """Validate a PaymentIntent as OXXO does; the amount becomes centavos.

    Raises:
        OxxoError: 400 naming the field (never its value).
    """
    if body.payment_method_types != [PAYMENT_METHOD] or body.payment_method_data.type != (
        PAYMENT_METHOD
    ):
        raise _bad("payment_method_unexpected_state", "payment_method_types: ['oxxo'] only")
    if body.currency.upper() != CURRENCY:
        raise _bad("currency_not_supported", f"currency: {NETWORK} takes {CURRENCY} only")
    if not _AMOUNT.fullmatch(body.amount):
        raise _bad("parameter_invalid", "amount: major units with at most two decimals")
    amount = Money.from_major(body.amount, CURRENCY).amount
    if amount < MIN_AMOUNT:
        raise _bad("amount_too_small", "amount: at least 10.00 MXN")
    if amount > MAX_AMOUNT:
        raise _bad("amount_too_large", "amount: at most 10000.00 MXN")
    reference = body.metadata.get(REFERENCE_KEY)
    if not reference or len(reference) > 80:
        raise _bad("parameter_missing", "metadata.reference: required, at most 80 characters")
    if not body.confirm:
        raise _bad("parameter_invalid", "confirm: OXXO vouchers are confirmed at once")
    document = body.payer_document
    name = body.payment_method_data.billing_details.name
    try:
        payer = check_payer(name, document.type, document.number, DOCUMENT_TYPES)
    except PayerRefused as exc:
        raise _bad("parameter_invalid", f"payer_document: {exc}") from None
    return VoucherOrder(
        key=key,
        reference=reference,
        amount=amount,
        amount_text=Money(amount=amount, currency=CURRENCY).to_major(),
        currency=CURRENCY,
        payer_masked=payer.payer_masked,
        document_type=payer.document_type,
        document_masked=payer.document_masked,
        scenario=payer.scenario,
        requested_expiry=_expiry(body.payment_method_options.oxxo.expires_after_days, now),
        fingerprint=fingerprint(body),
        description=body.description,
    )


def _money(minor: int) -> str:
    return Money(amount=minor, currency=CURRENCY).to_major()


def payment_intent(voucher: VoucherRecord, request: Request) -> PaymentIntent:
    """The API's view of a voucher: the payment is shown once the network confirmed it."""
    assert voucher.voucher_reference is not None
    order = voucher.order
    url = request.url_for("oxxo_hosted_voucher", number=voucher.voucher_reference)
    intent = PaymentIntent(
        id=voucher.network_id,
        amount=order.amount_text,
        currency=order.currency,
        status=IntentStatus.REQUIRES_ACTION,
        created=voucher.created_at,
        description=order.description,
        metadata={REFERENCE_KEY: order.reference},
        next_action=NextAction(
            oxxo_display_details=OxxoDisplayDetails(
                expires_after=voucher.expires_at,
                hosted_voucher_url=str(url),
                number=voucher.voucher_reference,
            )
        ),
    )
    match voucher.status:
        case VoucherState.APPROVED:
            assert voucher.paid_at and voucher.confirmed_at and voucher.fee is not None
            intent.status = IntentStatus.SUCCEEDED
            intent.latest_charge = Charge(
                id="py_" + voucher.network_id.removeprefix("pi_"),
                amount=order.amount_text,
                currency=order.currency,
                paid_at=voucher.paid_at,
                confirmed_at=voucher.confirmed_at,
                fee=_money(voucher.fee),
            )
        case VoucherState.EXPIRED:
            intent.status = IntentStatus.REQUIRES_PAYMENT_METHOD
            intent.last_payment_error = PaymentError(
                code=EXPIRED_CODE, message="The OXXO voucher expired before it was paid."
            )
        case VoucherState.CANCELLED:
            intent.status = IntentStatus.CANCELED
            intent.cancellation_reason = "requested_by_customer"
            intent.canceled_at = voucher.closed_at
    return intent


def _blocked() -> OxxoError:
    return OxxoError(402, "payer_blocked", "The network refuses to issue a voucher to this payer.")


@api.post(
    "/v1/payment_intents",
    response_model=PaymentIntent,
    summary="Issue an OXXO voucher",
    description="Issue a voucher the payer pays in cash at an OXXO shop. Magic values "
    "(last two characters of payer_document.number):\n\n" + markdown_table(),
)
async def create_payment_intent(
    body: PaymentIntentRequest,
    request: Request,
    response: Response,
    state: StateDep,
    idempotency_key: str | None = Header(default=None, alias=IDEMPOTENCY_HEADER),
) -> PaymentIntent:
    """Issue a voucher once per ``Idempotency-Key``; a repeat answers the same one."""
    if not idempotency_key or len(idempotency_key) > 255:
        raise _bad("parameter_missing", f"{IDEMPOTENCY_HEADER}: required, at most 255 characters")
    store = state.store
    store.advance()
    result = store.create(parse_order(body, idempotency_key, store.now()))
    if not result.created and not result.same_request:
        raise OxxoError(
            400,
            "idempotency_key_in_use",
            f"This {IDEMPOTENCY_HEADER} was used with other parameters.",
            ErrorType.IDEMPOTENCY,
        )
    if not result.voucher.issued:
        raise _blocked()
    if not result.created:
        response.headers[REPLAYED_HEADER] = "true"
        return payment_intent(result.voucher, request)
    await hold_while(request, lambda: store.faults.hold_submissions)
    if state.roll(store.faults.error_after_execute_rate):
        raise OxxoError(500, "api_error", "An internal error occurred.", ErrorType.API)
    return payment_intent(result.voucher, request)


@api.get(
    "/v1/payment_intents",
    response_model=PaymentIntentList,
    summary="The vouchers carrying a metadata.reference",
)
async def list_payment_intents(
    reference: str, request: Request, state: StateDep
) -> PaymentIntentList:
    """The vouchers issued with ``metadata.reference``, oldest first (refused ones are
    not issued, so not listed)."""
    store = state.store
    store.advance()
    found = [store.query_status(v.record_id) for v in store.by_reference(reference)]
    return PaymentIntentList(data=[payment_intent(v, request) for v in found if v is not None])


def _not_found() -> OxxoError:
    return OxxoError(404, "resource_missing", "No such payment_intent.")


@api.get(
    "/v1/payment_intents/{intent_id}",
    response_model=PaymentIntent,
    summary="A voucher by its PaymentIntent id",
)
async def get_payment_intent(intent_id: str, request: Request, state: StateDep) -> PaymentIntent:
    """The voucher with that id; 404 if none."""
    state.store.advance()
    voucher = state.store.by_network_id(intent_id)
    if voucher is None:
        raise _not_found()
    return payment_intent(voucher, request)


@api.post(
    "/v1/payment_intents/{intent_id}/cancel",
    response_model=PaymentIntent,
    summary="Cancel a voucher not paid yet",
)
async def cancel_payment_intent(intent_id: str, request: Request, state: StateDep) -> PaymentIntent:
    """``canceled`` (and notified); an expired or cancelled voucher answers as it is;
    409 once the payer paid at the shop, confirmed or not."""
    store = state.store
    store.advance()
    voucher = store.by_network_id(intent_id)
    if voucher is None:
        raise _not_found()
    try:
        voucher = store.cancel(voucher.record_id)
    except VoucherNotFound:
        raise _not_found() from None
    except AlreadyPaid as exc:
        raise OxxoError(409, "payment_intent_unexpected_state", str(exc)) from None
    return payment_intent(voucher, request)


@vouchers.get(
    "/vouchers/{number}",
    name="oxxo_hosted_voucher",
    response_class=HTMLResponse,
    summary="The payer's hosted voucher",
)
async def hosted_voucher(number: str, state: StateDep) -> HTMLResponse:
    """The printable voucher, without credentials (its number is the secret)."""
    state.store.advance()
    voucher = state.store.by_voucher_reference(number)
    if voucher is None:
        raise OxxoError(404, "resource_missing", "No such voucher.")
    return HTMLResponse(receipt_html(voucher, NETWORK, TIMEZONE))


router = APIRouter(tags=["oxxo"])
router.include_router(api)
router.include_router(vouchers)
