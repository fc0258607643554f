"""Per-app state of the bank simulator, reached from request handlers through ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.bank.store import BankStore
from payments_engine.sandbox.common.state import SimulatorState


class BankState(SimulatorState[BankSandboxConfig, BankStore]):
    """Everything the bank simulator of one app owns (``app.state.bank``)."""


def get_state(request: Request) -> BankState:
    """FastAPI dependency: the bank state of the app serving ``request``."""
    state: BankState | None = getattr(request.app.state, "bank", None)
    if state is None:
        raise RuntimeError("this sandbox app runs no bank simulator")
    return state


StateDep = Annotated[BankState, Depends(get_state)]
