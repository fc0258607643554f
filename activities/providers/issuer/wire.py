"""The card issuer's JSON, as the engine reads and writes it (minor units, ISO times).

The sandbox simulator has its own copy of these shapes (``sandbox/issuer/wire.py``):
each side models the wire, neither imports the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PROVIDER_NAME = "issuer"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CARDHOLDERS_PATH = "/v1/cardholders"
CARDS_PATH = "/v1/cards"
TRANSACTIONS_PATH = "/v1/transactions"
NOTIFICATIONS_PATH = "/v1/notifications"


class _Wire(BaseModel):
    # The issuer may add fields; what we read must be there and well formed.
    model_config = ConfigDict(extra="ignore", frozen=True)


class IdDocumentWire(_Wire):
    """An identity document as the issuer takes it."""

    type: str
    number: str


class CardholderCreate(_Wire):
    """``POST /v1/cardholders``."""

    reference: str
    first_name: str
    last_name: str
    date_of_birth: str
    id_document: IdDocumentWire
    country: str


class CardholderWire(_Wire):
    """A cardholder as the issuer answers it."""

    token: str = Field(min_length=1, max_length=80)
    reference: str
    kyc_status: Literal["APPROVED", "REJECTED", "PENDING_REVIEW"]


class CardCreate(_Wire):
    """``POST /v1/cards``."""

    cardholder_token: str
    reference: str
    currency: str
    expiry_months: int


class CardWire(_Wire):
    """A card as the issuer answers it: a token and the last four, never the number."""

    token: str = Field(min_length=1, max_length=80)
    reference: str
    last_four: str = Field(pattern=r"^[0-9]{4}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2200)
    currency: str
    state: str


class MerchantWire(_Wire):
    """Where a card was used."""

    name: str = Field(min_length=1, max_length=100)
    mcc: str = Field(pattern=r"^[0-9]{4}$")
    country: str = Field(pattern=r"^[A-Z]{2}$")


class TransactionWire(_Wire):
    """``GET /v1/transactions/{token}``: the issuer's record of one network event."""

    token: str = Field(min_length=1, max_length=80)
    type: Literal["CAPTURE", "REVERSAL", "REFUND", "EXPIRY"]
    card_token: str
    card_reference: str
    authorization_id: str | None = None
    amount: int = Field(gt=0)
    currency: str
    merchant: MerchantWire | None = None
    created: datetime


class NotificationCreate(_Wire):
    """``POST /v1/notifications``: an alert the issuer passes on to the platform."""

    card_reference: str
    kind: str
    balance: int
    currency: str
    threshold: int
    idempotency_key: str


class AuthorizationRequestWire(_Wire):
    """The network's synchronous authorization request (Lithic ASA / Stripe shape)."""

    type: Literal["authorization.request"]
    authorization_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
    card_token: str
    card_reference: str = Field(min_length=1, max_length=80)
    amount: int = Field(gt=0)
    currency: str
    merchant: MerchantWire
    partial_allowed: bool = False
    respond_by: datetime | None = None
    created: datetime | None = None


class AuthorizationAnswerWire(_Wire):
    """Our answer to an authorization request."""

    authorization_id: str
    result: Literal["APPROVED", "DECLINED"]
    approved_amount: int
    decline_reason: str | None = None


class TransactionEventWire(_Wire):
    """Webhook ``card.transaction``: something cleared, reversed, expired or was refunded."""

    type: Literal["card.transaction"]
    event_id: str = Field(min_length=1, max_length=120)
    card_reference: str = Field(min_length=1, max_length=80)
    transaction_token: str = Field(min_length=1, max_length=80)
    transaction_type: str
    authorization_id: str | None = None
    amount: int | None = None
    currency: str | None = None


class KycEventWire(_Wire):
    """Webhook ``cardholder.kyc_updated``: a manual review ended."""

    type: Literal["cardholder.kyc_updated"]
    event_id: str = Field(min_length=1, max_length=120)
    card_reference: str = Field(min_length=1, max_length=80)
    cardholder_token: str = Field(min_length=1, max_length=80)
    kyc_status: str
