"""Efecty's JSON shapes, after PayU's ``EFECTY`` cash method (Colombia).

The sandbox keeps its own models: the engine's adapter brings its own, so a field one side
gets wrong fails a test instead of passing on both sides.

``POST /v4/transactions`` takes :class:`TransactionRequest` and answers 201 with a
:class:`TransactionAnswer`: state ``PENDING``, pending reason ``AWAITING_NOTIFICATION``
and, in ``extraParameters``, the numeric payment ``REFERENCE`` the payer quotes, the
``BAR_CODE``, the ``EXPIRATION_DATE`` (Unix milliseconds) and the receipt URLs. The
``referenceCode`` is the merchant's idempotency key: a second request with it answers 409
``DUPLICATE_REFERENCE_CODE``. ``GET /v4/transactions/{referenceCode}`` answers the same
shape with the state now (``paymentDate`` once the payment at the shop is confirmed);
``POST /v4/transactions/{referenceCode}/cancel`` cancels a voucher not paid yet (409
``ALREADY_PAID`` otherwise).

Amounts are whole pesos (``"120000"``): no centavos. Times in answers are Unix
milliseconds, as PayU writes them. The confirmation (:class:`Confirmation`) is POSTed to
the merchant on final states only, with PayU's field names (``state_pol`` 4 approved,
5 expired, 6 declined or cancelled) and times in Bogota's local time with their offset.
Errors are ``{"code": "ERROR", "error": <code>, "message": ...}``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "efecty"
PAYMENT_METHOD = "EFECTY"
COUNTRY = "CO"
CURRENCY = "COP"
TIMEZONE = "America/Bogota"
MIN_PESOS = 20_000
MAX_PESOS = 6_000_000
DEFAULT_EXPIRY_DAYS = 7
MAX_EXPIRY_DAYS = 7
DOCUMENT_TYPES = ("CC", "CE", "NIT", "PP")
PENDING_REASON = "AWAITING_NOTIFICATION"


class TransactionState(StrEnum):
    """The state of a transaction (a voucher) as the API shows it."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @property
    def response_code(self) -> str:
        """PayU's ``responseCode`` of the state."""
        return _RESPONSE_CODES[self]


_RESPONSE_CODES = {
    TransactionState.PENDING: "PENDING_TRANSACTION_CONFIRMATION",
    TransactionState.APPROVED: "APPROVED",
    TransactionState.EXPIRED: "EXPIRED_TRANSACTION",
    TransactionState.CANCELLED: "CANCELLED_TRANSACTION",
}

STATE_POL = {
    TransactionState.APPROVED: ("4", "1", "APPROVED"),
    TransactionState.EXPIRED: ("5", "20", "EXPIRED_TRANSACTION"),
    TransactionState.CANCELLED: ("6", "5", "CANCELLED_TRANSACTION"),
}
"""A final state as the confirmation writes it: (state_pol, response_code_pol,
response_message_pol)."""


class ErrorCode(StrEnum):
    """Codes of the error answers."""

    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_VALUE = "INVALID_VALUE"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    INVALID_COUNTRY = "INVALID_COUNTRY"
    INVALID_PAYMENT_METHOD = "INVALID_PAYMENT_METHOD"
    INVALID_EXPIRATION_DATE = "INVALID_EXPIRATION_DATE"
    INVALID_BUYER = "INVALID_BUYER"
    DUPLICATE_REFERENCE_CODE = "DUPLICATE_REFERENCE_CODE"
    PAYER_BLOCKED = "PAYER_BLOCKED"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_PAID = "ALREADY_PAID"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def to_json(self) -> bytes:
        """The exact bytes the sandbox sends, by alias."""
        return self.model_dump_json(by_alias=True).encode("utf-8")


class Buyer(_Wire):
    """The payer: name and identity document."""

    full_name: str = Field(alias="fullName", min_length=2, max_length=150)
    dni_type: str = Field(alias="dniType", min_length=1, max_length=8)
    dni_number: str = Field(alias="dniNumber", min_length=1, max_length=32)
    email_address: str | None = Field(default=None, alias="emailAddress", max_length=254)


class TransactionRequest(_Wire):
    """Body of ``POST /v4/transactions``.

    ``expirationDate`` is optional (default 7 days); without an offset it is Bogota's
    local time. A later date than 7 days from now is refused.
    """

    reference_code: str = Field(alias="referenceCode", min_length=1, max_length=80)
    description: str | None = Field(default=None, max_length=255)
    value: str = Field(description="Whole pesos, e.g. 120000", min_length=1, max_length=20)
    currency: str = Field(min_length=3, max_length=3)
    payment_method: str = Field(default=PAYMENT_METHOD, alias="paymentMethod")
    payment_country: str = Field(default=COUNTRY, alias="paymentCountry")
    expiration_date: datetime | None = Field(default=None, alias="expirationDate")
    buyer: Buyer
    notify_url: str | None = Field(default=None, alias="notifyUrl", max_length=500)


class ExtraParameters(_Wire):
    """What the payer needs: the payment reference, the barcode, the expiry, the receipts."""

    reference: int = Field(alias="REFERENCE")
    bar_code: str = Field(alias="BAR_CODE")
    expiration_date: int = Field(alias="EXPIRATION_DATE", description="Unix milliseconds")
    url_payment_receipt_html: str = Field(alias="URL_PAYMENT_RECEIPT_HTML")
    url_payment_receipt_pdf: str = Field(alias="URL_PAYMENT_RECEIPT_PDF")


class TransactionResponse(_Wire):
    """A transaction as the API shows it.

    ``paymentDate`` (when the payer paid at the shop) and ``fee`` appear once APPROVED.
    """

    order_id: int = Field(alias="orderId")
    transaction_id: str = Field(alias="transactionId")
    reference_code: str = Field(alias="referenceCode")
    state: TransactionState
    pending_reason: str | None = Field(default=None, alias="pendingReason")
    response_code: str = Field(alias="responseCode")
    value: str
    currency: str
    operation_date: int = Field(alias="operationDate")
    payment_date: int | None = Field(default=None, alias="paymentDate")
    confirmation_date: int | None = Field(default=None, alias="confirmationDate")
    fee: str | None = None
    extra_parameters: ExtraParameters = Field(alias="extraParameters")


class TransactionAnswer(_Wire):
    """Answer of the create, status and cancel calls."""

    code: str = "SUCCESS"
    error: str | None = None
    transaction_response: TransactionResponse = Field(alias="transactionResponse")


class Confirmation(_Wire):
    """The notification POSTed to the merchant on a final state (PayU's field names).

    The body is the same at every attempt; ``notification_id`` identifies the event (a
    duplicate repeats it). Amounts are whole pesos; ``commision_pol`` is the fee (once
    approved); times are Bogota's local time with their offset.
    """

    notification_id: str
    merchant_id: str
    reference_sale: str
    reference_pol: str
    transaction_id: str
    state_pol: str
    response_code_pol: str
    response_message_pol: str
    payment_method_name: str = PAYMENT_METHOD
    value: str
    currency: str
    commision_pol: str | None = None
    payment_reference: str
    transaction_date: str
    payment_date: str | None = None
    expiration_date: str
