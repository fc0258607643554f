"""Admin routes every simulator has: faults, the webhook log and reset.

No authentication: the sandbox is a local tool. Each simulator adds its own transfer
routes and mounts the result under its admin prefix.
"""

# No ``from __future__ import annotations``: FastAPI must see the route functions'
# ``Depends(get_state)`` of the closure, which a string annotation would hide.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.state import SimulatorState


class AdminDelivery(BaseModel):
    """One webhook delivery: pending, delivered or given up.

    Attributes:
        delivery_id: the delivery's id, also the signed message id.
        reference: the client's reference of the transfer it reports on.
        url: where it is POSTed.
        attempts: attempts made so far.
        gave_up: the last attempt failed and no other will be made.
        last_http_status: the receiver's answer to the last attempt; None if it failed
            before an answer (connection error, timeout).
    """

    model_config = ConfigDict(populate_by_name=True)

    delivery_id: str
    reference: str
    status: str
    url: str
    attempts: int
    delivered: bool
    gave_up: bool
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None

    @classmethod
    def fields_of(cls, delivery: Delivery) -> dict[str, Any]:
        """The common fields of the admin view of ``delivery``."""
        return {
            "delivery_id": delivery.delivery_id,
            "reference": delivery.reference,
            "status": delivery.status,
            "url": delivery.url,
            "attempts": delivery.attempts,
            "delivered": delivery.delivered,
            "gave_up": delivery.gave_up,
            "last_http_status": delivery.last_http_status,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at,
            "last_attempt_at": delivery.last_attempt_at,
        }

    @classmethod
    def of(cls, delivery: Delivery) -> "AdminDelivery":
        """The admin view of a delivery."""
        return cls(**cls.fields_of(delivery))


StateGetter = Callable[[Request], SimulatorState[Any, Any]]


def add_operation_routes(
    router: APIRouter, get_state: StateGetter, delivery_model: type[AdminDelivery]
) -> None:
    """Add ``GET|PUT /faults``, ``GET /webhooks`` and ``POST /reset`` to ``router``.

    Args:
        router: the simulator's admin router.
        get_state: FastAPI dependency returning the simulator's state.
        delivery_model: the simulator's view of a webhook delivery.
    """

    # Inline Annotated: mypy refuses a local alias as a type.
    @router.get("/faults", response_model=Faults)
    async def get_faults(state: Annotated[SimulatorState[Any, Any], Depends(get_state)]) -> Faults:
        """The faults in force."""
        faults: Faults = state.store.faults
        return faults

    @router.put("/faults", response_model=Faults)
    async def put_faults(
        faults: Faults, state: Annotated[SimulatorState[Any, Any], Depends(get_state)]
    ) -> Faults:
        """Replace the faults; fields left out are switched off."""
        state.store.faults = faults
        return faults

    @router.get("/webhooks", response_model=list[delivery_model])  # type: ignore[valid-type]
    async def list_webhooks(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> list[AdminDelivery]:
        """The webhook delivery log, oldest first, with attempts and the last answer."""
        return [delivery_model.of(delivery) for delivery in state.store.deliveries()]

    @router.post("/reset")
    async def reset(
        state: Annotated[SimulatorState[Any, Any], Depends(get_state)],
    ) -> dict[str, bool]:
        """Forget every transfer and webhook, clear the faults and restore the floats.

        A state file, if any, is emptied too.
        """
        if state.dispatcher is not None:
            state.dispatcher.cancel_deliveries()
        state.store.reset()
        return {"reset": True}
