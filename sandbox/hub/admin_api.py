"""The hub's admin API: what the hub really executed, forced resolution, scenarios.

The payout routes are the common admin routes
(:mod:`~payments_engine.sandbox.common.admin`) over the hub's views; collections
(``/collections``) and refunds (``/refunds``) have routes of the same shape here, and
their magic values are listed under ``/scenarios/collections`` and
``/scenarios/refunds``. No authentication: the sandbox is a local tool. The lists are the
hub's own record, which exactly-once tests count against; they never show a full msisdn.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status
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
from payments_engine.sandbox.common.store import ResolveRefused, TransferNotFound
from payments_engine.sandbox.hub.records import Collection, Refund, Transfer
from payments_engine.sandbox.hub.scenarios import CollectionScenario, RefundScenario, Scenario
from payments_engine.sandbox.hub.state import StateDep, get_state
from payments_engine.sandbox.hub.store import HubStore
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus

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


class AdminCollection(BaseModel):
    """A collection as the hub recorded it, without the payer's number.

    Attributes:
        reference: our reference, the same as ``thirdPartyTransId``.
        amount: what the payer was asked for, minor units.
        fee: the hub's fee, minor units; 0 unless paid.
        executed: the payer paid and the float was credited (amount less fee).
        submit_count: requests that carried this reference (repeats included).
        status_queries: status queries that asked for it.
    """

    model_config = ConfigDict(populate_by_name=True)

    reference: str
    third_party_trans_id: str = Field(alias="thirdPartyTransId")
    transaction_id: str = Field(alias="transactionId")
    status: HubStatus
    currency: str
    amount: int
    fee: int
    executed: bool
    submit_count: int
    status_queries: int
    scenario: CollectionScenario
    msisdn_masked: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, collection: Collection) -> AdminCollection:
        """The admin view of a stored collection."""
        return cls(
            reference=collection.third_party_trans_id,
            third_party_trans_id=collection.third_party_trans_id,
            transaction_id=collection.transaction_id,
            status=collection.status,
            currency=collection.order.currency,
            amount=collection.order.amount,
            fee=collection.fee,
            executed=collection.executed,
            submit_count=collection.submit_count,
            status_queries=collection.status_queries,
            scenario=collection.scenario,
            msisdn_masked=mask_msisdn(collection.order.msisdn),
            created_at=collection.created_at,
            updated_at=collection.updated_at,
            expires_at=collection.expires_at,
        )


class AdminRefund(BaseModel):
    """A refund as the hub recorded it.

    Attributes:
        reference: our reference, the same as ``external_refund_id``.
        original_transaction_id: the refunded collection's ``thirdPartyTransId``.
        amount: minor units.
        executed: the refund's money is out of the float now.
        execution_count: how many times its money left the float: 1 for any refund the
            hub processed (a reversal gives it back without undoing the count), 0 for
            one never processed. Exactly-once tests check it.
        submit_count: requests that carried this ``external_refund_id``.
        status_queries: status queries that asked for it.
    """

    reference: str
    external_refund_id: str
    refund_id: str
    original_transaction_id: str
    status: HubRefundStatus
    currency: str
    amount: int
    executed: bool
    execution_count: int
    submit_count: int
    status_queries: int
    scenario: RefundScenario
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, refund: Refund) -> AdminRefund:
        """The admin view of a stored refund."""
        return cls(
            reference=refund.external_refund_id,
            external_refund_id=refund.external_refund_id,
            refund_id=refund.refund_id,
            original_transaction_id=refund.order.original_transaction_id,
            status=refund.status,
            currency=refund.order.currency,
            amount=refund.order.amount,
            executed=refund.executed,
            execution_count=refund.execution_count,
            submit_count=refund.submit_count,
            status_queries=refund.status_queries,
            scenario=refund.scenario,
            failure_reason=refund.failure_reason,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
        )


class RefundResolveRequest(BaseModel):
    """Body of a refund's forced resolution: processed or failed."""

    model_config = ConfigDict(extra="forbid")

    status: HubRefundStatus

    @field_validator("status")
    @classmethod
    def _settles(cls, value: HubRefundStatus) -> HubRefundStatus:
        if value not in (HubRefundStatus.PROCESSED, HubRefundStatus.FAILED):
            raise ValueError("a pending refund can only be forced to processed or failed")
        return value


