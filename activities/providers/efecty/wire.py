"""Wire contract of Efecty (PayU's ``EFECTY`` cash method), as the adapter reads it.

``POST /v4/transactions`` issues a voucher once per ``referenceCode`` (our reference): 201
with the transaction in state ``PENDING`` (pending reason ``AWAITING_NOTIFICATION``) and,
in ``extraParameters``, the numeric payment ``REFERENCE``, the ``BAR_CODE``, the
``EXPIRATION_DATE`` (Unix milliseconds) and the receipt URLs. A repeated
``referenceCode`` answers 409 ``DUPLICATE_REFERENCE_CODE``; a payer the network refuses
422 ``PAYER_BLOCKED``. ``GET /v4/transactions/{referenceCode}`` answers the transaction
now: ``APPROVED`` with ``paymentDate`` (when the payer paid at the shop) and ``fee``,
``EXPIRED``, ``CANCELLED``. ``POST /v4/transactions/{referenceCode}/cancel`` cancels
one not paid yet (409 ``ALREADY_PAID`` otherwise). Amounts are whole pesos (``"120000"``).

The confirmation (:class:`Confirmation`) comes on final states only, with PayU's field
names: ``state_pol`` 4 approved, 5 expired, 6 declined (``response_message_pol``
``CANCELLED_TRANSACTION`` for a cancel), 7 pending; ``reference_sale`` is our reference.
Errors are ``{"code": "ERROR", "error": <code>, "message": ...}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.events import TransferOutcome

PROVIDER_NAME = "efecty"
TRANSACTIONS_PATH = "/v4/transactions"
PAYMENT_METHOD = "EFECTY"
DUPLICATE_CODE = "DUPLICATE_REFERENCE_CODE"
ALREADY_PAID_CODE = "ALREADY_PAID"
CANCELLED_MESSAGE = "CANCELLED_TRANSACTION"


class EfectyState(StrEnum):
    """States of a transaction."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    DECLINED = "DECLINED"

    @property
    def outcome(self) -> TransferOutcome:
        """APPROVED succeeded, PENDING pending, the rest failed."""
        if self is EfectyState.APPROVED:
            return TransferOutcome.SUCCEEDED
        if self is EfectyState.PENDING:
            return TransferOutcome.PENDING
        return TransferOutcome.FAILED

    @property
    def failure_code(self) -> str | None:
        """Our failure code of a failed state; None otherwise."""
        return _FAILURE_CODES.get(self)


_FAILURE_CODES = {
    EfectyState.EXPIRED: "expired",
    EfectyState.CANCELLED: "cancelled",
    EfectyState.DECLINED: "declined",
}

STATE_POL = {
    "4": EfectyState.APPROVED,
    "5": EfectyState.EXPIRED,
    "6": EfectyState.DECLINED,
    "7": EfectyState.PENDING,
}
"""The confirmation's ``state_pol`` codes."""


def from_millis(value: int) -> datetime:
    """An aware UTC time from Unix milliseconds."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Buyer(_Wire):
    """The payer."""

    full_name: str = Field(alias="fullName")
    dni_type: str = Field(alias="dniType")
    dni_number: str = Field(alias="dniNumber")
    email_address: str | None = Field(default=None, alias="emailAddress")


class TransactionRequest(_Wire):
    """Body of ``POST /v4/transactions``."""

    reference_code: str = Field(alias="referenceCode")
    description: str | None = None
    value: str
    currency: str
    payment_method: str = Field(default=PAYMENT_METHOD, alias="paymentMethod")
    payment_country: str = Field(alias="paymentCountry")
    expiration_date: datetime | None = Field(default=None, alias="expirationDate")
    buyer: Buyer
    notify_url: str | None = Field(default=None, alias="notifyUrl")


class ExtraParameters(_Wire):
    """The voucher's codes, expiry and receipt."""

    reference: int | str = Field(alias="REFERENCE")
    bar_code: str | None = Field(default=None, alias="BAR_CODE")
    expiration_date: int = Field(alias="EXPIRATION_DATE")
    url_payment_receipt_html: str | None = Field(default=None, alias="URL_PAYMENT_RECEIPT_HTML")


class TransactionResponse(_Wire):
    """A transaction as the API answers it."""

    order_id: int | None = Field(default=None, alias="orderId")
    transaction_id: str = Field(alias="transactionId", min_length=1)
    reference_code: str = Field(alias="referenceCode", min_length=1, max_length=200)
    state: EfectyState
    value: str
    currency: str
    payment_date: int | None = Field(default=None, alias="paymentDate")
    fee: str | None = None
    extra_parameters: ExtraParameters = Field(alias="extraParameters")


class TransactionAnswer(_Wire):
    """Answer of the create, status and cancel calls."""

    transaction_response: TransactionResponse = Field(alias="transactionResponse")


class ErrorAnswer(_Wire):
    """An error answer."""

    error: str | None = None
    message: str | None = None


class Confirmation(_Wire):
    """The confirmation POSTed on a final state."""

    notification_id: str = Field(min_length=1, max_length=200)
    reference_sale: str = Field(min_length=1, max_length=200)
    transaction_id: str | None = None
    state_pol: Literal["4", "5", "6", "7"]
    response_message_pol: str | None = None
    value: str
    currency: str
    commision_pol: str | None = None
    payment_date: datetime | None = None

    @property
    def state(self) -> EfectyState:
        """The state it announces (6 is a decline, or a cancel by its message)."""
        state = STATE_POL[self.state_pol]
        if state is EfectyState.DECLINED and self.response_message_pol == CANCELLED_MESSAGE:
            return EfectyState.CANCELLED
        return state
