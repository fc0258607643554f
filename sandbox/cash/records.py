"""What a cash network simulator records of a voucher: its order, state, plan and history.

Plain data, shared by the store (:mod:`.store`) and the state file; notifications are
the common outbox's deliveries. A voucher is the common store's transfer: its status,
times, plan of timed steps and counters are the common
:class:`~payments_engine.sandbox.common.records.TransferRecord`'s. Times that schedule a
step (``at``) are seconds of the store's clock; the wall-clock time of such a step is
derived from the voucher's creation (:meth:`VoucherRecord.wall_time`), so a payment made
by a late tick still carries the time it was planned for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from payments_engine.sandbox.common.persistence import (
    Document,
    decode_required_time,
    decode_time,
    encode_time,
)
from payments_engine.sandbox.common.records import (
    TransferRecord,
    decode_progress,
    encode_progress,
)

if TYPE_CHECKING:
    from payments_engine.sandbox.cash.scenarios import VoucherScenario


class VoucherState(StrEnum):
    """Where a voucher stands at the network.

    EXPIRED and CANCELLED vouchers still take a late payment, which makes them
    APPROVED; DECLINED ones were never issued.
    """

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    DECLINED = "DECLINED"

    @property
    def is_final(self) -> bool:
        """APPROVED and DECLINED never change."""
        return self in (VoucherState.APPROVED, VoucherState.DECLINED)

    @property
    def notified(self) -> bool:
        """The states a notification announces: every one but PENDING and DECLINED."""
        return self in (VoucherState.APPROVED, VoucherState.EXPIRED, VoucherState.CANCELLED)


class StepKind(StrEnum):
    """What a planned step does; at one time they are taken in this order."""

    EXPIRE = "expire"
    """The voucher expires, unless it was paid or is closed already."""
    PAY = "pay"
    """The payer pays at the shop, unless it was paid already."""
    CONFIRM = "confirm"
    """The network confirms the payment made at the shop: APPROVED, notified."""


_STEP_ORDER = {StepKind.EXPIRE: 0, StepKind.PAY: 1, StepKind.CONFIRM: 2}


@dataclass(frozen=True)
class VoucherStep:
    """One planned step of a voucher, due at ``at`` on the store's clock."""

    at: float
    kind: StepKind

    @property
    def order(self) -> tuple[float, int]:
        """Its place in a plan."""
        return (self.at, _STEP_ORDER[self.kind])


class HistoryEvent(StrEnum):
    """What happened to a voucher, as its history shows it."""

    CREATED = "created"
    DECLINED = "declined"
    REPEATED = "repeated"
    PAID = "paid"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CANCEL_REFUSED = "cancel_refused"
    NOTIFICATION = "notification"
    NOTIFICATION_LOST = "notification_lost"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a voucher's history: when, what, and details without personal data."""

    at: datetime
    event: HistoryEvent
    detail: str | None = None


@dataclass(frozen=True)
class VoucherOrder:
    """A validated request for a voucher, in the network's terms.

    Attributes:
        key: the network's idempotency key (Efecty's ``referenceCode``, OXXO's
            ``Idempotency-Key``): one voucher per key.
        reference: the merchant's reference (ours, ``cash-order-<id>``), which every
            notification carries.
        amount: minor units.
        amount_text: the amount as the network writes it (``120000``, ``1500.00``).
        payer_masked: the payer's initials; the name is not kept.
        document_type: the payer's document type.
        document_masked: the document's type and last four characters.
        scenario: what the network does with it, chosen by the document number.
        requested_expiry: the expiry the request asked for (or the network's default).
        fingerprint: a digest of the request, to tell a repeat from another request
            under the same key.
        notify_url: where its notifications go; None for the configured URL.
    """

    key: str
    reference: str
    amount: int
    amount_text: str
    currency: str
    payer_masked: str
    document_type: str
    document_masked: str
    scenario: VoucherScenario
    requested_expiry: datetime
    fingerprint: str
    description: str | None = None
    notify_url: str | None = None


