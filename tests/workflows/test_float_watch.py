"""FloatWatchWorkflow on the time-skipping test server, with scripted activities.

These pin down the watch's own decisions: which currencies are low (strictly below the
threshold; a currency with no float has none), one alert per low currency keyed by
provider, currency and hour (the same in a re-run within the hour), what the result
says, and how a provider or a hook that fails is handled. The real activities run
against mock transports and the sandbox in ``tests/activities/test_floats.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from payments_engine.domain.floats import (
    FloatAlert,
    FloatBalances,
    FloatInput,
    FloatWatchRequest,
    FloatWatchResult,
    float_alert_key,
    float_watch_schedule_id,
)
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.float_watch import FloatWatchWorkflow

RESULT_TIMEOUT = 30.0


@dataclass
class Fakes:
    """The float activities, scripted: what they answer and what they were asked.

    ``read_fail`` raises from ``get_float``: ``"not_configured"`` a final
    ProviderNotConfigured, ``"transient:N"`` a retryable error on the first N attempts.
    ``refuse`` lists currencies whose alert the hook refuses for good; ``hooks`` False
    answers every alert as "no hook configured".
    """

    balances: dict[str, int] = field(default_factory=dict)
    read_fail: str | None = None
    refuse: set[str] = field(default_factory=set)
    hooks: bool = True
    reads: list[FloatInput] = field(default_factory=list)
    alerts: list[FloatAlert] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="get_float")
        async def get_float(inp: FloatInput) -> FloatBalances:
            self.reads.append(inp)
            if self.read_fail == "not_configured":
                raise ApplicationError(
                    f"provider {inp.provider!r} is not configured on this worker",
                    type="ProviderNotConfigured",
                )
            if self.read_fail is not None and self.read_fail.startswith("transient:"):
                if activity.info().attempt <= int(self.read_fail.split(":")[1]):
                    raise ApplicationError("hub answered HTTP 503", type="ProviderUnavailable")
            return FloatBalances(
                provider=inp.provider, balances=self.balances, at=datetime.now(UTC)
            )

        @activity.defn(name="alert_low_float")
        async def alert_low_float(inp: FloatAlert) -> bool:
            self.alerts.append(inp)
            if inp.currency in self.refuse:
                raise ApplicationError(
                    "merchant alert hook refused the request (400)",
                    type="ProviderRejected",
                    non_retryable=True,
                )
            return self.hooks

        return [get_float, alert_low_float]


def request(**thresholds: int) -> FloatWatchRequest:
    # A provider name of its own per run: alert keys name it.
    return FloatWatchRequest(provider=f"hub{uuid.uuid4().hex[:6]}", thresholds=thresholds)


async def watch(
    env: WorkflowEnvironment, fakes: Fakes, req: FloatWatchRequest
) -> tuple[FloatWatchResult, str]:
    """Run one check to its end; its result and its workflow id."""
    task_queue = f"float-{uuid.uuid4().hex[:8]}"
    workflow_id = f"{float_watch_schedule_id(req.provider)}-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[FloatWatchWorkflow],
        activities=fakes.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await env.client.start_workflow(
            FloatWatchWorkflow.run, req, id=workflow_id, task_queue=task_queue
        )
        return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT), workflow_id


def hours(before: datetime, after: datetime) -> set[str]:
    """The UTC hours between two server times (the run's hour is one of them)."""
    return {moment.astimezone(UTC).strftime("%Y-%m-%dT%H") for moment in (before, after)}


async def test_one_alert_per_currency_below_its_threshold(env: WorkflowEnvironment) -> None:
    fakes = Fakes(balances={"KES": 5_000_00, "UGX": 999, "GHS": 1_000_00})
    req = request(KES=10_000_00, UGX=1_000, GHS=1_000_00, TZS=1)
    before = await env.get_current_time()
    with env.auto_time_skipping_disabled():
        result, _ = await watch(env, fakes, req)
    after = await env.get_current_time()

    # GHS is at its threshold, not below; TZS has no float at all.
    assert result.low == ["KES", "TZS", "UGX"]
    assert result.alerted == ["KES", "TZS", "UGX"]
    assert result.balances == fakes.balances and result.provider == req.provider
    assert [inp.provider for inp in fakes.reads] == [req.provider]
    by_currency = {alert.currency: alert for alert in fakes.alerts}
    assert sorted(by_currency) == ["KES", "TZS", "UGX"] and len(fakes.alerts) == 3
    assert by_currency["KES"].balance == 5_000_00 and by_currency["KES"].threshold == 10_000_00
    assert by_currency["TZS"].balance == 0 and by_currency["TZS"].threshold == 1
    for currency, alert in by_currency.items():
        prefix = f"float-{req.provider}-{currency}-"
        assert alert.key.startswith(prefix)
        assert alert.key.removeprefix(prefix) in hours(before, after)


async def test_a_healthy_float_raises_no_alert(env: WorkflowEnvironment) -> None:
    fakes = Fakes(balances={"KES": 10_000_00})
    result, _ = await watch(env, fakes, request(KES=10_000_00))
    assert result.low == [] and result.alerted == [] and fakes.alerts == []


async def test_a_rerun_in_the_same_hour_alerts_under_the_same_key(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(balances={"KES": 1})
    req = request(KES=100)
    before = await env.get_current_time()
    # In real time: waiting for a result, the test server would skip years ahead.
    with env.auto_time_skipping_disabled():
        await watch(env, fakes, req)
        await watch(env, fakes, req)
    after = await env.get_current_time()
    first, second = fakes.alerts
    if len(hours(before, after)) > 1:
        pytest.skip("the two checks straddled an hour")
    # The hook records one alert per key: the hour's second check adds nothing new.
    assert first.key == second.key


async def test_without_a_hook_low_floats_are_reported_not_alerted(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(balances={"KES": 1}, hooks=False)
    result, _ = await watch(env, fakes, request(KES=100))
    assert result.low == ["KES"] and result.alerted == []


async def test_a_provider_not_configured_fails_the_check_at_once(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(read_fail="not_configured")
    with pytest.raises(WorkflowFailureError) as raised:
        await watch(env, fakes, request(KES=100))
    cause = raised.value.cause
    assert isinstance(cause, ActivityError)
    assert isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ProviderNotConfigured"
    assert len(fakes.reads) == 1 and fakes.alerts == []


async def test_a_provider_down_for_a_while_is_asked_again(env: WorkflowEnvironment) -> None:
    fakes = Fakes(balances={"KES": 1}, read_fail="transient:3")
    result, _ = await watch(env, fakes, request(KES=100))
    assert len(fakes.reads) == 4 and result.low == ["KES"]


async def test_a_provider_down_too_long_fails_the_check(env: WorkflowEnvironment) -> None:
    fakes = Fakes(read_fail="transient:100")
    with pytest.raises(WorkflowFailureError):
        await watch(env, fakes, request(KES=100))
    assert len(fakes.reads) == 6 and fakes.alerts == []  # READ_RETRY.maximum_attempts


async def test_a_refused_alert_fails_the_check_after_the_others(
    env: WorkflowEnvironment,
) -> None:
    fakes = Fakes(balances={}, refuse={"KES"})
    with pytest.raises(WorkflowFailureError) as raised:
        await watch(env, fakes, request(KES=100, UGX=100))
    assert sorted(alert.currency for alert in fakes.alerts) == ["KES", "UGX"]
    cause = raised.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ProviderRejected"


async def test_the_watch_replays_deterministically(env: WorkflowEnvironment) -> None:
    fakes = Fakes(balances={"KES": 1, "UGX": 5}, read_fail="transient:1")
    _, workflow_id = await watch(env, fakes, request(KES=100, UGX=100, TZS=0))
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    replayer = Replayer(
        workflows=[FloatWatchWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)


# -- the pure parts ----------------------------------------------------------------------


def test_the_alert_key_names_the_utc_hour() -> None:
    nairobi = timezone(timedelta(hours=3))
    moment = datetime(2026, 11, 25, 2, 59, 59, tzinfo=nairobi)
    assert float_alert_key("hub", "KES", moment) == "float-hub-KES-2026-11-24T23"
    later = moment + timedelta(seconds=1)
    assert float_alert_key("hub", "KES", later) == "float-hub-KES-2026-11-25T00"


def test_thresholds_are_checked_currencies_and_amounts() -> None:
    req = FloatWatchRequest(provider="hub", thresholds={"kes": 100})
    assert req.thresholds == {"KES": 100}
    with pytest.raises(ValidationError, match="cannot be negative"):
        FloatWatchRequest(provider="hub", thresholds={"KES": -1})
    with pytest.raises(ValidationError):
        FloatWatchRequest(provider="hub", thresholds={"XYZ": 1})
