"""The bank-transfer provider's JSON shapes (an ACH/PSE-like originator API).

The sandbox keeps its own models: an engine adapter must bring its own, so a field one
side gets wrong fails a test instead of passing on both sides.

``POST /bank/v1/transfers`` takes :class:`TransferRequest` and answers :class:`Transfer`
(201 when created; 200 when the same ``external_id`` came again with the same body).
``GET /bank/v1/transfers/{external_id}`` answers :class:`Transfer` too. A transfer is
``ACCEPTED`` until the bank settles it (``SETTLED``) or the receiving bank returns it
(``RETURNED``, with a return code such as ``R03`` and a reason such as
``account_closed``); each final status is announced by a :class:`TransferEvent` webhook
(``transfer.settled``, ``transfer.returned``). Amounts are major-unit decimal strings
with exactly the currency's decimals (``"150000.00"`` COP); timestamps ISO 8601 UTC.
Errors are :class:`ErrorBody` (``{"code", "message"}``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "bank"

IDEMPOTENCY_CONFLICT_MESSAGE = "this external_id was used for a transfer with another body"
NOT_FOUND_MESSAGE = "no transfer has this external_id"


class TransferStatus(StrEnum):
    """Where a transfer stands at the bank."""

    ACCEPTED = "ACCEPTED"
    SETTLED = "SETTLED"
    RETURNED = "RETURNED"

    @property
    def is_final(self) -> bool:
        """SETTLED and RETURNED are final."""
        return self is not TransferStatus.ACCEPTED


class AccountType(StrEnum):
    """Kinds of account the bank pays into."""

    SAVINGS = "savings"
    CHECKING = "checking"


class DocumentType(StrEnum):
    """The account holder's identity document."""

    CC = "CC"
    CE = "CE"
    NIT = "NIT"
    PP = "PP"
    CURP = "CURP"
    RFC = "RFC"


class ReturnCode(StrEnum):
    """Why the receiving bank returned a transfer (its ACH return code)."""

    R03 = "R03"
    R04 = "R04"

    @property
    def reason(self) -> str:
        """The stable, machine-readable reason of the code."""
        return _RETURN_REASONS[self][0]

    @property
    def message(self) -> str:
        """A human-readable explanation, without personal data."""
        return _RETURN_REASONS[self][1]


_RETURN_REASONS: dict[ReturnCode, tuple[str, str]] = {
    ReturnCode.R03: ("account_closed", "the beneficiary's account is closed"),
    ReturnCode.R04: ("document_mismatch", "the holder's document does not match the account"),
}


class EventType(StrEnum):
    """The webhook events: one per final status."""

    SETTLED = "transfer.settled"
    RETURNED = "transfer.returned"

    @classmethod
    def of(cls, status: TransferStatus) -> EventType:
        """The event announcing ``status`` (a final one)."""
        return cls.SETTLED if status is TransferStatus.SETTLED else cls.RETURNED


class ErrorCode(StrEnum):
    """Codes of the error answers."""

    UNAUTHORIZED = "unauthorized"
    INVALID_REQUEST = "invalid_request"
    INVALID_ACCOUNT = "invalid_account"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    NOT_FOUND = "not_found"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


class _Request(BaseModel):
    # Strict on what comes in: a field an adapter misspells is an error, not ignored.
    model_config = ConfigDict(extra="forbid")


class Beneficiary(_Request):
    """Whose account the transfer pays into, as the receiving bank knows it."""

    bank_code: str = Field(description="The receiving bank's ACH/SPEI code, 3-5 digits.")
    account_type: AccountType
    account_number: str = Field(description="6-20 digits; its last two choose the scenario.")
    document_type: DocumentType
    document_number: str
    holder_name: str = Field(min_length=2, max_length=100)
    country: str = Field(description="CO (COP transfers) or MX (MXN transfers).")


class TransferRequest(_Request):
    """Body of ``POST /bank/v1/transfers``; ``external_id`` is the idempotency key."""

    external_id: str = Field(min_length=1, max_length=80)
    amount: str = Field(description="Major units with the currency's decimals, e.g. 150000.00")
    currency: str = Field(description="COP or MXN")
    beneficiary: Beneficiary
    description: str | None = Field(default=None, max_length=200)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    def to_json(self) -> bytes:
        """The exact bytes the sandbox sends."""
        return self.model_dump_json().encode("utf-8")


class BeneficiarySummary(_Answer):
    """The beneficiary as the bank shows it back: no full account or document number."""

    bank_code: str
    account_type: AccountType
    account_last4: str
    country: str


class Transfer(_Answer):
    """A transfer: the answer of a submission and of a status query.

    ``return_code``, ``return_reason`` and ``return_message`` are set once RETURNED,
    null otherwise; ``settled_at`` once SETTLED, ``returned_at`` once RETURNED.
    """

    id: str
    external_id: str
    status: TransferStatus
    amount: str
    currency: str
    beneficiary: BeneficiarySummary
    description: str | None = None
    return_code: ReturnCode | None = None
    return_reason: str | None = None
    return_message: str | None = None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None
    returned_at: datetime | None = None


class TransferEvent(_Answer):
    """Body of a webhook: the event's id and type, then the transfer's fields.

    ``id`` is the transfer's id at the bank, ``event_id`` the event's (a resend repeats
    it, byte for byte).
    """

    event_id: str
    type: EventType
    created_at: datetime
    id: str
    external_id: str
    status: TransferStatus
    amount: str
    currency: str
    return_code: ReturnCode | None = None
    return_reason: str | None = None
    return_message: str | None = None


class ErrorBody(BaseModel):
    """An error answer."""

    code: str
    message: str
