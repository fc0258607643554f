"""Helpers of the bank simulator tests: a running sandbox with the bank, its clients."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from payments_engine.sandbox.app import create_sandbox_app
from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.bank.state import BankState
from tests.sandbox.support import (
    SANDBOX_URL,
    RunningSimulator,
    WebhookReceiver,
    fast_config,
    make_config,
    ok_json,
    wait_until,
)

BANK_API_KEY = "bank-test-key"
BANK_SECRET = "whsec_" + base64.b64encode(b"bank-sandbox-test-secret-bytes").decode("ascii")
BANK_WEBHOOK_URL = "http://relay.test/webhooks/bank"
BANK_HEADERS = {"Authorization": f"Bearer {BANK_API_KEY}"}
TRANSFERS_PATH = "/bank/v1/transfers"

# Generous: a loaded CI machine may take far longer than the settlement delay.
PATIENCE = 5.0
SETTLEMENT = 0.3

FAST: dict[str, Any] = {
    "settlement_delay_seconds": SETTLEMENT,
    "tick_seconds": 0.01,
    "webhook_timeout_seconds": 1.0,
    "webhook_retry_delays": [0.01, 0.01, 0.01],
}

COP_FLOAT = 10**12


def make_bank_config(**overrides: Any) -> BankSandboxConfig:
    """A fast bank configuration with the test credentials; ``overrides`` win."""
    settings = {**FAST, **overrides}
    return fast_config(BankSandboxConfig, BANK_API_KEY, BANK_SECRET, BANK_WEBHOOK_URL, **settings)


def transfer_body(
    external_id: str = "refund-rf-1",
    account_number: str = "0012345601",
    amount: str = "150000.00",
    currency: str = "COP",
    country: str = "CO",
    **beneficiary: Any,
) -> dict[str, Any]:
    """A valid transfer body (Colombia by default); ``beneficiary`` fields win."""
    documents = {"CO": ("CC", "1020304050"), "MX": ("CURP", "GOMA800101HDFRRL09")}
    document_type, document_number = documents[country]
    return {
        "external_id": external_id,
        "amount": amount,
        "currency": currency,
        "beneficiary": {
            "bank_code": "007",
            "account_type": "savings",
            "account_number": account_number,
            "document_type": document_type,
            "document_number": document_number,
            "holder_name": "María Gómez",
            "country": country,
            **beneficiary,
        },
        "description": "refund of cash order co-1",
    }


class ShiftedClock:
    """Wall time plus an offset the test moves: the store's scheduling clock, jumped ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Bank(RunningSimulator[BankSandboxConfig, BankState]):
    """A sandbox app running the bank, a bank client, an admin client and the receiver."""

    status_path = TRANSFERS_PATH
    admin_path = "/admin/bank"
    state_name = "bank"

    async def submit(self, body: dict[str, Any] | None = None, **fields: Any) -> httpx.Response:
        """POST a transfer."""
        return await self.client.post(TRANSFERS_PATH, json=body or transfer_body(**fields))

    async def created(self, **fields: Any) -> dict[str, Any]:
        """POST a transfer that must be created (201); its answer."""
        response = await self.submit(**fields)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def wait_for_status(self, key: str, status: str, timeout: float = PATIENCE) -> None:
        """Poll until the transfer has ``status``."""
        await super().wait_for_status(key, status, timeout)

    async def wait_for_webhooks(self, count: int, timeout: float = PATIENCE) -> None:
        """Wait until the receiver accepted ``count`` webhooks."""
        await wait_until(
            lambda: len(self.receiver.accepted) >= count, timeout, f"{count} webhook(s)"
        )

    def events(self) -> list[dict[str, Any]]:
        """The accepted webhook bodies, parsed, in arrival order."""
        return [json.loads(request.content) for request in self.receiver.accepted]

    async def cop_float(self) -> int:
        """The bank's COP float in minor units."""
        return self.state.store.balances()["COP"]

    async def admin_json(self, path: str) -> Any:
        """GET an admin path under ``/admin/bank``; it must answer 200."""
        return await ok_json(self.admin, f"{self.admin_path}{path}")

    def shift_clock(self) -> ShiftedClock:
        """Give the running bank store a scheduling clock the test can move forward."""
        clock = ShiftedClock()
        self.state.store._clock = clock
        self.state.store.outbox._clock = clock
        return clock


@asynccontextmanager
async def running_bank(
    receiver: WebhookReceiver | None = None, **overrides: Any
) -> AsyncIterator[Bank]:
    """Create a sandbox app with the bank, run its lifespan and yield the bank's clients."""
    config = make_bank_config(**overrides)
    receiver = receiver or WebhookReceiver()
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as hooks:
        app = create_sandbox_app(make_config(webhook_url=None), hooks, bank=config)
        # ASGITransport does not run the lifespan: enter it here so the scheduler runs.
        async with app.router.lifespan_context(app):
            asgi = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(
                    transport=asgi, base_url=SANDBOX_URL, headers=BANK_HEADERS
                ) as client,
                httpx.AsyncClient(transport=asgi, base_url=SANDBOX_URL) as admin,
            ):
                yield Bank(app=app, config=config, client=client, admin=admin, receiver=receiver)


def state_file(tmp_path: Path) -> Path:
    """Where a test keeps the sandbox's state file."""
    return tmp_path / "sandbox.db"
