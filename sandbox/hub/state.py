"""Per-app state of the sandbox hub, reached from request handlers through ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments_engine.sandbox.common.state import SimulatorState, simulator_dispatcher
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import HubStore

hub_dispatcher = simulator_dispatcher
"""The background scheduler of a hub: the common one, under the name its callers know."""


class SandboxState(SimulatorState[SandboxConfig, HubStore]):
    """Everything the hub of one app owns (``app.state.sandbox``)."""


def get_state(request: Request) -> SandboxState:
    """FastAPI dependency: the hub state of the app serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


StateDep = Annotated[SandboxState, Depends(get_state)]
