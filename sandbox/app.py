"""The sandbox's FastAPI app: the hub API under ``/hub``, admin under ``/admin``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from payments_engine.sandbox import admin_api, hub_api
from payments_engine.sandbox.config import SandboxConfig
from payments_engine.sandbox.delivery import WebhookDispatcher
from payments_engine.sandbox.scenarios import markdown_table
from payments_engine.sandbox.state import SandboxState
from payments_engine.sandbox.store import HubStore

_DESCRIPTION = """\
A local mobile-wallet hub (MFS Africa shape) with magic phone numbers, signed and retried
webhooks, fault injection and an admin view of what it executed.

## Magic numbers (last six digits of the msisdn, any country)

"""


def create_sandbox_app(
    config: SandboxConfig, webhook_client: httpx.AsyncClient | None = None
) -> FastAPI:
    """Build a sandbox hub app; all its state hangs off ``app.state.sandbox``.

    Transfers are resolved and webhooks delivered by a background task that runs for the
    app's lifespan; without the lifespan the API still answers, but nothing is sent. With
    ``config.state_file`` set, the hub starts from that file (transfers still pending
    resolve on their plans, pending webhooks are sent) and the lifespan's end closes it.

    Args:
        config: credentials, timings, webhook settings and floats.
        webhook_client: the client webhooks are POSTed with (tests pass one backed by
            ``httpx.MockTransport``); None to create one for the lifespan and close it
            afterwards. A given client is never closed here.

    Returns:
        The app, with ``GET /healthz``, the hub API under ``/hub`` and admin under
        ``/admin``.

    Raises:
        SandboxStateError: ``config.state_file`` is not a usable state file.
    """
    state = SandboxState(config=config, store=HubStore(config), rng=random.Random(config.seed))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = webhook_client or httpx.AsyncClient(timeout=config.webhook_timeout_seconds)
        dispatcher = WebhookDispatcher(state.store, config, client)
        state.dispatcher = dispatcher
        dispatcher.start()
        try:
            yield
        finally:
            state.dispatcher = None
            await dispatcher.aclose()
            if webhook_client is None:
                await client.aclose()
            # Last: until the dispatcher has stopped, its deliveries still record attempts.
            state.store.close()

    app = FastAPI(
        title="Payments sandbox: mobile-wallet hub",
        description=_DESCRIPTION + markdown_table(),
        version="1",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    app.include_router(hub_api.router, prefix="/hub")
    app.include_router(admin_api.router, prefix="/admin")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the app answers."""
        return {"status": "ok"}

    return app
