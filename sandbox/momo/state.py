"""Per-app state of the MoMo simulator, reached from request handlers through ``app.state``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends, Request

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.common.dispatcher import WebhookDispatcher
from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.store import MomoStore
from payments_engine.sandbox.momo.wire import PROVIDER

SIGNATURE_SCHEME = STANDARD_WEBHOOKS
"""Callbacks carry ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,..``."""


class MomoState(SimulatorState[MomoSandboxConfig, MomoStore]):
    """Everything the MoMo simulator of one app owns (``app.state.momo``)."""

    @classmethod
    def create(cls, config: MomoSandboxConfig) -> MomoState:
        """A simulator on ``config``: its store (from the state file, if any) and fault dice."""
        return cls(config=config, store=MomoStore(config), rng=random.Random(config.seed))


def momo_dispatcher(
    store: MomoStore,
    config: MomoSandboxConfig,
    client: httpx.AsyncClient,
    *,
    wall_time: Callable[[], float] = time.time,
) -> WebhookDispatcher:
    """The background scheduler of a MoMo simulator: Standard Webhooks, one attempt."""
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


def get_state(request: Request) -> MomoState:
    """FastAPI dependency: the MoMo state of the app serving ``request``."""
    state: MomoState | None = getattr(request.app.state, "momo", None)
    if state is None:
        raise RuntimeError("this sandbox app runs no MoMo simulator")
    return state


StateDep = Annotated[MomoState, Depends(get_state)]
