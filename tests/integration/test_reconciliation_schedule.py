"""The daily reconciliation schedule on the real dev server: created, updated, triggered,
deleted, from the client and from the CLI.

Schedules are per provider (``reconcile-daily-hub``), so each test deletes the hub's
first and last: a test never depends on, nor leaves, a schedule of another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from payments_engine.domain.reconciliation import (
    ReconciliationPolicy,
    ReconciliationResult,
    RunStatus,
    ScheduledReconciliationRequest,
)
from payments_engine.starter.cli import app
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually

pytestmark = [pytest.mark.integration, pytest.mark.store_agnostic]

PROVIDER = "hub"
SCHEDULE_ID = "reconcile-daily-hub"
RUN_TIMEOUT = 10.0


async def _scheduled(stack: EngineStack) -> bool:
    """Whether the hub's schedule exists (asked directly, not through the client)."""
    try:
        await stack.client.get_schedule_handle(SCHEDULE_ID).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _drop(stack: EngineStack) -> None:
    if await _scheduled(stack):
        await stack.client.get_schedule_handle(SCHEDULE_ID).delete()


@pytest.fixture
async def no_hub_schedule(stack: EngineStack) -> AsyncIterator[None]:
    """No hub schedule before the test, none after it, whatever the test did."""
    await _drop(stack)
    try:
        yield
    finally:
        await _drop(stack)


def _cli(stack: EngineStack) -> CliRunner:
    return CliRunner(
        env={
            "PAYMENTS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "PAYMENTS_TASK_QUEUE": stack.settings.task_queue,
            "PAYMENTS_DATABASE_URL": stack.settings.resolved_database_url,
        }
    )


async def _describe(stack: EngineStack) -> ScheduleDescription:
    return await stack.client.get_schedule_handle(SCHEDULE_ID).describe()


def _daily_at(description: ScheduleDescription) -> tuple[int, int, int]:
    """(hour, minute, second) of the schedule's one calendar, which must be daily."""
    spec = description.schedule.spec
    assert spec.time_zone_name == "UTC"
    assert spec.intervals == [] and spec.cron_expressions == []
    [calendar] = spec.calendars
    [hour], [minute], [second] = calendar.hour, calendar.minute, calendar.second
    for field in (hour, minute, second):
        assert field.end in (0, field.start) and field.step in (0, 1), field
    # Every day of every month: the calendar's defaults.
    assert all(r.start == 1 and r.end == 31 for r in calendar.day_of_month)
    assert all(r.start == 0 and r.end == 6 for r in calendar.day_of_week)
    return hour.start, minute.start, second.start


async def test_schedule_is_created_then_updated_and_describes_its_daily_run(
    stack: EngineStack, payments: PaymentsClient, no_hub_schedule: None
) -> None:
    created = await payments.reconciliation.schedule(PROVIDER, hour=2)
    assert (created.schedule_id, created.provider, created.created, created.at) == (
        SCHEDULE_ID,
        PROVIDER,
        True,
        "02:00 UTC",
    )
    description = await _describe(stack)
    assert _daily_at(description) == (2, 0, 0)
    policy = description.schedule.policy
    assert policy.overlap is ScheduleOverlapPolicy.SKIP
    assert policy.catchup_window == timedelta(days=1)
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ScheduledReconciliationWorkflow"
    assert action.id == SCHEDULE_ID
    assert action.task_queue == stack.settings.task_queue
    [argument] = await stack.client.data_converter.decode(
        action.args, [ScheduledReconciliationRequest]
    )
    assert argument == ScheduledReconciliationRequest(
        provider=PROVIDER, policy=ReconciliationPolicy()
    )
    assert description.schedule.state.paused is False

    updated = await payments.reconciliation.schedule(PROVIDER, hour=3)
    assert updated.created is False and updated.at == "03:00 UTC"
    assert _daily_at(await _describe(stack)) == (3, 0, 0)

    assert await payments.reconciliation.unschedule(PROVIDER) is True
    assert not await _scheduled(stack)


