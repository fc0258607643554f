"""The bank-transfer provider's JSON shapes, as the engine reads and writes them.

The engine brings its own models, never the sandbox's: a field one side gets wrong must
fail the tests, not pass on both sides.

Our reference (the refund's workflow id) travels as ``external_id``, the bank's
idempotency key: the same id with the same body answers the same transfer, with
another body 409. A transfer is ``ACCEPTED``, then ``SETTLED`` or ``RETURNED`` (with a
return code and a reason such as ``account_closed``); each final status is announced
by a ``transfer.settled`` / ``transfer.returned`` webhook. Amounts are major-unit
strings with the currency's decimals.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.events import TransferOutcome

PROVIDER_NAME = "bank"
TRANSFERS_PATH = "/v1/transfers"
RETURNED_WITHOUT_REASON = "returned"
"""Our failure code of a RETURNED transfer whose reason the bank did not state."""


class BankStatus(StrEnum):
    """Where a transfer stands at the bank."""

    ACCEPTED = "ACCEPTED"
    SETTLED = "SETTLED"
    RETURNED = "RETURNED"

    @property
    def outcome(self) -> TransferOutcome:
        """Our reading: SETTLED succeeded, RETURNED failed, ACCEPTED pending."""
        return _OUTCOMES[self]


_OUTCOMES = {
    BankStatus.ACCEPTED: TransferOutcome.PENDING,
    BankStatus.SETTLED: TransferOutcome.SUCCEEDED,
    BankStatus.RETURNED: TransferOutcome.FAILED,
}


class BankEventType(StrEnum):
    """The webhook events the bank sends."""

    SETTLED = "transfer.settled"
    RETURNED = "transfer.returned"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Beneficiary(_Wire):
    """Whose account the transfer pays into."""

    bank_code: str
    account_type: str
    account_number: str
    document_type: str
    document_number: str
    holder_name: str
    country: str


class TransferCreate(_Wire):
    """Body of ``POST /v1/transfers``."""

    external_id: str = Field(min_length=1, max_length=80)
    amount: str
    currency: str
    beneficiary: Beneficiary
    description: str | None = None


class TransferState(_Wire):
    """What a transfer answer and a webhook both say of the transfer."""

    id: str
    external_id: str
    status: BankStatus
    amount: str
    currency: str
    return_code: str | None = None
    return_reason: str | None = None
    return_message: str | None = None

    @property
    def failure_code(self) -> str | None:
        """Our failure code: the bank's return reason (``account_closed`` ...), once RETURNED."""
        if self.status is not BankStatus.RETURNED:
            return None
        # It comes from outside: cut short.
        return (self.return_reason or RETURNED_WITHOUT_REASON)[:40]

    @property
    def message(self) -> str | None:
        """``R03: the beneficiary's account is closed``, once RETURNED."""
        if self.status is not BankStatus.RETURNED:
            return None
        parts = [part for part in (self.return_code, self.return_message) if part]
        return ": ".join(parts)[:200] or None


class BankTransfer(TransferState):
    """Answer of ``POST /v1/transfers`` and ``GET /v1/transfers/{external_id}``."""

    created_at: datetime
    updated_at: datetime


class BankWebhook(TransferState):
    """Body of a ``transfer.settled`` / ``transfer.returned`` webhook."""

    event_id: str = Field(min_length=1, max_length=128)
    type: BankEventType
    created_at: datetime


class BankError(_Wire):
    """An error answer: ``{"code", "message"}``."""

    code: str | None = None
    message: str | None = None
