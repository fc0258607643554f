"""Provider events as workflows receive them, whatever the provider's own wire format."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class TransferOutcome(StrEnum):
    """Where a provider says a transfer stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """True once the provider will not change its mind."""
        return self is not TransferOutcome.PENDING


class ProviderEvent(BaseModel):
    """A normalised status report from a provider: a webhook or a status query answer.

    Attributes:
        event_id: the provider's event id for webhooks (adapters derive one for submit
            answers and status queries, ``ack:...``/``status:...``), used to drop repeats.
        reference: our reference (the workflow id) the event is about.
        outcome: pending, succeeded or failed.
        provider_status: the provider's own status code, kept for support and audit.
        provider_transaction_id: the provider's id for the transfer, when known.
        failure_code: our stable failure code (``insufficient_funds`` ...), for failures.
        occurred_at: when the provider says it happened.
    """

    provider: str
    event_id: str
    reference: str
    outcome: TransferOutcome
    provider_status: str
    provider_transaction_id: str | None = None
    failure_code: str | None = None
    message: str | None = None
    occurred_at: datetime | None = None
