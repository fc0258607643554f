"""The records the card issuer simulator keeps: cardholders, cards, authorizations and more.

Plain data, shared by the store (:mod:`.store`) and the state file; card events are the
common outbox's deliveries. A cardholder is the common store's transfer record
(:class:`~payments_engine.sandbox.common.records.TransferRecord`): its KYC status is the
status and a review's decision the one planned step, so the background scheduler that
settles the hub's payouts decides reviews too. Cards, authorizations, transactions and
notifications are filed apart, each under documents of its own kind.

No personal data is kept: a cardholder's request is remembered by a digest (enough to
tell a repeat from another body under the same idempotency key), its names and document
number only masked. A card's number and CVV are kept (the issuer made them), and shown
nowhere: the admin shows the number masked, the API its last four digits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from payments_engine.sandbox.common.persistence import (
    Document,
    decode_required_time,
    encode_time,
)
from payments_engine.sandbox.common.records import (
    TransferRecord,
    decode_progress,
    encode_progress,
)
from payments_engine.sandbox.issuer.scenarios import KycScenario
from payments_engine.sandbox.issuer.wire import (
    AnsweredBy,
    AuthorizationResult,
    Card,
    Cardholder,
    CardState,
    DocumentType,
    KycStatus,
    Merchant,
)

CARD = "card"
AUTHORIZATION = "authorization"
TRANSACTION = "transaction"
NOTIFICATION = "notification"
"""State-file kinds besides the cardholders (the common ``transfer`` kind)."""


def fingerprint(body: BaseModel) -> str:
    """A digest of a validated request: equal for equal bodies, and reveals nothing of them."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def mask_name(first_name: str, last_name: str) -> str:
    """``J*** D***``: the initials only."""
    return " ".join(f"{name.strip()[:1]}***" for name in (first_name, last_name))


def mask_document(number: str) -> str:
    """``****0002``: the last four characters only, the magic value."""
    return "****" + number[-4:]


def mask_pan(pan: str) -> str:
    """``4000 00** **** 4242``: the BIN and the last four digits, grouped by four."""
    masked = pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


@dataclass(frozen=True)
class KycStep:
    """When a cardholder under review gets its decision."""

    at: float
    status: KycStatus


@dataclass(eq=False, kw_only=True)
class CardholderRecord(TransferRecord[KycStatus, KycStep]):
    """One cardholder as the issuer records it, without its personal data.

    Attributes:
        token: the issuer's id (``chd_<hex>``).
        reference: our reference.
        idempotency_key: the key it was created under.
        request_digest: :func:`fingerprint` of the creating body.
        name_masked: the initials of its names.
        document_masked: the last four characters of its document number.
        executed: always false: a cardholder moves no money.
    """

    token: str
    reference: str
    idempotency_key: str
    request_digest: str
    scenario: KycScenario
    country: str
    document_type: DocumentType
    name_masked: str
    document_masked: str

    @property
    def record_id(self) -> str:
        """The token, under which the issuer files the cardholder."""
        return self.token

    def to_wire(self) -> Cardholder:
        """The cardholder as ``/issuer`` answers it."""
        return Cardholder(
            token=self.token,
            reference=self.reference,
            kyc_status=self.status,
            created=self.created_at,
            updated=self.updated_at,
        )


def encode_cardholder(cardholder: CardholderRecord) -> Document:
    """The state-file document of a cardholder."""
    plan = [[step.at, step.status.value] for step in cardholder.plan]
    return {
        "token": cardholder.token,
        "reference": cardholder.reference,
        "idempotency_key": cardholder.idempotency_key,
        "request_digest": cardholder.request_digest,
        "scenario": cardholder.scenario.value,
        "country": cardholder.country,
        "document_type": cardholder.document_type.value,
        "name_masked": cardholder.name_masked,
        "document_masked": cardholder.document_masked,
        "status": cardholder.status.value,
        **encode_progress(cardholder, plan),
    }


def decode_cardholder(document: Document) -> CardholderRecord:
    """The cardholder :func:`encode_cardholder` wrote."""
    return CardholderRecord(
        token=document["token"],
        reference=document["reference"],
        idempotency_key=document["idempotency_key"],
        request_digest=document["request_digest"],
        scenario=KycScenario(document["scenario"]),
        country=document["country"],
        document_type=DocumentType(document["document_type"]),
        name_masked=document["name_masked"],
        document_masked=document["document_masked"],
        status=KycStatus(document["status"]),
        executed=False,
        plan=[KycStep(float(at), KycStatus(status)) for at, status in document["plan"]],
        **decode_progress(document),
    )


@dataclass(eq=False)
class CardRecord:
    """One card as the issuer records it, with the number and CVV nobody else sees.

    Attributes:
        token: the issuer's id (``crd_<hex>``).
        reference: our reference (``card-abc``).
        pan: the full card number, 16 Luhn-valid digits.
        cvv: three digits.
        request_digest: :func:`fingerprint` of the creating body.
    """

    token: str
    reference: str
    cardholder_token: str
    pan: str
    cvv: str
    exp_month: int
    exp_year: int
    currency: str
    state: CardState
    created_at: datetime
    idempotency_key: str
    request_digest: str

    @property
    def last_four(self) -> str:
        """The last four digits of the number."""
        return self.pan[-4:]

    @property
    def pan_masked(self) -> str:
        """The number as the admin shows it."""
        return mask_pan(self.pan)

    def to_wire(self) -> Card:
        """The card as ``/issuer`` answers it: never the number or the CVV."""
        return Card(
            token=self.token,
            reference=self.reference,
            cardholder_token=self.cardholder_token,
            last_four=self.last_four,
            exp_month=self.exp_month,
            exp_year=self.exp_year,
            currency=self.currency,
            state=self.state,
            created=self.created_at,
        )


