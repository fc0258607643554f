"""Wire contract of the mobile-wallet hub (MFS Africa shape), as the adapter reads it.

The sandbox's simulator keeps its own models of the same JSON, so a field spelled wrong
on one side fails the integration tests instead of passing on both.

Our reference travels as ``thirdPartyTransId``; a repeat with the same id never creates a
second transfer. Acknowledgement code ``100`` means accepted, ``101`` rejected (final).
Status codes: ``MR101`` final success; ``ER*`` final failure; ``MR102``/``MR103`` pending;
``MR108`` queued. Amounts are major-unit decimal strings with the currency's decimals.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.events import TransferOutcome

PROVIDER_NAME = "hub"

ACK_ACCEPTED = "100"
ACK_REJECTED = "101"
DUPLICATE_MESSAGE = "Transaction already exist with given ThirdParty"


class HubStatus(StrEnum):
    """Transaction status codes of the hub."""

    SUCCESS = "MR101"
    PENDING = "MR102"
    PENDING_AWAITING = "MR103"
    QUEUED = "MR108"
    INVALID_MSISDN = "ER101"
    INSUFFICIENT_FUNDS = "ER102"
    WALLET_CLOSED = "ER103"
    DAILY_LIMIT_EXCEEDED = "ER104"
    PAYER_DECLINED = "ER105"
    EXPIRED = "ER106"
    CANCELLED = "ER107"

    @property
    def outcome(self) -> TransferOutcome:
        """Our reading of the code: MR101 succeeded, ER* failed, the rest pending."""
        if self is HubStatus.SUCCESS:
            return TransferOutcome.SUCCEEDED
        if self.value.startswith("ER"):
            return TransferOutcome.FAILED
        return TransferOutcome.PENDING

    @property
    def failure_code(self) -> str | None:
        """Our stable failure code for ER* statuses, None otherwise."""
        return _FAILURE_CODES.get(self)


_FAILURE_CODES = {
    HubStatus.INVALID_MSISDN: "invalid_msisdn",
    HubStatus.INSUFFICIENT_FUNDS: "provider_insufficient_funds",
    HubStatus.WALLET_CLOSED: "wallet_closed",
    HubStatus.DAILY_LIMIT_EXCEEDED: "daily_limit_exceeded",
    HubStatus.PAYER_DECLINED: "payer_declined",
    HubStatus.EXPIRED: "expired",
    HubStatus.CANCELLED: "cancelled",
}


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class HubPayoutRequest(_Wire):
    """Body of ``POST /v1/payouts``."""

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    msisdn: str
    country: str = Field(min_length=2, max_length=2)
    currency: str = Field(min_length=3, max_length=3)
    amount: str = Field(description="Major units with the currency's decimals, e.g. 1500.00")
    description: str | None = None


class HubAck(_Wire):
    """Answer of ``POST /v1/payouts``: accepted (100) or rejected (101)."""

    code: str
    third_party_trans_id: str = Field(alias="thirdPartyTransId")
    transaction_id: str | None = Field(default=None, alias="transactionId")
    status: HubStatus | None = None
    message: str | None = None


class TransferState(_Wire):
    """Fields the status answer and the callback share."""

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    send_amount: str = Field(alias="sendAmount")
    receive_amount: str = Field(alias="receiveAmount")
    fx_rate: str = Field(default="1", alias="fxRate")
    message: str | None = None


class HubTransfer(TransferState):
    """Answer of ``GET /v1/payouts/{thirdPartyTransId}``."""

    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class HubCallback(TransferState):
    """Body of the ``transactionStatus`` webhook the hub posts to the relay.

    Collections send the same callback with ``transactionType`` "collection" and the
    hub's ``fee``; payouts send neither.
    """

    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    type: str = "transactionStatus"
    timestamp: datetime
    transaction_type: str | None = Field(default=None, alias="transactionType")
    fee: str | None = None


class HubCollectionRequest(_Wire):
    """Body of ``POST /v1/collections``: ask the payer to approve a payment on the handset."""

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    msisdn: str
    country: str = Field(min_length=2, max_length=2)
    currency: str = Field(min_length=3, max_length=3)
    amount: str
    description: str | None = None
    approval_window_seconds: int = Field(alias="approvalWindowSeconds", ge=1, le=600)


class HubCollection(_Wire):
    """Answer of ``GET /v1/collections/{thirdPartyTransId}`` and of its cancel."""

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    amount: str
    fee: str | None = None
    message: str | None = None
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    expires_at: datetime | None = Field(default=None, alias="expiresAt")


class HubRefundStatus(StrEnum):
    """Where a refund stands at the hub."""

    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"
    REVERSED = "reversed"


class HubRefundRequest(_Wire):
    """Body of ``POST /v1/refunds``; ``external_refund_id`` is our reference, deduped."""

    original_transaction_id: str = Field(min_length=1, max_length=80)
    refund_amount: str
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(min_length=1, max_length=200)
    external_refund_id: str = Field(min_length=1, max_length=80)


class HubRefundAck(_Wire):
    """Answer of ``POST /v1/refunds``: the hub holds the refund (``pending``)."""

    status: HubRefundStatus
    refund_id: str
    external_refund_id: str | None = None


class HubRefundState(_Wire):
    """Fields the refund status answer and its callback share."""

    refund_id: str
    external_refund_id: str = Field(min_length=1, max_length=80)
    original_transaction_id: str
    status: HubRefundStatus
    refund_amount: str
    currency: str
    failure_reason: str | None = None


class HubRefund(HubRefundState):
    """Answer of ``GET /v1/refunds/{refund_id}`` and ``GET /v1/refunds?external_refund_id=``."""

    reason: str | None = None
    created_at: datetime
    updated_at: datetime


class HubRefundCallback(HubRefundState):
    """Body of the ``refundStatus`` webhook."""

    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    type: str = "refundStatus"
    timestamp: datetime


class HubBalance(_Wire):
    """One currency's float at the hub."""

    currency: str
    available: str


class HubBalances(_Wire):
    """Answer of ``GET /v1/balance``."""

    balances: list[HubBalance]
