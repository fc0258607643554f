"""Wire contract of an MTN MoMo disbursement API, as the adapter reads it.

``POST /disbursement/v1_0/transfer`` carries our idempotency key as ``X-Reference-Id``
(a UUID) and answers 202 with no body; a repeated id gets 409 ``RESOURCE_ALREADY_EXIST``.
``GET /disbursement/v1_0/transfer/{referenceId}`` answers the transfer with status
``PENDING``, ``SUCCESSFUL`` or ``FAILED`` and, when failed, a ``reason`` code. The callback
has the same body, is sent once and never retried. Amounts are major-unit strings.

Collections: ``POST /collection/v1_0/requesttopay`` and ``GET .../requesttopay/{referenceId}``
work the same way (202 without a body, the same status shape, one callback); the payer
approves within MTN's fixed window or the request FAILS as ``EXPIRED``. There is no
cancel, and no fee in the answers.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.events import TransferOutcome

PROVIDER_NAME = "momo"

TRANSFER_PATH = "/disbursement/v1_0/transfer"
REQUEST_TO_PAY_PATH = "/collection/v1_0/requesttopay"
BALANCE_PATH = "/disbursement/v1_0/account/balance"
REFERENCE_HEADER = "X-Reference-Id"
TARGET_ENVIRONMENT_HEADER = "X-Target-Environment"
SUBSCRIPTION_KEY_HEADER = "Ocp-Apim-Subscription-Key"
DUPLICATE_CODE = "RESOURCE_ALREADY_EXIST"


class MomoStatus(StrEnum):
    """Transfer statuses of the disbursement API."""

    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"

    @property
    def outcome(self) -> TransferOutcome:
        """SUCCESSFUL succeeded, FAILED failed, PENDING pending."""
        return _OUTCOMES[self]


_OUTCOMES = {
    MomoStatus.PENDING: TransferOutcome.PENDING,
    MomoStatus.SUCCESSFUL: TransferOutcome.SUCCEEDED,
    MomoStatus.FAILED: TransferOutcome.FAILED,
}

FAILURE_CODES = {
    "PAYEE_NOT_FOUND": "invalid_msisdn",
    "NOT_ENOUGH_FUNDS": "provider_insufficient_funds",
    "PAYER_LIMIT_REACHED": "daily_limit_exceeded",
    "EXPIRED": "expired",
    "APPROVAL_REJECTED": "payer_declined",
    "SERVICE_UNAVAILABLE": "provider_unavailable",
}
"""MoMo's failure reasons -> our stable failure codes; others map to ``provider_failed``."""


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Party(_Wire):
    """A payee: ``partyIdType`` MSISDN and the number's digits without ``+``."""

    party_id_type: str = Field(alias="partyIdType")
    party_id: str = Field(alias="partyId")


class TransferRequest(_Wire):
    """Body of ``POST /disbursement/v1_0/transfer``."""

    amount: str
    currency: str
    external_id: str = Field(alias="externalId")
    payee: Party
    payer_message: str = Field(default="", alias="payerMessage")
    payee_note: str = Field(default="", alias="payeeNote")


class RequestToPay(_Wire):
    """Body of ``POST /collection/v1_0/requesttopay``: ask the payer to approve a payment."""

    amount: str
    currency: str
    external_id: str = Field(alias="externalId")
    payer: Party
    payer_message: str = Field(default="", alias="payerMessage")
    payee_note: str = Field(default="", alias="payeeNote")


class Transfer(_Wire):
    """Answer of the status query, and body of the callback, of a transfer or of a request
    to pay (which names a ``payer`` instead of a ``payee``; neither is read)."""

    amount: str
    currency: str
    external_id: str = Field(alias="externalId", min_length=1, max_length=200)
    financial_transaction_id: str | None = Field(default=None, alias="financialTransactionId")
    status: MomoStatus
    reason: str | None = None

    @property
    def failure_code(self) -> str | None:
        """Our failure code for a FAILED transfer, None otherwise."""
        if self.status is not MomoStatus.FAILED:
            return None
        return FAILURE_CODES.get(self.reason or "", "provider_failed")


class Balance(_Wire):
    """Answer of ``GET /disbursement/v1_0/account/balance``: the float in one currency."""

    available_balance: str = Field(alias="availableBalance")
    currency: str
