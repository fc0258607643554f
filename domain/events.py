"""Provider events as workflows receive them, whatever the provider's own wire format.

A webhook is a hint; the provider's status API is the truth. Each event says where it
came from (:class:`EventSource` is decided by the workflow, not carried on the wire) and
carries the amount and currency the provider reported, when it reports them, so the
workflow can check them against its own before any money moves.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from pydantic import BaseModel

from payments_engine.domain.money import MAX_MINOR_DIGITS, Money, currency_exponent


class TransferOutcome(StrEnum):
    """Where a provider says a transfer stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CHANGED = "changed"
    """A webhook that only says "something changed" (no status): ask the provider."""
    REVERSED = "reversed"
    """It succeeded, then the provider took it back (a refund it reversed): the money is
    back where it came from."""

    @property
    def is_final(self) -> bool:
        """True once the provider will not change its mind (a reversal aside)."""
        return self in (TransferOutcome.SUCCEEDED, TransferOutcome.FAILED, TransferOutcome.REVERSED)


class ReviewFlag(StrEnum):
    """Why a payment waits for a person; stable values, shown in views and the CLI."""

    DEADLINE_PASSED = "deadline_passed"
    """The provider gave no final answer before the payment's deadline."""
    PROVIDER_MISMATCH = "provider_mismatch"
    """The provider reported another amount, currency or reference than ours."""
    PROVIDER_CONTRADICTION = "provider_contradiction"
    """A webhook's status was contradicted by the provider's own status API."""
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    """The payer paid after the collection's window had passed (the order was already
    cancelled): the money is booked, a person decides what to do with it."""


class EventSource(StrEnum):
    """Where a report came from: only the status API and submit answers are authoritative."""

    WEBHOOK = "webhook"
    STATUS_QUERY = "status_query"
    SUBMIT = "submit"


class ProviderEvent(BaseModel):
    """A normalised status report from a provider: a webhook or a status query answer.

    Attributes:
        event_id: the provider's event id for webhooks (adapters derive one for submit
            answers and status queries, ``ack:...``/``status:...``), used to drop repeats.
        reference: our reference (the workflow id) the event is about.
        outcome: pending, succeeded, failed, or changed (a webhook without details).
        provider_status: the provider's own status code, kept for support and audit.
        provider_transaction_id: the provider's id for the transfer, when known.
        failure_code: our stable failure code (``insufficient_funds`` ...), for failures.
        occurred_at: when the provider says it happened.
        currency: the currency the provider reported, as it wrote it; None if it did not.
        amount_reported: the amount exactly as the provider wrote it, for the evidence.
        amount_minor: that amount in minor units of ``currency``; None when not reported
            or not representable (unknown currency, more decimals than it has).
        needs_confirmation: for webhooks, set by the provider's adapter (its policy):
            a final or changed status must be confirmed by a status query before it is
            applied. Ignored on status and submit answers, which are the confirmation.
        fee_reported: the provider's fee exactly as written (collections), if it says.
        fee_minor: that fee in minor units of ``currency``; None when not reported or
            not representable.
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
    currency: str | None = None
    amount_reported: str | None = None
    amount_minor: int | None = None
    needs_confirmation: bool = True
    fee_reported: str | None = None
    fee_minor: int | None = None

    def mismatch(self, reference: str, expected: Money) -> str | None:
        """Why this report does not describe our transfer, or None when it does.

        Amount and currency are compared only when the provider reported them; a
        reported amount we cannot read is a mismatch, never a match.

        Returns:
            A short reason without personal data, e.g. ``amount 1.00 KES != 1500.00 KES``.
        """
        # Reported values are cut short: they come from outside and end up in logs.
        if self.reference != reference:
            return f"reference {self.reference[:80]!r} != {reference!r}"
        if self.currency is not None and self.currency != expected.currency:
            return f"currency {self.currency[:8]!r} != {expected.currency}"
        if self.amount_reported is not None and self.amount_minor != expected.amount:
            return f"amount {self.amount_reported[:24]!r} {self.currency} != {expected}"
        return None


def reported_amount(value: str | None, currency: str | None) -> int | None:
    """Minor units of a provider's major-unit amount, or None if it cannot be read exactly.

    Lenient on format (``"1500"``, ``"1500.00"``, ``"1500.000"`` for KES; ``"100.00"``
    for UGX, as hubs write zero-decimal currencies) but exact on value: a digit that the
    currency cannot hold makes the amount unreadable, and so a mismatch.
    """
    if value is None or currency is None:
        return None
    try:
        exponent = currency_exponent(currency)
        dec = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    if not dec.is_finite() or dec.adjusted() >= MAX_MINOR_DIGITS or value != value.strip():
        return None
    scaled = dec.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


class Evidence(BaseModel):
    """One provider report that a workflow refused to act on, kept for the reviewer.

    Attributes:
        flag: why it was refused.
        source: webhook or status query.
        event_id: the report's event id.
        provider_status: the provider's status code in that report.
        detail: what did not match, without personal data.
        at: workflow time when it was seen.
    """

    flag: ReviewFlag
    source: EventSource
    event_id: str
    provider_status: str
    detail: str
    at: datetime
