"""The hub's admin API: what the hub really executed, forced resolution, scenarios.

The routes are the common admin routes (:mod:`~payments_engine.sandbox.common.admin`)
over the hub's views. No authentication: the sandbox is a local tool. The transfer list
is the hub's own record, which exactly-once tests count against; it never shows a full
msisdn.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.sandbox.common.admin import (
    AdminDelivery,
    ScenarioView,
    add_operation_routes,
    add_scenario_route,
    add_transfer_routes,
)
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.hub.records import Transfer
from payments_engine.sandbox.hub.scenarios import Scenario
from payments_engine.sandbox.hub.state import get_state
from payments_engine.sandbox.hub.store import HubStore
from payments_engine.sandbox.hub.wire import HubStatus

router = APIRouter(tags=["admin"])


class AdminTransfer(BaseModel):
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

    model_config = ConfigDict(populate_by_name=True)

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

    def apply(self, store: HubStore, third_party_trans_id: str) -> Transfer:
        """Force the status on the transfer and send its webhook."""
        return store.force_status(third_party_trans_id, self.status)


class ScenarioInfo(ScenarioView):
    """A magic-number scenario, for tools and docs."""

    scenario: Scenario
    suffix: str | None
    final_status: HubStatus | None
    summary: str


add_transfer_routes(router, get_state, "third_party_trans_id", AdminTransfer, ResolveRequest)
add_scenario_route(router, Scenario, ScenarioInfo)
add_operation_routes(router, get_state, HubAdminDelivery)
