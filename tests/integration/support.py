"""Helpers of the integration tests: waiting, sandbox records, payout requests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, PayoutView
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient

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
