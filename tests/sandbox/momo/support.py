"""Helpers of the MoMo simulator tests: a running sandbox with MoMo mounted, and its client."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.state import MomoState
from tests.sandbox.support import (
    SANDBOX_URL,
    WebhookReceiver,
    make_config,
    wait_until,
)

MOMO_API_KEY = "momo-test-subscription-key"
MOMO_SECRET = "whsec_" + base64.b64encode(b"momo-sandbox-test-secret-bytes").decode("ascii")
MOMO_WEBHOOK_URL = "http://relay.test/webhooks/momo"
KES_FLOAT = "10000000000.00"
KES_FLOAT_AFTER_ONE = "9999998500.00"  # after one 1500.00 transfer

MOMO_HEADERS = {"Ocp-Apim-Subscription-Key": MOMO_API_KEY, "X-Target-Environment": "sandbox"}
TRANSFER_PATH = "/momo/disbursement/v1_0/transfer"

# Fast timings: a whole scenario resolves in a few ticks.
MOMO_FAST: dict[str, Any] = {
    "settle_seconds": 0.05,
    "late_success_seconds": 0.3,
    "timeout_after_accept_seconds": 0.5,
    "webhook_timeout_seconds": 1.0,
    "tick_seconds": 0.01,
}


def make_momo_config(**overrides: Any) -> MomoSandboxConfig:
    """A fast MoMo configuration with the test credentials."""
    values: dict[str, Any] = {
        "api_key": MOMO_API_KEY,
        "webhook_secret": MOMO_SECRET,
        "webhook_url": MOMO_WEBHOOK_URL,
        **MOMO_FAST,
        **overrides,
    }
    return MomoSandboxConfig(**values)


def new_reference_id() -> str:
    """A fresh X-Reference-Id."""
    return str(uuid.uuid4())


def transfer_body(
    external_id: str = "pay-1",
    party_id: str = "254712345678",
    amount: str = "1500.00",
    currency: str = "KES",
) -> dict[str, Any]:
    """A valid transfer body."""
    return {
        "amount": amount,
        "currency": currency,
        "externalId": external_id,
        "payee": {"partyIdType": "MSISDN", "partyId": party_id},
        "payerMessage": "payout",
        "payeeNote": "thanks",
    }


@dataclass
class Momo:
    """A sandbox app running the hub and MoMo, a MoMo client and the webhook receiver.

    ``client`` carries MoMo's subscription key and target environment; ``admin`` none.
    """

    app: FastAPI
    config: MomoSandboxConfig
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    receiver: WebhookReceiver

    @property
    def state(self) -> MomoState:
        """MoMo's state in the app."""
        state: MomoState = self.app.state.momo
        return state

    async def transfer(
        self,
        reference_id: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        callback_url: str | None = None,
        **fields: Any,
    ) -> tuple[str, httpx.Response]:
        """POST a transfer; return its reference id and the answer."""
        reference_id = reference_id or new_reference_id()
        headers = {"X-Reference-Id": reference_id}
        if callback_url is not None:
            headers["X-Callback-Url"] = callback_url
        payload = body if body is not None else transfer_body(**fields)
        response = await self.client.post(TRANSFER_PATH, json=payload, headers=headers)
        return reference_id, response

    async def status_of(self, reference_id: str) -> dict[str, Any]:
        """GET a transfer's status, which must exist."""
        response = await self.client.get(f"{TRANSFER_PATH}/{reference_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def transfers(self) -> list[dict[str, Any]]:
        """The admin list of transfers."""
        response = await self.admin.get("/admin/momo/transfers")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def admin_transfer(self, reference_id: str) -> dict[str, Any]:
        """One transfer as the admin API shows it."""
        response = await self.admin.get(f"/admin/momo/transfers/{reference_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def webhook_log(self) -> list[dict[str, Any]]:
        """The admin callback log."""
        response = await self.admin.get("/admin/momo/webhooks")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def balance(self, currency: str = "KES") -> str:
        """MoMo's float in ``currency``, as the balance endpoint shows it."""
        response = await self.client.get(
            "/momo/disbursement/v1_0/account/balance", params={"currency": currency}
        )
        assert response.status_code == 200, response.text
        assert response.json()["currency"] == currency
        return str(response.json()["availableBalance"])

    async def wait_for_status(self, reference_id: str, status: str, timeout: float = 2.0) -> None:
        """Poll until the transfer has ``status``."""

        async def reached() -> bool:
            return (await self.status_of(reference_id))["status"] == status

        await wait_until(reached, timeout, f"{reference_id} reaching {status}")

    async def wait_for_callbacks(self, count: int, timeout: float = 2.0) -> None:
        """Wait until the receiver got ``count`` callback requests."""
        await wait_until(
            lambda: len(self.receiver.requests) >= count, timeout, f"{count} callback(s)"
        )

    def callbacks(self) -> list[dict[str, Any]]:
        """Every callback body received, parsed, in arrival order."""
        return [json.loads(request.content) for request in self.receiver.requests]


@asynccontextmanager
async def running_momo(
    receiver: WebhookReceiver | None = None, **overrides: Any
) -> AsyncIterator[Momo]:
    """Create a sandbox app with MoMo, run its lifespan and yield MoMo's clients."""
    receiver = receiver or WebhookReceiver()
    config = make_momo_config(**overrides)
    transport = httpx.MockTransport(receiver.handle)
    async with httpx.AsyncClient(transport=transport) as webhook_client:
        app = create_sandbox_app(make_config(webhook_url=None), webhook_client, momo=config)
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=asgi, base_url=SANDBOX_URL, headers=MOMO_HEADERS
                ) as client,
                httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL) as admin,
            ):
                yield Momo(app=app, config=config, client=client, admin=admin, receiver=receiver)