async def test_unschedule_says_whether_there_was_a_schedule(
    stack: EngineStack, payments: PaymentsClient, no_hub_schedule: None
) -> None:
    await payments.reconciliation.schedule(PROVIDER)
    assert await payments.reconciliation.unschedule(PROVIDER) is True
    # The server answers NOT_FOUND ("workflow execution already completed" on 1.32).
    assert await payments.reconciliation.unschedule(PROVIDER) is False


async def test_a_triggered_run_reconciles_yesterday_as_its_child(
    stack: EngineStack, payments: PaymentsClient, no_hub_schedule: None
) -> None:
    before = datetime.now(UTC).date()
    await payments.reconciliation.schedule(PROVIDER, hour=2)
    schedule = stack.client.get_schedule_handle(SCHEDULE_ID)
    await schedule.trigger()

    description = await eventually(
        lambda: _describe(stack), lambda d: bool(d.info.recent_actions), timeout=RUN_TIMEOUT
    )
    started = description.info.recent_actions[-1].action
    assert isinstance(started, ScheduleActionExecutionStartWorkflow)
    assert started.workflow_id.startswith(f"{SCHEDULE_ID}-")
    parent = stack.client.get_workflow_handle(
        started.workflow_id,
        run_id=started.first_execution_run_id,
        result_type=ReconciliationResult,
    )
    result = await asyncio.wait_for(parent.result(), RUN_TIMEOUT)
    after = datetime.now(UTC).date()

    yesterday: date = result.day
    assert yesterday in {before - timedelta(days=1), after - timedelta(days=1)}
    assert result.provider == PROVIDER
    # The hub's report of yesterday (this session's traffic is today's): nothing to act on.
    assert result.status is RunStatus.COMPLETED, result.error
    assert result.outcome is not None and result.error is None

    child = await stack.client.get_workflow_handle(
        f"reconcile-{PROVIDER}-{yesterday.isoformat()}"
    ).describe()
    assert child.workflow_type == "ReconciliationWorkflow"
    assert child.status is WorkflowExecutionStatus.COMPLETED
    assert child.parent_id == started.workflow_id
    stored = await payments.reconciliation.report(PROVIDER, yesterday)
    assert stored is not None and stored.status is RunStatus.COMPLETED


async def test_cli_schedules_the_hub_daily_and_refuses_a_time_that_is_none(
    stack: EngineStack, payments: PaymentsClient, no_hub_schedule: None
) -> None:
    cli = _cli(stack)
    refused = await asyncio.to_thread(
        cli.invoke, app, ["reconcile", "schedule", "--provider", PROVIDER, "--at", "25:00"]
    )
    assert refused.exit_code == 2, refused.output
    assert "25:00" in refused.stderr and "HH:MM" in refused.stderr
    assert not await _scheduled(stack), "nothing was created"

    done = await asyncio.to_thread(
        cli.invoke, app, ["reconcile", "schedule", "--provider", PROVIDER, "--at", "02:30"]
    )
    assert done.exit_code == 0, done.output
    assert "reconcile-daily-hub: created, daily at 02:30 UTC" in " ".join(done.stdout.split())
    assert _daily_at(await _describe(stack)) == (2, 30, 0)

    again = await asyncio.to_thread(
        cli.invoke, app, ["reconcile", "schedule", "--provider", PROVIDER, "--at", "02:30"]
    )
    assert again.exit_code == 0, again.output
    assert "reconcile-daily-hub: updated, daily at 02:30 UTC" in " ".join(again.stdout.split())

    deleted = await asyncio.to_thread(
        cli.invoke, app, ["reconcile", "schedule", "--provider", PROVIDER, "--delete"]
    )
    assert deleted.exit_code == 0, deleted.output
    assert "reconcile-daily-hub: deleted" in deleted.stdout
    assert not await _scheduled(stack)
