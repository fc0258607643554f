"""The records the MoMo simulator keeps: transfers and requests to pay, with their plans.

Plain data, shared by the store (:mod:`.store`) and the state file; callbacks are the
common outbox's deliveries. What every simulator's transfer has (status, times, plan,
counters) is the common :class:`~payments_engine.sandbox.common.records.TransferRecord`;
a request to pay is such a record too, filed apart under documents of its own kind
(:data:`REQUEST_TO_PAY`), since its reference ids are another namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from payments_engine.domain.money import Money
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
from payments_engine.sandbox.momo.scenarios import MomoScenario, RequestToPayScenario
from payments_engine.sandbox.momo.wire import (
    Party,
    PartyIdType,
    Reason,
    RequestToPayResult,
    TransferResult,
    TransferStatus,
)

REQUEST_TO_PAY = "request_to_pay"
"""The state-file kind of requests to pay (transfers are the common ``transfer`` kind)."""


@dataclass(frozen=True)
class MomoOrder:
    """What a validated transfer or request to pay carries: the two bodies match.

    Attributes:
        reference_id: the ``X-Reference-Id`` (a UUID, lower case): MoMo's idempotency key.
        external_id: the client's own reference (``externalId``).
        amount: minor units, positive.
        amount_text: the amount as the client sent it, echoed back as is.
        party_id: the MSISDN of the other party (payee or payer), digits only.
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

    @property
    def party(self) -> Party:
        """The other party as the wire names it."""
        return Party(party_id_type=self.party_id_type, party_id=self.party_id)


@dataclass(frozen=True)
class TransferOrder(MomoOrder):
    """A validated transfer request; ``party_id`` is the payee's MSISDN."""


@dataclass(frozen=True)
class RequestToPayOrder(MomoOrder):
    """A validated request to pay; ``party_id`` is the payer's MSISDN."""


OrderT = TypeVar("OrderT", bound=MomoOrder)


@dataclass(frozen=True)
class PlannedStep:
    """When a transfer or request to pay takes a status, and whether a callback announces it."""

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
            payee=order.party,
            payer_message=order.payer_message,
            payee_note=order.payee_note,
            status=self.status,
            reason=self.reason if self.status is TransferStatus.FAILED else None,
        )


@dataclass(eq=False)
class MomoRequestToPay(TransferRecord[TransferStatus, PlannedStep]):
    """One request to pay as the simulator records it.

    Attributes:
        executed: the payer paid and the float was credited: true once SUCCESSFUL only
            (nothing moves while the payer decides).
        expires_at: when the payer's window closes, wall clock.
        reason: why it FAILED; None otherwise.
        financial_transaction_id: MoMo's id of the payment, set once it is SUCCESSFUL.
        submit_count: requests that carried this reference id (the 409'd repeats too).
    """

    order: RequestToPayOrder
    scenario: RequestToPayScenario
    expires_at: datetime
    reason: Reason | None = None
    financial_transaction_id: str | None = None

    @property
    def reference_id(self) -> str:
        """The ``X-Reference-Id``, under which MoMo files the request to pay."""
        return self.order.reference_id

    record_id = reference_id

    def to_wire(self) -> RequestToPayResult:
        """The answer of a status query, which is also the callback's body."""
        order = self.order
        return RequestToPayResult(
            amount=order.amount_text,
            currency=order.currency,
            financial_transaction_id=self.financial_transaction_id,
            external_id=order.external_id,
            payer=order.party,
            payer_message=order.payer_message,
            payee_note=order.payee_note,
            status=self.status,
            reason=self.reason if self.status is TransferStatus.FAILED else None,
        )


def _encode_order(order: MomoOrder) -> Document:
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
    }


def _decode_order(kind: type[OrderT], document: Document) -> OrderT:
    return kind(
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


def _encode_plan(plan: Iterable[PlannedStep]) -> list[list[Any]]:
    return [
        [step.at, step.status.value, step.reason.value if step.reason else None, step.notify]
        for step in plan
    ]


def _decode_plan(rows: Iterable[list[Any]]) -> list[PlannedStep]:
    return [
        PlannedStep(
            at=float(at),
            status=TransferStatus(status),
            reason=Reason(reason) if reason else None,
            notify=bool(notify),
        )
        for at, status, reason, notify in rows
    ]


def encode_transfer(transfer: MomoTransfer) -> Document:
    """The state-file document of a transfer, its plan and counters included."""
    return {
        **_encode_order(transfer.order),
        "scenario": transfer.scenario.value,
        "status": transfer.status.value,
        "reason": transfer.reason.value if transfer.reason else None,
        "executed": transfer.executed,
        "financial_transaction_id": transfer.financial_transaction_id,
        **encode_progress(transfer, _encode_plan(transfer.plan)),
    }


def decode_transfer(document: Document) -> MomoTransfer:
    """The transfer :func:`encode_transfer` wrote."""
    return MomoTransfer(
        order=_decode_order(TransferOrder, document),
        scenario=MomoScenario(document["scenario"]),
        status=TransferStatus(document["status"]),
        executed=bool(document["executed"]),
        reason=Reason(document["reason"]) if document["reason"] else None,
        financial_transaction_id=document["financial_transaction_id"],
        plan=_decode_plan(document["plan"]),
        **decode_progress(document),
    )


def encode_request_to_pay(request: MomoRequestToPay) -> Document:
    """The state-file document of a request to pay, its plan and counters included."""
    return {
        **_encode_order(request.order),
        "scenario": request.scenario.value,
        "status": request.status.value,
        "reason": request.reason.value if request.reason else None,
        "executed": request.executed,
        "financial_transaction_id": request.financial_transaction_id,
        "expires_at": encode_time(request.expires_at),
        **encode_progress(request, _encode_plan(request.plan)),
    }


def decode_request_to_pay(document: Document) -> MomoRequestToPay:
    """The request to pay :func:`encode_request_to_pay` wrote."""
    return MomoRequestToPay(
        order=_decode_order(RequestToPayOrder, document),
        scenario=RequestToPayScenario(document["scenario"]),
        status=TransferStatus(document["status"]),
        executed=bool(document["executed"]),
        reason=Reason(document["reason"]) if document["reason"] else None,
        financial_transaction_id=document["financial_transaction_id"],
        expires_at=decode_required_time(document["expires_at"]),
        plan=_decode_plan(document["plan"]),
        **decode_progress(document),
    )