def encode_card(card: CardRecord) -> Document:
    """The state-file document of a card."""
    return {
        "token": card.token,
        "reference": card.reference,
        "cardholder_token": card.cardholder_token,
        "pan": card.pan,
        "cvv": card.cvv,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "currency": card.currency,
        "state": card.state.value,
        "created_at": encode_time(card.created_at),
        "idempotency_key": card.idempotency_key,
        "request_digest": card.request_digest,
    }


def decode_card(document: Document) -> CardRecord:
    """The card :func:`encode_card` wrote."""
    return CardRecord(
        token=document["token"],
        reference=document["reference"],
        cardholder_token=document["cardholder_token"],
        pan=document["pan"],
        cvv=document["cvv"],
        exp_month=int(document["exp_month"]),
        exp_year=int(document["exp_year"]),
        currency=document["currency"],
        state=CardState(document["state"]),
        created_at=decode_required_time(document["created_at"]),
        idempotency_key=document["idempotency_key"],
        request_digest=document["request_digest"],
    )


@dataclass(frozen=True)
class Decision:
    """One answer to an authorization request: the engine's, or the network's own.

    Attributes:
        approved_amount: minor units approved; 0 when DECLINED.
        decline_reason: why it was DECLINED (the engine's reason, or the network's
            ``card_closed``, ``issuer_timeout``, ``issuer_error``); None when APPROVED.
        latency_ms: from sending the request to its answer, or to giving up at the
            deadline; 0 when the network decided without asking.
        detail: what was wrong with the engine's answer, when the network declined it
            (``HTTP 500``, ``bad JSON`` ...); None otherwise.
    """

    result: AuthorizationResult
    approved_amount: int
    decline_reason: str | None
    answered_by: AnsweredBy
    latency_ms: float
    answered_at: datetime
    detail: str | None = None

    def encode(self) -> Document:
        """The decision as part of its authorization's document."""
        return {
            "result": self.result.value,
            "approved_amount": self.approved_amount,
            "decline_reason": self.decline_reason,
            "answered_by": self.answered_by.value,
            "latency_ms": self.latency_ms,
            "answered_at": encode_time(self.answered_at),
            "detail": self.detail,
        }

    @classmethod
    def decode(cls, document: Document) -> Decision:
        """The decision :meth:`encode` wrote."""
        return cls(
            result=AuthorizationResult(document["result"]),
            approved_amount=int(document["approved_amount"]),
            decline_reason=document["decline_reason"],
            answered_by=AnsweredBy(document["answered_by"]),
            latency_ms=float(document["latency_ms"]),
            answered_at=decode_required_time(document["answered_at"]),
            detail=document.get("detail"),
        )


@dataclass(eq=False)
class AuthorizationRecord:
    """One purchase the network authorized (or tried to), with what happened to its money.

    Attributes:
        decisions: every answer to its request, oldest first: more than one when the
            network re-sent it (same id, same amount and merchant); the last one counts.
        captured: minor units captured so far (several clearings add up).
        reversed: minor units released by reversals.
        expired: minor units released by the expiry advice.
    """

    authorization_id: str
    card_token: str
    card_reference: str
    amount: int
    currency: str
    merchant: Merchant
    partial_allowed: bool
    created_at: datetime
    decisions: list[Decision] = field(default_factory=list)
    captured: int = 0
    reversed: int = 0
    expired: int = 0

    @property
    def decision(self) -> Decision:
        """The answer that counts: the last one."""
        return self.decisions[-1]

    @property
    def approved(self) -> bool:
        """True if the last answer approved it."""
        return self.decision.result is AuthorizationResult.APPROVED

    @property
    def approved_amount(self) -> int:
        """Minor units approved by the last answer; 0 if declined."""
        return self.decision.approved_amount if self.approved else 0

    @property
    def held(self) -> int:
        """Minor units still held on the card: approved, not yet captured nor released."""
        return max(0, self.approved_amount - self.captured - self.reversed - self.expired)


def encode_authorization(authorization: AuthorizationRecord) -> Document:
    """The state-file document of an authorization."""
    return {
        "authorization_id": authorization.authorization_id,
        "card_token": authorization.card_token,
        "card_reference": authorization.card_reference,
        "amount": authorization.amount,
        "currency": authorization.currency,
        "merchant": authorization.merchant.model_dump(mode="json"),
        "partial_allowed": authorization.partial_allowed,
        "created_at": encode_time(authorization.created_at),
        "decisions": [decision.encode() for decision in authorization.decisions],
        "captured": authorization.captured,
        "reversed": authorization.reversed,
        "expired": authorization.expired,
    }


def decode_authorization(document: Document) -> AuthorizationRecord:
    """The authorization :func:`encode_authorization` wrote."""
    return AuthorizationRecord(
        authorization_id=document["authorization_id"],
        card_token=document["card_token"],
        card_reference=document["card_reference"],
        amount=int(document["amount"]),
        currency=document["currency"],
        merchant=Merchant.model_validate(document["merchant"]),
        partial_allowed=bool(document["partial_allowed"]),
        created_at=decode_required_time(document["created_at"]),
        decisions=[Decision.decode(item) for item in document["decisions"]],
        captured=int(document["captured"]),
        reversed=int(document["reversed"]),
        expired=int(document["expired"]),
    )


def encode_model(model: BaseModel) -> Document:
    """The state-file document of a record kept as its wire model (transactions ...)."""
    document: dict[str, Any] = model.model_dump(mode="json")
    return document
