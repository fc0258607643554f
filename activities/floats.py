"""Float activities: read a provider's float, and tell the merchant's people it is low.

``get_float`` asks the provider's float reader (:class:`FloatProvider`) for its float
per currency; ``alert_low_float`` raises one alert at the merchant's alert hook, once per
idempotency key (``FloatWatchWorkflow`` makes one key per provider, currency and hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
from temporalio import activity

from payments_engine.activities.hooks import raise_alert
from payments_engine.activities.protocol import not_configured, to_application_error
from payments_engine.activities.providers.base import (
    FloatProvider,
    ProviderFault,
)
from payments_engine.domain.floats import FloatAlert, FloatBalances, FloatInput
from payments_engine.domain.money import Money

ALERT_KIND = "low_float"


class FloatActivities:
    """Float activities, dispatching on the provider.

    Args:
        adapters: provider name -> float reader, on the clients the worker built.
        hooks: the merchant's hooks client (its base URL and credentials set by the
            worker); None when no hooks are configured, and no alert is raised.
    """

    def __init__(
        self,
        adapters: Mapping[str, FloatProvider],
        hooks: httpx.AsyncClient | None = None,
    ) -> None:
        """Keep the adapters and the hooks client."""
        self._adapters = adapters
        self._hooks = hooks

    @activity.defn
    async def get_float(self, inp: FloatInput) -> FloatBalances:
        """Read the provider's float per currency, in minor units.

        Raises:
            ApplicationError: final ProviderNotConfigured when this worker has no float
                reader for the provider; final when the provider refuses (credentials);
                retryable while it cannot answer.
        """
        adapter = self._adapters.get(inp.provider)
        if adapter is None:
            raise not_configured(inp.provider)
        try:
            balances = await adapter.get_float()
        except ProviderFault as fault:
            raise to_application_error(fault) from None
        return FloatBalances(
            provider=inp.provider, balances=dict(sorted(balances.items())), at=datetime.now(UTC)
        )

    @activity.defn
    async def alert_low_float(self, inp: FloatAlert) -> bool:
        """Raise one low-float alert at the merchant's alert hook (once per ``inp.key``).

        Returns:
            False when no hook is configured (nothing was called).

        Raises:
            ApplicationError: retryable while the hook is unreachable or answers 5xx;
                final when it refuses (4xx).
        """
        if self._hooks is None:
            return False
        await raise_alert(
            self._hooks,
            inp.key,
            ALERT_KIND,
            f"low float {inp.provider} {inp.currency}",
            f"the {inp.provider} float in {inp.currency} is"
            f" {Money(amount=inp.balance, currency=inp.currency)}, below its threshold of"
            f" {Money(amount=inp.threshold, currency=inp.currency)}: fund it before payouts fail",
            inp.model_dump(mode="json"),
        )
        return True
