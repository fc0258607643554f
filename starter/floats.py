"""The client side of provider floats: read one now, or watch it on a Temporal Schedule.

A provider's float is read by a worker (which holds the provider's credentials) through
``FloatWatchWorkflow``; the watch is a Schedule, ``float-watch-{provider}``, starting
that workflow every ``every`` with the thresholds to keep.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import float_spec
from payments_engine.domain.errors import ProviderNotConfigured
from payments_engine.domain.floats import (
    FloatWatchRequest,
    FloatWatchResult,
    float_watch_schedule_id,
)
from payments_engine.workflows.float_watch import FloatWatchWorkflow

DEFAULT_EVERY = timedelta(hours=1)


def check_float_provider(name: str) -> None:
    """Refuse a provider that states no float.

    Raises:
        ProviderNotConfigured: naming the providers that do.
    """
    try:
        float_spec(name)
    except ProviderNotSupported as exc:
        raise ProviderNotConfigured(str(exc)) from None


class FloatsClient:
    """Read providers' floats and schedule their watch.

    Args:
        temporal: the engine's Temporal client.
        task_queue: the workers' task queue.
    """

    def __init__(self, temporal: Client, task_queue: str) -> None:
        """Keep the client; nothing is contacted here."""
        self._temporal = temporal
        self._task_queue = task_queue

    async def read(self, provider: str) -> FloatWatchResult:
        """The provider's float now, per currency (minor units)."""
        check_float_provider(provider)
        return await self._temporal.execute_workflow(
            FloatWatchWorkflow.run,
            FloatWatchRequest(provider=provider, thresholds={}),
            id=f"float-check-{provider}-{uuid.uuid4().hex[:12]}",
            task_queue=self._task_queue,
        )

    async def watch(
        self, provider: str, thresholds: dict[str, int], every: timedelta = DEFAULT_EVERY
    ) -> bool:
        """Create or update the watch of ``provider``; True if created.

        Each check alerts once per currency below its threshold and hour; checks that
        would overlap are skipped, missed ones are not caught up (the next one tells).
        """
        check_float_provider(provider)
        wanted = Schedule(
            action=ScheduleActionStartWorkflow(
                FloatWatchWorkflow.run,
                FloatWatchRequest(provider=provider, thresholds=thresholds),
                id=float_watch_schedule_id(provider),
                task_queue=self._task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(every, timedelta(minutes=1))
            ),
        )
        ident = float_watch_schedule_id(provider)
        try:
            await self._temporal.create_schedule(ident, wanted)
            return True
        except ScheduleAlreadyRunningError:
            pass

        def _replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await self._temporal.get_schedule_handle(ident).update(_replace)
        return False

    async def unwatch(self, provider: str) -> bool:
        """Delete the watch of ``provider``; False if there was none."""
        try:
            await self._temporal.get_schedule_handle(float_watch_schedule_id(provider)).delete()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
