"""Per-app state of the merchant recorder, reached from request handlers via ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.merchant.store import MerchantStore


@dataclass
class MerchantState:
    """Everything the merchant recorder of one app owns (``app.state.merchant``)."""

    config: MerchantSandboxConfig
    store: MerchantStore

    @classmethod
    def create(cls, config: MerchantSandboxConfig) -> MerchantState:
        """A recorder with ``config``, starting from its state file if it has one."""
        return cls(config=config, store=MerchantStore(config))


def get_state(request: Request) -> MerchantState:
    """FastAPI dependency: the merchant recorder of the app serving ``request``."""
    state: MerchantState | None = getattr(request.app.state, "merchant", None)
    if state is None:
        raise RuntimeError("this sandbox app runs no merchant recorder")
    return state


StateDep = Annotated[MerchantState, Depends(get_state)]
