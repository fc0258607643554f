"""The hub's JSON shapes (MFS Africa shape), written from its documentation.

The sandbox keeps its own models on purpose and never imports the engine adapter's: a
field one side gets wrong then fails the tests instead of passing on both sides.

Our reference travels as ``thirdPartyTransId``; a repeat with the same id never creates a
second transfer. Acknowledgement code ``100`` means accepted, ``101`` rejected (final).
Status codes: ``MR101`` final success; ``ER*`` final failure; ``MR102``/``MR103`` pending;
``MR108`` queued. Amounts are major-unit decimal strings with the currency's decimals.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "hub"

ACK_ACCEPTED = "100"
ACK_REJECTED = "101"
DUPLICATE_MESSAGE = "Transaction already exist with given ThirdParty"
NOT_FOUND_MESSAGE = "no transaction with given ThirdParty"


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
    """Body of the ``transactionStatus`` webhook the hub posts to the relay."""

    event_id: str = Field(alias="eventId", min_length=1, max_length=128)
    type: str = "transactionStatus"
    timestamp: datetime


class HubBalance(_Wire):
    """One currency's float at the hub."""

    currency: str
    available: str


class HubBalances(_Wire):
    """Answer of ``GET /v1/balance``."""

    balances: list[HubBalance]
