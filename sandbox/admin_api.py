"""The admin API: what the hub really executed, fault injection, webhooks, reset.

No authentication: the sandbox is a local tool. The transfer list is the hub's own
record, which exactly-once tests count against; it never shows a full msisdn.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.hub import HubStatus
from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.sandbox.config import Faults
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.sandbox.state import StateDep
from payments_engine.sandbox.store import Delivery, ResolveRefused, Transfer, TransferNotFound

router = APIRouter(tags=["admin"])


class _Admin(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class AdminTransfer(_Admin):
    """A transfer as the hub recorded it, without the beneficiary's number.

    Attributes:
        amount: minor units.
        executed: the money actually moved: true for accepted transfers pending or
            succeeded, false for rejected or failed ones.
        submit_count: submissions that carried this reference (repeats included).
        status_queries: status queries that asked for it.
    """

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


class AdminDelivery(_Admin):
    """One webhook delivery: pending, delivered or given up.

    Attributes:
        attempts: attempts made so far.
        gave_up: every attempt failed; the hub will not try again.
        last_http_status: the receiver's answer to the last attempt; None if it failed
            before an answer (connection error, timeout).
    """

    delivery_id: str
    event_id: str = Field(alias="eventId")
    third_party_trans_id: str = Field(alias="thirdPartyTransId")
    status: HubStatus
    attempts: int
    delivered: bool
    gave_up: bool
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> AdminDelivery:
        """The admin view of a delivery."""
        return cls(
            delivery_id=delivery.delivery_id,
            event_id=delivery.event_id,
            third_party_trans_id=delivery.third_party_trans_id,
            status=delivery.status,
            attempts=delivery.attempts,
            delivered=delivery.delivered,
            gave_up=delivery.gave_up,
            last_http_status=delivery.last_http_status,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            last_attempt_at=delivery.last_attempt_at,
        )


class ResolveRequest(BaseModel):
    """Body of a forced resolution: a final status, MR101 or ER10x."""

    model_config = ConfigDict(extra="forbid")

    status: HubStatus

    @field_validator("status")
    @classmethod
    def _final(cls, value: HubStatus) -> HubStatus:
        if not value.outcome.is_final:
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


@router.get("/faults", response_model=Faults)
async def get_faults(state: StateDep) -> Faults:
    """The faults in force."""
    return state.store.faults


@router.put("/faults", response_model=Faults)
async def put_faults(faults: Faults, state: StateDep) -> Faults:
    """Replace the faults; fields left out are switched off."""
    state.store.faults = faults
    return faults


@router.get("/webhooks", response_model=list[AdminDelivery])
async def list_webhooks(state: StateDep) -> list[AdminDelivery]:
    """The webhook delivery log, oldest first."""
    return [AdminDelivery.of(delivery) for delivery in state.store.deliveries()]


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


@router.post("/reset")
async def reset(state: StateDep) -> dict[str, bool]:
    """Forget every transfer and webhook, clear the faults and restore the floats.

    A state file, if any, is emptied too.
    """
    if state.dispatcher is not None:
        state.dispatcher.cancel_deliveries()
    state.store.reset()
    return {"reset": True}
