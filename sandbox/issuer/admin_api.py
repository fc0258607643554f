"""The card issuer's admin API (under ``/admin/issuer``): the network's side of the cards.

Purchases are run here (the network asks the engine, synchronously), and what follows
them: captures (several per authorization, within the over-capture tolerance),
reversals, the expiry advice, refunds and force posts; each becomes a transaction and a
signed ``card.transaction`` webhook. Lists show what the issuer holds without personal
data (masked names and document numbers, masked card numbers, never a CVV). The common
routes are here too: ``/faults``, ``/webhooks`` (the card events' delivery log),
``/reset`` and ``/scenarios`` (the KYC magic values). No authentication: the sandbox is a
local tool. Errors are ``{"error": <code>, "message": <why>}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from payments_engine.domain.money import check_currency
from payments_engine.sandbox.common.admin import (
    AdminDelivery,
    ScenarioView,
    add_operation_routes,
    add_scenario_route,
)
from payments_engine.sandbox.common.http import error_route_class
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.issuer.issuer_api import IssuerError, invalid, not_found, refused
from payments_engine.sandbox.issuer.network import (
    ask_engine,
    authorization_request,
    network_decline,
)
from payments_engine.sandbox.issuer.records import (
    AuthorizationRecord,
    CardholderRecord,
    CardRecord,
    Decision,
)
from payments_engine.sandbox.issuer.scenarios import KycScenario
from payments_engine.sandbox.issuer.state import IssuerState, StateDep, get_state
from payments_engine.sandbox.issuer.store import NotFound, Refused
from payments_engine.sandbox.issuer.wire import (
    AnsweredBy,
    AuthorizationResult,
    CardState,
    Country,
    DocumentType,
    ErrorCode,
    KycStatus,
    Mcc,
    Merchant,
    NetworkDecline,
    Notification,
    Transaction,
)

router = APIRouter(route_class=error_route_class(invalid), tags=["admin: issuer"])

DEFAULT_MERCHANT = "Sandbox shop"
DEFAULT_MCC = "5411"
DEFAULT_COUNTRY = "KE"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurchaseRequest(_Body):
    """A purchase at a merchant: the network asks the engine to authorize it.

    Attributes:
        card: the card's token, our reference (``card-abc``) or our card id (``abc``).
        amount: minor units.
        currency: the purchase's currency; default the card's.
        partial_allowed: the merchant takes a partial approval.
        authorization_id: re-send the request of this authorization (a network retry):
            the same id, amount and merchant as the first time; the rest of the body is
            ignored.
        deadline_seconds: this purchase's deadline, instead of the configured one.
    """

    card: str = Field(min_length=1, max_length=100)
    amount: StrictInt = Field(gt=0, le=10**18)
    currency: str | None = None
    mcc: Mcc = DEFAULT_MCC
    country: Country = DEFAULT_COUNTRY
    merchant_name: str = Field(default=DEFAULT_MERCHANT, min_length=1, max_length=100)
    partial_allowed: StrictBool = False
    authorization_id: str | None = Field(default=None, min_length=1, max_length=100)
    deadline_seconds: float | None = Field(default=None, gt=0, le=60)

    @field_validator("currency")
    @classmethod
    def _served_currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)


class PurchaseOutcome(BaseModel):
    """What the network decided for a purchase (its last decision, after a retry).

    Attributes:
        approved_amount: minor units; 0 when declined.
        answered_by: ``engine`` when the engine's answer was taken, ``network`` when the
            network declined on its own.
        latency_ms: from sending the request to its answer (or the deadline); 0 when the
            network did not ask.
    """

    authorization_id: str
    card_token: str
    card_reference: str
    amount: int
    currency: str
    result: AuthorizationResult
    approved_amount: int
    decline_reason: str | None
    answered_by: AnsweredBy
    latency_ms: float

    @classmethod
    def fields_of(cls, authorization: AuthorizationRecord) -> dict[str, object]:
        """The outcome's fields of ``authorization``."""
        decision = authorization.decision
        return {
            "authorization_id": authorization.authorization_id,
            "card_token": authorization.card_token,
            "card_reference": authorization.card_reference,
            "amount": authorization.amount,
            "currency": authorization.currency,
            "result": decision.result,
            "approved_amount": decision.approved_amount,
            "decline_reason": decision.decline_reason,
            "answered_by": decision.answered_by,
            "latency_ms": decision.latency_ms,
        }

    @classmethod
    def of(cls, authorization: AuthorizationRecord) -> PurchaseOutcome:
        """The outcome of a recorded purchase."""
        return cls.model_validate(cls.fields_of(authorization))


