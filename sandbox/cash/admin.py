"""The admin API of a cash network (under ``/admin/efecty``, ``/admin/oxxo``).

No authentication: the sandbox is a local tool. Routes:

* ``GET /vouchers``, ``GET /vouchers/{name}``: every voucher (refused ones too) with its
  history and its notifications' deliveries; ``name`` is the voucher reference (the code
  the payer quotes), the network's id, its idempotency key or the merchant's reference.
* ``POST /vouchers/{name}/payments``: the payer pays it at a shop now (404 unknown, 409
  already paid); after the expiry or a cancel it is a late payment, which the network
  accepts. Confirmed ``confirmation_delay_seconds`` later.
* ``POST /vouchers/{name}/notifications``: a new notification of its final state, under a
  new event id (409 while it is pending).
* ``POST /notifications/{event_id}/resend``: a notification once more, byte for byte (a
  duplicate, same event id).
* ``GET /scenarios``, ``GET|PUT /faults``, ``GET /webhooks``, ``POST /reset``: as every
  simulator has.

A voucher is shown without the payer's name or full document.
"""

# No ``from __future__ import annotations``: FastAPI must see the route functions'
# ``Depends(get_state)`` of the closure, which a string would hide.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from payments_engine.sandbox.cash.records import HistoryEvent, VoucherRecord, VoucherState
from payments_engine.sandbox.cash.scenarios import VoucherScenario
from payments_engine.sandbox.cash.store import (
    AlreadyPaid,
    NothingToResend,
    VoucherNotFound,
    VoucherStore,
)
from payments_engine.sandbox.common.admin import (
    AdminDelivery,
    ScenarioView,
    add_operation_routes,
    add_scenario_route,
)
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.state import SimulatorState


class CashAdminDelivery(AdminDelivery):
    """One delivery of a notification.

    Attributes:
        event_id: the notification's event id: a duplicate or a resend repeats it.
        key: the voucher's idempotency key at the network.
        status: the state it announces.
    """

    event_id: str
    key: str

    @classmethod
    def of(cls, delivery: Delivery) -> "CashAdminDelivery":
        """The admin view of a delivery."""
        return cls(**cls.fields_of(delivery), event_id=delivery.event_id, key=delivery.record_id)


class HistoryView(BaseModel):
    """One line of a voucher's history."""

    at: datetime
    event: HistoryEvent
    detail: str | None


class AdminVoucher(BaseModel):
    """A voucher as the network recorded it, without the payer's name or document.

    Attributes:
        key: the network's idempotency key it is filed under.
        reference: the merchant's reference, which notifications carry.
        network_id: the network's id of it.
        voucher_reference: the code the payer quotes at the till; None when declined.
        amount: as the network writes it; ``amount_minor`` in minor units.
        paid_at: when the payer paid at the shop (before the confirmation too).
        confirmed_at: when the network confirmed it (APPROVED).
        closed_at: when it EXPIRED or was CANCELLED.
        fee_minor: the network's fee, once APPROVED.
        executed: the float was credited with the payment, less the fee.
        submit_count: creates that carried its key (the repeats too).
        plan: the steps still to come, ``[kind, due at]``.
        history: what happened, oldest first.
        notifications: the deliveries of its notifications, oldest first.
    """

    key: str
    reference: str
    network_id: str
    order_number: int
    voucher_reference: str | None
    barcode: str | None
    amount: str
    amount_minor: int
    currency: str
    status: VoucherState
    scenario: VoucherScenario
    payer_masked: str
    document_type: str
    document_masked: str
    description: str | None
    expires_at: datetime
    paid_at: datetime | None
    paid_after_expiry: bool
    confirmed_at: datetime | None
    closed_at: datetime | None
    fee_minor: int | None
    executed: bool
    submit_count: int
    status_queries: int
    created_at: datetime
    updated_at: datetime
    plan: list[tuple[str, datetime]]
    history: list[HistoryView]
    notifications: list[CashAdminDelivery]

    @classmethod
    def of(cls, voucher: VoucherRecord, deliveries: list[Delivery]) -> "AdminVoucher":
        """The admin view of a voucher and its notifications' deliveries."""
        order = voucher.order
        return cls(
            key=order.key,
            reference=order.reference,
            network_id=voucher.network_id,
            order_number=voucher.order_number,
            voucher_reference=voucher.voucher_reference,
            barcode=voucher.barcode,
            amount=order.amount_text,
            amount_minor=order.amount,
            currency=order.currency,
            status=voucher.status,
            scenario=voucher.scenario,
            payer_masked=order.payer_masked,
            document_type=order.document_type,
            document_masked=order.document_masked,
            description=order.description,
            expires_at=voucher.expires_at,
            paid_at=voucher.paid_at,
            paid_after_expiry=voucher.paid_at is not None and voucher.paid_at > voucher.expires_at,
            confirmed_at=voucher.confirmed_at,
            closed_at=voucher.closed_at,
            fee_minor=voucher.fee,
            executed=voucher.executed,
            submit_count=voucher.submit_count,
            status_queries=voucher.status_queries,
            created_at=voucher.created_at,
            updated_at=voucher.updated_at,
            plan=[(step.kind.value, voucher.wall_time(step.at)) for step in voucher.plan],
            history=[
                HistoryView(at=entry.at, event=entry.event, detail=entry.detail)
                for entry in voucher.history
            ],
            notifications=[CashAdminDelivery.of(delivery) for delivery in deliveries],
        )


