"""The records a sandbox hub keeps: payouts, collections and refunds with their plans.

Plain data, shared by the in-memory store (:mod:`.store`) and its state file
(:mod:`.persistence`); webhook deliveries are the common outbox's. What every simulator's
transfer has (status, times, plan, counters) is the common
:class:`~payments_engine.sandbox.common.records.TransferRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.records import TransferRecord
from payments_engine.sandbox.hub.scenarios import CollectionScenario, RefundScenario, Scenario
from payments_engine.sandbox.hub.wire import (
    HubAck,
    HubCallback,
    HubCollection,
    HubRefund,
    HubRefundAck,
    HubRefundCallback,
    HubRefundStatus,
    HubStatus,
    HubTransfer,
)

COLLECTION_TYPE = "collection"
"""The ``transactionType`` of a collection's callback."""

STATUS_MESSAGES: dict[HubStatus, str] = {
    HubStatus.SUCCESS: "Transaction successful",
    HubStatus.PENDING: "Transaction pending",
    HubStatus.PENDING_AWAITING: "Transaction pending, awaiting the wallet",
    HubStatus.QUEUED: "Transaction queued",
    HubStatus.INVALID_MSISDN: "Invalid MSISDN",
    HubStatus.INSUFFICIENT_FUNDS: "Insufficient funds",
    HubStatus.WALLET_CLOSED: "Wallet closed",
    HubStatus.DAILY_LIMIT_EXCEEDED: "Daily limit exceeded",
    HubStatus.PAYER_DECLINED: "Payer declined",
    HubStatus.EXPIRED: "Payer did not answer in time",
    HubStatus.CANCELLED: "Cancelled by the merchant",
}

