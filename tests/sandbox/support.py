"""Helpers of the sandbox tests: a running sandbox app and a recording webhook receiver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.state import SandboxState
from payments_engine.sandbox.hub.wire import HubCallback

API_KEY = "sandbox-test-key"
WEBHOOK_SECRET = "whsec_sandbox_test"
WEBHOOK_URL = "http://relay.test/webhooks/hub"
SANDBOX_URL = "http://sandbox.test"

# Fast timings: a whole scenario resolves in a few ticks.
FAST: dict[str, Any] = {
    "settle_seconds": 0.05,
    "late_success_seconds": 0.3,
    "timeout_after_accept_seconds": 0.5,
    "webhook_retry_delays": [0.01, 0.01, 0.01],
    "webhook_timeout_seconds": 1.0,
    "tick_seconds": 0.01,
}


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


@dataclass
class Sandbox:
    """A sandbox app with its lifespan running, an API client and the webhook receiver."""

    app: FastAPI
    config: SandboxConfig
    client: httpx.AsyncClient
    receiver: WebhookReceiver

    @property
    def state(self) -> SandboxState:
        """The app's state (store, faults ...)."""
        state: SandboxState = self.app.state.sandbox
        return state

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

    async def status_of(self, reference: str) -> dict[str, Any]:
        """GET a payout's status, which must exist."""
        response = await self.client.get(f"/hub/v1/payouts/{reference}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def transfers(self) -> list[dict[str, Any]]:
        """The admin list of transfers."""
        response = await self.client.get("/admin/transfers")
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body

    async def webhook_log(self) -> list[dict[str, Any]]:
        """The admin delivery log."""
        response = await self.client.get("/admin/webhooks")
        assert response.status_code == 200, response.text
        body: list[dict[str, Any]] = response.json()
        return body

    async def balance(self, currency: str) -> str:
        """The hub's float in ``currency``, as the balance endpoint shows it."""
        response = await self.client.get("/hub/v1/balance")
        assert response.status_code == 200, response.text
        for entry in response.json()["balances"]:
            if entry["currency"] == currency:
                return str(entry["available"])
        raise AssertionError(f"no {currency} balance")

    async def wait_for_status(self, reference: str, status: str, timeout: float = 2.0) -> None:
        """Poll until the payout has ``status``."""

        async def reached() -> bool:
            return (await self.status_of(reference))["status"] == status

        await wait_until(reached, timeout, f"{reference} reaching {status}")

    async def wait_for_webhooks(self, count: int, timeout: float = 2.0) -> None:
        """Wait until the receiver accepted ``count`` webhooks."""
        await wait_until(
            lambda: len(self.receiver.accepted) >= count, timeout, f"{count} webhook(s)"
        )

    async def wait_for_deliveries_done(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until no delivery is pending; return the log."""

        async def settled() -> bool:
            log = await self.webhook_log()
            return bool(log) and all(d["delivered"] or d["gave_up"] for d in log)

        await wait_until(settled, timeout, "deliveries to finish")
        return await self.webhook_log()


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


def make_config(**overrides: Any) -> SandboxConfig:
    """A fast test configuration with the test credentials."""
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_url": WEBHOOK_URL,
        **FAST,
        **overrides,
    }
    return SandboxConfig(**values)


@asynccontextmanager
async def running_sandbox(
    receiver: WebhookReceiver | None = None, **overrides: Any
) -> AsyncIterator[Sandbox]:
    """Create a sandbox app, run its lifespan and yield it with an authenticated client."""
    receiver = receiver or WebhookReceiver()
    config = make_config(**overrides)
    transport = httpx.MockTransport(receiver.handle)
    async with httpx.AsyncClient(transport=transport) as webhook_client:
        app = create_sandbox_app(config, webhook_client)
        # ASGITransport does not run the lifespan: enter it here so the scheduler runs.
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url=SANDBOX_URL,
                headers={"Authorization": f"Bearer {API_KEY}"},
            ) as client:
                yield Sandbox(app=app, config=config, client=client, receiver=receiver)


def body_of(request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a recorded request."""
    body: dict[str, Any] = json.loads(request.content)
    return body
