"""Wire contract of OXXO (Stripe's OXXO vouchers, Mexico), as the adapter reads it.

``POST /v1/payment_intents`` with ``Idempotency-Key: <our reference>`` issues the voucher:
a PaymentIntent in status ``requires_action`` whose ``next_action.oxxo_display_details``
holds the barcode ``number``, its ``expires_after`` and the ``hosted_voucher_url``. The
same key with the same body answers the same PaymentIntent; with another body 400
``idempotency_error`` (the adapter then reads the voucher). A payer the network refuses
is a 402 ``payer_blocked``. ``GET /v1/payment_intents?reference=<ours>`` lists the
vouchers carrying our reference in ``metadata.reference``; ``POST
/v1/payment_intents/{id}/cancel`` cancels one not paid yet (409 otherwise).

A paid voucher is ``succeeded``, with ``latest_charge.paid_at`` (when the payer paid at
the shop) and ``latest_charge.fee``; an expired one ``requires_payment_method`` with
``last_payment_error.code`` ``payment_intent_payment_attempt_expired``; a cancelled one
``canceled``. Amounts are major-unit strings (``"1500.00"``), times ISO 8601.

Its notification carries no details: an event id and ``data.reference`` (ours); the
engine reads the voucher. Errors are ``{"error": {"type", "code", "message"}}``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.events import TransferOutcome

PROVIDER_NAME = "oxxo"
PAYMENT_INTENTS_PATH = "/v1/payment_intents"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAYMENT_METHOD = "oxxo"
REFERENCE_KEY = "reference"
EXPIRED_CODE = "payment_intent_payment_attempt_expired"
IDEMPOTENCY_ERROR = "idempotency_error"


class IntentStatus(StrEnum):
    """Statuses of a PaymentIntent with an OXXO voucher."""

    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    CANCELED = "canceled"

    @property
    def outcome(self) -> TransferOutcome:
        """succeeded succeeded; requires_action and processing pending; the rest failed."""
        if self is IntentStatus.SUCCEEDED:
            return TransferOutcome.SUCCEEDED
        if self in (IntentStatus.REQUIRES_ACTION, IntentStatus.PROCESSING):
            return TransferOutcome.PENDING
        return TransferOutcome.FAILED


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class BillingDetails(_Wire):
    """The payer's name and e-mail."""

    name: str
    email: str | None = None


class PaymentMethodData(_Wire):
    """The ``oxxo`` payment method with the payer's details."""

    type: str = PAYMENT_METHOD
    billing_details: BillingDetails


class OxxoOptions(_Wire):
    """The voucher's life in calendar days."""

    expires_after_days: int | None = None


class PaymentMethodOptions(_Wire):
    """Options of the ``oxxo`` method."""

    oxxo: OxxoOptions


class PayerDocument(_Wire):
    """The payer's identity document."""

    type: str
    number: str


class PaymentIntentRequest(_Wire):
    """Body of ``POST /v1/payment_intents``."""

    amount: str
    currency: str
    payment_method_types: list[str] = Field(default_factory=lambda: [PAYMENT_METHOD])
    payment_method_data: PaymentMethodData
    payment_method_options: PaymentMethodOptions | None = None
    payer_document: PayerDocument
    metadata: dict[str, str]
    description: str | None = None
    confirm: bool = True


class OxxoDisplayDetails(_Wire):
    """The voucher the payer takes to the shop."""

    expires_after: datetime
    hosted_voucher_url: str | None = None
    number: str = Field(min_length=1)


class NextAction(_Wire):
    """The voucher to display."""

    oxxo_display_details: OxxoDisplayDetails


class Charge(_Wire):
    """The confirmed payment."""

    id: str | None = None
    paid_at: datetime | None = None
    fee: str | None = None


class PaymentError(_Wire):
    """Why it can no longer be paid on time."""

    code: str | None = None


class PaymentIntent(_Wire):
    """A PaymentIntent with an OXXO voucher."""

    id: str = Field(min_length=1)
    amount: str
    currency: str
    status: IntentStatus
    metadata: dict[str, str]
    next_action: NextAction
    latest_charge: Charge | None = None
    last_payment_error: PaymentError | None = None
    cancellation_reason: str | None = None

    @property
    def reference(self) -> str:
        """Our reference, from ``metadata.reference``."""
        return self.metadata.get(REFERENCE_KEY, "")

    @property
    def failure_code(self) -> str | None:
        """Our failure code of a failed voucher; None otherwise."""
        if self.status is IntentStatus.CANCELED:
            return "cancelled"
        if self.status is IntentStatus.REQUIRES_PAYMENT_METHOD:
            error = self.last_payment_error
            return "expired" if error is not None and error.code == EXPIRED_CODE else "declined"
        return None


class PaymentIntentList(_Wire):
    """Answer of the search by reference, oldest first."""

    data: list[PaymentIntent]


class ErrorDetail(_Wire):
    """What went wrong."""

    type: str | None = None
    code: str | None = None


class ErrorAnswer(_Wire):
    """An error answer."""

    error: ErrorDetail


class EventData(_Wire):
    """Whose voucher changed."""

    reference: str = Field(min_length=1, max_length=200)


class Event(_Wire):
    """The notification: only that something changed."""

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    data: EventData
