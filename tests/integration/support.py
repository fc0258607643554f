"""Helpers of the integration tests: waiting, sandbox records, payout requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, PayoutView
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack

T = TypeVar("T")

AMOUNT = Money(amount=1_500_00, currency="KES")
SUCCESS_NUMBER = "+254712345678"


def msisdn_for(scenario: Scenario) -> str:
    """A Kenyan number that makes the sandbox run ``scenario``."""
    return f"+254700{scenario.suffix}" if scenario.suffix else SUCCESS_NUMBER


def payout(merchant_id: str, scenario: Scenario = Scenario.SUCCESS, **extra: Any) -> PayoutRequest:
    """A 1,500.00 KES payout of ``merchant_id`` running ``scenario`` at the sandbox."""
    return PayoutRequest(
        payout_id=f"it-{scenario.value.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        amount=AMOUNT,
        recipient_msisdn=msisdn_for(scenario),
        country="KE",
        **extra,
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout: float = 60.0,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` until ``accept`` holds for its value; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await probe()
    while not accept(value):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


async def settled(payments: PaymentsClient, payout_id: str, timeout: float = 60.0) -> PayoutView:
    """Wait until the payout is succeeded, failed or needs_review."""
    return await eventually(
        lambda: payments.get_payout(payout_id),
        lambda v: v.status.is_final or v.status is PayoutStatus.NEEDS_REVIEW,
        timeout=timeout,
    )


async def transfers(admin: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The sandbox's own record of transfers, by our reference."""
    response = await admin.get("/transfers")
    response.raise_for_status()
    return {t["thirdPartyTransId"]: t for t in response.json()}


# The task queue of the worker processes a test starts (and kills).
CRASH_QUEUE = "it-crash"


class WorkerProcesses:
    """``payments worker`` processes on the crash queue, as a user would run them."""

    def __init__(self, stack: EngineStack, log_path: Path) -> None:
        """Prepare the environment the processes get: every provider of the stack."""
        settings = stack.settings
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
        self._env.update(
            {
                "PAYMENTS_TEMPORAL_ADDRESS": settings.temporal_address,
                "PAYMENTS_TASK_QUEUE": CRASH_QUEUE,
                "PAYMENTS_DATABASE_URL": settings.resolved_database_url,
                "PAYMENTS_MERCHANT_HOOKS_URL": settings.resolved_merchant_hooks_url,
            }
        )
        if settings.codec_keys is not None:
            self._env["PAYMENTS_CODEC_KEYS"] = settings.codec_keys.get_secret_value()
        for name in PROVIDERS:
            key = settings.provider(name).api_key
            assert key is not None
            prefix = f"PAYMENTS_{name.upper()}_"
            self._env[prefix + "BASE_URL"] = settings.provider_base_url(name)
            self._env[prefix + "API_KEY"] = key.get_secret_value()
            self._env[prefix + "TIMEOUT_SECONDS"] = "5"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        """Start one worker process (the module entry point, as ``payments worker`` runs)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "payments_engine.worker"],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Stop whatever still runs."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._log.close()
