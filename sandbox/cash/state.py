"""Per-app state of a cash network simulator, and its dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.state import SimulatorState

StateT = TypeVar("StateT", bound=SimulatorState[Any, Any])


class EventIdDispatcher(WebhookDispatcher):
    """The common dispatcher, signing with the event id as the message id.

    Every delivery of one event (retries, duplicates, resends) then carries the same
    Standard Webhooks ``webhook-id``, as the standard asks of a message sent again.
    """

    def headers(self, delivery: Delivery) -> dict[str, str]:
        """The headers of one attempt: content type and a fresh signature of the event."""
        signature = self._scheme.sign(
            self._secret,
            msg_id=delivery.event_id,
            timestamp=int(self._wall_time()),
            body=delivery.body,
        )
        return {"Content-Type": "application/json", **signature}


def state_getter(attribute: str, kind: type[StateT], network: str) -> Callable[[Request], StateT]:
    """A FastAPI dependency returning the simulator state kept at ``app.state.<attribute>``.

    Args:
        attribute: its attribute of ``app.state``.
        kind: its state class.
        network: its name, for the error when the app runs no such simulator.
    """

    def get_state(request: Request) -> StateT:
        state = getattr(request.app.state, attribute, None)
        if not isinstance(state, kind):
            raise RuntimeError(f"this sandbox app runs no {network} simulator")
        return state

    return get_state
