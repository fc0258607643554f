"""Helpers of the merchant recorder tests: a running sandbox with the recorder mounted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.merchant.config import MerchantSandboxConfig
from tests.sandbox.support import SANDBOX_URL, make_config, ok_json

HOLDS = "/merchant/v1/stock/holds"
RELEASES = "/merchant/v1/stock/releases"
ALERTS = "/merchant/v1/alerts"


def hold_body(order_id: str = "co-1", **fields: Any) -> dict[str, Any]:
    """A hold as the engine sends it."""
    return {
        "order_id": order_id,
        "merchant_id": "shop-1",
        "merchant_reference": "ORDER-42",
        "until": "2026-11-27T23:59:00+00:00",
        **fields,
    }


def release_body(order_id: str = "co-1", **fields: Any) -> dict[str, Any]:
    """A release as the engine sends it."""
    return {
        "order_id": order_id,
        "merchant_id": "shop-1",
        "merchant_reference": "ORDER-42",
        "reason": "expired",
        **fields,
    }


def key(order_id: str, action: str) -> dict[str, str]:
    """The engine's idempotency key header of a stock call."""
    return {"Idempotency-Key": f"cash-order-{order_id}:{action}"}


@dataclass
class Merchant:
    """A sandbox app running the recorder, a client for its hooks and one for its admin."""

    app: FastAPI
    client: httpx.AsyncClient

    async def hold(self, order_id: str = "co-1", **fields: Any) -> httpx.Response:
        """POST a hold with the engine's key for the order."""
        body = hold_body(order_id, **fields)
        return await self.client.post(HOLDS, json=body, headers=key(order_id, "hold"))

    async def release(self, order_id: str = "co-1", **fields: Any) -> httpx.Response:
        """POST a release with the engine's key for the order."""
        body = release_body(order_id, **fields)
        return await self.client.post(RELEASES, json=body, headers=key(order_id, "release"))

    async def stock(self) -> list[dict[str, Any]]:
        """The admin view of every order."""
        body: list[dict[str, Any]] = await ok_json(self.client, "/admin/merchant/stock")
        return body

    async def alerts(self) -> list[dict[str, Any]]:
        """The admin view of every alert."""
        body: list[dict[str, Any]] = await ok_json(self.client, "/admin/merchant/alerts")
        return body


@asynccontextmanager
async def running_merchant(
    api_key: str | None = None, state_file: Path | None = None, token: str | None = None
) -> AsyncIterator[Merchant]:
    """Create a sandbox app with the recorder, run its lifespan, yield its client.

    Args:
        api_key: the recorder's API key; None checks none.
        state_file: where it keeps what it heard.
        token: the bearer token the client sends; None sends none.
    """
    config = MerchantSandboxConfig(api_key=api_key, state_file=state_file)
    app = create_sandbox_app(make_config(webhook_url=None), merchant=config)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL, headers=headers
        ) as client,
    ):
        yield Merchant(app=app, client=client)
