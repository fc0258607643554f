"""Payout types: the request a merchant makes, its states, and the activities' inputs/outputs."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from payments_engine.domain.errors import InvalidAmount, ValidationFailed
from payments_engine.domain.events import Evidence, ProviderEvent, ReviewFlag
from payments_engine.domain.ids import BusinessId, payout_workflow_id
from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import field_msisdn, mask_msisdn

DEFAULT_MERCHANT_ID = "default"
DEFAULT_RESOLUTION_DEADLINE_SECONDS = 24 * 3600
DEFAULT_REVIEW_GRACE_SECONDS = 3600
DEFAULT_FIRST_POLL_SECONDS = 30
DEFAULT_PROVIDER = "hub"
# A provider's name: the registry decides which exist (the client checks it before
# starting); here only its shape, since workflows import this module.
PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class PayoutStatus(StrEnum):
    """The states of a payout; the last three are where it ends up."""

    RECEIVED = "received"
    RESERVED = "reserved"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"

    @property
    def is_final(self) -> bool:
        """True for succeeded and failed: nothing changes after them."""
        return self in (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)


class PayoutRequest(BaseModel):
    """What a merchant asks for: pay ``amount`` to the mobile wallet ``recipient_msisdn``.

    Validation runs on construction, so a bad request fails in the client before
    anything is started. The number is normalised to E.164 and must be of ``country``.
    """

    model_config = ConfigDict(frozen=True)

    payout_id: BusinessId
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    amount: Money
    recipient_msisdn: str
    country: str = Field(min_length=2, max_length=2)
    provider: str = Field(default=DEFAULT_PROVIDER, pattern=PROVIDER_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=140)
    resolution_deadline_seconds: int = Field(
        default=DEFAULT_RESOLUTION_DEADLINE_SECONDS,
        ge=1,
        description="How long the provider has to give a final status before needs_review.",
    )
    review_grace_seconds: int = Field(
        default=DEFAULT_REVIEW_GRACE_SECONDS,
        ge=0,
        description=(
            "After this long with the provider an operator may resolve the payout before"
            " the deadline (at once if the provider has no record of it)."
        ),
    )
    first_poll_seconds: int = Field(
        default=DEFAULT_FIRST_POLL_SECONDS,
        ge=1,
        le=DEFAULT_RESOLUTION_DEADLINE_SECONDS,
        description=(
            "Without a webhook, the provider is first asked after this long; the wait"
            " doubles up to 15 minutes. Not part of what defines the payout (its"
            " fingerprint)."
        ),
    )

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.upper()

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("a payout amount must be greater than zero")
        return value

    @model_validator(mode="after")
    def _normalise_msisdn(self) -> PayoutRequest:
        normalised = field_msisdn(self.recipient_msisdn, self.country)
        if normalised != self.recipient_msisdn:
            object.__setattr__(self, "recipient_msisdn", normalised)
        return self

    @property
    def workflow_id(self) -> str:
        """``payout-{payout_id}``: the workflow id and the reference sent to the provider."""
        return payout_workflow_id(self.payout_id)

    def fingerprint(self, key: bytes | None = None) -> str:
        """HMAC-SHA256 with ``key`` over the parameters that define the payout.

        The keyed form is what the client stores (memo ``request_fingerprint``) to detect
        a reused id: without the key, a guessed phone number cannot be checked against
        it. Without ``key`` this is a plain SHA-256, which anyone can recompute from a
        guessed number: compare it in memory only, never store or show it.
        """
        # How often to ask is not what was asked for; leaving it out also keeps the
        # fingerprints stored before the field existed.
        fields = self.model_dump(mode="json", exclude={"description", "first_poll_seconds"})
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        if key is None:
            return hashlib.sha256(canonical).hexdigest()
        return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def payout_summary(amount: Money, provider: str, recipient: str) -> str:
    """``1,500.00 KES via hub to +254******678``: the payout in business terms.

    Args:
        amount: what is paid.
        provider: who pays it out.
        recipient: the MASKED number; never pass the number itself.
    """
    major = format(Decimal(amount.to_major()), ",")
    return f"{major} {amount.currency} via {provider} to {recipient}"


class PayoutView(BaseModel):
    """What a query or the CLI shows of a payout; the recipient is masked.

    ``review_flags`` say why it went to needs_review (a deadline, or provider reports it
    refused to act on); ``evidence`` holds those reports. Both stay after the payout is
    final, for audit.
    """

    payout_id: str
    merchant_id: str
    status: PayoutStatus
    amount: Money
    country: str
    provider: str
    recipient: str
    provider_status: str | None = None
    provider_transaction_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    status_queries: int = 0
    events_applied: int = 0
    review_flags: list[ReviewFlag] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def initial(cls, request: PayoutRequest, now: datetime) -> PayoutView:
        """The view of a payout that has just been received."""
        return cls(
            payout_id=request.payout_id,
            merchant_id=request.merchant_id,
            status=PayoutStatus.RECEIVED,
            amount=request.amount,
            country=request.country,
            provider=request.provider,
            recipient=mask_msisdn(request.recipient_msisdn),
            created_at=now,
            updated_at=now,
        )


class PayoutReviewNotice(BaseModel):
    """What a batch's payout tells its batch when it moves to needs_review."""

    payout_id: str
    provider_transaction_id: str | None = None
    failure_code: str | None = None


class PayoutResult(BaseModel):
    """The workflow's result: the final view of the payout."""

    payout: PayoutView


class ResolvePayout(BaseModel):
    """An operator's decision for a payout in needs_review, after checking with the provider."""

    outcome: PayoutStatus
    note: str = Field(min_length=1, max_length=500)

    @field_validator("outcome", mode="before")
    @classmethod
    def _final_only(cls, value: object) -> object:
        # Before the enum's own check, so that any other value gets this one reason
        # rather than the list of every status.
        try:
            final = isinstance(value, str) and PayoutStatus(value).is_final
        except ValueError:
            final = False
        if not final:
            raise ValidationFailed("an operator resolves a payout to succeeded or failed")
        return value


class SubmitPayoutInput(BaseModel):
    """Input of the ``submit_payout`` activity; ``provider`` picks the adapter."""

    reference: str
    # Histories recorded before the registry carry no provider: they were the hub's.
    provider: str = DEFAULT_PROVIDER
    msisdn: str
    country: str
    amount: Money
    description: str | None = None


class SubmitPayoutResult(BaseModel):
    """Output of ``submit_payout``: where the transfer stands right after submission.

    ``resolved_by_status_query`` is true when the submit call's outcome was ambiguous
    and the answer came from asking the provider for the status by our reference.
    """

    report: ProviderEvent
    resolved_by_status_query: bool = False


class TransferStatusInput(BaseModel):
    """Input of ``get_payout_status``."""

    reference: str
    provider: str = DEFAULT_PROVIDER


class TransferStatusResult(BaseModel):
    """Output of ``get_payout_status``; ``report`` is None when the provider has no record."""

    report: ProviderEvent | None
