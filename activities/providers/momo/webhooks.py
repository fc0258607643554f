"""MoMo's transfer callback, translated into a :class:`ProviderEvent`.

The callback carries no event id; ours is the reference and status, so a repeat of the
same news is a duplicate and another body for it a conflict at the relay.
"""

from __future__ import annotations

from pydantic import ValidationError

from payments_engine.activities.providers.base import malformed
from payments_engine.activities.providers.momo.wire import PROVIDER_NAME, Transfer
from payments_engine.domain.events import ProviderEvent, reported_amount


def report(transfer: Transfer, event_id: str) -> ProviderEvent:
    """A report of the transfer as MoMo states it; its reference is our ``externalId``."""
    return ProviderEvent(
        provider=PROVIDER_NAME,
        event_id=event_id,
        reference=transfer.external_id,
        outcome=transfer.status.outcome,
        provider_status=transfer.status.value,
        provider_transaction_id=transfer.financial_transaction_id,
        failure_code=transfer.failure_code,
        message=transfer.reason,
        currency=transfer.currency,
        amount_reported=transfer.amount,
        amount_minor=reported_amount(transfer.amount, transfer.currency),
    )


def translate(body: bytes) -> ProviderEvent:
    """Parse a MoMo callback (the transfer's JSON).

    Raises:
        MalformedEvent: invalid JSON or UTF-8, a missing field or an unknown status.
    """
    try:
        transfer = Transfer.model_validate_json(body)
    except ValidationError as exc:
        raise malformed(PROVIDER_NAME, exc) from None
    # A webhook is a hint: its final status is confirmed by the status API.
    return report(transfer, f"callback:{transfer.external_id}:{transfer.status.value}")
