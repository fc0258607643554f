"""MTN MoMo disbursement and collection JSON shapes, from MTN's Open API documentation.

The sandbox keeps its own models: an engine adapter must bring its own, so a field one
side gets wrong fails a test instead of passing on both sides.

``POST /disbursement/v1_0/transfer`` takes :class:`TransferRequest` and answers 202 with
an empty body; ``GET /disbursement/v1_0/transfer/{referenceId}`` answers
:class:`TransferResult`, and the callback POSTs the same shape. Collections work alike:
``POST /collection/v1_0/requesttopay`` takes :class:`RequestToPay` (202, empty body) and
``GET /collection/v1_0/requesttopay/{referenceId}`` answers :class:`RequestToPayResult`,
the callback's body too; it names the ``payer`` where a transfer names the ``payee``, with
the same statuses and reasons and no fee. Amounts are major-unit decimal strings; a
party's ``partyId`` is an MSISDN of digits only (no ``+``). Errors are
:class:`ErrorReason` (``{"code", "message"}``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROVIDER = "momo"
TARGET_ENVIRONMENT = "sandbox"

DUPLICATE_MESSAGE = "Duplicated reference id. Creation of resource failed."


class PartyIdType(StrEnum):
    """How a party is identified; the sandbox pays and collects from MSISDNs only."""

    MSISDN = "MSISDN"
    EMAIL = "EMAIL"
    PARTY_CODE = "PARTY_CODE"


class TransferStatus(StrEnum):
    """Status of a transfer, and of a request to pay."""

    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        """SUCCESSFUL and FAILED are final."""
        return self is not TransferStatus.PENDING


class Reason(StrEnum):
    """Why a transfer or a request to pay FAILED (MTN's error reason codes that end one)."""

    PAYEE_NOT_FOUND = "PAYEE_NOT_FOUND"
    PAYER_NOT_FOUND = "PAYER_NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    NOT_ENOUGH_FUNDS = "NOT_ENOUGH_FUNDS"
    PAYER_LIMIT_REACHED = "PAYER_LIMIT_REACHED"
    PAYEE_NOT_ALLOWED_TO_RECEIVE = "PAYEE_NOT_ALLOWED_TO_RECEIVE"
    PAYMENT_NOT_APPROVED = "PAYMENT_NOT_APPROVED"
    APPROVAL_REJECTED = "APPROVAL_REJECTED"
    EXPIRED = "EXPIRED"
    TRANSACTION_CANCELED = "TRANSACTION_CANCELED"
    COULD_NOT_PERFORM_TRANSACTION = "COULD_NOT_PERFORM_TRANSACTION"
    INTERNAL_PROCESSING_ERROR = "INTERNAL_PROCESSING_ERROR"


class ErrorCode(StrEnum):
    """Codes of the error answers (``{"code", "message"}``) the sandbox gives."""

    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_REFERENCE_ID = "INVALID_REFERENCE_ID"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    INVALID_CALLBACK_URL_HOST = "INVALID_CALLBACK_URL_HOST"
    NOT_ALLOWED_TARGET_ENVIRONMENT = "NOT_ALLOWED_TARGET_ENVIRONMENT"
    RESOURCE_ALREADY_EXIST = "RESOURCE_ALREADY_EXIST"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    INTERNAL_PROCESSING_ERROR = "INTERNAL_PROCESSING_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Party(_Wire):
    """A payee or payer: ``{"partyIdType": "MSISDN", "partyId": "254712345678"}``."""

    party_id_type: PartyIdType = Field(alias="partyIdType")
    party_id: str = Field(alias="partyId", min_length=1)


class TransferRequest(_Wire):
    """Body of ``POST /disbursement/v1_0/transfer``."""

    amount: str = Field(description="Major units, e.g. 1500.00", min_length=1)
    currency: str = Field(min_length=3, max_length=3)
    external_id: str = Field(alias="externalId", min_length=1)
    payee: Party
    payer_message: str | None = Field(default=None, alias="payerMessage")
    payee_note: str | None = Field(default=None, alias="payeeNote")


class _Answer(_Wire):
    """A status answer, which is also the body of the callback announcing that status."""

    def to_json(self) -> bytes:
        """The exact bytes the sandbox sends: aliases, no null fields."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


class TransferResult(_Answer):
    """Answer of ``GET /disbursement/v1_0/transfer/{referenceId}``, and the callback body.

    ``financialTransactionId`` appears once the transfer succeeded, ``reason`` only when
    it FAILED; absent fields are left out, not null.
    """

    amount: str
    currency: str
    financial_transaction_id: str | None = Field(default=None, alias="financialTransactionId")
    external_id: str = Field(alias="externalId")
    payee: Party
    payer_message: str | None = Field(default=None, alias="payerMessage")
    payee_note: str | None = Field(default=None, alias="payeeNote")
    status: TransferStatus
    reason: Reason | None = None


class RequestToPay(_Wire):
    """Body of ``POST /collection/v1_0/requesttopay``: ask the payer to approve a payment."""

    amount: str = Field(description="Major units, e.g. 1500.00", min_length=1)
    currency: str = Field(min_length=3, max_length=3)
    external_id: str = Field(alias="externalId", min_length=1)
    payer: Party
    payer_message: str | None = Field(default=None, alias="payerMessage")
    payee_note: str | None = Field(default=None, alias="payeeNote")


class RequestToPayResult(_Answer):
    """Answer of ``GET /collection/v1_0/requesttopay/{referenceId}``, and the callback body.

    The transfer's shape with the ``payer`` in place of the payee: ``financialTransactionId``
    once the payer paid (SUCCESSFUL), ``reason`` only when it FAILED; absent fields are
    left out, not null. MTN states no fee on collections, so there is none.
    """

    amount: str
    currency: str
    financial_transaction_id: str | None = Field(default=None, alias="financialTransactionId")
    external_id: str = Field(alias="externalId")
    payer: Party
    payer_message: str | None = Field(default=None, alias="payerMessage")
    payee_note: str | None = Field(default=None, alias="payeeNote")
    status: TransferStatus
    reason: Reason | None = None


class ErrorReason(_Wire):
    """An error answer."""

    code: str
    message: str | None = None


class Balance(_Wire):
    """Answer of ``GET /disbursement/v1_0/account/balance``."""

    available_balance: str = Field(alias="availableBalance")
    currency: str