class CollectionScenarioInfo(ScenarioView):
    """A magic-number scenario of collections, for tools and docs."""

    scenario: CollectionScenario
    suffix: str | None
    final_status: HubStatus | None
    summary: str


class RefundScenarioInfo(ScenarioView):
    """A magic-amount scenario of refunds, for tools and docs."""

    scenario: RefundScenario
    suffix: str | None
    final_status: HubRefundStatus | None
    summary: str


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")


def _refused(exc: ResolveRefused) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


add_transfer_routes(router, get_state, "third_party_trans_id", AdminTransfer, ResolveRequest)
add_scenario_route(router, Scenario, ScenarioInfo)
add_operation_routes(router, get_state, HubAdminDelivery)


@router.get("/scenarios/collections", response_model=list[CollectionScenarioInfo])
async def list_collection_scenarios() -> list[CollectionScenarioInfo]:
    """The magic-number scenarios of collections (the payer's msisdn)."""
    return [CollectionScenarioInfo.of(scenario) for scenario in CollectionScenario]


@router.get("/scenarios/refunds", response_model=list[RefundScenarioInfo])
async def list_refund_scenarios() -> list[RefundScenarioInfo]:
    """The magic-amount scenarios of refunds (last two digits of the minor units)."""
    return [RefundScenarioInfo.of(scenario) for scenario in RefundScenario]


# Each route first applies the steps that are due, so it shows the records as they are
# now; reading one counts no status query.


@router.get("/collections", response_model=list[AdminCollection])
async def list_collections(state: StateDep) -> list[AdminCollection]:
    """Every collection the hub holds, oldest first."""
    state.store.advance()
    return [AdminCollection.of(collection) for collection in state.store.collections]


@router.get("/collections/{third_party_trans_id}", response_model=AdminCollection)
async def get_collection(third_party_trans_id: str, state: StateDep) -> AdminCollection:
    """One collection, without counting a status query."""
    state.store.advance()
    collection = state.store.collections.get(third_party_trans_id)
    if collection is None:
        raise _not_found("collection")
    return AdminCollection.of(collection)


@router.post("/collections/{third_party_trans_id}/resolve", response_model=AdminCollection)
async def resolve_collection(
    third_party_trans_id: str, body: ResolveRequest, state: StateDep
) -> AdminCollection:
    """Force a pending collection's final status now, and send its webhook."""
    state.store.advance()
    try:
        collection = state.store.force_collection_status(third_party_trans_id, body.status)
    except TransferNotFound:
        raise _not_found("collection") from None
    except ResolveRefused as exc:
        raise _refused(exc) from None
    return AdminCollection.of(collection)


@router.get("/refunds", response_model=list[AdminRefund])
async def list_refunds(state: StateDep) -> list[AdminRefund]:
    """Every refund the hub holds, oldest first."""
    state.store.advance()
    return [AdminRefund.of(refund) for refund in state.store.refunds]


@router.get("/refunds/{refund_id}", response_model=AdminRefund)
async def get_refund(refund_id: str, state: StateDep) -> AdminRefund:
    """One refund by the hub's id, without counting a status query."""
    state.store.advance()
    refund = state.store.refunds.get(refund_id)
    if refund is None:
        raise _not_found("refund")
    return AdminRefund.of(refund)


@router.post("/refunds/{refund_id}/resolve", response_model=AdminRefund)
async def resolve_refund(
    refund_id: str, body: RefundResolveRequest, state: StateDep
) -> AdminRefund:
    """Process or fail a pending refund now, and send its webhook."""
    state.store.advance()
    try:
        refund = state.store.force_refund_status(refund_id, body.status)
    except TransferNotFound:
        raise _not_found("refund") from None
    except ResolveRefused as exc:
        raise _refused(exc) from None
    return AdminRefund.of(refund)
