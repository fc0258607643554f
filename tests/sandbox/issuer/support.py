"""Helpers of the card issuer tests: a running sandbox with the issuer and an engine double.

The engine double stands in for the relay: it answers the network's authorization
requests as a test tells it (approve, decline, partial, slow, broken) and accepts the
card events, keeping every request so tests can check bodies and signatures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.state import IssuerState
from tests.sandbox.support import SANDBOX_URL, make_config, wait_until

ISSUER_API_KEY = "issuer-test-key"
ISSUER_SECRET = "whsec_" + base64.b64encode(b"issuer-sandbox-test-secret-bytes").decode("ascii")
ISSUER_WEBHOOK_URL = "http://relay.test/webhooks/issuer"
AUTHORIZATION_URL = "http://relay.test/authorizations/issuer"
ISSUER_HEADERS = {"Authorization": f"Bearer {ISSUER_API_KEY}"}

# Generous: a loaded CI machine may take seconds to run what takes milliseconds here.
PATIENCE = 10.0

FAST: dict[str, Any] = {
    "tick_seconds": 0.01,
    "kyc_review_seconds": 0.2,
    "webhook_timeout_seconds": 2.0,
    "webhook_retry_delays": [0.01, 0.01, 0.01],
}

Answer = Callable[[dict[str, Any]], httpx.Response]


def approve(body: dict[str, Any]) -> httpx.Response:
    """Approve the whole amount."""
    return answer_for(body, "APPROVED", body["amount"])


def decline(body: dict[str, Any]) -> httpx.Response:
    """Decline for insufficient funds."""
    return answer_for(body, "DECLINED", 0, "insufficient_funds")


def answer_for(
    body: dict[str, Any], result: str, approved: int, reason: str | None = None
) -> httpx.Response:
    """A well-formed answer to the request ``body``."""
    return httpx.Response(
        200,
        json={
            "authorization_id": body["authorization_id"],
            "result": result,
            "approved_amount": approved,
            "decline_reason": reason,
        },
    )


@dataclass
class EngineDouble:
    """The relay's side: answers authorization requests with :attr:`answer`, takes webhooks.

    Attributes:
        answer: makes the answer to an authorization request from its body.
        delay: seconds to wait before answering an authorization request (asynchronously:
            the network's deadline can cut it short).
        webhook_failures: answer 500 to this many webhook requests first.
    """

    answer: Answer = approve
    delay: float = 0.0
    webhook_failures: int = 0
    authorizations: list[httpx.Request] = field(default_factory=list)
    webhooks: list[httpx.Request] = field(default_factory=list)
    accepted: list[httpx.Request] = field(default_factory=list)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        if str(request.url) == AUTHORIZATION_URL:
            self.authorizations.append(request)
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.answer(json.loads(request.content))
        self.webhooks.append(request)
        if self.webhook_failures > 0:
            self.webhook_failures -= 1
            return httpx.Response(500)
        self.accepted.append(request)
        return httpx.Response(204)

    def events(self) -> list[dict[str, Any]]:
        """The accepted webhook bodies, parsed, in arrival order."""
        return [json.loads(request.content) for request in self.accepted]


def verify(request: httpx.Request) -> None:
    """The request carries a valid Standard Webhooks signature of the issuer's secret."""
    STANDARD_WEBHOOKS.verify(ISSUER_SECRET, request.headers, request.content, now=time.time())


def make_issuer_config(**overrides: Any) -> IssuerSandboxConfig:
    """A fast issuer configuration with the test credentials."""
    settings: dict[str, Any] = {
        "api_key": ISSUER_API_KEY,
        "webhook_secret": ISSUER_SECRET,
        "webhook_url": ISSUER_WEBHOOK_URL,
        "authorization_url": AUTHORIZATION_URL,
        **FAST,
        **overrides,
    }
    return IssuerSandboxConfig(**settings)


def cardholder_body(reference: str = "card-abc", document: str = "12345678") -> dict[str, Any]:
    """A valid cardholder body; the document number's last four choose the KYC."""
    return {
        "reference": reference,
        "first_name": "Wanjiku",
        "last_name": "Kamau",
        "date_of_birth": "1990-05-17",
        "id_document": {"type": "national_id", "number": document},
        "country": "KE",
    }


@dataclass
class Issuer:
    """A sandbox app running the issuer, its clients and the engine double.

    ``client`` carries the issuer's bearer token; ``admin`` none.
    """

    app: FastAPI
    config: IssuerSandboxConfig
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    engine: EngineDouble

    @property
    def state(self) -> IssuerState:
        """The issuer's state in the app."""
        state: IssuerState = self.app.state.issuer
        return state

    async def cardholder(
        self, reference: str = "card-abc", document: str = "12345678", key: str | None = None
    ) -> dict[str, Any]:
        """Create a cardholder (201) and return it."""
        response = await self.client.post(
            "/issuer/v1/cardholders",
            json=cardholder_body(reference, document),
            headers={"Idempotency-Key": key or f"chd-{reference}-{document}"},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def card(
        self, reference: str = "card-abc", currency: str = "KES", holder: str | None = None
    ) -> dict[str, Any]:
        """Create an approved cardholder (unless given) and a card for it; return the card."""
        holder = holder or (await self.cardholder(reference))["token"]
        response = await self.client.post(
            "/issuer/v1/cards",
            json={"cardholder_token": holder, "reference": reference, "currency": currency},
            headers={"Idempotency-Key": f"card-{reference}-{holder}"},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def purchase(self, card: str, amount: int = 1500, **fields: Any) -> dict[str, Any]:
        """Run a purchase (200) and return its outcome."""
        body = {"card": card, "amount": amount, "currency": "KES", "mcc": "5411", "country": "KE"}
        response = await self.admin.post("/admin/issuer/purchases", json={**body, **fields})
        assert response.status_code == 200, response.text
        outcome: dict[str, Any] = response.json()
        return outcome

    async def get(self, path: str) -> Any:
        """GET an issuer API path with the bearer token; must be a 200."""
        response = await self.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    async def admin_get(self, path: str) -> Any:
        """GET an admin path; must be a 200."""
        response = await self.admin.get(f"/admin/issuer{path}")
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_for_events(self, count: int) -> list[dict[str, Any]]:
        """Wait until the engine double accepted ``count`` webhooks; return them all."""
        await wait_until(lambda: len(self.engine.accepted) >= count, PATIENCE, f"{count} events")
        return self.engine.events()


@asynccontextmanager
async def running_issuer(
    engine: EngineDouble | None = None, **overrides: Any
) -> AsyncIterator[Issuer]:
    """Create a sandbox app with the issuer, run its lifespan and yield its clients."""
    engine = engine or EngineDouble()
    config = make_issuer_config(**overrides)
    async with httpx.AsyncClient(transport=httpx.MockTransport(engine.handle)) as hooks:
        app = create_sandbox_app(make_config(webhook_url=None), hooks, issuer=config)
        # ASGITransport does not run the lifespan: enter it here so the scheduler runs.
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=asgi, base_url=SANDBOX_URL, headers=ISSUER_HEADERS
                ) as client,
                httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL) as admin,
            ):
                yield Issuer(app=app, config=config, client=client, admin=admin, engine=engine)
