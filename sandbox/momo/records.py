"""The records the MoMo simulator keeps: transfer orders and transfers with their plans.

Plain data, shared by the store (:mod:`.store`) and the state file; callbacks are the
common outbox's deliveries. What every simulator's transfer has (status, times, plan,
counters) is the common :class:`~payments_engine.sandbox.common.records.TransferRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.persistence import Document
from payments_engine.sandbox.common.records import (
    TransferRecord,
    decode_progress,
    encode_progress,
)
from payments_engine.sandbox.momo.scenarios import MomoScenario
from payments_engine.sandbox.momo.wire import (
    Party,
    PartyIdType,
    Reason,
    TransferResult,
    TransferStatus,
)


@dataclass(frozen=True)
class TransferOrder:
    """A validated transfer request.

    Attributes:
        reference_id: the ``X-Reference-Id`` (a UUID, lower case): MoMo's idempotency key.
        external_id: the client's own reference (``externalId``).
        amount: minor units, positive.
        amount_text: the amount as the client sent it, echoed back as is.
        party_id: the payee's MSISDN, digits only.
        callback_url: the request's ``X-Callback-Url``, if any.
    """

    reference_id: str
    external_id: str
    amount: int
    amount_text: str
    currency: str
    party_id: str
    party_id_type: PartyIdType = PartyIdType.MSISDN
    payer_message: str | None = None
    payee_note: str | None = None
    callback_url: str | None = None

    @property
    def money(self) -> Money:
        """The amount and currency."""
        return Money(amount=self.amount, currency=self.currency)


@dataclass(frozen=True)
class PlannedStep:
    """A status a transfer takes at a given time, and whether a callback announces it."""

    at: float
    status: TransferStatus
    reason: Reason | None
    notify: bool


@dataclass(eq=False)
class MomoTransfer(TransferRecord[TransferStatus, PlannedStep]):
    """One transfer as the simulator records it.

    Attributes:
        executed: false for failed transfers (never debited, or refunded).
        reason: why it FAILED; None otherwise.
        financial_transaction_id: MoMo's id of the executed transfer, set once it is
            SUCCESSFUL.
        submit_count: submissions that carried this reference id (the 409'd repeats too).
    """

    order: TransferOrder
    scenario: MomoScenario
    reason: Reason | None = None
    financial_transaction_id: str | None = None

    @property
    def reference_id(self) -> str:
        """The ``X-Reference-Id``, under which MoMo files the transfer."""
        return self.order.reference_id

    record_id = reference_id

    def to_wire(self) -> TransferResult:
        """The answer of a status query, which is also the callback's body."""
        order = self.order
        return TransferResult(
            amount=order.amount_text,
            currency=order.currency,
            financial_transaction_id=self.financial_transaction_id,
            external_id=order.external_id,
            payee=Party(party_id_type=order.party_id_type, party_id=order.party_id),
            payer_message=order.payer_message,
            payee_note=order.payee_note,
            status=self.status,
            reason=self.reason if self.status is TransferStatus.FAILED else None,
        )


def encode_transfer(transfer: MomoTransfer) -> Document:
    """The state-file document of a transfer, its plan and counters included."""
    order = transfer.order
    plan = [
        [step.at, step.status.value, step.reason.value if step.reason else None, step.notify]
        for step in transfer.plan
    ]
    return {
        "reference_id": order.reference_id,
        "external_id": order.external_id,
        "amount": order.amount,
        "amount_text": order.amount_text,
        "currency": order.currency,
        "party_id": order.party_id,
        "party_id_type": order.party_id_type.value,
        "payer_message": order.payer_message,
        "payee_note": order.payee_note,
        "callback_url": order.callback_url,
        "scenario": transfer.scenario.value,
        "status": transfer.status.value,
        "reason": transfer.reason.value if transfer.reason else None,
        "executed": transfer.executed,
        "financial_transaction_id": transfer.financial_transaction_id,
        **encode_progress(transfer, plan),
    }


def decode_transfer(document: Document) -> MomoTransfer:
    """The transfer :func:`encode_transfer` wrote."""
    order = TransferOrder(
        reference_id=document["reference_id"],
        external_id=document["external_id"],
        amount=int(document["amount"]),
        amount_text=document["amount_text"],
        currency=document["currency"],
        party_id=document["party_id"],
        party_id_type=PartyIdType(document["party_id_type"]),
        payer_message=document["payer_message"],
        payee_note=document["payee_note"],
        callback_url=document["callback_url"],
    )
    plan = [
        PlannedStep(
            at=float(at),
            status=TransferStatus(status),
            reason=Reason(reason) if reason else None,
            notify=bool(notify),
        )
        for at, status, reason, notify in document["plan"]
    ]
    return MomoTransfer(
        order=order,
        scenario=MomoScenario(document["scenario"]),
        status=TransferStatus(document["status"]),
        executed=bool(document["executed"]),
        reason=Reason(document["reason"]) if document["reason"] else None,
        financial_transaction_id=document["financial_transaction_id"],
        plan=plan,
        **decode_progress(document),
    )
