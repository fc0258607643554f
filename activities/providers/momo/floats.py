"""MoMo's float reader: ``GET /disbursement/v1_0/account/balance``, one currency an answer.

A MoMo disbursement account holds one currency, and the balance answer states it
(``availableBalance``, ``currency``). Without ``float_currencies`` in the settings the
reader asks once, for the account's currency; with them (an account, or the sandbox,
holding several) it asks once per currency with ``?currency=``.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from payments_engine.activities.providers.base import (
    ProviderSettings,
    Refused,
    Transient,
    float_balances,
    read_status,
)
from payments_engine.activities.providers.momo.settings import MomoSettings
from payments_engine.activities.providers.momo.wire import BALANCE_PATH, PROVIDER_NAME, Balance
from payments_engine.domain.errors import ProviderRejected


class MomoFloats:
    """Reads MoMo's float, on a client carrying its base URL, key and timeout."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings | None = None) -> None:
        """Keep the client and the currencies to ask for, if the settings name any."""
        self._http = http
        self._currencies = (
            list(settings.float_currencies) if isinstance(settings, MomoSettings) else []
        )

    async def get_float(self) -> dict[str, int]:
        """The float in minor units: of the account's currency, or of each one configured.

        Raises:
            ProviderFault: Transient (unreachable, throttled, 5xx, an unreadable answer)
                or Refused (credentials; a 400, e.g. the account holds several currencies
                and ``PAYMENTS_MOMO_FLOAT_CURRENCIES`` names none).
        """
        if not self._currencies:
            answer = await self._balance(None)
            return float_balances([(answer.currency, answer.available_balance)], PROVIDER_NAME)
        answers = [await self._balance(currency) for currency in self._currencies]
        return float_balances(
            ((answer.currency, answer.available_balance) for answer in answers), PROVIDER_NAME
        )

    async def _balance(self, currency: str | None) -> Balance:
        params = {"currency": currency} if currency is not None else None
        try:
            response = await self._http.get(BALANCE_PATH, params=params)
        except httpx.TransportError as exc:
            raise Transient(f"balance query failed: {type(exc).__name__}") from exc
        if response.status_code == 400:
            # A question MoMo will never answer as asked: retrying cannot help.
            raise Refused(
                ProviderRejected,
                f"{PROVIDER_NAME} refused the balance query (400): set"
                " PAYMENTS_MOMO_FLOAT_CURRENCIES if the account holds several currencies",
            )
        fault = read_status(response.status_code, PROVIDER_NAME, submitting=False)
        if fault is not None:
            raise fault
        try:
            return Balance.model_validate_json(response.content)
        except ValidationError:
            raise Transient(f"{PROVIDER_NAME} balance answer is not its balance shape") from None
