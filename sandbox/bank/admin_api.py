"""The bank's admin API (under ``/admin/bank``): transfers with their history and webhooks.

No authentication: the sandbox is a local tool. A transfer is shown without the
beneficiary's full account or document number, with every status it took and every
webhook delivery about it (attempts, last answer). Besides the routes every simulator
has (scenarios, faults, the webhook log, reset), a pending transfer can be forced to a
final status and a final transfer's webhook sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, model_validator

from payments_engine.sandbox.bank.records import BankTransfer, HistoryEntry
from payments_engine.sandbox.bank.scenarios import BankScenario
from payments_engine.sandbox.bank.state import StateDep, get_state
from payments_engine.sandbox.bank.store import BankStore, ResolveRefused, TransferNotFound
from payments_engine.sandbox.bank.wire import ReturnCode, TransferStatus
from payments_engine.sandbox.common.admin import (
    AdminDelivery,
    ScenarioView,
    add_operation_routes,
    add_scenario_route,
)
from payments_engine.sandbox.common.outbox import Delivery

router = APIRouter(tags=["admin: bank"])


class BankAdminDelivery(AdminDelivery):
    """One webhook delivery of the bank.

    Attributes:
        reference: the transfer's ``external_id``.
        event_id: the event's id in the body; a resend repeats it.
        status: the transfer status it announces (SETTLED or RETURNED).
    """

    event_id: str

    @classmethod
    def of(cls, delivery: Delivery) -> BankAdminDelivery:
        """The admin view of a delivery."""
        return cls(**cls.fields_of(delivery), event_id=delivery.event_id)


class BankAdminHistoryEntry(BaseModel):
    """One status a transfer took; ``forced`` when the admin API imposed it."""

    status: TransferStatus
    at: datetime
    return_code: ReturnCode | None
    forced: bool

    @classmethod
    def of(cls, entry: HistoryEntry) -> BankAdminHistoryEntry:
        """The admin view of a history entry."""
        return cls(
            status=entry.status, at=entry.at, return_code=entry.return_code, forced=entry.forced
        )


def _mask(text: str) -> str:
    return "*" * max(len(text) - 4, 0) + text[-4:]


class BankAdminTransfer(BaseModel):
    """A transfer as the bank recorded it, without the full account or document number.

    Attributes:
        reference: our reference, the same as ``external_id`` (every simulator's admin
            view has it, so tests can treat providers alike).
        transfer_id: the bank's id.
        amount: major units as the client sent them; ``amount_minor`` in minor units.
        executed: the money left the float and stays out (ACCEPTED or SETTLED).
        beneficiary: bank code, account type, masked account and document, initials.
        submit_count: submissions that carried this ``external_id`` (repeats and
            conflicts too).
        history: every status it took, oldest first.
        webhooks: every webhook delivery about it, oldest first.
    """

    reference: str
    external_id: str
    transfer_id: str
    amount: str
    amount_minor: int
    currency: str
    status: TransferStatus
    return_code: ReturnCode | None
    return_reason: str | None
    executed: bool
    scenario: BankScenario
    beneficiary: str
    description: str | None
    submit_count: int
    status_queries: int
    created_at: datetime
    updated_at: datetime
    history: list[BankAdminHistoryEntry]
    webhooks: list[BankAdminDelivery]

    @classmethod
    def of(cls, transfer: BankTransfer, store: BankStore) -> BankAdminTransfer:
        """The admin view of a stored transfer and its deliveries in ``store``."""
        order = transfer.order
        initials = " ".join(f"{part[0]}." for part in order.holder_name.split())
        beneficiary = (
            f"bank {order.bank_code} {order.account_type.value} {_mask(order.account_number)}"
            f" ({order.document_type.value} {_mask(order.document_number)}, {initials})"
        )
        return cls(
            reference=order.external_id,
            external_id=order.external_id,
            transfer_id=transfer.transfer_id,
            amount=order.amount_text,
            amount_minor=order.amount,
            currency=order.currency,
            status=transfer.status,
            return_code=transfer.return_code,
            return_reason=transfer.return_code.reason if transfer.return_code else None,
            executed=transfer.executed,
            scenario=transfer.scenario,
            beneficiary=beneficiary,
            description=order.description,
            submit_count=transfer.submit_count,
            status_queries=transfer.status_queries,
            created_at=transfer.created_at,
            updated_at=transfer.updated_at,
            history=[BankAdminHistoryEntry.of(entry) for entry in transfer.history],
            webhooks=[
                BankAdminDelivery.of(delivery)
                for delivery in store.deliveries_of(transfer.record_id)
            ],
        )


class BankResolveRequest(BaseModel):
    """Body of a forced resolution: SETTLED, or RETURNED with a return code."""

    model_config = ConfigDict(extra="forbid")

    status: TransferStatus
    return_code: ReturnCode | None = None

    @model_validator(mode="after")
    def _final_with_code(self) -> Self:
        if not self.status.is_final:
            raise ValueError("only a final status (SETTLED or RETURNED) can be forced")
        if (self.status is TransferStatus.RETURNED) != (self.return_code is not None):
            raise ValueError("RETURNED needs a return_code; SETTLED takes none")
        return self


class BankScenarioInfo(ScenarioView):
    """A magic account number, for tools and docs."""

    scenario: BankScenario
    suffix: str | None
    final_status: TransferStatus | None
    return_code: ReturnCode | None
    summary: str


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such transfer")


# Each route first applies the steps that are due, so it shows the transfers as they are
# now; reading one counts no status query.


@router.get("/transfers", response_model=list[BankAdminTransfer])
async def list_transfers(state: StateDep) -> list[BankAdminTransfer]:
    """Every transfer the bank holds, oldest first, with its history and webhooks."""
    store = state.store
    store.advance()
    return [BankAdminTransfer.of(transfer, store) for transfer in store.transfers()]


@router.get("/transfers/{external_id}", response_model=BankAdminTransfer)
async def get_transfer(external_id: str, state: StateDep) -> BankAdminTransfer:
    """One transfer, without counting a status query."""
    store = state.store
    store.advance()
    transfer = store.get(external_id)
    if transfer is None:
        raise _not_found()
    return BankAdminTransfer.of(transfer, store)


@router.post("/transfers/{external_id}/resolve", response_model=BankAdminTransfer)
async def resolve_transfer(
    external_id: str, body: BankResolveRequest, state: StateDep
) -> BankAdminTransfer:
    """Force an ACCEPTED transfer's final status now, and send its webhook."""
    store = state.store
    store.advance()
    try:
        transfer = store.force_status(external_id, body.status, body.return_code)
    except TransferNotFound:
        raise _not_found() from None
    except ResolveRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return BankAdminTransfer.of(transfer, store)


@router.post("/transfers/{external_id}/resend-webhook", response_model=BankAdminDelivery)
async def resend_webhook(external_id: str, state: StateDep) -> BankAdminDelivery:
    """Send the final status's webhook again: the same event, or a new one if it was lost.

    409 while the transfer is ACCEPTED (no webhook yet) or with no webhook URL.
    """
    store = state.store
    store.advance()
    try:
        delivery = store.resend_webhook(external_id)
    except TransferNotFound:
        raise _not_found() from None
    except ResolveRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return BankAdminDelivery.of(delivery)


add_scenario_route(router, BankScenario, BankScenarioInfo)
add_operation_routes(router, get_state, BankAdminDelivery)