class VoucherScenarioInfo(ScenarioView):
    """A magic-value scenario (last two characters of the payer's document number)."""

    scenario: VoucherScenario
    suffix: str | None
    final_status: VoucherState | None
    summary: str


def admin_router(
    get_state: Callable[[Request], SimulatorState[Any, Any]], network: str
) -> APIRouter:
    """The admin routes of one cash network (see the module's docstring).

    Args:
        get_state: FastAPI dependency returning the network's state, whose store is a
            :class:`~payments_engine.sandbox.cash.store.VoucherStore`.
        network: the network's name, for the docs' tag.
    """
    router = APIRouter(tags=[f"admin: {network}"])

    def store_of(state: SimulatorState[Any, Any]) -> VoucherStore[Any]:
        store: VoucherStore[Any] = state.store
        return store

    def view(store: VoucherStore[Any], voucher: VoucherRecord) -> AdminVoucher:
        return AdminVoucher.of(voucher, store.notifications_of(voucher))

    def not_found() -> HTTPException:
        return HTTPException(status.HTTP_404_NOT_FOUND, "no such voucher")

    @router.get("/vouchers", response_model=list[AdminVoucher])
    async def list_vouchers(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> list[AdminVoucher]:
        """Every voucher the network holds (refused ones too), oldest first."""
        store = store_of(state)
        store.advance()
        return [view(store, voucher) for voucher in store.transfers()]

    @router.get("/vouchers/{name}", response_model=AdminVoucher)
    async def get_voucher(
        name: str, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> AdminVoucher:
        """One voucher by its voucher reference, network id, key or the merchant's
        reference; reading it counts no status query."""
        store = store_of(state)
        store.advance()
        try:
            return view(store, store.find(name))
        except VoucherNotFound:
            raise not_found() from None

    @router.post("/vouchers/{name}/payments", response_model=AdminVoucher)
    async def pay_voucher(
        name: str, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> AdminVoucher:
        """The payer pays the voucher at a shop now (late payments are accepted)."""
        store = store_of(state)
        try:
            return view(store, store.pay(name))
        except VoucherNotFound:
            raise not_found() from None
        except AlreadyPaid as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @router.post(
        "/vouchers/{name}/notifications",
        response_model=CashAdminDelivery,
        status_code=status.HTTP_202_ACCEPTED,
    )
    async def notify_voucher(
        name: str, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> CashAdminDelivery:
        """A new notification of the voucher's final state, under a new event id."""
        store = store_of(state)
        try:
            return CashAdminDelivery.of(store.notify(name))
        except VoucherNotFound:
            raise not_found() from None
        except NothingToResend as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @router.post(
        "/notifications/{event_id}/resend",
        response_model=CashAdminDelivery,
        status_code=status.HTTP_202_ACCEPTED,
    )
    async def resend_notification(
        event_id: str, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> CashAdminDelivery:
        """A notification once more, byte for byte, after its last delivery."""
        try:
            return CashAdminDelivery.of(store_of(state).resend(event_id))
        except NothingToResend:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such notification") from None

    add_scenario_route(router, VoucherScenario, VoucherScenarioInfo)
    add_operation_routes(router, get_state, CashAdminDelivery)
    return router
