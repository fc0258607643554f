"""Prepaid virtual cards: the card's state, its limits, and the authorization decision.

A card is one long-lived workflow, ``card-{card_id}``. It answers each authorization from
what it holds in memory (balance, open holds, limits, today's usage) with the pure
:func:`decide` below, so the answer needs no I/O and fits inside the card network's
deadline; the ledger follows the decision, posted by the workflow right after.

Amounts are minor units of the card's currency. A card's *balance* is what it may
still spend: fundings - captures + refunds - open holds (a reversal or an expiry closes
a hold and gives its amount back). The ledger keeps the same figure on
``card:{id}:available`` and the open holds on ``card:{id}:holds``.

The cardholder's personal data (:class:`Cardholder`) travels only inside the workflow's
input, which the payload codec encrypts; it never appears in ids, search attributes,
views or logs. Card numbers and CVVs never leave the issuer: the engine knows the
issuer's token, the last four digits and the expiry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from payments_engine.domain.errors import InvalidAmount, InvalidLimits
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.ids import BusinessId, check_business_id
from payments_engine.domain.money import Currency, Money
from payments_engine.domain.payout import DEFAULT_MERCHANT_ID, PROVIDER_NAME_PATTERN

CARD_WORKFLOW_PREFIX = "card-"
DEFAULT_CARD_PROVIDER = "issuer"
HOLD_LIFETIME = timedelta(days=7)
"""How long an authorization hold lasts without a capture (Stripe: 7 days for most merchants)."""
DEFAULT_EXPIRY_MONTHS = 36
RECENT_TRANSACTIONS = 200
"""How many transactions a card keeps in memory (and carries across continue-as-new)."""


def card_workflow_id(card_id: str) -> str:
    """The workflow id of a card, also its reference at the issuer: ``card-{card_id}``."""
    return CARD_WORKFLOW_PREFIX + check_business_id(card_id)


class CardState(StrEnum):
    """Where a card stands: ``pending_kyc -> active <-> frozen -> terminated``."""

    PENDING_KYC = "pending_kyc"
    ACTIVE = "active"
    FROZEN = "frozen"
    TERMINATED = "terminated"
    KYC_REJECTED = "kyc_rejected"

    @property
    def is_final(self) -> bool:
        """True for the states a card never leaves."""
        return self in (CardState.TERMINATED, CardState.KYC_REJECTED)


class DeclineReason(StrEnum):
    """Why an authorization was declined; stable values, sent to the network as they are."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_FROZEN = "card_frozen"
    CARD_TERMINATED = "card_terminated"
    CARD_EXPIRED = "card_expired"
    CARD_INACTIVE = "card_inactive"
    """The cardholder's KYC is pending or was rejected: the card never became active."""
    OVER_TRANSACTION_LIMIT = "over_transaction_limit"
    DAILY_AMOUNT_EXCEEDED = "daily_amount_exceeded"
    DAILY_COUNT_EXCEEDED = "daily_count_exceeded"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    MERCHANT_CATEGORY_BLOCKED = "merchant_category_blocked"
    CURRENCY_MISMATCH = "currency_mismatch"
    INVALID_REQUEST = "invalid_request"
    """The card refused the request itself (e.g. a retried id with another currency)."""
    ISSUER_TIMEOUT = "issuer_timeout"
    """The card could not answer inside the network's deadline: the relay answered the
    default (decline) for it, or the request reached the card after its deadline."""


class KycStatus(StrEnum):
    """The issuer's verdict on a cardholder."""

    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING_REVIEW = "pending_review"


