"""The hub's admin API: what the hub really executed, forced resolution, scenarios.

Faults, the webhook log and reset are the common admin routes
(:func:`~payments_engine.sandbox.common.admin.add_operation_routes`). No
authentication: the sandbox is a local tool. The transfer list is the hub's own record,
which exactly-once tests count against; it never shows a full msisdn.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.sandbox.common.admin import AdminDelivery, add_operation_routes
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.store import ResolveRefused, TransferNotFound
from payments_engine.sandbox.hub.records import Transfer
from payments_engine.sandbox.hub.scenarios import Scenario
from payments_engine.sandbox.hub.state import StateDep, get_state
from payments_engine.sandbox.hub.wire import HubStatus

router = APIRouter(tags=["admin"])


class _Admin(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class AdminTransfer(_Admin):
    """A transfer as the hub recorded it, without the beneficiary's number.

    Attributes:
        reference: our reference, the same as ``thirdPartyTransId`` (every simulator's
            admin view has it, so tests can treat providers alike).
        amount: minor units.
        executed: the money actually moved: true for accepted transfers pending or
            succeeded, false for rejected or failed ones.
        submit_count: submissions that carried this reference (repeats included).
        status_queries: status queries that asked for it.
    """

    reference: str
    third_party_trans_id: str = Field(alias="thirdPartyTransId")
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    amount: int
    executed: bool
    submit_count: int
    status_queries: int
    scenario: Scenario
    msisdn_masked: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, transfer: Transfer) -> AdminTransfer:
        """The admin view of a stored transfer."""
        return cls(
            reference=transfer.third_party_trans_id,
            third_party_trans_id=transfer.third_party_trans_id,
            transaction_id=transfer.transaction_id,
            status=transfer.status,
            currency=transfer.order.currency,
            amount=transfer.order.amount,
            executed=transfer.executed,
            submit_count=transfer.submit_count,
            status_queries=transfer.status_queries,
            scenario=transfer.scenario,
            msisdn_masked=mask_msisdn(transfer.order.msisdn),
            created_at=transfer.created_at,
            updated_at=transfer.updated_at,
        )


class HubAdminDelivery(AdminDelivery):
    """One hub webhook delivery: pending, delivered or given up.

    Attributes:
        event_id: the event's ``eventId``; two deliveries share it when the hub sends an
            event twice.
        third_party_trans_id: the same as ``reference``.
    """

    event_id: str = Field(alias="eventId")
    third_party_trans_id: str = Field(alias="thirdPartyTransId")

    @classmethod
    def of(cls, delivery: Delivery) -> HubAdminDelivery:
        """The admin view of a delivery."""
        return cls(
            **cls.fields_of(delivery),
            event_id=delivery.event_id,
            third_party_trans_id=delivery.reference,
        )


class ResolveRequest(BaseModel):
    """Body of a forced resolution: a final status, MR101 or ER10x."""

    model_config = ConfigDict(extra="forbid")

    status: HubStatus

    @field_validator("status")
    @classmethod
    def _final(cls, value: HubStatus) -> HubStatus:
        if not value.is_final:
            raise ValueError("only a final status (MR101 or ER10x) can be forced")
        return value


class ScenarioInfo(BaseModel):
    """A magic-number scenario, for tools and docs."""

    scenario: Scenario
    suffix: str | None
    final_status: HubStatus | None
    summary: str


@router.get("/transfers", response_model=list[AdminTransfer])
async def list_transfers(state: StateDep) -> list[AdminTransfer]:
    """Every transfer the hub holds, oldest first."""
    state.store.advance()
    return [AdminTransfer.of(transfer) for transfer in state.store.transfers()]


@router.get("/transfers/{third_party_trans_id}", response_model=AdminTransfer)
async def get_transfer(third_party_trans_id: str, state: StateDep) -> AdminTransfer:
    """One transfer, without counting a status query."""
    state.store.advance()
    transfer = state.store.get(third_party_trans_id)
    if transfer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such transfer")
    return AdminTransfer.of(transfer)


@router.post("/transfers/{third_party_trans_id}/resolve", response_model=AdminTransfer)
async def resolve_transfer(
    third_party_trans_id: str, body: ResolveRequest, state: StateDep
) -> AdminTransfer:
    """Force a pending transfer's final status now, and send its webhook."""
    state.store.advance()
    try:
        transfer = state.store.force_status(third_party_trans_id, body.status)
    except TransferNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such transfer") from None
    except ResolveRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return AdminTransfer.of(transfer)


@router.get("/scenarios", response_model=list[ScenarioInfo])
async def list_scenarios() -> list[ScenarioInfo]:
    """The magic-number scenarios."""
    return [
        ScenarioInfo(
            scenario=scenario,
            suffix=scenario.suffix,
            final_status=scenario.final_status,
            summary=scenario.summary,
        )
        for scenario in Scenario
    ]


add_operation_routes(router, get_state, HubAdminDelivery)