# A collection's MR103 waits for the payer, not for a wallet as a payout's does.
COLLECTION_MESSAGES: dict[HubStatus, str] = {
    **STATUS_MESSAGES,
    HubStatus.PENDING_AWAITING: "Transaction pending, awaiting the payer's approval",
    HubStatus.INSUFFICIENT_FUNDS: "Insufficient funds in the payer's wallet",
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

    pending_status: ClassVar[HubStatus] = HubStatus.PENDING
    """What a stale out-of-order callback reports: the status before the final one."""

    order: PayoutOrder
    transaction_id: str
    scenario: Scenario
    ack_code: str

    @property
    def duplicate_webhook(self) -> bool:
        """Every webhook of this transfer is delivered twice (its magic number says so)."""
        return self.scenario is Scenario.DUPLICATE_WEBHOOK

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


# -- collections -----------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionOrder:
    """A validated collection request, with the amount in minor units.

    Attributes:
        third_party_trans_id: the client's reference, the idempotency key (apart from
            payouts' references).
        msisdn: the payer's number as the client sent it.
        country: ISO 3166-1 alpha-2 code, upper case.
        currency: ISO 4217 code.
        amount: minor units, positive.
        description: free text from the client.
        approval_window_seconds: how long the payer has to answer.
    """

    third_party_trans_id: str
    msisdn: str
    country: str
    currency: str
    amount: int
    description: str | None = None
    approval_window_seconds: int = 300

    def same_parameters(self, other: CollectionOrder) -> bool:
        """True if ``other`` asks for the same collection.

        The description and the window may differ: a retry cannot move the expiry of a
        prompt the payer already has.
        """
        return (self.msisdn, self.country, self.currency, self.amount) == (
            other.msisdn,
            other.country,
            other.currency,
            other.amount,
        )


@dataclass(eq=False)
class Collection(TransferRecord[HubStatus, PlannedStep]):
    """One collection as the hub records it.

    Attributes:
        fee: the hub's fee in minor units, set when the collection is paid, else 0.
        expires_at: when the payer's window closes.
        paid_at: when it was paid, on the store's scheduling clock; None until then.
            The refund window counts from it.
        executed: the payment reached the float (paid, net of the fee).
    """

    pending_status: ClassVar[HubStatus] = HubStatus.PENDING_AWAITING
    """What a stale out-of-order callback reports: the status before the final one."""

    order: CollectionOrder
    transaction_id: str
    scenario: CollectionScenario
    ack_code: str
    expires_at: datetime
    fee: int = 0
    paid_at: float | None = None

    @property
    def duplicate_webhook(self) -> bool:
        """Every webhook of this collection is delivered twice (its magic number says so)."""
        return self.scenario is CollectionScenario.DUPLICATE_WEBHOOK

    @property
    def third_party_trans_id(self) -> str:
        """The client's reference, under which the hub files the collection."""
        return self.order.third_party_trans_id

    record_id = third_party_trans_id

    @property
    def money(self) -> Money:
        """The amount and currency the payer is asked for."""
        return Money(amount=self.order.amount, currency=self.order.currency)

    @property
    def fee_major(self) -> str:
        """The fee as a major-unit string."""
        return Money(amount=self.fee, currency=self.order.currency).to_major()

    @property
    def message(self) -> str:
        """Human-readable text of the current status."""
        return COLLECTION_MESSAGES[self.status]

    def ack(self) -> HubAck:
        """The acknowledgement a request of this collection gets, now."""
        return HubAck(
            code=self.ack_code,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            message=self.message,
        )

    def to_wire(self) -> HubCollection:
        """The answer of a status query or a cancel."""
        return HubCollection(
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            currency=self.order.currency,
            amount=self.money.to_major(),
            fee=self.fee_major,
            message=self.message,
            created_at=self.created_at,
            updated_at=self.updated_at,
            expires_at=self.expires_at,
        )

    def callback(self, event_id: str, status: HubStatus, timestamp: datetime) -> HubCallback:
        """A ``transactionStatus`` webhook of type collection, reporting ``status``."""
        amount = self.money.to_major()
        return HubCallback(
            event_id=event_id,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=status,
            currency=self.order.currency,
            send_amount=amount,
            receive_amount=amount,
            message=COLLECTION_MESSAGES[status],
            timestamp=timestamp,
            transaction_type=COLLECTION_TYPE,
            fee=self.fee_major,
        )


# -- refunds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundOrder:
    """A validated refund request, with the amount in minor units.

    Attributes:
        external_refund_id: the client's reference, the idempotency key.
        original_transaction_id: the collection's ``thirdPartyTransId``.
        currency: ISO 4217 code.
        amount: minor units, positive.
        reason: free text from the client.
    """

    external_refund_id: str
    original_transaction_id: str
    currency: str
    amount: int
    reason: str

    def same_parameters(self, other: RefundOrder) -> bool:
        """True if ``other`` asks for the same refund (the reason may differ)."""
        return (self.original_transaction_id, self.currency, self.amount) == (
            other.original_transaction_id,
            other.currency,
            other.amount,
        )


@dataclass(frozen=True)
class RefundStep:
    """A status a refund takes at a given time, and whether a webhook announces it.

    Attributes:
        at: when the step is due, on the store's scheduling clock.
        failure_reason: why it failed or was reversed, for those statuses.
    """

    at: float
    status: HubRefundStatus
    notify: bool
    failure_reason: str | None = None


@dataclass(eq=False)
class Refund(TransferRecord[HubRefundStatus, RefundStep]):
    """One refund as the hub records it.

    Attributes:
        refund_id: the hub's id, under which it files the refund.
        executed: the refund's money is out of the float (processed, or accepted in the
            timeout scenario); false while pending, once failed and once reversed.
        execution_count: how many times its money left the float; 1 for any refund the
            hub processed, which exactly-once tests check.
    """

    order: RefundOrder
    refund_id: str
    scenario: RefundScenario
    failure_reason: str | None = None
    execution_count: int = 0

    @property
    def duplicate_webhook(self) -> bool:
        """Every webhook of this refund is delivered twice (its magic amount says so)."""
        return self.scenario is RefundScenario.DUPLICATE_WEBHOOK

    @property
    def record_id(self) -> str:
        """The hub's refund id, under which the hub files the refund."""
        return self.refund_id

    @property
    def external_refund_id(self) -> str:
        """The client's reference."""
        return self.order.external_refund_id

    @property
    def amount_major(self) -> str:
        """The amount as a major-unit string."""
        return Money(amount=self.order.amount, currency=self.order.currency).to_major()

    def ack(self) -> HubRefundAck:
        """The answer a request of this refund gets, now."""
        return HubRefundAck(
            status=self.status,
            refund_id=self.refund_id,
            external_refund_id=self.external_refund_id,
        )

    def to_wire(self) -> HubRefund:
        """The answer of a status query."""
        return HubRefund(
            refund_id=self.refund_id,
            external_refund_id=self.external_refund_id,
            original_transaction_id=self.order.original_transaction_id,
            status=self.status,
            refund_amount=self.amount_major,
            currency=self.order.currency,
            reason=self.order.reason,
            failure_reason=self.failure_reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def callback(
        self, event_id: str, status: HubRefundStatus, timestamp: datetime
    ) -> HubRefundCallback:
        """A ``refundStatus`` webhook reporting ``status`` as of ``timestamp``."""
        return HubRefundCallback(
            event_id=event_id,
            refund_id=self.refund_id,
            external_refund_id=self.external_refund_id,
            original_transaction_id=self.order.original_transaction_id,
            status=status,
            refund_amount=self.amount_major,
            currency=self.order.currency,
            failure_reason=self.failure_reason if status is self.status else None,
            timestamp=timestamp,
        )
