"""MoMo's admin API (under ``/admin/momo``): what it executed, forced resolution, scenarios.

The routes are the common admin routes (:mod:`~payments_engine.sandbox.common.admin`)
over MoMo's views, keyed by ``X-Reference-Id`` (in any case). No authentication: the
sandbox is a local tool. A transfer is shown without the payee's full number, a request
to pay without the payer's. Tests that only know our reference (``externalId``) find its
transfers under ``/transfers/by-external-id/{external_id}``: a list, since a client that
retried with a new reference id has two. Requests to pay have routes of the same shape
under ``/requests-to-pay`` (no forced resolution), their magic numbers are listed under
``/scenarios/requests-to-pay``, and their callbacks are in the one callback log.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Self

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, model_validator

from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.sandbox.common.admin import (
    AdminDelivery,
    ScenarioView,
    add_operation_routes,
    add_scenario_route,
    add_transfer_routes,
)
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.momo.records import MomoRequestToPay, MomoTransfer
from payments_engine.sandbox.momo.scenarios import MomoScenario, RequestToPayScenario
from payments_engine.sandbox.momo.state import StateDep, get_state
from payments_engine.sandbox.momo.store import MomoStore
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


class MomoAdminRequestToPay(BaseModel):
    """A request to pay as MoMo recorded it, without the payer's full number.

    Attributes:
        reference_id: the ``X-Reference-Id`` it was created with.
        reference: our reference, the same as ``external_id``.
        amount: major units, as MoMo formats them (``"1500.00"``).
        amount_minor: minor units.
        reason: why it FAILED; None otherwise.
        executed: the payer paid and the float was credited (once SUCCESSFUL only).
        financial_transaction_id: set once SUCCESSFUL.
        submit_count: requests that carried this reference id (the 409'd ones too).
        status_queries: status queries that asked for it.
        callback_url: the request's ``X-Callback-Url``, if any.
        expires_at: when the payer's window closes.
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
    scenario: RequestToPayScenario
    payer_masked: str
    callback_url: str | None
    submit_count: int
    status_queries: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, request: MomoRequestToPay) -> MomoAdminRequestToPay:
        """The admin view of a stored request to pay."""
        order = request.order
        return cls(
            reference_id=order.reference_id,
            reference=order.external_id,
            external_id=order.external_id,
            amount=order.money.to_major(),
            amount_minor=order.amount,
            currency=order.currency,
            status=request.status,
            reason=request.reason,
            executed=request.executed,
            financial_transaction_id=request.financial_transaction_id,
            scenario=request.scenario,
            payer_masked=mask_msisdn("+" + order.party_id),
            callback_url=order.callback_url,
            submit_count=request.submit_count,
            status_queries=request.status_queries,
            created_at=request.created_at,
            updated_at=request.updated_at,
            expires_at=request.expires_at,
        )


class CallbackKind(StrEnum):
    """What a callback reports on."""

    TRANSFER = "transfer"
    REQUEST_TO_PAY = "request_to_pay"


class MomoAdminDelivery(AdminDelivery):
    """One callback: sent once, never retried.

    Attributes:
        reference: our reference (``externalId``) of the transfer or request to pay.
        reference_id: its ``X-Reference-Id``.
        kind: a transfer's or a request to pay's callback: their reference ids are
            separate namespaces, so the id alone does not say.
        delivery_id: the ``webhook-id`` it was signed with.
    """

    reference_id: str
    kind: CallbackKind

    @classmethod
    def of(cls, delivery: Delivery) -> MomoAdminDelivery:
        """The admin view of a callback."""
        # The body is MoMo's status answer: a request to pay names a payer, a transfer
        # a payee. The delivery keeps no other trace of what it reports on.
        payer = "payer" in json.loads(delivery.body)
        kind = CallbackKind.REQUEST_TO_PAY if payer else CallbackKind.TRANSFER
        return cls(**cls.fields_of(delivery), reference_id=delivery.record_id, kind=kind)


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

    def apply(self, store: MomoStore, reference_id: str) -> MomoTransfer:
        """Force the status (and reason) on the transfer and send its callback."""
        return store.force_status(reference_id, self.status, self.reason)


class MomoScenarioInfo(ScenarioView):
    """A magic-number scenario, for tools and docs."""

    scenario: MomoScenario
    suffix: str | None
    final_status: TransferStatus | None
    reason: Reason | None
    executed: bool
    summary: str


class RequestToPayScenarioInfo(ScenarioView):
    """A magic-number scenario of requests to pay (the payer's number), for tools and docs."""

    scenario: RequestToPayScenario
    suffix: str | None
    final_status: TransferStatus | None
    reason: Reason | None
    summary: str


@router.get("/transfers/by-external-id/{external_id}", response_model=list[MomoAdminTransfer])
async def transfers_by_external_id(external_id: str, state: StateDep) -> list[MomoAdminTransfer]:
    """The transfers carrying that ``externalId`` (our reference), oldest first."""
    state.store.advance()
    return [MomoAdminTransfer.of(t) for t in state.store.by_external_id(external_id)]


# Reference ids are UUIDs, stored in lower case.
add_transfer_routes(
    router, get_state, "reference_id", MomoAdminTransfer, MomoResolveRequest, canonical=str.lower
)
add_scenario_route(router, MomoScenario, MomoScenarioInfo)
add_operation_routes(router, get_state, MomoAdminDelivery)


@router.get("/scenarios/requests-to-pay", response_model=list[RequestToPayScenarioInfo])
async def list_request_to_pay_scenarios() -> list[RequestToPayScenarioInfo]:
    """The magic-number scenarios of requests to pay (the payer's partyId)."""
    return [RequestToPayScenarioInfo.of(scenario) for scenario in RequestToPayScenario]


# Each route first applies the steps that are due, so it shows the requests as they are
# now; reading one counts no status query.


@router.get("/requests-to-pay", response_model=list[MomoAdminRequestToPay])
async def list_requests_to_pay(state: StateDep) -> list[MomoAdminRequestToPay]:
    """Every request to pay MoMo holds, oldest first."""
    state.store.advance()
    return [MomoAdminRequestToPay.of(request) for request in state.store.requests_to_pay]


@router.get(
    "/requests-to-pay/by-external-id/{external_id}", response_model=list[MomoAdminRequestToPay]
)
async def requests_to_pay_by_external_id(
    external_id: str, state: StateDep
) -> list[MomoAdminRequestToPay]:
    """The requests to pay carrying that ``externalId`` (our reference), oldest first."""
    state.store.advance()
    found = state.store.requests_to_pay_by_external_id(external_id)
    return [MomoAdminRequestToPay.of(request) for request in found]


@router.get("/requests-to-pay/{reference_id}", response_model=MomoAdminRequestToPay)
async def get_request_to_pay(reference_id: str, state: StateDep) -> MomoAdminRequestToPay:
    """One request to pay, without counting a status query."""
    state.store.advance()
    # Reference ids are UUIDs, stored in lower case.
    request = state.store.requests_to_pay.get(reference_id.lower())
    if request is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such request to pay")
    return MomoAdminRequestToPay.of(request)
