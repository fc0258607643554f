"""Helpers of the sandbox tests: running sandbox apps, their clients, a webhook receiver.

:class:`RunningSimulator` is what the tests of every simulator drive; :class:`Sandbox`
is the hub's (here) and ``Momo`` MoMo's (:mod:`tests.sandbox.momo.support`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.common.config import SimulatorConfig
from payments_engine.sandbox.common.scenarios import MagicScenario
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.state import SandboxState
from payments_engine.sandbox.hub.wire import HubCallback
from payments_engine.sandbox.momo.config import MomoSandboxConfig

API_KEY = "sandbox-test-key"
WEBHOOK_SECRET = "whsec_sandbox_test"
WEBHOOK_URL = "http://relay.test/webhooks/hub"
SANDBOX_URL = "http://sandbox.test"

# Fast timings: a whole scenario resolves in a few ticks.
FAST_TIMINGS: dict[str, Any] = {
    "settle_seconds": 0.05,
    "late_success_seconds": 0.3,
    "timeout_after_accept_seconds": 0.5,
    "webhook_timeout_seconds": 1.0,
    "tick_seconds": 0.01,
}
FAST: dict[str, Any] = {**FAST_TIMINGS, "webhook_retry_delays": [0.01, 0.01, 0.01]}


class FakeClock:
    """Scheduling seconds for a store, that only move when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class WebhookReceiver:
    """Stands in for the relay: records every webhook request and answers as told.

    Attributes:
        fail_first: answer 500 to this many requests before answering 200.
        connect_errors: raise a connection error for this many requests first.
        always_status: answer every request with this status (overrides the rest).
    """

    fail_first: int = 0
    connect_errors: int = 0
    always_status: int | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    accepted: list[httpx.Request] = field(default_factory=list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        self.requests.append(request)
        if self.connect_errors > 0:
            self.connect_errors -= 1
            raise httpx.ConnectError("connection refused", request=request)
        if self.always_status is not None:
            return httpx.Response(self.always_status)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(500, json={"error": "try later"})
        self.accepted.append(request)
        return httpx.Response(200, json={"ok": True})

    def callbacks(self) -> list[HubCallback]:
        """The accepted webhook bodies, parsed, in arrival order."""
        return [HubCallback.model_validate_json(request.content) for request in self.accepted]


ConfigT = TypeVar("ConfigT")
ConfigModelT = TypeVar("ConfigModelT", bound=SimulatorConfig)
StateT = TypeVar("StateT")


@dataclass
class RunningSimulator(Generic[ConfigT, StateT]):
    """A sandbox app with its lifespan running, one simulator's clients and the receiver.

    Subclasses name where the simulator answers status queries, its admin API and its
    attribute of ``app.state``.

    Attributes:
        config: the simulator's configuration.
        client: calls the simulator's API, with its credentials.
        admin: calls the admin API (the hub's tests use ``client`` for both).
    """

    status_path: ClassVar[str]
    admin_path: ClassVar[str]
    state_name: ClassVar[str]

    app: FastAPI
    config: ConfigT
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    receiver: WebhookReceiver

    @property
    def state(self) -> StateT:
        """The simulator's state in the app (store, faults ...)."""
        state: StateT = getattr(self.app.state, self.state_name)
        return state

    async def status_of(self, key: str) -> dict[str, Any]:
        """GET a transfer's status, which must exist."""
        body: dict[str, Any] = await ok_json(self.client, f"{self.status_path}/{key}")
        return body

    async def transfers(self) -> list[dict[str, Any]]:
        """The admin list of transfers."""
        body: list[dict[str, Any]] = await ok_json(self.admin, f"{self.admin_path}/transfers")
        return body

    async def admin_transfer(self, key: str) -> dict[str, Any]:
        """One transfer as the admin API shows it."""
        path = f"{self.admin_path}/transfers/{key}"
        body: dict[str, Any] = await ok_json(self.admin, path)
        return body

    async def webhook_log(self) -> list[dict[str, Any]]:
        """The admin delivery log."""
        body: list[dict[str, Any]] = await ok_json(self.admin, f"{self.admin_path}/webhooks")
        return body

    async def wait_for_status(self, key: str, status: str, timeout: float = 2.0) -> None:
        """Poll until the transfer has ``status``."""

        async def reached() -> bool:
            return (await self.status_of(key))["status"] == status

        await wait_until(reached, timeout, f"{key} reaching {status}")

    async def wait_for_deliveries_done(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until no delivery is pending; return the log."""

        async def settled() -> bool:
            log = await self.webhook_log()
            return bool(log) and all(d["delivered"] or d["gave_up"] for d in log)

        await wait_until(settled, timeout, "deliveries to finish")
        return await self.webhook_log()


async def ok_json(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    """GET ``path`` with query ``params``; the answer must be a 200. Returns its JSON."""
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Sandbox(RunningSimulator[SandboxConfig, SandboxState]):
    """A sandbox app with its lifespan running, an API client and the webhook receiver."""

    status_path = "/hub/v1/payouts"
    admin_path = "/admin"
    state_name = "sandbox"

    async def submit(
        self,
        reference: str,
        msisdn: str = "+254712345678",
        amount: str = "1500.00",
        currency: str = "KES",
        country: str = "KE",
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a payout."""
        body = {
            "thirdPartyTransId": reference,
            "msisdn": msisdn,
            "country": country,
            "currency": currency,
            "amount": amount,
        }
        return await self.client.post("/hub/v1/payouts", json=body, **kwargs)

    async def balance(self, currency: str) -> str:
        """The hub's float in ``currency``, as the balance endpoint shows it."""
        for entry in (await ok_json(self.client, "/hub/v1/balance"))["balances"]:
            if entry["currency"] == currency:
                return str(entry["available"])
        raise AssertionError(f"no {currency} balance")

    async def wait_for_webhooks(self, count: int, timeout: float = 2.0) -> None:
        """Wait until the receiver accepted ``count`` webhooks."""
        await wait_until(
            lambda: len(self.receiver.accepted) >= count, timeout, f"{count} webhook(s)"
        )


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 2.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it is true, failing the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def fast_config(
    model: type[ConfigModelT], api_key: str, secret: str, url: str, **settings: Any
) -> ConfigModelT:
    """A ``model`` configuration with these credentials and webhook URL; ``settings`` win."""
    values = {"api_key": api_key, "webhook_secret": secret, "webhook_url": url, **settings}
    return model(**values)


def make_config(**overrides: Any) -> SandboxConfig:
    """A fast test configuration with the test credentials."""
    settings = {**FAST, **overrides}
    return fast_config(SandboxConfig, API_KEY, WEBHOOK_SECRET, WEBHOOK_URL, **settings)


@asynccontextmanager
async def running_app(
    receiver: WebhookReceiver | None,
    config: SandboxConfig,
    momo: MomoSandboxConfig | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.ASGITransport, WebhookReceiver]]:
    """Create a sandbox app whose webhooks go to a receiver and run its lifespan.

    Args:
        receiver: where webhooks go; None for one that accepts every webhook.
        config: the hub's configuration.
        momo: MoMo's configuration; None runs no MoMo.

    Yields:
        The app, a transport that calls it and the receiver.
    """
    receiver = receiver or WebhookReceiver()
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as hooks:
        app = create_sandbox_app(config, hooks, momo=momo)
        # ASGITransport does not run the lifespan: enter it here so the scheduler runs.
        async with app.router.lifespan_context(app):
            yield app, httpx.ASGITransport(app=app), receiver


@asynccontextmanager
async def running_sandbox(
    receiver: WebhookReceiver | None = None, **overrides: Any
) -> AsyncIterator[Sandbox]:
    """Create a sandbox app, run its lifespan and yield it with an authenticated client."""
    config = make_config(**overrides)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        running_app(receiver, config) as (app, asgi, hooks),
        httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL, headers=headers) as client,
    ):
        yield Sandbox(app=app, config=config, client=client, admin=client, receiver=hooks)


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the test runner's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@asynccontextmanager
async def served(
    receiver: WebhookReceiver, config: SandboxConfig, momo: MomoSandboxConfig | None = None
) -> AsyncIterator[str]:
    """Serve a sandbox over real HTTP on a free port; yield its base URL."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as hooks:
        app = create_sandbox_app(config, hooks, momo=momo)
        server_config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
        )
        server = _QuietServer(server_config)
        task = asyncio.create_task(server.serve())
        try:
            await wait_until(lambda: server.started, 5.0, "uvicorn to start")
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


def check_scenario_docs(scenarios: type[MagicScenario], table: str) -> None:
    """Every scenario, with its suffix, is in its docstring and in the generated ``table``.

    Every scenario but the default one has a suffix of its own.
    """
    doc = scenarios.__doc__ or ""
    suffixes = [scenario.suffix for scenario in scenarios if scenario.suffix]
    assert len(set(suffixes)) == len(suffixes) == len(scenarios) - 1
    for scenario in scenarios:
        assert scenario.value in doc and scenario.value in table
        if scenario.suffix:
            assert f"`{scenario.suffix}`" in doc and f"`{scenario.suffix}`" in table


def body_of(request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a recorded request."""
    body: dict[str, Any] = json.loads(request.content)
    return body
