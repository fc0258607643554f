"""The card issuer's JSON shapes: its API, the network's authorization request, card events.

The sandbox keeps its own models: an engine adapter must bring its own, so a field one
side gets wrong fails a test instead of passing on both sides.

Amounts are integers in minor units of the currency (Lithic style), currencies ISO 4217
upper case, timestamps ISO 8601 UTC. The engine calls ``/issuer`` with
:class:`CardholderRequest`, :class:`CardRequest` and :class:`NotificationRequest` and
reads :class:`Cardholder`, :class:`Card` and :class:`Transaction`; the network POSTs
:class:`AuthorizationRequest` to the engine and expects :class:`AuthorizationAnswer`
back, and announces card events as :class:`CardTransactionEvent` and
:class:`KycUpdatedEvent`. Errors are ``{"error": <code>, "message": <why>}``.

The full card number and the CVV appear in none of these shapes: they never leave the
sandbox.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from payments_engine.domain.money import check_currency

PROVIDER = "issuer"

AUTHORIZATION_REQUEST: Final = "authorization.request"
CARD_TRANSACTION: Final = "card.transaction"
KYC_UPDATED: Final = "cardholder.kyc_updated"

Reference = Annotated[str, Field(min_length=1, max_length=100)]
Mcc = Annotated[str, Field(pattern=r"^[0-9]{4}$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class KycStatus(StrEnum):
    """Where a cardholder's identity check stands."""

    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PENDING_REVIEW = "PENDING_REVIEW"

    @property
    def is_final(self) -> bool:
        """APPROVED and REJECTED are final."""
        return self is not KycStatus.PENDING_REVIEW


class DocumentType(StrEnum):
    """The identity documents the issuer accepts."""

    NATIONAL_ID = "national_id"
    PASSPORT = "passport"


class CardState(StrEnum):
    """Whether a card can still be used."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"


class TransactionType(StrEnum):
    """The kind of a network event that moves (or releases) money on a card."""

    CAPTURE = "CAPTURE"
    REVERSAL = "REVERSAL"
    REFUND = "REFUND"
    EXPIRY = "EXPIRY"


class AuthorizationResult(StrEnum):
    """The outcome of an authorization."""

    APPROVED = "APPROVED"
    DECLINED = "DECLINED"


class AnsweredBy(StrEnum):
    """Who decided an authorization: the engine's answer, or the network on its own."""

    ENGINE = "engine"
    NETWORK = "network"


class NetworkDecline(StrEnum):
    """Why the network declined a purchase on its own, without the engine's answer."""

    CARD_CLOSED = "card_closed"
    ISSUER_TIMEOUT = "issuer_timeout"
    ISSUER_ERROR = "issuer_error"


class ErrorCode(StrEnum):
    """The ``error`` codes of the sandbox's error answers."""

    UNAUTHORIZED = "unauthorized"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INVALID_REQUEST = "invalid_request"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    NOT_FOUND = "not_found"
    KYC_NOT_APPROVED = "kyc_not_approved"
    # Admin only: what the network refuses to do with an authorization or a card.
    AUTHORIZATION_DECLINED = "authorization_declined"
    AMOUNT_NOT_POSITIVE = "amount_not_positive"
    NOTHING_TO_CAPTURE = "nothing_to_capture"
    OVER_CAPTURE = "over_capture"
    NOTHING_HELD = "nothing_held"
    ABOVE_HELD = "above_held"
    NETWORK_NOT_RUNNING = "network_not_running"


class _Request(BaseModel):
    """A body the sandbox receives: unknown fields are refused, so typos fail loudly."""

    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    """A body the sandbox sends."""

    def to_json(self) -> bytes:
        """The exact bytes sent."""
        return self.model_dump_json().encode("utf-8")


class IdDocument(_Request):
    """The cardholder's identity document; the last four characters of the number are magic."""

    type: DocumentType
    number: str = Field(min_length=4, max_length=64)


