"""Refund activities: send a refund once, and find it by our id.

The exactly-once protocol (:mod:`payments_engine.activities.protocol`) applies as for
payouts: our reference (the refund's workflow id) is the provider's
``external_refund_id``, so a retried submission never refunds twice, and a submission
whose answer was lost recovers the provider's refund id by a status query on our id.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity

from payments_engine.activities.protocol import ask_status, not_configured, submit_once
from payments_engine.activities.providers.base import RefundProvider
from payments_engine.domain.payout import TransferStatusInput, TransferStatusResult
from payments_engine.domain.refund import SubmitRefundInput, SubmitRefundResult


class RefundActivities:
    """Refund activities dispatching on the request's provider.

    Args:
        adapters: provider name -> refund adapter, on the clients the worker built.
    """

    def __init__(self, adapters: Mapping[str, RefundProvider]) -> None:
        """Keep the adapters."""
        self._adapters = adapters

    def _adapter(self, provider: str) -> RefundProvider:
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise not_configured(provider)
        return adapter

    @activity.defn
    async def submit_refund(self, inp: SubmitRefundInput) -> SubmitRefundResult:
        """Send the refund once, resolving ambiguous outcomes by a status query."""
        adapter = self._adapter(inp.provider)
        report, by_query = await submit_once(
            lambda: adapter.send_refund(inp),
            lambda: adapter.find_refund(inp.reference),
            reference=inp.reference,
            provider=inp.provider,
        )
        return SubmitRefundResult(report=report, resolved_by_status_query=by_query)

    @activity.defn
    async def get_refund_status(self, inp: TransferStatusInput) -> TransferStatusResult:
        """Ask the provider where the refund with our id stands."""
        adapter = self._adapter(inp.provider)
        return TransferStatusResult(
            report=await ask_status(lambda: adapter.find_refund(inp.reference))
        )
