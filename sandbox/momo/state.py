"""Per-app state of the MoMo simulator, reached from request handlers through ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.store import MomoStore


class MomoState(SimulatorState[MomoSandboxConfig, MomoStore]):
    """Everything the MoMo simulator of one app owns (``app.state.momo``)."""


def get_state(request: Request) -> MomoState:
    """FastAPI dependency: the MoMo state of the app serving ``request``."""
    state: MomoState | None = getattr(request.app.state, "momo", None)
    if state is None:
        raise RuntimeError("this sandbox app runs no MoMo simulator")
    return state


StateDep = Annotated[MomoState, Depends(get_state)]
