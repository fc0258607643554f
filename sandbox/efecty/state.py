"""Per-app state of the Efecty simulator, reached from request handlers via ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from payments_engine.sandbox.cash.state import state_getter
from payments_engine.sandbox.common.state import SimulatorState
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.store import EfectyStore


class EfectyState(SimulatorState[EfectySandboxConfig, EfectyStore]):
    """Everything the Efecty simulator of one app owns (``app.state.efecty``)."""


get_state = state_getter("efecty", EfectyState, "Efecty")
"""FastAPI dependency: the Efecty state of the app serving the request."""

StateDep = Annotated[EfectyState, Depends(get_state)]
