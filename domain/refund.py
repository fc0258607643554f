"""Refunds: money given back to the payer of a collection, in full or in part, once.

This module holds the typed inputs the refund activities and adapters share; the
workflow's own request and view build on them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from payments_engine.domain.bank import BANK_ACCOUNT_FIELDS, BankAccount
from payments_engine.domain.cash import cash_order_workflow_id
from payments_engine.domain.errors import CashRefundNeedsBankAccount, InvalidAmount
from payments_engine.domain.events import Evidence, ProviderEvent, ReviewFlag
from payments_engine.domain.ids import BusinessId, collection_workflow_id, refund_workflow_id
from payments_engine.domain.ledger import RefundOrigin
from payments_engine.domain.money import Money
from payments_engine.domain.payout import (
    DEFAULT_MERCHANT_ID,
    DEFAULT_PROVIDER,
    PROVIDER_NAME_PATTERN,
)

DEFAULT_RESOLUTION_DEADLINE_SECONDS = 24 * 3600
DEFAULT_REVERSAL_WATCH_SECONDS = 7 * 24 * 3600


class SubmitRefundInput(BaseModel):
    """Input of the ``submit_refund`` activity; ``provider`` picks the adapter.

    ``reference`` is our reference for the refund (its workflow id), sent as the
    provider's ``external_refund_id``, its idempotency key; ``original_reference`` is the
    collection's reference at the provider.
    """

    reference: str = Field(min_length=1, max_length=80)
    provider: str
    original_reference: str = Field(min_length=1, max_length=80)
    amount: Money
    reason: str = Field(min_length=1, max_length=200)
    destination: BankAccount | None = None
    """The payer's bank account, for a refund paid by bank transfer (a cash order's)."""


class SubmitRefundResult(BaseModel):
    """Output of ``submit_refund``: where the refund stands right after submission.

    ``resolved_by_status_query`` is true when the submit call's outcome was ambiguous and
    the answer (with the provider's refund id) came from a status query on our id.
    """

    report: ProviderEvent
    resolved_by_status_query: bool = False


class RefundStatus(StrEnum):
    """The states of a refund.

    ``pending`` only once the provider holds the refund; ``reversed`` when the provider
    took back a processed refund later.
    """

    RECEIVED = "received"
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"
    REVERSED = "reversed"
    NEEDS_REVIEW = "needs_review"


class RefundRequest(BaseModel):
    """A merchant's refund of (part of) a collection, identified by its own refund id.

    ``refund_id`` is the merchant's ``external_refund_id``: the workflow id derives from
    it, so the same id can never refund twice. The rules that need I/O (the original
    exists and succeeded, same currency, inside the refund window) are checked by the
    client before it starts the workflow; the ledger keeps the sum of refunds within
    what was paid, whatever their timing.
    """

    model_config = ConfigDict(frozen=True)

    refund_id: BusinessId
    original_id: BusinessId
    """The id of what is refunded: a collection's ``collection_id`` or a cash order's
    ``order_id`` (``origin``)."""
    origin: RefundOrigin = RefundOrigin.COLLECTION
    bank_account: BankAccount | None = None
    """Where a bank-transfer refund goes: required for a cash order, whose payer paid
    in cash and is never refunded in cash."""
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    amount: Money
    reason: str = Field(min_length=1, max_length=200)
    provider: str = Field(default=DEFAULT_PROVIDER, pattern=PROVIDER_NAME_PATTERN)
    resolution_deadline_seconds: int = Field(
        default=DEFAULT_RESOLUTION_DEADLINE_SECONDS,
        ge=1,
        description="How long the provider has to process it before needs_review.",
    )
    reversal_watch_seconds: int = Field(
        default=DEFAULT_REVERSAL_WATCH_SECONDS,
        ge=0,
        description="How long a processed refund listens for the provider's reversal.",
    )

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("a refund amount must be greater than zero")
        return value

    @model_validator(mode="after")
    def _cash_by_bank_transfer(self) -> RefundRequest:
        if self.origin is RefundOrigin.CASH_ORDER and self.bank_account is None:
            raise CashRefundNeedsBankAccount(
                "cash orders are refunded by bank transfer, never in cash: give the payer's "
                f"bank account ({', '.join(BANK_ACCOUNT_FIELDS)})"
            )
        return self

    @property
    def workflow_id(self) -> str:
        """``refund-{refund_id}``: the workflow id, sent as the provider's refund id."""
        return refund_workflow_id(self.refund_id)

    @property
    def original_reference(self) -> str:
        """The original's reference (its workflow id)."""
        if self.origin is RefundOrigin.CASH_ORDER:
            return cash_order_workflow_id(self.original_id)
        return collection_workflow_id(self.original_id)


class RefundView(BaseModel):
    """What a query or the CLI shows of a refund; a bank account only masked."""

    refund_id: str
    collection_id: str
    """The original's id (a cash order's, when ``origin`` says so)."""
    origin: RefundOrigin = RefundOrigin.COLLECTION
    destination: str | None = None
    merchant_id: str
    status: RefundStatus
    amount: Money
    provider: str
    reason: str
    provider_status: str | None = None
    provider_refund_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    status_queries: int = 0
    events_applied: int = 0
    review_flags: list[ReviewFlag] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def initial(cls, request: RefundRequest, now: datetime) -> RefundView:
        """The view of a refund that has just been received."""
        return cls(
            refund_id=request.refund_id,
            collection_id=request.original_id,
            origin=request.origin,
            destination=None if request.bank_account is None else request.bank_account.masked(),
            merchant_id=request.merchant_id,
            status=RefundStatus.RECEIVED,
            amount=request.amount,
            provider=request.provider,
            reason=request.reason,
            created_at=now,
            updated_at=now,
        )


class RefundResult(BaseModel):
    """The workflow's result: the final view of the refund."""

    refund: RefundView
