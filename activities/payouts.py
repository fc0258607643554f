"""Generic payout activities: the exactly-once protocol for payouts, for every provider.

The protocol itself (our reference as the idempotency key, status before any
resubmission, faults mapped once) lives in :mod:`payments_engine.activities.protocol`.
Activity names (``submit_payout``, ``get_payout_status``) are the ones recorded histories
hold; the request's ``provider`` picks the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity

from payments_engine.activities.protocol import ask_status, not_configured, submit_once
from payments_engine.activities.providers.base import PayoutProvider
from payments_engine.domain.payout import (
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)


class PayoutActivities:
    """Payout activities dispatching on the request's provider.

    Args:
        adapters: provider name -> payout adapter, each on the HTTP client the worker
            configured for it (base URL, credentials, timeout); this class builds none.
    """

    def __init__(self, adapters: Mapping[str, PayoutProvider]) -> None:
        """Keep the adapters."""
        self._adapters = adapters

    def _adapter(self, provider: str) -> PayoutProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise not_configured(provider)
        return adapter

    @activity.defn
    async def submit_payout(self, inp: SubmitPayoutInput) -> SubmitPayoutResult:
        """Submit a payout once, resolving ambiguous outcomes by a status query."""
        adapter = self._adapter(inp.provider)
        report, by_query = await submit_once(
            lambda: adapter.send_payout(inp),
            lambda: adapter.find_payout(inp.reference),
            reference=inp.reference,
            provider=inp.provider,
        )
        return SubmitPayoutResult(report=report, resolved_by_status_query=by_query)

    @activity.defn
    async def get_payout_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the provider where the transfer with our reference stands."""
        adapter = self._adapter(inp.provider)
        return TransferStatusResult(
            report=await ask_status(lambda: adapter.find_payout(inp.reference))
        )
