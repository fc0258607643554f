"""Card activities: the issuer calls a card's workflow makes, dispatching on its provider.

Creating a cardholder or a card is idempotent at the issuer (a key derived from the
card's reference), so an ambiguous create is simply retried. Faults become retryable or
final Temporal errors in one place, :func:`.protocol.to_application_error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar

from temporalio import activity

from payments_engine.activities.protocol import not_configured, to_application_error
from payments_engine.activities.providers.base import CardIssuingProvider, ProviderFault
from payments_engine.domain.card import (
    CardholderStatus,
    CloseCardInput,
    CreateCardholderInput,
    CreateCardInput,
    GetCardholderInput,
    GetNetworkTransactionInput,
    IssuedCard,
    LowBalanceNotice,
    NetworkTransaction,
)

_T = TypeVar("_T")


async def _call(call: Awaitable[_T]) -> _T:
    try:
        return await call
    except ProviderFault as fault:
        raise to_application_error(fault) from None


class CardActivities:
    """Card issuer activities.

    Args:
        adapters: provider name -> card-issuing adapter, on the clients the worker built.
    """

    def __init__(self, adapters: Mapping[str, CardIssuingProvider]) -> None:
        """Keep the adapters."""
        self._adapters = adapters

    def _adapter(self, provider: str) -> CardIssuingProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise not_configured(provider)
        return adapter

    @activity.defn
    async def create_cardholder(self, inp: CreateCardholderInput) -> CardholderStatus:
        """Register the cardholder at the issuer; its KYC verdict, possibly pending."""
        return await _call(self._adapter(inp.provider).create_cardholder(inp))

    @activity.defn
    async def get_cardholder(self, inp: GetCardholderInput) -> CardholderStatus | None:
        """The cardholder's KYC verdict now; None if the issuer does not know it."""
        return await _call(self._adapter(inp.provider).get_cardholder(inp.token))

    @activity.defn
    async def create_card(self, inp: CreateCardInput) -> IssuedCard:
        """Issue the virtual card: its token, last four and expiry."""
        return await _call(self._adapter(inp.provider).create_card(inp))

    @activity.defn
    async def close_card(self, inp: CloseCardInput) -> None:
        """Close the card at the issuer."""
        await _call(self._adapter(inp.provider).close_card(inp.token))

    @activity.defn
    async def get_network_transaction(
        self, inp: GetNetworkTransactionInput
    ) -> NetworkTransaction | None:
        """Read one network event from the issuer's own record (a webhook is only a hint)."""
        return await _call(self._adapter(inp.provider).get_transaction(inp.token))

    @activity.defn
    async def notify_low_balance(self, notice: LowBalanceNotice) -> None:
        """Alert the platform that a card's balance fell below its threshold."""
        await _call(self._adapter(notice.provider).notify(notice))
