"""Helpers of the cash network tests: a sandbox running Efecty and OXXO, request bodies.

:func:`running_cash` starts one app with both networks on fast timings (a voucher lives
under a second) and a webhook receiver standing in for the relay; :class:`CashSandbox`
drives either network through the same calls, so a test can run on both.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.domain.webhooks import HMAC_T_V1, STANDARD_WEBHOOKS, SignatureScheme
from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from tests.sandbox.support import SANDBOX_URL, WebhookReceiver, make_config, wait_until

EFECTY_KEY = "efecty-test-key"
EFECTY_SECRET = "efecty-test-secret"
EFECTY_URL = "http://relay.test/webhooks/efecty"
OXXO_KEY = "oxxo-test-key"
OXXO_SECRET = "whsec_" + base64.b64encode(b"oxxo-sandbox-test-secret-bytes!!").decode("ascii")
OXXO_URL = "http://relay.test/webhooks/oxxo"

# Generous: a loaded machine may take a while to run what takes milliseconds here.
PATIENCE = 5.0

FAST: dict[str, Any] = {
    "tick_seconds": 0.01,
    "confirmation_delay_seconds": 0.1,
    "shop_payment_delay_seconds": 0.05,
    "late_payment_seconds": 0.2,
    "voucher_lifetime_seconds": 0.4,
    "webhook_timeout_seconds": 2.0,
    "webhook_retry_delays": [0.01] * 8,
}

EFECTY_DOCUMENT = "10203040"
"""A CC number; tests replace its last two digits with a magic value."""
OXXO_DOCUMENT = "GODE561231HDFRRN00"
"""A CURP; tests replace its last two digits with a magic value."""


def efecty_config(**overrides: Any) -> EfectySandboxConfig:
    """A fast Efecty configuration with the test credentials."""
    settings = {
        "api_key": EFECTY_KEY,
        "webhook_secret": EFECTY_SECRET,
        "webhook_url": EFECTY_URL,
        **FAST,
        **overrides,
    }
    return EfectySandboxConfig(**settings)


def oxxo_config(**overrides: Any) -> OxxoSandboxConfig:
    """A fast OXXO configuration with the test credentials."""
    settings = {
        "api_key": OXXO_KEY,
        "webhook_secret": OXXO_SECRET,
        "webhook_url": OXXO_URL,
        **FAST,
        **overrides,
    }
    return OxxoSandboxConfig(**settings)


def efecty_body(
    reference: str, magic: str = "00", value: str = "120000", **fields: Any
) -> dict[str, Any]:
    """A valid Efecty transaction; ``magic`` is the last two digits of the document."""
    body: dict[str, Any] = {
        "referenceCode": reference,
        "description": "order",
        "value": value,
        "currency": "COP",
        "paymentMethod": "EFECTY",
        "paymentCountry": "CO",
        "buyer": {
            "fullName": "María Gómez",
            "dniType": "CC",
            "dniNumber": EFECTY_DOCUMENT[:-2] + magic,
        },
    }
    body.update(fields)
    return body


def oxxo_body(
    reference: str, magic: str = "00", amount: str = "1500.00", days: int | None = None
) -> dict[str, Any]:
    """A valid OXXO PaymentIntent; ``magic`` is the last two digits of the CURP."""
    body: dict[str, Any] = {
        "amount": amount,
        "currency": "MXN",
        "payment_method_types": ["oxxo"],
        "payment_method_data": {"type": "oxxo", "billing_details": {"name": "Diego López"}},
        "payer_document": {"type": "CURP", "number": OXXO_DOCUMENT[:-2] + magic},
        "metadata": {"reference": reference},
        "description": "order",
    }
    if days is not None:
        body["payment_method_options"] = {"oxxo": {"expires_after_days": days}}
    return body


@dataclass
class Network:
    """One cash network of the running app, driven the same way whichever it is.

    Attributes:
        name: ``efecty`` or ``oxxo``.
        client: calls the network's API with its credentials.
        admin: calls the admin API.
        secret: its webhook secret; scheme: its signature scheme; url: its webhook URL.
    """

    name: str
    app: FastAPI
    client: httpx.AsyncClient
    admin: httpx.AsyncClient
    receiver: WebhookReceiver
    secret: str
    scheme: SignatureScheme
    url: str

    @property
    def store(self) -> Any:
        """The network's store."""
        return getattr(self.app.state, self.name).store

    async def create(self, reference: str, magic: str = "00", **fields: Any) -> httpx.Response:
        """Ask for a voucher (the request is the network's own shape)."""
        if self.name == "efecty":
            return await self.client.post(
                "/efecty/v4/transactions", json=efecty_body(reference, magic, **fields)
            )
        return await self.client.post(
            "/oxxo/v1/payment_intents",
            json=oxxo_body(reference, magic, **fields),
            headers={"Idempotency-Key": reference},
        )

    async def issue(self, reference: str, magic: str = "00", **fields: Any) -> dict[str, Any]:
        """Create a voucher, which must be issued; return the network's answer."""
        response = await self.create(reference, magic, **fields)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def voucher(self, name: str) -> dict[str, Any]:
        """The admin view of a voucher."""
        response = await self.admin.get(f"/admin/{self.name}/vouchers/{name}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def pay(self, name: str) -> httpx.Response:
        """Pay a voucher at the shop (admin)."""
        return await self.admin.post(f"/admin/{self.name}/vouchers/{name}/payments")

    async def status(self, reference: str) -> httpx.Response:
        """The network's status API for our reference."""
        if self.name == "efecty":
            return await self.client.get(f"/efecty/v4/transactions/{reference}")
        response = await self.client.get(
            "/oxxo/v1/payment_intents", params={"reference": reference}
        )
        if response.status_code == 200 and not response.json()["data"]:
            return httpx.Response(404, json={"error": {"code": "resource_missing"}})
        if response.status_code == 200:
            return httpx.Response(200, json=response.json()["data"][-1])
        return response

    async def cancel(self, reference: str) -> httpx.Response:
        """Cancel by our reference."""
        if self.name == "efecty":
            return await self.client.post(f"/efecty/v4/transactions/{reference}/cancel")
        voucher = await self.voucher(reference)
        return await self.client.post(f"/oxxo/v1/payment_intents/{voucher['network_id']}/cancel")

    async def wait_for_state(self, name: str, state: str, timeout: float = PATIENCE) -> None:
        """Poll the admin view until the voucher is in ``state``."""

        async def reached() -> bool:
            return (await self.voucher(name))["status"] == state

        await wait_until(reached, timeout, f"{name} reaching {state}")

    def notifications(self) -> list[httpx.Request]:
        """The accepted requests to this network's webhook URL."""
        return [r for r in self.receiver.accepted if str(r.url) == self.url]

    def bodies(self) -> list[dict[str, Any]]:
        """The accepted notification bodies, parsed, in arrival order."""
        return [json.loads(r.content) for r in self.notifications()]

    def verify(self, request: httpx.Request) -> None:
        """The request is signed with the network's scheme and secret."""
        self.scheme.verify(self.secret, request.headers, request.content, now=time.time())

    async def wait_for_notifications(self, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` notifications were accepted; return their bodies."""
        await wait_until(
            lambda: len(self.notifications()) >= count, PATIENCE, f"{count} notifications"
        )
        return self.bodies()


def event_id(network: Network, body: dict[str, Any]) -> str:
    """The event id of a notification body."""
    return str(body["notification_id"] if network.name == "efecty" else body["id"])


def reference_of(network: Network, body: dict[str, Any]) -> str:
    """Our reference in a notification body."""
    return str(body["reference_sale"] if network.name == "efecty" else body["data"]["reference"])


@dataclass
class CashSandbox:
    """A sandbox app running both cash networks, with the receiver of their webhooks."""

    app: FastAPI
    efecty: Network
    oxxo: Network
    receiver: WebhookReceiver

    def network(self, name: str) -> Network:
        """The network called ``name``."""
        found: Network = getattr(self, name)
        return found


@asynccontextmanager
async def running_cash(
    receiver: WebhookReceiver | None = None,
    *,
    state_file: Path | None = None,
    efecty: dict[str, Any] | None = None,
    oxxo: dict[str, Any] | None = None,
) -> AsyncIterator[CashSandbox]:
    """Create a sandbox app with Efecty and OXXO, run its lifespan and yield it."""
    receiver = receiver or WebhookReceiver()
    efecty_cfg = efecty_config(state_file=state_file, **(efecty or {}))
    oxxo_cfg = oxxo_config(state_file=state_file, **(oxxo or {}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as hooks:
        app = create_sandbox_app(
            make_config(webhook_url=None), hooks, efecty=efecty_cfg, oxxo=oxxo_cfg
        )
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=asgi,
                    base_url=SANDBOX_URL,
                    headers={"Authorization": f"Bearer {EFECTY_KEY}"},
                ) as efecty_client,
                httpx.AsyncClient(
                    transport=asgi,
                    base_url=SANDBOX_URL,
                    headers={"Authorization": f"Bearer {OXXO_KEY}"},
                ) as oxxo_client,
                httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL) as admin,
            ):
                yield CashSandbox(
                    app=app,
                    efecty=Network(
                        "efecty",
                        app,
                        efecty_client,
                        admin,
                        receiver,
                        EFECTY_SECRET,
                        HMAC_T_V1,
                        EFECTY_URL,
                    ),
                    oxxo=Network(
                        "oxxo",
                        app,
                        oxxo_client,
                        admin,
                        receiver,
                        OXXO_SECRET,
                        STANDARD_WEBHOOKS,
                        OXXO_URL,
                    ),
                    receiver=receiver,
                )


def parse_time(value: str) -> datetime:
    """An ISO 8601 time of an admin view or an OXXO answer."""
    return datetime.fromisoformat(value)
