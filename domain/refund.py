"""Refunds: money given back to the payer of a collection, in full or in part, once.

This module holds the typed inputs the refund activities and adapters share; the
workflow's own request and view build on them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from payments_engine.domain.events import ProviderEvent
from payments_engine.domain.money import Money


class SubmitRefundInput(BaseModel):
    """Input of the ``submit_refund`` activity; ``provider`` picks the adapter.

    ``reference`` is our reference for the refund (its workflow id), sent as the
    provider's ``external_refund_id``, its idempotency key; ``original_reference`` is the
    collection's reference at the provider.
    """

    reference: str = Field(min_length=1, max_length=80)
    provider: str
    original_reference: str = Field(min_length=1, max_length=80)
    amount: Money
    reason: str = Field(min_length=1, max_length=200)


class SubmitRefundResult(BaseModel):
    """Output of ``submit_refund``: where the refund stands right after submission.

    ``resolved_by_status_query`` is true when the submit call's outcome was ambiguous and
    the answer (with the provider's refund id) came from a status query on our id.
    """

    report: ProviderEvent
    resolved_by_status_query: bool = False