class CardholderRequest(_Request):
    """Body of ``POST /issuer/v1/cardholders``."""

    reference: Reference
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    id_document: IdDocument
    country: Country

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # Lax date parsing would also take a number of seconds since 1970.
        if not isinstance(value, str):
            raise ValueError("a date as YYYY-MM-DD")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _in_the_past(cls, value: date) -> date:
        if value >= date.today():
            raise ValueError("must be in the past")
        return value


class Cardholder(_Answer):
    """A cardholder, as ``/issuer`` answers it: no personal data besides our reference."""

    token: str
    reference: str
    kyc_status: KycStatus
    created: datetime
    updated: datetime


class CardRequest(_Request):
    """Body of ``POST /issuer/v1/cards``."""

    cardholder_token: str = Field(min_length=1, max_length=100)
    reference: Reference
    currency: str
    expiry_months: StrictInt = Field(default=36, ge=1, le=60)

    @field_validator("currency")
    @classmethod
    def _served_currency(cls, value: str) -> str:
        # UnknownCurrency is a ValueError: pydantic reports it as an invalid field.
        return check_currency(value)


class Card(_Answer):
    """A card, as ``/issuer`` answers it: the last four digits only, never the PAN or CVV."""

    token: str
    reference: str
    cardholder_token: str
    last_four: str
    exp_month: int
    exp_year: int
    currency: str
    state: CardState
    created: datetime


class Merchant(BaseModel):
    """Where a card was used."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    mcc: Mcc
    country: Country


class Transaction(_Answer):
    """The authoritative record of one network event (``GET /issuer/v1/transactions/{token}``)."""

    token: str
    type: TransactionType
    card_token: str
    card_reference: str
    authorization_id: str | None
    amount: int
    currency: str
    merchant: Merchant
    created: datetime


class NotificationRequest(_Request):
    """Body of ``POST /issuer/v1/notifications``: an alert the platform sends its cardholder."""

    card_reference: Reference
    kind: Literal["low_balance"]
    balance: StrictInt
    currency: str
    threshold: StrictInt
    idempotency_key: str = Field(min_length=1, max_length=200)

    @field_validator("currency")
    @classmethod
    def _served_currency(cls, value: str) -> str:
        return check_currency(value)


class Notification(_Answer):
    """A recorded notification, as ``POST /issuer/v1/notifications`` answers it."""

    id: str
    card_reference: str
    kind: str
    balance: int
    currency: str
    threshold: int
    idempotency_key: str
    created: datetime


class AuthorizationRequest(_Answer):
    """What the network POSTs to the engine's authorization URL, and waits on."""

    type: Literal["authorization.request"] = AUTHORIZATION_REQUEST
    authorization_id: str
    card_token: str
    card_reference: str
    amount: int
    currency: str
    merchant: Merchant
    partial_allowed: bool
    respond_by: datetime
    created: datetime


class AuthorizationAnswer(BaseModel):
    """The engine's answer to an authorization request (200); extra fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    authorization_id: str
    result: AuthorizationResult
    approved_amount: StrictInt
    decline_reason: str | None = None


class CardTransactionEvent(_Answer):
    """Webhook: a network event moved money on a card; read the transaction before acting."""

    type: Literal["card.transaction"] = CARD_TRANSACTION
    event_id: str
    card_reference: str
    card_token: str
    transaction_token: str
    transaction_type: TransactionType
    authorization_id: str | None
    amount: int
    currency: str
    created: datetime


class KycUpdatedEvent(_Answer):
    """Webhook: a cardholder's review ended; read the cardholder before acting."""

    type: Literal["cardholder.kyc_updated"] = KYC_UPDATED
    event_id: str
    card_reference: str
    cardholder_token: str
    kyc_status: KycStatus
    created: datetime


class ErrorAnswer(BaseModel):
    """An error answer: ``{"error": <code>, "message": <why>}``."""

    error: str
    message: str | None = None
