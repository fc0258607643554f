"""Helpers of the MoMo simulator tests: a running sandbox with MoMo mounted, and its client."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.state import MomoState
from tests.sandbox.support import (
    FAST_TIMINGS,
    SANDBOX_URL,
    RunningSimulator,
    WebhookReceiver,
    fast_config,
    make_config,
    ok_json,
    running_app,
    wait_until,
)

MOMO_API_KEY = "momo-test-subscription-key"
MOMO_SECRET = "whsec_" + base64.b64encode(b"momo-sandbox-test-secret-bytes").decode("ascii")
MOMO_WEBHOOK_URL = "http://relay.test/webhooks/momo"
KES_FLOAT = "10000000000.00"
KES_FLOAT_AFTER_ONE = "9999998500.00"  # after one 1500.00 transfer

KES_FLOAT_AFTER_ONE_COLLECTED = "10000001500.00"  # after one 1500.00 request to pay paid

MOMO_HEADERS = {"Ocp-Apim-Subscription-Key": MOMO_API_KEY, "X-Target-Environment": "sandbox"}
TRANSFER_PATH = "/momo/disbursement/v1_0/transfer"
REQUEST_TO_PAY_PATH = "/momo/collection/v1_0/requesttopay"


def make_momo_config(**overrides: Any) -> MomoSandboxConfig:
    """A fast MoMo configuration with the test credentials."""
    settings = {**FAST_TIMINGS, **overrides}
    return fast_config(MomoSandboxConfig, MOMO_API_KEY, MOMO_SECRET, MOMO_WEBHOOK_URL, **settings)


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


def request_to_pay_body(
    external_id: str = "col-1",
    party_id: str = "256772345678",
    amount: str = "1500.00",
    currency: str = "KES",
) -> dict[str, Any]:
    """A valid request-to-pay body."""
    return {
        "amount": amount,
        "currency": currency,
        "externalId": external_id,
        "payer": {"partyIdType": "MSISDN", "partyId": party_id},
        "payerMessage": "order 42",
        "payeeNote": "shop",
    }


class ShiftedClock:
    """Wall time plus an offset the test moves: the store's scheduling clock, jumped ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Momo(RunningSimulator[MomoSandboxConfig, MomoState]):
    """A sandbox app running the hub and MoMo, a MoMo client and the webhook receiver.

    ``client`` carries MoMo's subscription key and target environment; ``admin`` none.
    """

    status_path = TRANSFER_PATH
    admin_path = "/admin/momo"
    state_name = "momo"

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

    async def balance(self, currency: str = "KES") -> str:
        """MoMo's float in ``currency``, as the balance endpoint shows it."""
        path = "/momo/disbursement/v1_0/account/balance"
        balance = await ok_json(self.client, path, currency=currency)
        assert balance["currency"] == currency
        return str(balance["availableBalance"])

    async def wait_for_callbacks(self, count: int, timeout: float = 2.0) -> None:
        """Wait until the receiver got ``count`` callback requests."""
        await wait_until(
            lambda: len(self.receiver.requests) >= count, timeout, f"{count} callback(s)"
        )

    def callbacks(self) -> list[dict[str, Any]]:
        """Every callback body received, parsed, in arrival order."""
        return [json.loads(request.content) for request in self.receiver.requests]

    async def request_to_pay(
        self,
        reference_id: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        callback_url: str | None = None,
        **fields: Any,
    ) -> tuple[str, httpx.Response]:
        """POST a request to pay; return its reference id and the answer."""
        reference_id = reference_id or new_reference_id()
        headers = {"X-Reference-Id": reference_id}
        if callback_url is not None:
            headers["X-Callback-Url"] = callback_url
        payload = body if body is not None else request_to_pay_body(**fields)
        response = await self.client.post(REQUEST_TO_PAY_PATH, json=payload, headers=headers)
        return reference_id, response

    async def request_status_of(self, reference_id: str) -> dict[str, Any]:
        """GET a request to pay's status, which must exist."""
        path = f"{REQUEST_TO_PAY_PATH}/{reference_id}"
        body: dict[str, Any] = await ok_json(self.client, path)
        return body

    async def wait_for_request_status(
        self, reference_id: str, status: str, timeout: float = 2.0
    ) -> None:
        """Poll until the request to pay has ``status``."""

        async def reached() -> bool:
            return (await self.request_status_of(reference_id))["status"] == status

        await wait_until(reached, timeout, f"{reference_id} reaching {status}")

    async def requests_to_pay(self) -> list[dict[str, Any]]:
        """The admin list of requests to pay."""
        body: list[dict[str, Any]] = await ok_json(self.admin, "/admin/momo/requests-to-pay")
        return body

    async def admin_request(self, reference_id: str) -> dict[str, Any]:
        """One request to pay as the admin API shows it."""
        path = f"/admin/momo/requests-to-pay/{reference_id}"
        body: dict[str, Any] = await ok_json(self.admin, path)
        return body

    def shift_clock(self) -> ShiftedClock:
        """Give the running MoMo store a scheduling clock the test can move forward."""
        clock = ShiftedClock()
        self.state.store._clock = clock
        return clock


@asynccontextmanager
async def running_momo(
    receiver: WebhookReceiver | None = None, **overrides: Any
) -> AsyncIterator[Momo]:
    """Create a sandbox app with MoMo, run its lifespan and yield MoMo's clients."""
    config = make_momo_config(**overrides)
    async with (
        running_app(receiver, make_config(webhook_url=None), config) as (app, asgi, hooks),
        httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL, headers=MOMO_HEADERS) as client,
        httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL) as admin,
    ):
        yield Momo(app=app, config=config, client=client, admin=admin, receiver=hooks)