class DecisionView(BaseModel):
    """One answer to an authorization request (a retry adds one)."""

    result: AuthorizationResult
    approved_amount: int
    decline_reason: str | None
    answered_by: AnsweredBy
    latency_ms: float
    answered_at: datetime
    detail: str | None

    @classmethod
    def of(cls, decision: Decision) -> DecisionView:
        """The view of a decision."""
        return cls(
            result=decision.result,
            approved_amount=decision.approved_amount,
            decline_reason=decision.decline_reason,
            answered_by=decision.answered_by,
            latency_ms=decision.latency_ms,
            answered_at=decision.answered_at,
            detail=decision.detail,
        )


class AuthorizationView(PurchaseOutcome):
    """A recorded purchase: its outcome, and what happened to its money since.

    Attributes:
        captured: minor units captured so far.
        reversed: minor units released by reversals.
        expired: minor units released by the expiry advice.
        held: minor units still held.
        decisions: every answer, oldest first; more than one after retries.
    """

    merchant: Merchant
    partial_allowed: bool
    created: datetime
    captured: int
    reversed: int
    expired: int
    held: int
    decisions: list[DecisionView]

    @classmethod
    def of(cls, authorization: AuthorizationRecord) -> AuthorizationView:
        """The admin view of a recorded purchase."""
        return cls.model_validate(
            {
                **cls.fields_of(authorization),
                "merchant": authorization.merchant,
                "partial_allowed": authorization.partial_allowed,
                "created": authorization.created_at,
                "captured": authorization.captured,
                "reversed": authorization.reversed,
                "expired": authorization.expired,
                "held": authorization.held,
                "decisions": [DecisionView.of(d) for d in authorization.decisions],
            }
        )


class AmountRequest(_Body):
    """Body of a capture or reversal: minor units, or none for the default amount."""

    amount: StrictInt | None = None


class CreditRequest(_Body):
    """Body of a refund or force post to a card: minor units and the merchant."""

    amount: StrictInt
    merchant_name: str = Field(default=DEFAULT_MERCHANT, min_length=1, max_length=100)
    mcc: Mcc = DEFAULT_MCC
    country: Country = DEFAULT_COUNTRY

    @property
    def merchant(self) -> Merchant:
        """The merchant it names."""
        return Merchant(name=self.merchant_name, mcc=self.mcc, country=self.country)


class AdminCard(BaseModel):
    """A card as the admin shows it: the masked number, never the CVV."""

    token: str
    reference: str
    cardholder_token: str
    last_four: str
    pan_masked: str
    exp_month: int
    exp_year: int
    currency: str
    state: CardState
    created: datetime

    @classmethod
    def of(cls, card: CardRecord) -> AdminCard:
        """The admin view of a card."""
        return cls(
            token=card.token,
            reference=card.reference,
            cardholder_token=card.cardholder_token,
            last_four=card.last_four,
            pan_masked=card.pan_masked,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            currency=card.currency,
            state=card.state,
            created=card.created_at,
        )


class AdminCardholder(BaseModel):
    """A cardholder as the admin shows it: names and document number masked."""

    token: str
    reference: str
    kyc_status: KycStatus
    scenario: KycScenario
    name_masked: str
    document_type: DocumentType
    document_masked: str
    country: str
    created: datetime
    updated: datetime

    @classmethod
    def of(cls, cardholder: CardholderRecord) -> AdminCardholder:
        """The admin view of a cardholder."""
        return cls(
            token=cardholder.token,
            reference=cardholder.reference,
            kyc_status=cardholder.status,
            scenario=cardholder.scenario,
            name_masked=cardholder.name_masked,
            document_type=cardholder.document_type,
            document_masked=cardholder.document_masked,
            country=cardholder.country,
            created=cardholder.created_at,
            updated=cardholder.updated_at,
        )


