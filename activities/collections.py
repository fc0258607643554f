"""Collection activities: ask the payer once, ask where it stands, cancel it.

The exactly-once protocol (:mod:`payments_engine.activities.protocol`) applies as for
payouts: our reference (the collection's workflow id) is the provider's idempotency key,
so a retried request never prompts the payer twice. The request's ``provider`` picks
the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity

from payments_engine.activities.protocol import (
    ask_status,
    not_configured,
    submit_once,
    to_application_error,
)
from payments_engine.activities.providers.base import CollectionProvider, ProviderFault, Refused
from payments_engine.domain.collection import (
    CancelCollectionResult,
    RequestCollectionInput,
    RequestCollectionResult,
)
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult


class CollectionActivities:
    """Collection activities dispatching on the request's provider.

    Args:
        adapters: provider name -> collection adapter, on the clients the worker built.
    """

    def __init__(self, adapters: Mapping[str, CollectionProvider]) -> None:
        """Keep the adapters."""
        self._adapters = adapters

    def _adapter(self, provider: str) -> CollectionProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise not_configured(provider)
        return adapter

    @activity.defn
    async def request_collection(self, inp: RequestCollectionInput) -> RequestCollectionResult:
        """Ask the payer once, resolving ambiguous outcomes by a status query."""
        adapter = self._adapter(inp.provider)
        report, by_query = await submit_once(
            lambda: adapter.request_collection(inp),
            lambda: adapter.find_collection(inp.reference),
            reference=inp.reference,
            provider=inp.provider,
        )
        return RequestCollectionResult(report=report, resolved_by_status_query=by_query)

    @activity.defn
    async def get_collection_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the provider where the collection with our reference stands."""
        adapter = self._adapter(inp.provider)
        return TransferStatusResult(
            report=await ask_status(lambda: adapter.find_collection(inp.reference))
        )

    @activity.defn
    async def cancel_collection(self, inp: TransferStatusInput) -> CancelCollectionResult:
        """Withdraw the request to pay; a provider that can no longer cancel says so."""
        adapter = self._adapter(inp.provider)
        try:
            return CancelCollectionResult(report=await adapter.cancel_collection(inp.reference))
        except Refused as fault:
            if fault.error is not ProviderConflict:
                raise to_application_error(fault) from None
            activity.logger.info("cancel of %s refused by %s", inp.reference, inp.provider)
            return CancelCollectionResult(refused=True)
        except ProviderFault as fault:
            raise to_application_error(fault) from None
