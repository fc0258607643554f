"""OXXO's JSON shapes, after Stripe's OXXO vouchers (PaymentIntents with ``oxxo``).

The sandbox keeps its own models: the engine's adapter brings its own.

``POST /v1/payment_intents`` (with an ``Idempotency-Key``) takes
:class:`PaymentIntentRequest` and answers a :class:`PaymentIntent` in status
``requires_action`` whose ``next_action.oxxo_display_details`` holds the voucher: the
barcode ``number`` the till scans, its ``expires_after`` (23:59:59 in Mexico City on the
last day) and the ``hosted_voucher_url``. The same key with the same body answers the
same PaymentIntent (``Idempotent-Replayed: true``); with another body, 400
``idempotency_error``. ``GET /v1/payment_intents/{id}``, ``GET
/v1/payment_intents?reference=...`` (by ``metadata.reference``) and ``POST
/v1/payment_intents/{id}/cancel`` work as Stripe's, the cancel of a paid voucher being a
409.

Unlike Stripe: amounts are major-unit strings with two decimals (``"1500.00"``), the
currency is upper case, times are ISO 8601, and the payer's identity document travels as
``payer_document``. A paid voucher is ``succeeded`` with ``latest_charge.paid_at`` (when
the payer paid at the shop) and ``latest_charge.fee``; an expired one
``requires_payment_method`` with ``last_payment_error.code``
``payment_intent_payment_attempt_expired``; a cancelled one ``canceled``. A late payment
makes either ``succeeded``.

The notification (:class:`Event`) says only that something changed: its id, its type
and our reference; the merchant reads the PaymentIntent for the rest. Errors are
``{"error": {"type", "code", "message"}}``.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "oxxo"
PAYMENT_METHOD = "oxxo"
CURRENCY = "MXN"
TIMEZONE = "America/Mexico_City"
MIN_AMOUNT = 1_000
"""10.00 MXN, minor units."""
MAX_AMOUNT = 1_000_000
"""10,000.00 MXN, minor units."""
DEFAULT_EXPIRY_DAYS = 3
MIN_EXPIRY_DAYS = 1
MAX_EXPIRY_DAYS = 7
EXPIRY_TIME = time(23, 59, 59)
DOCUMENT_TYPES = ("CURP", "RFC", "PP")
EVENT_TYPE = "payment_intent.updated"
EXPIRED_CODE = "payment_intent_payment_attempt_expired"
REFERENCE_KEY = "reference"


class IntentStatus(StrEnum):
    """Statuses of a PaymentIntent with an OXXO voucher."""

    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    CANCELED = "canceled"


class ErrorType(StrEnum):
    """Stripe's error types the sandbox answers."""

    INVALID_REQUEST = "invalid_request_error"
    AUTHENTICATION = "authentication_error"
    IDEMPOTENCY = "idempotency_error"
    API = "api_error"


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def to_json(self) -> bytes:
        """The exact bytes the sandbox sends."""
        return self.model_dump_json().encode("utf-8")


class BillingDetails(_Wire):
    """The payer's name (printed on the voucher) and e-mail."""

    name: str = Field(min_length=2, max_length=100)
    email: str | None = Field(default=None, max_length=254)


class PaymentMethodData(_Wire):
    """The voucher's payment method: ``oxxo`` with the payer's billing details."""

    type: str = PAYMENT_METHOD
    billing_details: BillingDetails


class OxxoOptions(_Wire):
    """``expires_after_days``: 1 to 7 calendar days, default 3."""

    expires_after_days: int | None = None


class PaymentMethodOptions(_Wire):
    """Options per payment method."""

    oxxo: OxxoOptions = Field(default_factory=OxxoOptions)


class PayerDocument(_Wire):
    """The payer's identity document: CURP, RFC or PP."""

    type: str = Field(min_length=1, max_length=8)
    number: str = Field(min_length=1, max_length=32)


class PaymentIntentRequest(_Wire):
    """Body of ``POST /v1/payment_intents``; ``metadata.reference`` is required."""

    amount: str = Field(description="Major units with two decimals, e.g. 1500.00", max_length=20)
    currency: str = Field(min_length=3, max_length=3)
    payment_method_types: list[str] = Field(default_factory=lambda: [PAYMENT_METHOD])
    payment_method_data: PaymentMethodData
    payment_method_options: PaymentMethodOptions = Field(default_factory=PaymentMethodOptions)
    payer_document: PayerDocument
    metadata: dict[str, str] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=255)
    confirm: bool = True


class OxxoDisplayDetails(_Wire):
    """What the payer takes to the shop."""

    expires_after: datetime
    hosted_voucher_url: str
    number: str


class NextAction(_Wire):
    """The voucher to display; kept after the payment, so a status query still shows it."""

    type: str = "oxxo_display_details"
    oxxo_display_details: OxxoDisplayDetails


class Charge(_Wire):
    """The confirmed payment: when the payer paid at the shop and the network's fee."""

    id: str
    amount: str
    currency: str
    paid_at: datetime
    confirmed_at: datetime
    fee: str


class PaymentError(_Wire):
    """Why the voucher can no longer be paid on time."""

    code: str
    message: str


class PaymentIntent(_Wire):
    """A PaymentIntent with an OXXO voucher."""

    id: str
    object: str = "payment_intent"
    amount: str
    currency: str
    status: IntentStatus
    created: datetime
    description: str | None = None
    metadata: dict[str, str]
    payment_method_types: list[str] = Field(default_factory=lambda: [PAYMENT_METHOD])
    next_action: NextAction
    latest_charge: Charge | None = None
    last_payment_error: PaymentError | None = None
    cancellation_reason: str | None = None
    canceled_at: datetime | None = None
    livemode: bool = False


class PaymentIntentList(_Wire):
    """Answer of ``GET /v1/payment_intents?reference=...``, oldest first."""

    object: str = "list"
    data: list[PaymentIntent]
    has_more: bool = False


class EventData(_Wire):
    """All the notification says: whose voucher changed."""

    reference: str


class Event(_Wire):
    """The notification: something changed; read the PaymentIntent."""

    id: str
    object: str = "event"
    type: str = EVENT_TYPE
    created: datetime
    data: EventData
