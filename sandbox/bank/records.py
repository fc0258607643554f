"""The records the bank simulator keeps: transfers, their plans and their history.

Plain data, shared by the store (:mod:`.store`) and the state file; webhooks are the
common outbox's deliveries. What every simulator's transfer has (status, times, plan,
counters) is the common :class:`~payments_engine.sandbox.common.records.TransferRecord`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from payments_engine.domain.money import Money
from payments_engine.sandbox.bank.scenarios import BankScenario
from payments_engine.sandbox.bank.wire import (
    AccountType,
    BeneficiarySummary,
    DocumentType,
    EventType,
    ReturnCode,
    Transfer,
    TransferEvent,
    TransferStatus,
)
from payments_engine.sandbox.common.persistence import (
    Document,
    decode_required_time,
    encode_time,
)
from payments_engine.sandbox.common.records import (
    TransferRecord,
    decode_progress,
    encode_progress,
)


@dataclass(frozen=True)
class TransferOrder:
    """A validated transfer request.

    Attributes:
        external_id: the client's reference: the bank's idempotency key.
        amount: minor units, positive.
        amount_text: the amount as the client sent it, echoed back as is.
        account_number: digits only; its last two choose the scenario.
        document_number: upper case, no spaces or dots.
    """

    external_id: str
    amount: int
    amount_text: str
    currency: str
    bank_code: str
    account_type: AccountType
    account_number: str
    document_type: DocumentType
    document_number: str
    holder_name: str
    country: str
    description: str | None = None

    @property
    def money(self) -> Money:
        """The amount and currency."""
        return Money(amount=self.amount, currency=self.currency)

    def fingerprint(self) -> str:
        """A digest of the request: equal for equal bodies, and reveals nothing of them."""
        canonical = json.dumps(_encode_order(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def summary(self) -> BeneficiarySummary:
        """The beneficiary as the bank shows it back."""
        return BeneficiarySummary(
            bank_code=self.bank_code,
            account_type=self.account_type,
            account_last4=self.account_number[-4:],
            country=self.country,
        )


@dataclass(frozen=True)
class PlannedStep:
    """When a transfer takes a final status, and whether a webhook announces it."""

    at: float
    status: TransferStatus
    return_code: ReturnCode | None
    notify: bool


@dataclass(frozen=True)
class HistoryEntry:
    """One status a transfer took, and when (wall clock)."""

    status: TransferStatus
    at: datetime
    return_code: ReturnCode | None = None
    forced: bool = False


@dataclass(eq=False, kw_only=True)
class BankTransfer(TransferRecord[TransferStatus, PlannedStep]):
    """One transfer as the simulator records it.

    Attributes:
        transfer_id: the bank's id of the transfer (``trf_...``).
        order_digest: :meth:`TransferOrder.fingerprint` of the creating body.
        executed: the money left the float and stays out: true while ACCEPTED or once
            SETTLED, false once RETURNED.
        return_code: why it was RETURNED; None otherwise.
        history: every status it took, oldest first (ACCEPTED first).
    """

    order: TransferOrder
    transfer_id: str
    order_digest: str
    scenario: BankScenario
    return_code: ReturnCode | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def record_id(self) -> str:
        """The ``external_id``, under which the bank files the transfer."""
        return self.order.external_id

    def _final_at(self, status: TransferStatus) -> datetime | None:
        if self.status is not status:
            return None
        return next((entry.at for entry in reversed(self.history) if entry.status is status), None)

    def to_wire(self) -> Transfer:
        """The answer of a submission or a status query."""
        order = self.order
        code = self.return_code if self.status is TransferStatus.RETURNED else None
        return Transfer(
            id=self.transfer_id,
            external_id=order.external_id,
            status=self.status,
            amount=order.amount_text,
            currency=order.currency,
            beneficiary=order.summary(),
            description=order.description,
            return_code=code,
            return_reason=code.reason if code else None,
            return_message=code.message if code else None,
            created_at=self.created_at,
            updated_at=self.updated_at,
            settled_at=self._final_at(TransferStatus.SETTLED),
            returned_at=self._final_at(TransferStatus.RETURNED),
        )

    def event(self, event_id: str, created_at: datetime) -> TransferEvent:
        """The webhook announcing the transfer's (final) status now."""
        answer = self.to_wire()
        return TransferEvent(
            event_id=event_id,
            type=EventType.of(self.status),
            created_at=created_at,
            id=answer.id,
            external_id=answer.external_id,
            status=answer.status,
            amount=answer.amount,
            currency=answer.currency,
            return_code=answer.return_code,
            return_reason=answer.return_reason,
            return_message=answer.return_message,
        )


def _encode_order(order: TransferOrder) -> Document:
    document = asdict(order)
    document["account_type"] = order.account_type.value
    document["document_type"] = order.document_type.value
    return document


def _decode_order(document: Document) -> TransferOrder:
    return TransferOrder(
        external_id=document["external_id"],
        amount=int(document["amount"]),
        amount_text=document["amount_text"],
        currency=document["currency"],
        bank_code=document["bank_code"],
        account_type=AccountType(document["account_type"]),
        account_number=document["account_number"],
        document_type=DocumentType(document["document_type"]),
        document_number=document["document_number"],
        holder_name=document["holder_name"],
        country=document["country"],
        description=document.get("description"),
    )


def _encode_plan(plan: Iterable[PlannedStep]) -> list[list[Any]]:
    return [
        [
            step.at,
            step.status.value,
            step.return_code.value if step.return_code else None,
            step.notify,
        ]  # fmt: skip
        for step in plan
    ]


def _decode_plan(rows: Iterable[list[Any]]) -> list[PlannedStep]:
    return [
        PlannedStep(
            at=float(at),
            status=TransferStatus(status),
            return_code=ReturnCode(code) if code else None,
            notify=bool(notify),
        )
        for at, status, code, notify in rows
    ]


def _encode_history(history: Iterable[HistoryEntry]) -> list[Document]:
    return [
        {
            "status": entry.status.value,
            "at": encode_time(entry.at),
            "return_code": entry.return_code.value if entry.return_code else None,
            "forced": entry.forced,
        }
        for entry in history
    ]


def _decode_history(rows: Iterable[Document]) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            status=TransferStatus(row["status"]),
            at=decode_required_time(row["at"]),
            return_code=ReturnCode(row["return_code"]) if row.get("return_code") else None,
            forced=bool(row.get("forced", False)),
        )
        for row in rows
    ]


def encode_transfer(transfer: BankTransfer) -> Document:
    """The state-file document of a transfer, its plan, history and counters included."""
    return {
        "order": _encode_order(transfer.order),
        "transfer_id": transfer.transfer_id,
        "order_digest": transfer.order_digest,
        "scenario": transfer.scenario.value,
        "status": transfer.status.value,
        "return_code": transfer.return_code.value if transfer.return_code else None,
        "executed": transfer.executed,
        "history": _encode_history(transfer.history),
        **encode_progress(transfer, _encode_plan(transfer.plan)),
    }


def decode_transfer(document: Document) -> BankTransfer:
    """The transfer :func:`encode_transfer` wrote."""
    return BankTransfer(
        order=_decode_order(document["order"]),
        transfer_id=document["transfer_id"],
        order_digest=document["order_digest"],
        scenario=BankScenario(document["scenario"]),
        status=TransferStatus(document["status"]),
        return_code=ReturnCode(document["return_code"]) if document["return_code"] else None,
        executed=bool(document["executed"]),
        history=_decode_history(document["history"]),
        plan=_decode_plan(document["plan"]),
        **decode_progress(document),
    )
