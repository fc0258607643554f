"""Per-app state of the sandbox hub, reached from request handlers through ``app.state``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends, Request

from payments_engine.domain.webhooks import HMAC_T_V1
from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import HubStore
from payments_engine.sandbox.hub.wire import PROVIDER

SIGNATURE_SCHEME = HMAC_T_V1
"""The hub signs its webhooks ``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``."""


class SandboxState(SimulatorState[SandboxConfig, HubStore]):
    """Everything the hub of one app owns (``app.state.sandbox``)."""

    @classmethod
    def create(cls, config: SandboxConfig) -> SandboxState:
        """A hub on ``config``: its store (from the state file, if any) and fault dice."""
        return cls(config=config, store=HubStore(config), rng=random.Random(config.seed))


def hub_dispatcher(
    store: HubStore,
    config: SandboxConfig,
    client: httpx.AsyncClient,
    *,
    wall_time: Callable[[], float] = time.time,
) -> WebhookDispatcher:
    """The background scheduler of a hub: its store, its signature scheme and timings."""
    return WebhookDispatcher(
        store,
        client,
        scheme=SIGNATURE_SCHEME,
        secret=config.webhook_secret,
        timeout_seconds=config.webhook_timeout_seconds,
        tick_seconds=config.tick_seconds,
        name=PROVIDER,
        wall_time=wall_time,
    )


def get_state(request: Request) -> SandboxState:
    """FastAPI dependency: the hub state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(get_state)]
