"""Per-app state of a sandbox, reached from request handlers through ``app.state``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from payments_engine.sandbox.config import SandboxConfig
from payments_engine.sandbox.delivery import WebhookDispatcher
from payments_engine.sandbox.store import HubStore


@dataclass
class SandboxState:
    """Everything one sandbox app owns; nothing is module-global, so apps never share.

    Attributes:
        config: the configuration the app was created with.
        store: the hub's transfers, float, faults and webhooks.
        rng: the fault dice, seeded from ``config.seed``.
        dispatcher: the background scheduler while the app's lifespan runs, else None.
    """

    config: SandboxConfig
    store: HubStore
    rng: random.Random
    dispatcher: WebhookDispatcher | None = None

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (never for 0, always for 1)."""
        return rate > 0 and self.rng.random() < rate


def get_state(request: Request) -> SandboxState:
    """FastAPI dependency: the state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(get_state)]
