"""The hub's JSON shapes (MFS Africa shape), written from its documentation.

The sandbox keeps its own models on purpose and never imports the engine adapter's: a
field one side gets wrong then fails the tests instead of passing on both sides.

Our reference travels as ``thirdPartyTransId``; a repeat with the same id never creates a
second transfer. Acknowledgement code ``100`` means accepted, ``101`` rejected (final).
Status codes: ``MR101`` final success; ``ER*`` final failure; ``MR102``/``MR103`` pending;
``MR108`` queued. Amounts are major-unit decimal strings with the currency's decimals.

Collections ("request to pay") use the same status codes and ``thirdPartyTransId`` (in a
namespace of their own) and the same ``transactionStatus`` callback, marked
``transactionType: "collection"``. Refunds of paid collections are filed under the hub's
``refund_id`` and our ``external_refund_id``; they have snake_case fields, statuses of
their own (:class:`HubRefundStatus`), error codes of their own (:class:`RefundErrorCode`)
and a ``refundStatus`` callback.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

APPROVAL_WINDOW_SECONDS = 300
"""How long a payer has to answer a collection's prompt unless the request says."""
MAX_APPROVAL_WINDOW_SECONDS = 600

PROVIDER = "hub"

ACK_ACCEPTED = "100"
ACK_REJECTED = "101"
DUPLICATE_MESSAGE = "Transaction already exist with given ThirdParty"
NOT_FOUND_MESSAGE = "no transaction with given ThirdParty"
NOT_CANCELLABLE_MESSAGE = "collection can no longer be cancelled"
REFUND_NOT_FOUND_MESSAGE = "no refund with given id"


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
    def is_final(self) -> bool:
        """MR101 and every ER* code are final; the rest are pending."""
        return self is HubStatus.SUCCESS or self.is_failure

    @property
    def is_failure(self) -> bool:
        """The ER* codes: the transfer failed."""
        return self.value.startswith("ER")


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


class _TransferState(_Wire):
    """Fields the status answer and the callback share."""

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    send_amount: str = Field(alias="sendAmount")
    receive_amount: str = Field(alias="receiveAmount")
    fx_rate: str = Field(default="1", alias="fxRate")
    message: str | None = None


class HubTransfer(_TransferState):
    """Answer of ``GET /v1/payouts/{thirdPartyTransId}``."""

    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class HubCallback(_TransferState):
    """Body of the ``transactionStatus`` webhook the hub posts to the relay.

    Attributes:
        transaction_type: ``"collection"`` for a collection; absent for a payout.
        fee: a collection's fee, major units; absent for a payout.
    """

    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    type: str = "transactionStatus"
    timestamp: datetime
    transaction_type: str | None = Field(default=None, alias="transactionType")
    fee: str | None = None

    def body(self) -> bytes:
        """The exact bytes the hub sends.

        The collection-only fields are left out when unset, so a payout's callback is
        byte for byte what it was before collections existed.
        """
        unset = {name for name in ("transaction_type", "fee") if getattr(self, name) is None}
        return self.model_dump_json(by_alias=True, exclude=unset).encode("utf-8")


class HubBalance(_Wire):
    """One currency's float at the hub."""

    currency: str
    available: str


class HubBalances(_Wire):
    """Answer of ``GET /v1/balance``."""

    balances: list[HubBalance]


# -- collections -----------------------------------------------------------------------


class HubCollectionRequest(_Wire):
    """Body of ``POST /v1/collections``: ask a payer to approve a payment on the handset.

    ``thirdPartyTransId`` is the idempotency key, in a namespace apart from payouts'.
    """

    third_party_trans_id: str = Field(alias="thirdPartyTransId", min_length=1, max_length=80)
    msisdn: str = Field(description="The payer's number; the USSD prompt goes there.")
    country: str = Field(min_length=2, max_length=2)
    currency: str = Field(min_length=3, max_length=3)
    amount: str = Field(description="Major units with the currency's decimals, e.g. 1500.00")
    description: str | None = None
    approval_window_seconds: int = Field(
        default=APPROVAL_WINDOW_SECONDS,
        alias="approvalWindowSeconds",
        ge=1,
        le=MAX_APPROVAL_WINDOW_SECONDS,
        description="How long the payer has to answer before the collection expires (ER106).",
    )


class HubCollection(_Wire):
    """Answer of ``GET /v1/collections/{thirdPartyTransId}`` and of its cancel.

    Attributes:
        amount: what the payer is asked for, major units.
        fee: the hub's fee, major units; zero until the collection is paid (MR101).
        expires_at: when the payer's window closes: ``created_at`` plus the window.
    """

    third_party_trans_id: str = Field(alias="thirdPartyTransId")
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    amount: str
    fee: str
    message: str | None = None
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")
    expires_at: datetime = Field(alias="expiresAt")


# -- refunds ---------------------------------------------------------------------------


class HubRefundStatus(StrEnum):
    """Where a refund stands: pending, then processed or failed; processed may be reversed."""

    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"
    REVERSED = "reversed"

    @property
    def is_final(self) -> bool:
        """Every status but pending: only the hub itself reverses a processed refund."""
        return self is not HubRefundStatus.PENDING


class RefundErrorCode(StrEnum):
    """The ``code`` of a refund's error answer."""

    INVALID_REQUEST = "invalid_request"
    INVALID_TRANSACTION = "invalid_transaction"
    CURRENCY_MISMATCH = "currency_mismatch"
    AMOUNT_EXCEEDED = "amount_exceeded"
    REFUND_WINDOW_EXPIRED = "refund_window_expired"
    DUPLICATE_EXTERNAL_REFUND_ID = "duplicate_external_refund_id"


class HubRefundRequest(_Wire):
    """Body of ``POST /v1/refunds``: give back (part of) a paid collection.

    ``external_refund_id`` is our reference and the idempotency key.
    """

    original_transaction_id: str = Field(
        min_length=1, max_length=80, description="The collection's thirdPartyTransId."
    )
    refund_amount: str = Field(description="Major units with the currency's decimals.")
    currency: str = Field(min_length=3, max_length=3)
    reason: str = Field(min_length=1, max_length=200)
    external_refund_id: str = Field(min_length=1, max_length=80)


class HubRefundAck(_Wire):
    """Answer of ``POST /v1/refunds``: the refund the hub holds for that id."""

    status: HubRefundStatus
    refund_id: str
    external_refund_id: str


class _RefundState(_Wire):
    """Fields the refund status answer and its callback share."""

    refund_id: str
    external_refund_id: str
    original_transaction_id: str
    status: HubRefundStatus
    refund_amount: str
    currency: str
    failure_reason: str | None = None


class HubRefund(_RefundState):
    """Answer of ``GET /v1/refunds/{refund_id}`` and ``GET /v1/refunds?external_refund_id=``."""

    reason: str
    created_at: datetime
    updated_at: datetime


class HubRefundCallback(_RefundState):
    """Body of the ``refundStatus`` webhook, sent on every status after pending."""

    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    type: str = "refundStatus"
    timestamp: datetime

    def body(self) -> bytes:
        """The exact bytes the hub sends; ``failure_reason`` only when there is one."""
        unset = {"failure_reason"} if self.failure_reason is None else set()
        return self.model_dump_json(by_alias=True, exclude=unset).encode("utf-8")
