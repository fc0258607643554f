"""The records a sandbox hub keeps: payout orders and transfers with their plans.

Plain data, shared by the in-memory store (:mod:`.store`) and its state file
(:mod:`.persistence`); webhook deliveries are the common outbox's. What every simulator's
transfer has (status, times, plan, counters) is the common
:class:`~payments_engine.sandbox.common.records.TransferRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.records import TransferRecord
from payments_engine.sandbox.hub.scenarios import Scenario
from payments_engine.sandbox.hub.wire import HubAck, HubCallback, HubStatus, HubTransfer

STATUS_MESSAGES: dict[HubStatus, str] = {
    HubStatus.SUCCESS: "Transaction successful",
    HubStatus.PENDING: "Transaction pending",
    HubStatus.PENDING_AWAITING: "Transaction pending, awaiting the wallet",
    HubStatus.QUEUED: "Transaction queued",
    HubStatus.INVALID_MSISDN: "Invalid MSISDN",
    HubStatus.INSUFFICIENT_FUNDS: "Insufficient funds",
    HubStatus.WALLET_CLOSED: "Wallet closed",
    HubStatus.DAILY_LIMIT_EXCEEDED: "Daily limit exceeded",
}


@dataclass(frozen=True)
class PayoutOrder:
    """A validated payout request, with the amount in minor units.

    Attributes:
        third_party_trans_id: the client's reference, the idempotency key.
        msisdn: the beneficiary's number as the client sent it.
        country: ISO 3166-1 alpha-2 code, upper case.
        currency: ISO 4217 code.
        amount: minor units, positive.
        description: free text from the client.
    """

    third_party_trans_id: str
    msisdn: str
    country: str
    currency: str
    amount: int
    description: str | None = None

    def same_parameters(self, other: PayoutOrder) -> bool:
        """True if ``other`` asks for the same transfer (the description may differ)."""
        return (self.msisdn, self.country, self.currency, self.amount) == (
            other.msisdn,
            other.country,
            other.currency,
            other.amount,
        )


@dataclass(frozen=True)
class PlannedStep:
    """A status a transfer takes at a given time, and whether a webhook announces it.

    Attributes:
        at: when the step is due, on the store's scheduling clock.
    """

    at: float
    status: HubStatus
    notify: bool


@dataclass(eq=False)
class Transfer(TransferRecord[HubStatus, PlannedStep]):
    """One transfer as the hub records it.

    Attributes:
        ack_code: the acknowledgement code its submission got (accepted or rejected).
        executed: false for rejected transfers and for failed ones (refunded).
        submit_count: how many submissions carried this ``thirdPartyTransId``.
    """

    order: PayoutOrder
    transaction_id: str
    scenario: Scenario
    ack_code: str

    @property
    def third_party_trans_id(self) -> str:
        """The client's reference, under which the hub files the transfer."""
        return self.order.third_party_trans_id

    record_id = third_party_trans_id

    @property
    def money(self) -> Money:
        """The amount and currency."""
        return Money(amount=self.order.amount, currency=self.order.currency)

    @property
    def message(self) -> str:
        """Human-readable text of the current status."""
        return STATUS_MESSAGES[self.status]

    def ack(self) -> HubAck:
        """The acknowledgement a submission of this transfer gets, now."""
        return HubAck(
            code=self.ack_code,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            message=self.message,
        )

    def to_wire(self) -> HubTransfer:
        """The answer of a status query."""
        amount = self.money.to_major()
        return HubTransfer(
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            currency=self.order.currency,
            send_amount=amount,
            receive_amount=amount,
            message=self.message,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def callback(self, event_id: str, status: HubStatus, timestamp: datetime) -> HubCallback:
        """A ``transactionStatus`` webhook reporting ``status`` as of ``timestamp``."""
        amount = self.money.to_major()
        return HubCallback(
            event_id=event_id,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=status,
            currency=self.order.currency,
            send_amount=amount,
            receive_amount=amount,
            message=STATUS_MESSAGES[status],
            timestamp=timestamp,
        )
