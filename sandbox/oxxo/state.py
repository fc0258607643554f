"""Per-app state of the OXXO simulator, reached from request handlers via ``app.state``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends

from payments_engine.sandbox.cash.state import EventIdDispatcher, state_getter
from payments_engine.sandbox.common.state import SimulatorState, simulator_dispatcher
from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from payments_engine.sandbox.oxxo.store import OxxoStore


class OxxoState(SimulatorState[OxxoSandboxConfig, OxxoStore]):
    """Everything the OXXO simulator of one app owns (``app.state.oxxo``)."""


def oxxo_dispatcher(
    store: OxxoStore,
    config: OxxoSandboxConfig,
    client: httpx.AsyncClient,
    *,
    wall_time: Callable[[], float] = time.time,
) -> EventIdDispatcher:
    """The background scheduler of OXXO: vouchers' steps and notifications, signed with
    their event ids as the Standard Webhooks message ids."""
    return simulator_dispatcher(store, config, client, wall_time=wall_time, kind=EventIdDispatcher)


get_state = state_getter("oxxo", OxxoState, "OXXO")
"""FastAPI dependency: the OXXO state of the app serving the request."""

StateDep = Annotated[OxxoState, Depends(get_state)]