class IssuerAdminDelivery(AdminDelivery):
    """One delivery of a card event.

    Attributes:
        reference: our reference of the card (or cardholder) it reports on.
        event_id: the event's id, also the signed ``webhook-id``: a resend repeats it.
        record_id: the transaction's or the cardholder's token.
        status: the transaction type, or the cardholder's KYC status.
    """

    event_id: str
    record_id: str

    @classmethod
    def of(cls, delivery: Delivery) -> IssuerAdminDelivery:
        """The admin view of a delivery."""
        return cls(
            **cls.fields_of(delivery), event_id=delivery.event_id, record_id=delivery.record_id
        )


class KycScenarioInfo(ScenarioView):
    """A KYC magic value, for tools and docs."""

    scenario: KycScenario
    suffix: str | None
    initial_status: KycStatus
    final_status: KycStatus
    summary: str


add_scenario_route(router, KycScenario, KycScenarioInfo)
add_operation_routes(router, get_state, IssuerAdminDelivery)


# -- purchases -------------------------------------------------------------------------


async def _decide(
    state: IssuerState,
    authorization: AuthorizationRecord,
    card: CardRecord,
    deadline_seconds: float,
) -> Decision:
    """Ask the engine about ``authorization``, unless the network can answer alone."""
    config = state.config
    if card.state is CardState.CLOSED:
        return network_decline(NetworkDecline.CARD_CLOSED, detail="the card is closed")
    if config.authorization_url is None:
        return network_decline(NetworkDecline.ISSUER_TIMEOUT, detail="no authorization URL")
    if state.client is None:
        raise IssuerError(
            503, ErrorCode.NETWORK_NOT_RUNNING, "the sandbox's lifespan is not running"
        )
    request = authorization_request(
        authorization_id=authorization.authorization_id,
        card_token=authorization.card_token,
        card_reference=authorization.card_reference,
        amount=authorization.amount,
        currency=authorization.currency,
        merchant=authorization.merchant,
        partial_allowed=authorization.partial_allowed,
        deadline_seconds=deadline_seconds,
    )
    return await ask_engine(
        state.client,
        url=config.authorization_url,
        scheme=config.signature_scheme,
        secret=config.webhook_secret,
        request=request,
        deadline_seconds=deadline_seconds,
    )


@router.post("/purchases", response_model=PurchaseOutcome, summary="Run a purchase")
async def purchase(body: PurchaseRequest, state: StateDep) -> PurchaseOutcome:
    """Authorize a purchase now: the network asks the engine and waits for its answer.

    The network declines on its own when the card is closed (``card_closed``), when no
    authorization URL is configured or the engine does not answer in time
    (``issuer_timeout``), or answers wrongly (``issuer_error``). With
    ``authorization_id`` the request of that authorization is sent again (a network
    retry) and its answer added to the same record. Every purchase is recorded.
    404 for an unknown card or authorization.
    """
    store = state.store
    deadline = body.deadline_seconds or state.config.authorization_deadline_seconds
    if body.authorization_id is not None:
        try:
            authorization = store.authorization(body.authorization_id)
            card = store.card(authorization.card_token)
        except NotFound:
            raise not_found("authorization") from None
        decision = await _decide(state, authorization, card, deadline)
        try:
            # An admin reset may have come while the engine was deciding.
            retried = store.record_retry(authorization.authorization_id, decision)
        except NotFound:
            raise not_found("authorization") from None
        return PurchaseOutcome.of(retried)

    try:
        card = store.find_card(body.card)
    except NotFound:
        raise not_found("card") from None
    authorization = AuthorizationRecord(
        authorization_id=f"auth_{uuid.uuid4().hex[:24]}",
        card_token=card.token,
        card_reference=card.reference,
        amount=body.amount,
        currency=body.currency or card.currency,
        merchant=Merchant(name=body.merchant_name, mcc=body.mcc, country=body.country),
        partial_allowed=body.partial_allowed,
        created_at=datetime.now(UTC),
    )
    authorization.decisions.append(await _decide(state, authorization, card, deadline))
    return PurchaseOutcome.of(store.record_authorization(authorization))


@router.get("/authorizations", response_model=list[AuthorizationView])
async def list_authorizations(state: StateDep) -> list[AuthorizationView]:
    """Every purchase, oldest first, declined ones too."""
    return [AuthorizationView.of(a) for a in state.store.authorizations]