class IdDocument(BaseModel):
    """A cardholder's identity document (personal data: encrypted, never logged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(pattern=r"^(national_id|passport)$")
    number: str = Field(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9-]+$")

    def __repr__(self) -> str:
        return f"IdDocument(type={self.type!r}, number='***')"


class Cardholder(BaseModel):
    """Who the card is for (personal data: encrypted in Temporal, never logged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_name: str = Field(min_length=1, max_length=80)
    last_name: str = Field(min_length=1, max_length=80)
    date_of_birth: date
    id_document: IdDocument
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("date_of_birth")
    @classmethod
    def _adult_date(cls, value: date) -> date:
        if value.year < 1900:
            raise ValueError("date of birth before 1900")
        return value

    def __repr__(self) -> str:
        # pydantic's repr would print the name and document into tracebacks and logs.
        return f"Cardholder(country={self.country!r}, ...)"

    __str__ = __repr__


class CardLimits(BaseModel):
    """Spending controls of a card; None means no limit.

    Days start at midnight UTC shifted by ``day_offset_minutes`` (e.g. 180 for
    Nairobi): a card says so when its holder's day is not UTC's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_authorization: int | None = Field(default=None, gt=0)
    daily_amount: int | None = Field(default=None, gt=0)
    daily_count: int | None = Field(default=None, gt=0)
    allowed_countries: list[str] | None = None
    """ISO 3166 alpha-2 codes the card may be used in; None allows every country."""
    blocked_categories: list[str] = Field(default_factory=list)
    """Merchant category codes (four digits) the card may not be used at."""
    day_offset_minutes: int = Field(default=0, ge=-720, le=840)

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        codes = [code.upper() for code in value]
        for code in codes:
            if len(code) != 2 or not code.isascii() or not code.isalpha():
                raise InvalidLimits(f"{code[:8]!r} is not a two-letter country code")
        return sorted(set(codes))

    @field_validator("blocked_categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        for code in value:
            if len(code) != 4 or not code.isascii() or not code.isdigit():
                raise InvalidLimits(f"{code[:8]!r} is not a four-digit merchant category code")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> CardLimits:
        if (
            self.per_authorization is not None
            and self.daily_amount is not None
            and self.daily_amount < self.per_authorization
        ):
            raise InvalidLimits(
                "the daily amount limit cannot be below the per-authorization limit"
            )
        if self.allowed_countries is not None and not self.allowed_countries:
            raise InvalidLimits("allowed countries is empty: the card could be used nowhere")
        return self

    def day_of(self, at: datetime) -> str:
        """The card's day (``YYYY-MM-DD``) that ``at`` falls in."""
        local = at.astimezone(UTC) + timedelta(minutes=self.day_offset_minutes)
        return local.date().isoformat()


class MerchantInfo(BaseModel):
    """Where a card is used, as the network describes it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100)
    mcc: str = Field(pattern=r"^[0-9]{4}$")
    country: str = Field(pattern=r"^[A-Z]{2}$")


class AuthorizationRequest(BaseModel):
    """A card network's request to approve a purchase, as the relay hands it to the card.

    ``respond_by`` is the moment the relay stops waiting for the card and answers the
    default (decline) itself: a request the card sees later is declined, with no hold,
    so the card never holds money for a purchase the network was told to decline.
    """

    model_config = ConfigDict(frozen=True)

    authorization_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
    amount: Money
    merchant: MerchantInfo
    partial_allowed: bool = False
    respond_by: datetime | None = None

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("an authorization amount must be greater than zero")
        return value


class AuthorizationDecision(BaseModel):
    """The card's answer: approved (for ``approved_amount``) or declined with a reason."""

    model_config = ConfigDict(frozen=True)

    authorization_id: str
    approved: bool
    approved_amount: int = 0
    currency: str
    decline_reason: DeclineReason | None = None

    @classmethod
    def decline(cls, request: AuthorizationRequest, reason: DeclineReason) -> AuthorizationDecision:
        """A decline of ``request`` for ``reason``."""
        return cls(
            authorization_id=request.authorization_id,
            approved=False,
            currency=request.amount.currency,
            decline_reason=reason,
        )


class DailyUsage(BaseModel):
    """What a card approved on one of its days."""

    day: str = ""
    amount: int = 0
    count: int = 0


def decide(
    *,
    state: CardState,
    expires_at: datetime | None,
    currency: str,
    balance: int,
    limits: CardLimits,
    usage: DailyUsage,
    request: AuthorizationRequest,
    now: datetime,
) -> AuthorizationDecision:
    """Approve or decline ``request`` from the card's state alone (no I/O).

    The checks run in a fixed order, so a request failing several gets a stable reason:
    card state, lateness, expiry, currency, country, merchant category, per-authorization
    limit, daily count, daily amount, funds. A partial approval (when the request allows
    it) approves what the balance and the daily amount left can cover.

    Args:
        state: the card's state.
        expires_at: when the card expires; None before it is issued.
        currency: the card's currency.
        balance: what the card may spend now (minor units).
        limits: its spending controls.
        usage: what it approved so far on the day of ``now`` (callers reset it per day).
        request: the network's request.
        now: the decision's time (``workflow.now()``).
    """
    if state is CardState.TERMINATED:
        return AuthorizationDecision.decline(request, DeclineReason.CARD_TERMINATED)
    if state in (CardState.PENDING_KYC, CardState.KYC_REJECTED):
        return AuthorizationDecision.decline(request, DeclineReason.CARD_INACTIVE)
    if state is CardState.FROZEN:
        return AuthorizationDecision.decline(request, DeclineReason.CARD_FROZEN)
    if request.respond_by is not None and now > request.respond_by:
        return AuthorizationDecision.decline(request, DeclineReason.ISSUER_TIMEOUT)
    if expires_at is not None and now >= expires_at:
        return AuthorizationDecision.decline(request, DeclineReason.CARD_EXPIRED)
    if request.amount.currency != currency:
        return AuthorizationDecision.decline(request, DeclineReason.CURRENCY_MISMATCH)
    merchant = request.merchant
    if limits.allowed_countries is not None and merchant.country not in limits.allowed_countries:
        return AuthorizationDecision.decline(request, DeclineReason.COUNTRY_NOT_ALLOWED)
    if merchant.mcc in limits.blocked_categories:
        return AuthorizationDecision.decline(request, DeclineReason.MERCHANT_CATEGORY_BLOCKED)
    amount = request.amount.amount
    if limits.per_authorization is not None and amount > limits.per_authorization:
        return AuthorizationDecision.decline(request, DeclineReason.OVER_TRANSACTION_LIMIT)
    if limits.daily_count is not None and usage.count >= limits.daily_count:
        return AuthorizationDecision.decline(request, DeclineReason.DAILY_COUNT_EXCEEDED)

    approvable = amount
    reason: DeclineReason | None = None
    if limits.daily_amount is not None:
        left_today = max(limits.daily_amount - usage.amount, 0)
        if left_today < approvable:
            approvable, reason = left_today, DeclineReason.DAILY_AMOUNT_EXCEEDED
    if balance < approvable:
        # The daily amount, checked first, stays the reason when both fall short.
        approvable = max(balance, 0)
        reason = reason or DeclineReason.INSUFFICIENT_FUNDS
    if approvable == amount or (request.partial_allowed and approvable > 0):
        return AuthorizationDecision(
            authorization_id=request.authorization_id,
            approved=True,
            approved_amount=approvable,
            currency=currency,
        )
    return AuthorizationDecision.decline(request, reason or DeclineReason.INSUFFICIENT_FUNDS)


class TransactionKind(StrEnum):
    """What happened on a card, as its transaction list shows it."""

    FUNDING = "funding"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REVERSAL = "reversal"
    EXPIRY = "expiry"
    REFUND = "refund"
    BALANCE_RETURN = "balance_return"


class TransactionFlag(StrEnum):
    """Why a card transaction needs a person's eye; the money moved anyway."""

    FORCE_POST = "force_post"
    """A capture without a matching open hold (the network may clear without one)."""
    OVER_CAPTURE = "over_capture"
    """A capture above what its hold still held: the excess came from the balance."""
    STAND_IN_AFTER_APPROVAL = "stand_in_after_approval"
    """The card approved, but the relay had already answered the network's deadline with
    a decline: the hold was released."""


class CardTransaction(BaseModel):
    """One line of a card's transaction list (no personal data)."""

    id: str
    """The authorization id, the issuer's transaction token or the funding reference."""
    kind: TransactionKind
    amount: int
    currency: str
    at: datetime
    approved: bool | None = None
    decline_reason: DeclineReason | None = None
    authorization_id: str | None = None
    merchant: MerchantInfo | None = None
    flags: list[TransactionFlag] = Field(default_factory=list)


class Hold(BaseModel):
    """Money an approved authorization holds until it is captured, reversed or expires."""

    authorization_id: str
    amount: int
    captured: int = 0
    released: int = 0
    placed_at: datetime
    expires_at: datetime

    @property
    def open_amount(self) -> int:
        """What the hold still holds."""
        return max(self.amount - self.captured - self.released, 0)


class IssueCardRequest(BaseModel):
    """A platform's request to issue one prepaid virtual card to a cardholder.

    ``merchant_id`` is the platform whose available balance funds the card and gets
    the remainder back when the card is terminated.
    """

    model_config = ConfigDict(frozen=True)

    card_id: BusinessId
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    provider: str = Field(default=DEFAULT_CARD_PROVIDER, pattern=PROVIDER_NAME_PATTERN)
    currency: Currency
    cardholder: Cardholder
    limits: CardLimits = Field(default_factory=CardLimits)
    low_balance_threshold: int | None = Field(default=None, gt=0)
    expiry_months: int = Field(default=DEFAULT_EXPIRY_MONTHS, ge=1, le=60)

    @property
    def workflow_id(self) -> str:
        """``card-{card_id}``."""
        return card_workflow_id(self.card_id)


class FundCardRequest(BaseModel):
    """Move money from the platform's available balance onto the card, once per reference."""

    model_config = ConfigDict(frozen=True)

    reference: BusinessId
    amount: Money

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("a funding amount must be greater than zero")
        return value


class CardView(BaseModel):
    """What ``get_card`` and the CLI show of a card (no personal data)."""

    card_id: str
    merchant_id: str
    provider: str
    state: CardState
    currency: str
    balance: int
    held: int
    limits: CardLimits
    today: DailyUsage
    low_balance_threshold: int | None = None
    card_token: str | None = None
    last_four: str | None = None
    expires_at: datetime | None = None
    open_holds: int = 0
    funded: int = 0
    captured: int = 0
    refunded: int = 0
    returned: int = 0
    authorizations: int = 0
    declines: int = 0
    flagged: int = 0
    runs: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CardCarry(BaseModel):
    """Everything a card carries into its next run (continue-as-new)."""

    view: CardView
    holds: dict[str, Hold] = Field(default_factory=dict)
    decisions: dict[str, AuthorizationDecision] = Field(default_factory=dict)
    """Recent decisions by authorization id, so a retried request gets the same answer."""
    fundings: dict[str, int] = Field(default_factory=dict)
    """Funding references already credited, with their amounts."""
    applied: list[str] = Field(default_factory=list)
    """Issuer transaction tokens (and stand-in ids) already applied, most recent last."""
    transactions: list[CardTransaction] = Field(default_factory=list)
    ledger_queue: list[CardLedgerStep] = Field(default_factory=list)
    low_balance_alerts: int = 0
    low_balance_alerted: bool = False
    pending_events: list[str] = Field(default_factory=list)
    """Issuer transaction tokens signalled but not yet verified and applied."""
    terminating: bool = False


class CardInput(BaseModel):
    """The workflow's input: the request, and what an earlier run carried over."""

    request: IssueCardRequest
    carry: CardCarry | None = None


class CardResult(BaseModel):
    """The workflow's result once the card is terminated or its KYC rejected."""

    card: CardView


class CardLedgerStepKind(StrEnum):
    """The ledger step a card posts (see ``recipes.card_entry``)."""

    FUND = "fund"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    RETURN = "return"


class CardLedgerStep(BaseModel):
    """One posting the card owes the ledger, queued in the order its decisions were made.

    ``key`` is the step's own part of the idempotency key (an authorization id, a
    transaction token, a funding reference). For a capture, ``from_hold`` is the part
    taken from the hold; the rest (an over-capture, a force post) comes from the balance.
    """

    kind: CardLedgerStepKind
    key: str
    amount: int
    from_hold: int = 0


class CardLedgerInput(BaseModel):
    """Input of the ``post_card_entry`` activity: one card step to post once."""

    card_id: str
    merchant_id: str
    provider: str
    currency: str
    step: CardLedgerStep
    occurred_at: datetime | None = None
    """When it is booked; the ledger activity sets the posting time (reconciliation)."""


class CardLedgerBatch(BaseModel):
    """Input of the ``post_card_entries`` activity: a card's queued steps, in order."""

    card_id: str
    merchant_id: str
    provider: str
    currency: str
    steps: list[CardLedgerStep] = Field(min_length=1)


class CreateCardholderInput(BaseModel):
    """Input of ``create_cardholder``: the holder's data, sent once per card reference."""

    provider: str
    reference: str
    cardholder: Cardholder


class CardholderStatus(BaseModel):
    """Where the issuer's KYC of a cardholder stands."""

    token: str
    kyc_status: KycStatus


class GetCardholderInput(BaseModel):
    """Input of ``get_cardholder``."""

    provider: str
    token: str


class CreateCardInput(BaseModel):
    """Input of ``create_card``: issue the virtual card for an approved cardholder."""

    provider: str
    reference: str
    cardholder_token: str
    currency: str
    expiry_months: int


class IssuedCard(BaseModel):
    """What the engine keeps of an issued card: the issuer's token, never the number."""

    token: str
    last_four: str = Field(pattern=r"^[0-9]{4}$")
    expires_at: datetime
    """The end of the expiry month (UTC), when the card stops working."""


class CloseCardInput(BaseModel):
    """Input of ``close_card``."""

    provider: str
    token: str


class NetworkTransactionType(StrEnum):
    """What a network event did to a card."""

    CAPTURE = "capture"
    REVERSAL = "reversal"
    REFUND = "refund"
    EXPIRY = "expiry"


class GetNetworkTransactionInput(BaseModel):
    """Input of ``get_network_transaction``: read one event from the issuer's own record."""

    provider: str
    token: str


class NetworkTransaction(BaseModel):
    """A network event as the issuer's API records it: the truth a webhook only hints at."""

    token: str
    type: NetworkTransactionType
    card_reference: str
    authorization_id: str | None = None
    amount: Money
    merchant: MerchantInfo | None = None
    created_at: datetime


class LowBalanceNotice(BaseModel):
    """Input of ``notify_low_balance``: the platform's alert, once per crossing."""

    provider: str
    card_reference: str
    balance: Money
    threshold: int
    idempotency_key: str


CardCarry.model_rebuild()


TRANSACTION_EVENT = "card.transaction"
"""``ProviderEvent.provider_status`` of a network event hint (its transaction token in
``provider_transaction_id``): the card reads the issuer's record before acting."""
KYC_EVENT = "cardholder.kyc_updated"
"""``ProviderEvent.provider_status`` of a KYC review's end (the cardholder token in
``provider_transaction_id``): the card asks the issuer for the verdict."""
STAND_IN_EVENT = "relay.stand_in"
"""``ProviderEvent.provider_status`` of the relay's record that it answered the network's
default for a card (the authorization id in ``provider_transaction_id``)."""
STAND_IN_EVENT_PREFIX = "stand-in:"


class StandIn(BaseModel):
    """What the relay told the network for a card that did not answer in time.

    The relay stores it like a webhook (event id ``stand-in:{authorization_id}``) before
    it answers, and delivers it to the card, so the card's holds agree with the network.
    Only the relay writes it: the webhook endpoint refuses a body of this type.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["relay.stand_in"] = "relay.stand_in"
    card_reference: str
    authorization_id: str
    amount: Money | None = None
    decline_reason: DeclineReason = DeclineReason.ISSUER_TIMEOUT

    @property
    def event_id(self) -> str:
        """The id it is stored and delivered under."""
        return STAND_IN_EVENT_PREFIX + self.authorization_id

    def event(self, provider: str) -> ProviderEvent:
        """The stand-in as the event the card receives."""
        return ProviderEvent(
            provider=provider,
            event_id=self.event_id,
            reference=self.card_reference,
            outcome=TransferOutcome.FAILED,
            provider_status=STAND_IN_EVENT,
            provider_transaction_id=self.authorization_id,
            failure_code=self.decline_reason.value,
            needs_confirmation=False,
            currency=None if self.amount is None else self.amount.currency,
            amount_minor=None if self.amount is None else self.amount.amount,
        )
