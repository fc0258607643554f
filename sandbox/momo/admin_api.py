"""MoMo's admin API (under ``/admin/momo``): what it executed, forced resolution, scenarios.

Faults, the callback log and reset are the common admin routes. No authentication: the
sandbox is a local tool. A transfer is shown without the payee's full number. Tests that
only know our reference (``externalId``) find its transfers under
``/transfers/by-external-id/{external_id}``: a list, since a client that retried with a
new reference id has two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, model_validator

from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.sandbox.common.admin import AdminDelivery, add_operation_routes
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.store import ResolveRefused, TransferNotFound
from payments_engine.sandbox.momo.records import MomoTransfer
from payments_engine.sandbox.momo.scenarios import MomoScenario
from payments_engine.sandbox.momo.state import StateDep, get_state
from payments_engine.sandbox.momo.wire import Reason, TransferStatus

router = APIRouter(tags=["admin: momo"])


class MomoAdminTransfer(BaseModel):
    """A transfer as MoMo recorded it, without the payee's full number.

    Attributes:
        reference_id: the ``X-Reference-Id`` it was created with.
        reference: our reference, the same as ``external_id`` (every simulator's admin
            view has it, so tests can treat providers alike).
        amount: major units, as MoMo formats them (``"1500.00"``).
        amount_minor: minor units.
        reason: why it FAILED; None otherwise.
        executed: the money left the float and stays out: true while pending or once
            SUCCESSFUL, false for failed transfers.
        financial_transaction_id: set once SUCCESSFUL.
        submit_count: requests that carried this reference id (the 409'd ones too).
        status_queries: status queries that asked for it.
        callback_url: the request's ``X-Callback-Url``, if any.
    """

    reference_id: str
    reference: str
    external_id: str
    amount: str
    amount_minor: int
    currency: str
    status: TransferStatus
    reason: Reason | None
    executed: bool
    financial_transaction_id: str | None
    scenario: MomoScenario
    payee_masked: str
    callback_url: str | None
    submit_count: int
    status_queries: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, transfer: MomoTransfer) -> MomoAdminTransfer:
        """The admin view of a stored transfer."""
        order = transfer.order
        return cls(
            reference_id=order.reference_id,
            reference=order.external_id,
            external_id=order.external_id,
            amount=Money(amount=order.amount, currency=order.currency).to_major(),
            amount_minor=order.amount,
            currency=order.currency,
            status=transfer.status,
            reason=transfer.reason,
            executed=transfer.executed,
            financial_transaction_id=transfer.financial_transaction_id,
            scenario=transfer.scenario,
            payee_masked=mask_msisdn("+" + order.party_id),
            callback_url=order.callback_url,
            submit_count=transfer.submit_count,
            status_queries=transfer.status_queries,
            created_at=transfer.created_at,
            updated_at=transfer.updated_at,
        )


class MomoAdminDelivery(AdminDelivery):
    """One callback: sent once, never retried.

    Attributes:
        reference: our reference (``externalId``) of the transfer.
        reference_id: the transfer's ``X-Reference-Id``.
        delivery_id: the ``webhook-id`` it was signed with.
    """

    reference_id: str

    @classmethod
    def of(cls, delivery: Delivery) -> MomoAdminDelivery:
        """The admin view of a callback."""
        return cls(**cls.fields_of(delivery), reference_id=delivery.record_id)


class MomoResolveRequest(BaseModel):
    """Body of a forced resolution: SUCCESSFUL, or FAILED with a reason."""

    model_config = ConfigDict(extra="forbid")

    status: TransferStatus
    reason: Reason | None = None

    @model_validator(mode="after")
    def _final_with_reason(self) -> Self:
        if not self.status.is_final:
            raise ValueError("only a final status (SUCCESSFUL or FAILED) can be forced")
        if (self.status is TransferStatus.FAILED) != (self.reason is not None):
            raise ValueError("FAILED needs a reason; SUCCESSFUL takes none")
        return self


class MomoScenarioInfo(BaseModel):
    """A magic-number scenario, for tools and docs."""

    scenario: MomoScenario
    suffix: str | None
    final_status: TransferStatus | None
    reason: Reason | None
    executed: bool
    summary: str


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such transfer")


@router.get("/transfers", response_model=list[MomoAdminTransfer])
async def list_transfers(state: StateDep) -> list[MomoAdminTransfer]:
    """Every transfer MoMo holds, oldest first."""
    state.store.advance()
    return [MomoAdminTransfer.of(transfer) for transfer in state.store.transfers()]


@router.get("/transfers/by-external-id/{external_id}", response_model=list[MomoAdminTransfer])
async def transfers_by_external_id(external_id: str, state: StateDep) -> list[MomoAdminTransfer]:
    """The transfers carrying that ``externalId`` (our reference), oldest first."""
    state.store.advance()
    return [MomoAdminTransfer.of(t) for t in state.store.by_external_id(external_id)]


@router.get("/transfers/{reference_id}", response_model=MomoAdminTransfer)
async def get_transfer(reference_id: str, state: StateDep) -> MomoAdminTransfer:
    """One transfer by its ``X-Reference-Id``, without counting a status query."""
    state.store.advance()
    transfer = state.store.get(reference_id.lower())
    if transfer is None:
        raise _not_found()
    return MomoAdminTransfer.of(transfer)


@router.post("/transfers/{reference_id}/resolve", response_model=MomoAdminTransfer)
async def resolve_transfer(
    reference_id: str, body: MomoResolveRequest, state: StateDep
) -> MomoAdminTransfer:
    """Force a pending transfer's final status now, and send its callback."""
    state.store.advance()
    try:
        transfer = state.store.force_status(reference_id.lower(), body.status, body.reason)
    except TransferNotFound:
        raise _not_found() from None
    except ResolveRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return MomoAdminTransfer.of(transfer)


@router.get("/scenarios", response_model=list[MomoScenarioInfo])
async def list_scenarios() -> list[MomoScenarioInfo]:
    """The magic-number scenarios."""
    return [
        MomoScenarioInfo(
            scenario=scenario,
            suffix=scenario.suffix,
            final_status=scenario.final_status,
            reason=scenario.reason,
            executed=scenario.executed,
            summary=scenario.summary,
        )
        for scenario in MomoScenario
    ]


add_operation_routes(router, get_state, MomoAdminDelivery)
