"""One check of a provider's float against the thresholds it must keep.

``FloatWatchWorkflow`` is what an hourly Temporal Schedule (``float-watch-{provider}``)
starts:

1. ``get_float`` reads the provider's float per currency. A provider this worker cannot
   read (not configured, credentials refused) fails the check at once; one that cannot
   answer now is retried for a few minutes, then the check fails (the next one asks
   again).
2. Each watched currency whose float is strictly below its threshold is low (a currency
   the provider states no float in has none). One alert per low currency goes to the
   merchant's alert hook, keyed ``float-{provider}-{currency}-{YYYY-MM-DDTHH}`` by the
   hour the check was scheduled for (or ran, when started by hand): a schedule firing
   every hour, or a check re-run in the same hour, alerts at most once an hour. Every
   alert is tried; one the hook refuses for good fails the check after the others.

It returns the float as read, the low currencies and those alerted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from payments_engine.activities.floats import FloatActivities
    from payments_engine.domain.errors import ProviderAuthError, ProviderNotConfigured
    from payments_engine.domain.floats import (
        FloatAlert,
        FloatInput,
        FloatWatchRequest,
        FloatWatchResult,
        float_alert_key,
    )

READ_TIMEOUT = timedelta(seconds=30)
READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=6,
    non_retryable_error_types=[ProviderNotConfigured.type, ProviderAuthError.type],
)
HOOK_TIMEOUT = timedelta(seconds=30)
HOOK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=20,
)
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class FloatWatchWorkflow:
    """One check of a provider's float: read it, alert on each currency below threshold."""

    @workflow.run
    async def run(self, request: FloatWatchRequest) -> FloatWatchResult:
        """Read the float, alert once an hour per low currency, return what was seen."""
        read = await workflow.execute_activity_method(
            FloatActivities.get_float,
            FloatInput(provider=request.provider),
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=READ_RETRY,
        )
        low = [
            currency
            for currency, threshold in sorted(request.thresholds.items())
            if read.balances.get(currency, 0) < threshold
        ]
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        # A catch-up run alerts under the hour its slot was for, not the hour it runs.
        moment = scheduled if scheduled is not None else workflow.now()
        alerts = [
            FloatAlert(
                key=float_alert_key(request.provider, currency, moment),
                provider=request.provider,
                currency=currency,
                balance=read.balances.get(currency, 0),
                threshold=request.thresholds[currency],
            )
            for currency in low
        ]
        outcomes = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    FloatActivities.alert_low_float,
                    alert,
                    start_to_close_timeout=HOOK_TIMEOUT,
                    retry_policy=HOOK_RETRY,
                )
                for alert in alerts
            ),
            return_exceptions=True,
        )
        # Every alert had its chance; the first one refused for good fails the check.
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        alerted = [alert.currency for alert, taken in zip(alerts, outcomes, strict=True) if taken]
        return FloatWatchResult(
            provider=request.provider, balances=read.balances, low=low, alerted=alerted
        )
