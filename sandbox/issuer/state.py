"""Per-app state of the card issuer simulator, reached from request handlers via ``app.state``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.state import SimulatorState, simulator_dispatcher
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.store import IssuerStore


@dataclass
class IssuerState(SimulatorState[IssuerSandboxConfig, IssuerStore]):
    """Everything the card issuer simulator of one app owns (``app.state.issuer``).

    Attributes:
        client: the HTTP client the network's authorization requests go through while
            the app's lifespan runs (the one its webhooks use); None otherwise, and then
            purchases cannot be authorized.
    """

    client: httpx.AsyncClient | None = None


class IssuerDispatcher(WebhookDispatcher):
    """The common dispatcher, signing with the event id as the Standard Webhooks message id.

    Every delivery of one event (retries, duplicates, resends) carries the same
    ``webhook-id``, so a receiver deduplicating on it sees one event.
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


def issuer_dispatcher(
    store: IssuerStore,
    config: IssuerSandboxConfig,
    client: httpx.AsyncClient,
    *,
    wall_time: Callable[[], float] = time.time,
) -> IssuerDispatcher:
    """The background scheduler of an issuer: KYC reviews and card events, signed with
    their event ids (see :class:`IssuerDispatcher`)."""
    return simulator_dispatcher(store, config, client, wall_time=wall_time, kind=IssuerDispatcher)


def get_state(request: Request) -> IssuerState:
    """FastAPI dependency: the issuer state of the app serving ``request``."""
    state: IssuerState | None = getattr(request.app.state, "issuer", None)
    if state is None:
        raise RuntimeError("this sandbox app runs no card issuer simulator")
    return state


StateDep = Annotated[IssuerState, Depends(get_state)]
