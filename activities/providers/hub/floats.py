"""The hub's float reader: ``GET /v1/balance``, every currency's float in one answer."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from payments_engine.activities.providers.base import (
    ProviderSettings,
    Transient,
    fetch,
    float_balances,
)
from payments_engine.activities.providers.hub.wire import PROVIDER_NAME, HubBalances

BALANCE_PATH = "/v1/balance"


class HubFloats:
    """Reads the hub's float, on a client carrying its base URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client; the hub needs nothing else from its settings."""
        self._http = http

    async def get_float(self) -> dict[str, int]:
        """Each currency's float in minor units, from the hub's major-unit strings.

        Raises:
            ProviderFault: Transient (unreachable, throttled, 5xx, no or an unreadable
                answer) or Refused (credentials).
        """
        body = await fetch(self._http, BALANCE_PATH, PROVIDER_NAME)
        if body is None:
            raise Transient(f"{PROVIDER_NAME} has no balance resource (404)")
        try:
            answer = HubBalances.model_validate_json(body)
        except ValidationError:
            raise Transient(f"{PROVIDER_NAME} balance answer is not its balance shape") from None
        return float_balances(
            ((balance.currency, balance.available) for balance in answer.balances), PROVIDER_NAME
        )
