"""Collections: money taken in from a payer's mobile wallet, approved on the handset.

The provider pushes a prompt (USSD/SMS) to the payer's phone; the payer approves or
declines within the approval window. This module holds the typed inputs the collection
activities and adapters share; the workflow's own request and view build on them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.events import Evidence, ProviderEvent, ReviewFlag
from payments_engine.domain.ids import BusinessId, collection_workflow_id
from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import field_msisdn, mask_msisdn
from payments_engine.domain.payout import (
    DEFAULT_MERCHANT_ID,
    DEFAULT_PROVIDER,
    PROVIDER_NAME_PATTERN,
)

DEFAULT_APPROVAL_WINDOW_SECONDS = 300
"""Five minutes, as MTN MoMo gives a payer to approve a request to pay."""
MAX_APPROVAL_WINDOW_SECONDS = 600
"""The longest window the hub accepts."""


class RequestCollectionInput(BaseModel):
    """Input of the ``request_collection`` activity; ``provider`` picks the adapter.

    ``reference`` is our reference (the collection's workflow id), the provider's
    idempotency key: asking twice never prompts the payer twice.
    """

    reference: str = Field(min_length=1, max_length=80)
    provider: str
    msisdn: str
    country: str
    amount: Money
    description: str | None = None
    approval_window_seconds: int = Field(
        default=DEFAULT_APPROVAL_WINDOW_SECONDS, ge=1, le=MAX_APPROVAL_WINDOW_SECONDS
    )


class RequestCollectionResult(BaseModel):
    """Output of ``request_collection``: where it stands right after asking the payer.

    ``resolved_by_status_query`` is true when the call's outcome was ambiguous and the
    answer came from asking the provider for the status by our reference.
    """

    report: ProviderEvent
    resolved_by_status_query: bool = False


class CancelCollectionResult(BaseModel):
    """Output of ``cancel_collection``.

    ``refused`` is true when the provider can no longer cancel it (paid, or the payer's
    approval is under way); ``report`` is where it stands after a cancel, None when the
    provider never saw the reference.
    """

    report: ProviderEvent | None = None
    refused: bool = False


class CollectionStatus(StrEnum):
    """The states of a collection; the last four are where it ends up."""

    RECEIVED = "received"
    PENDING = "pending"
    """The provider asked the payer, who has not answered yet."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    """The window passed without the payer's approval; cancelled at the provider."""
    NEEDS_REVIEW = "needs_review"

    @property
    def is_final(self) -> bool:
        """True once the workflow has nothing more to do."""
        return self in (
            CollectionStatus.SUCCEEDED,
            CollectionStatus.FAILED,
            CollectionStatus.EXPIRED,
        )


class CollectionRequest(BaseModel):
    """What a merchant asks for: collect ``amount`` from the payer's mobile wallet.

    Validation runs on construction, so a bad request fails in the client before
    anything is started. The payer's number is normalised to E.164 and must be of
    ``country``.
    """

    model_config = ConfigDict(frozen=True)

    collection_id: BusinessId
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    amount: Money
    payer_msisdn: str
    country: str = Field(min_length=2, max_length=2)
    provider: str = Field(default=DEFAULT_PROVIDER, pattern=PROVIDER_NAME_PATTERN)
    merchant_reference: str | None = Field(default=None, max_length=80)
    description: str | None = Field(default=None, max_length=140)
    approval_window_seconds: int = Field(
        default=DEFAULT_APPROVAL_WINDOW_SECONDS,
        ge=1,
        le=MAX_APPROVAL_WINDOW_SECONDS,
        description="How long the payer has to approve on the handset.",
    )

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.upper()

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("a collection amount must be greater than zero")
        return value

    @model_validator(mode="after")
    def _normalise_msisdn(self) -> CollectionRequest:
        normalised = field_msisdn(self.payer_msisdn, self.country)
        if normalised != self.payer_msisdn:
            object.__setattr__(self, "payer_msisdn", normalised)
        return self

    @property
    def workflow_id(self) -> str:
        """``collection-{collection_id}``: the workflow id and the provider's reference."""
        return collection_workflow_id(self.collection_id)


class CollectionView(BaseModel):
    """What a query or the CLI shows of a collection; the payer's number is masked."""

    collection_id: str
    merchant_id: str
    status: CollectionStatus
    amount: Money
    fee: Money | None = None
    country: str
    provider: str
    payer: str
    provider_status: str | None = None
    provider_transaction_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    status_queries: int = 0
    events_applied: int = 0
    review_flags: list[ReviewFlag] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def booked(self) -> bool:
        """Whether the collection's money was booked (and so may be refunded)."""
        return self.status is CollectionStatus.SUCCEEDED or (
            self.status is CollectionStatus.NEEDS_REVIEW
            and ReviewFlag.PAID_AFTER_EXPIRY in self.review_flags
        )

    @classmethod
    def initial(cls, request: CollectionRequest, now: datetime) -> CollectionView:
        """The view of a collection that has just been received."""
        return cls(
            collection_id=request.collection_id,
            merchant_id=request.merchant_id,
            status=CollectionStatus.RECEIVED,
            amount=request.amount,
            country=request.country,
            provider=request.provider,
            payer=mask_msisdn(request.payer_msisdn),
            created_at=now,
            updated_at=now,
        )


class CollectionResult(BaseModel):
    """The workflow's result: the final view of the collection."""

    collection: CollectionView


def collection_summary(amount: Money, provider: str, payer: str) -> str:
    """``1,500.00 KES via hub from +254******678``: the collection in business terms.

    Args:
        amount: what is collected.
        provider: who collects it.
        payer: the MASKED number; never pass the number itself.
    """
    major = format(Decimal(amount.to_major()), ",")
    return f"{major} {amount.currency} via {provider} from {payer}"
