"""Provider floats end to end: read through a worker, watched on a Schedule, alerted once.

The sandbox hub's float is set through its admin API; the watch's alert lands at the
sandbox merchant's recorder.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow
from typer.testing import CliRunner

from payments_engine.domain.errors import ProviderNotConfigured
from payments_engine.domain.floats import FloatWatchResult, float_watch_schedule_id
from payments_engine.starter.cli import app
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.store_agnostic]


async def test_a_low_float_is_read_watched_and_alerted(
    stack: EngineStack, payments: PaymentsClient, sandbox_admin: httpx.AsyncClient
) -> None:
    before = (await sandbox_admin.get("/float")).json()
    try:
        (
            await sandbox_admin.put("/float", json={"currency": "KES", "amount": 12_345})
        ).raise_for_status()
        read = await payments.floats.read("hub")
        assert read.balances["KES"] == 12_345

        assert await payments.floats.watch("hub", {"KES": 50_000_00}) is True
        assert await payments.floats.watch("hub", {"KES": 60_000_00}) is False  # updated
        handle = stack.client.get_schedule_handle(float_watch_schedule_id("hub"))
        await handle.trigger()

        async def started() -> list[str]:
            described = await handle.describe()
            return [
                action.action.workflow_id
                for action in described.info.recent_actions
                if isinstance(action.action, ScheduleActionExecutionStartWorkflow)
            ]

        runs = await eventually(started, bool, timeout=30)
        result = await stack.client.get_workflow_handle(
            runs[0], result_type=FloatWatchResult
        ).result()
        assert result.low == ["KES"] and result.alerted == ["KES"]
        alerts = (await sandbox_admin.get("/merchant/alerts")).json()
        assert any(a["idempotency_key"].startswith("float-hub-KES-") for a in alerts)
        assert await payments.floats.unwatch("hub") is True
        assert await payments.floats.unwatch("hub") is False
    finally:
        for currency, amount in _balances(before).items():
            await sandbox_admin.put("/float", json={"currency": currency, "amount": amount})
        await payments.floats.unwatch("hub")


def _balances(answer: object) -> dict[str, int]:
    if isinstance(answer, dict):
        found = answer.get("balances", answer)
        if isinstance(found, dict):
            return {str(k): int(v) for k, v in found.items()}
        if isinstance(found, list):
            return {str(item["currency"]): int(item["amount"]) for item in found}
    return {}


async def test_a_provider_without_a_float_and_a_bad_threshold_are_refused(
    stack: EngineStack, payments: PaymentsClient
) -> None:
    with pytest.raises(ProviderNotConfigured, match="state its float"):
        await payments.floats.read("efecty")
    cli = CliRunner(
        env={
            "PAYMENTS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "PAYMENTS_TASK_QUEUE": stack.settings.task_queue,
            "PAYMENTS_DATABASE_URL": stack.settings.resolved_database_url,
        }
    )
    args = ["payout", "float-watch", "--provider", "hub", "--threshold", "KES=12.345"]
    outcome = await asyncio.to_thread(cli.invoke, app, args)
    assert outcome.exit_code == 2
    assert "KES has 2 decimal places" in " ".join(outcome.stderr.split())