@router.get("/authorizations/{authorization_id}", response_model=AuthorizationView)
async def get_authorization(authorization_id: str, state: StateDep) -> AuthorizationView:
    """One purchase, with its decisions and what happened to its money."""
    try:
        return AuthorizationView.of(state.store.authorization(authorization_id))
    except NotFound:
        raise not_found("authorization") from None


OptionalAmount = Annotated[AmountRequest | None, Body()]


@router.post(
    "/authorizations/{authorization_id}/captures",
    response_model=Transaction,
    status_code=201,
    summary="Clear (part of) an authorization",
)
async def capture(
    authorization_id: str, state: StateDep, body: OptionalAmount = None
) -> Transaction:
    """A CAPTURE of ``amount`` (default: the approved amount not yet captured), with its webhook.

    Several captures may clear one authorization; together they may exceed the approved
    amount by ``over_capture_tolerance_percent`` of it. 409 beyond it, or on a declined
    authorization.
    """
    amount = body.amount if body is not None else None
    return _transaction(lambda: state.store.capture(authorization_id, amount), "authorization")


@router.post(
    "/authorizations/{authorization_id}/reversals",
    response_model=Transaction,
    status_code=201,
    summary="Release (part of) what an authorization holds",
)
async def reverse(
    authorization_id: str, state: StateDep, body: OptionalAmount = None
) -> Transaction:
    """A REVERSAL of ``amount`` (default: everything still held), with its webhook.

    409 above what is still held (approved - captured - reversed), or on a declined
    authorization.
    """
    amount = body.amount if body is not None else None
    return _transaction(lambda: state.store.reverse(authorization_id, amount), "authorization")


@router.post(
    "/authorizations/{authorization_id}/expiry",
    response_model=Transaction,
    status_code=201,
    summary="Expire an authorization",
)
async def expire(authorization_id: str, state: StateDep) -> Transaction:
    """The EXPIRY advice for everything the authorization still holds, with its webhook."""
    return _transaction(lambda: state.store.expire(authorization_id), "authorization")


@router.post(
    "/cards/{card}/refunds",
    response_model=Transaction,
    status_code=201,
    summary="A merchant's refund to a card",
)
async def refund(card: str, body: CreditRequest, state: StateDep) -> Transaction:
    """A REFUND (a credit, no authorization) to the card, with its webhook."""
    merchant = body.merchant
    return _transaction(lambda: state.store.refund(card, body.amount, merchant), "card")


@router.post(
    "/cards/{card}/force-captures",
    response_model=Transaction,
    status_code=201,
    summary="A clearing nobody authorized (force post)",
)
async def force_capture(card: str, body: CreditRequest, state: StateDep) -> Transaction:
    """A CAPTURE without an authorization, with its webhook."""
    merchant = body.merchant
    return _transaction(lambda: state.store.force_capture(card, body.amount, merchant), "card")


def _transaction(make: Callable[[], Transaction], what: str) -> Transaction:
    try:
        return make()
    except NotFound:
        raise not_found(what) from None
    except Refused as exc:
        raise refused(exc) from None


@router.post(
    "/events/{event_id}/resend",
    response_model=IssuerAdminDelivery,
    summary="Send a card event again (a duplicate)",
)
async def resend(event_id: str, state: StateDep) -> IssuerAdminDelivery:
    """Queue the event's webhook once more, same bytes and ``webhook-id``."""
    try:
        return IssuerAdminDelivery.of(state.store.resend(event_id))
    except NotFound:
        raise not_found("event") from None


@router.get("/transactions", response_model=list[Transaction])
async def list_transactions(state: StateDep) -> list[Transaction]:
    """Every transaction, oldest first."""
    return list(state.store.transactions)


@router.get("/cards", response_model=list[AdminCard])
async def list_cards(state: StateDep) -> list[AdminCard]:
    """Every card, oldest first, with its masked number."""
    return [AdminCard.of(card) for card in state.store.cards]


@router.get("/cardholders", response_model=list[AdminCardholder])
async def list_cardholders(state: StateDep) -> list[AdminCardholder]:
    """Every cardholder, oldest first, reviews decided if due; no personal data in clear."""
    state.store.advance()
    return [AdminCardholder.of(cardholder) for cardholder in state.store.transfers()]


@router.get("/notifications", response_model=list[Notification])
async def list_notifications(state: StateDep) -> list[Notification]:
    """Every recorded notification, oldest first."""
    return list(state.store.notifications)