@dataclass(eq=False, kw_only=True)
class VoucherRecord(TransferRecord[VoucherState, VoucherStep]):
    """One voucher as the network records it.

    Attributes:
        executed: the payment was confirmed and the float credited with it, less the fee.
        network_id: the network's id of the voucher (Efecty's ``transactionId``, OXXO's
            ``pi_...``).
        order_number: the network's numeric order id (Efecty's ``orderId``).
        voucher_reference: the code the payer quotes at the till; None when declined.
        barcode: the value the till scans; None when declined.
        expires_at: when the network stops taking payments on time.
        created_clock: the store's clock at creation, to date planned steps.
        paid_at: when the payer paid at the shop; the network shows it once confirmed.
        confirmed_at: when the network confirmed the payment (APPROVED).
        closed_at: when it EXPIRED or was CANCELLED.
        fee: the network's fee, minor units, once APPROVED.
        history: what happened, oldest first.
    """

    order: VoucherOrder
    network_id: str
    order_number: int
    voucher_reference: str | None
    barcode: str | None
    expires_at: datetime
    created_clock: float
    paid_at: datetime | None = None
    confirmed_at: datetime | None = None
    closed_at: datetime | None = None
    fee: int | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        """The network's idempotency key, under which it files the voucher."""
        return self.order.key

    @property
    def reference(self) -> str:
        """The merchant's reference."""
        return self.order.reference

    @property
    def scenario(self) -> VoucherScenario:
        """What the network does with it."""
        return self.order.scenario

    @property
    def issued(self) -> bool:
        """False for a voucher the network refused to issue."""
        return self.status is not VoucherState.DECLINED

    @property
    def expiry_clock(self) -> float:
        """The expiry on the store's clock."""
        return self.created_clock + (self.expires_at - self.created_at).total_seconds()

    def wall_time(self, at: float) -> datetime:
        """The wall-clock time of ``at``, a time of the store's clock."""
        return self.created_at + timedelta(seconds=at - self.created_clock)

    def note(self, at: datetime, event: HistoryEvent, detail: str | None = None) -> None:
        """Add a line to the history."""
        self.history.append(HistoryEntry(at, event, detail))

    def add_step(self, step: VoucherStep) -> None:
        """Put ``step`` in its place in the plan."""
        self.plan.append(step)
        self.plan.sort(key=lambda planned: planned.order)


def _encode_plan(plan: Iterable[VoucherStep]) -> list[list[Any]]:
    return [[step.at, step.kind.value] for step in plan]


def _decode_plan(rows: Iterable[list[Any]]) -> list[VoucherStep]:
    return [VoucherStep(at=float(at), kind=StepKind(kind)) for at, kind in rows]


def encode_voucher(voucher: VoucherRecord) -> Document:
    """The state-file document of a voucher, its plan, history and counters included."""
    order = voucher.order
    return {
        "key": order.key,
        "reference": order.reference,
        "amount": order.amount,
        "amount_text": order.amount_text,
        "currency": order.currency,
        "payer_masked": order.payer_masked,
        "document_type": order.document_type,
        "document_masked": order.document_masked,
        "scenario": order.scenario.value,
        "requested_expiry": encode_time(order.requested_expiry),
        "fingerprint": order.fingerprint,
        "description": order.description,
        "notify_url": order.notify_url,
        "status": voucher.status.value,
        "executed": voucher.executed,
        "network_id": voucher.network_id,
        "order_number": voucher.order_number,
        "voucher_reference": voucher.voucher_reference,
        "barcode": voucher.barcode,
        "expires_at": encode_time(voucher.expires_at),
        "created_clock": voucher.created_clock,
        "paid_at": encode_time(voucher.paid_at),
        "confirmed_at": encode_time(voucher.confirmed_at),
        "closed_at": encode_time(voucher.closed_at),
        "fee": voucher.fee,
        "history": [
            [encode_time(entry.at), entry.event.value, entry.detail] for entry in voucher.history
        ],
        **encode_progress(voucher, _encode_plan(voucher.plan)),
    }


def decode_voucher(document: Document) -> VoucherRecord:
    """The voucher :func:`encode_voucher` wrote."""
    from payments_engine.sandbox.cash.scenarios import VoucherScenario

    order = VoucherOrder(
        key=document["key"],
        reference=document["reference"],
        amount=int(document["amount"]),
        amount_text=document["amount_text"],
        currency=document["currency"],
        payer_masked=document["payer_masked"],
        document_type=document["document_type"],
        document_masked=document["document_masked"],
        scenario=VoucherScenario(document["scenario"]),
        requested_expiry=decode_required_time(document["requested_expiry"]),
        fingerprint=document["fingerprint"],
        description=document["description"],
        notify_url=document["notify_url"],
    )
    return VoucherRecord(
        order=order,
        status=VoucherState(document["status"]),
        executed=bool(document["executed"]),
        network_id=document["network_id"],
        order_number=int(document["order_number"]),
        voucher_reference=document["voucher_reference"],
        barcode=document["barcode"],
        expires_at=decode_required_time(document["expires_at"]),
        created_clock=float(document["created_clock"]),
        paid_at=decode_time(document["paid_at"]),
        confirmed_at=decode_time(document["confirmed_at"]),
        closed_at=decode_time(document["closed_at"]),
        fee=document["fee"],
        history=[
            HistoryEntry(decode_required_time(at), HistoryEvent(event), detail)
            for at, event, detail in document["history"]
        ],
        plan=_decode_plan(document["plan"]),
        **decode_progress(document),
    )
