"""Cash orders: a buyer without a card pays a voucher in cash at a shop before it expires.

The merchant creates an order; the cash network (Efecty in Colombia, OXXO in Mexico)
issues a voucher with a reference code and a barcode value; the payer pays it at a shop
before it expires; the network confirms the payment (a notification, or our status
query) and settles the money some business days later. This module holds the request,
the view, the networks' rules (:class:`VoucherRules`, each provider declares its own),
the payer's instructions, the settlement calendar and the activities' inputs and outputs.

Voucher states, as the workflow shows them::

    received -> awaiting_payment -> paid -> settled
                                 \\-> expired      (no payment; stock released)
                                 \\-> failed       (the network refused the voucher)
    expired + a payment the network accepted late -> needs_review (paid_after_expiry),
    booked and settled like any other.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from payments_engine.domain.bank import (
    DOCUMENT_TYPES_BY_COUNTRY,
    DocumentType,
    check_document,
    mask_document,
    mask_name,
)
from payments_engine.domain.errors import InvalidAmount, ValidationFailed
from payments_engine.domain.events import Evidence, ProviderEvent, ReviewFlag
from payments_engine.domain.ids import BusinessId, check_business_id
from payments_engine.domain.money import Money, currency_exponent
from payments_engine.domain.payout import DEFAULT_MERCHANT_ID, PROVIDER_NAME_PATTERN

CASH_ORDER_WORKFLOW_PREFIX = "cash-order-"
DEFAULT_SETTLEMENT_BUSINESS_DAYS = 3
DEFAULT_LATE_PAYMENT_WATCH_SECONDS = 7 * 24 * 3600
# Networks confirm by notification; polling repairs a lost one. Efecty confirms about
# 15 minutes after the shop payment, so asking sooner finds nothing new.
DEFAULT_FIRST_POLL_SECONDS = 15 * 60
DEFAULT_MAX_POLL_SECONDS = 6 * 3600
SETTLEMENT_HOUR = time(9, 0)
"""Local time of day at which a network's settlement is credited on its business day."""


def cash_order_workflow_id(order_id: str) -> str:
    """The workflow id of a cash order; also our reference at the cash network."""
    return CASH_ORDER_WORKFLOW_PREFIX + check_business_id(order_id)


class Payer(BaseModel):
    """Who pays the voucher: the networks want a name and an identity document.

    The name and the document are personal data: they travel only in encrypted
    payloads and to the network; views show initials and the document's last digits.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=2, max_length=100)
    document_type: DocumentType
    document_number: str = Field(min_length=1, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 2:
            raise ValidationFailed("the payer's name is needed")
        return value

    @field_validator("document_number")
    @classmethod
    def _document_number(cls, value: str, info: ValidationInfo) -> str:
        document_type = info.data.get("document_type")
        # Without a valid type, its own error is enough.
        return value if document_type is None else check_document(document_type, value)


class VoucherRules(BaseModel):
    """What one cash network accepts; its provider declares them (``ProviderSpec``).

    Attributes:
        network: the network's name as payers know it (``Efecty``, ``OXXO``).
        country: the one country it serves.
        currency: the one currency it takes.
        min_amount: the smallest voucher, minor units.
        max_amount: the largest voucher, minor units.
        whole_units: True when only whole units are accepted (Efecty: no centavos).
        default_expiry_days: the voucher's life when the order names none.
        min_expiry_days: the shortest life it accepts.
        max_expiry_days: the longest life it accepts.
        timezone: the network's local time zone (expiries and business days).
        settlement_business_days: business days from the payment to the settlement.
    """

    model_config = ConfigDict(frozen=True)

    network: str
    country: str
    currency: str
    min_amount: int
    max_amount: int
    whole_units: bool = False
    default_expiry_days: int
    min_expiry_days: int = 1
    max_expiry_days: int
    timezone: str
    settlement_business_days: int = DEFAULT_SETTLEMENT_BUSINESS_DAYS

    def check(self, amount: Money, country: str, payer: Payer, expires_in_days: int | None) -> None:
        """Refuse an order this network would refuse, before anything is created.

        Raises:
            InvalidAmount: another currency, centavos where only whole units are taken,
                or outside the network's limits.
            ValidationFailed: another country, a payer document it does not take, or an
                expiry outside its range.
        """
        if country.upper() != self.country:
            raise ValidationFailed(f"{self.network} serves {self.country} only, not {country}")
        if amount.currency != self.currency:
            raise InvalidAmount(f"{self.network} takes {self.currency} only, not {amount.currency}")
        if self.whole_units and amount.amount % 10 ** currency_exponent(amount.currency) != 0:
            raise InvalidAmount(
                f"{self.network} takes whole {self.currency} only: no centavos "
                f"({amount.to_major()} {self.currency})"
            )
        if not self.min_amount <= amount.amount <= self.max_amount:
            low = Money(amount=self.min_amount, currency=self.currency)
            high = Money(amount=self.max_amount, currency=self.currency)
            whole = self.whole_units
            raise InvalidAmount(
                f"{self.network} vouchers are from {_major(low, whole)} to "
                f"{_major(high, whole)} {self.currency}, not {_major(amount, whole)}"
            )
        allowed = DOCUMENT_TYPES_BY_COUNTRY.get(self.country, ())
        if payer.document_type not in allowed:
            raise ValidationFailed(
                f"{self.network} takes a payer's {', '.join(t.value for t in allowed)}, "
                f"not {payer.document_type.value}"
            )
        if expires_in_days is not None and not (
            self.min_expiry_days <= expires_in_days <= self.max_expiry_days
        ):
            raise ValidationFailed(
                f"{self.network} vouchers expire in {self.min_expiry_days} to "
                f"{self.max_expiry_days} days, not {expires_in_days}"
            )


def _major(amount: Money, whole_units: bool = False) -> str:
    """``20,000`` for a whole-unit network, else ``1,234.50``."""
    major = Decimal(amount.to_major())
    if whole_units and major == major.to_integral_value():
        return format(int(major), ",")
    return format(major, ",")


class CashOrderStatus(StrEnum):
    """The states of a cash order; settled, expired and failed are where it ends up."""

    RECEIVED = "received"
    AWAITING_PAYMENT = "awaiting_payment"
    """The voucher is issued; the payer has not paid it (or the network not confirmed)."""
    PAID = "paid"
    """The network confirmed the payment; the money settles on a later business day."""
    SETTLED = "settled"
    """The network settled: the merchant's share is available, the fee taken."""
    EXPIRED = "expired"
    """Not paid before the voucher expired: cancelled at the network, stock released."""
    FAILED = "failed"
    """The network refused to issue the voucher."""
    NEEDS_REVIEW = "needs_review"

    @property
    def is_final(self) -> bool:
        """True once the order has nothing left to do but listen for a late payment."""
        return self in (CashOrderStatus.SETTLED, CashOrderStatus.EXPIRED, CashOrderStatus.FAILED)


class CashOrderRequest(BaseModel):
    """What a merchant asks for: a voucher for ``amount`` that ``payer`` pays in cash.

    Structural checks run on construction; the network's own rules (currency, limits,
    whole units, expiry range, documents) are checked by the client against
    :class:`VoucherRules` before anything starts.
    """

    model_config = ConfigDict(frozen=True)

    order_id: BusinessId
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    amount: Money
    country: str = Field(min_length=2, max_length=2)
    provider: str = Field(pattern=PROVIDER_NAME_PATTERN)
    payer: Payer
    expires_in_days: int | None = Field(
        default=None, ge=1, description="The voucher's life; None takes the network's default."
    )
    description: str | None = Field(default=None, max_length=140)
    merchant_reference: str | None = Field(default=None, max_length=80)
    settlement_business_days: int | None = Field(
        default=None,
        ge=0,
        le=30,
        description="Business days from payment to settlement; None takes the network's.",
    )
    first_poll_seconds: int = Field(
        default=DEFAULT_FIRST_POLL_SECONDS,
        ge=1,
        description="Without news, the network is first asked after this long; it doubles.",
    )
    max_poll_seconds: int = Field(
        default=DEFAULT_MAX_POLL_SECONDS,
        ge=1,
        description="The longest wait between two questions to the network without news.",
    )
    late_payment_watch_seconds: int = Field(
        default=DEFAULT_LATE_PAYMENT_WATCH_SECONDS,
        ge=0,
        description="How long an expired order listens for a payment the network took late.",
    )

    @field_validator("country")
    @classmethod
    def _upper_country(cls, value: str) -> str:
        return value.upper()

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.amount <= 0:
            raise InvalidAmount("a cash order's amount must be greater than zero")
        return value

    @model_validator(mode="after")
    def _payer_of_country(self) -> CashOrderRequest:
        allowed = DOCUMENT_TYPES_BY_COUNTRY.get(self.country)
        if allowed is None:
            raise ValidationFailed(
                f"cash orders are served in {', '.join(DOCUMENT_TYPES_BY_COUNTRY)}, "
                f"not {self.country}"
            )
        return self

    @property
    def workflow_id(self) -> str:
        """``cash-order-{order_id}``: the workflow id and our reference at the network."""
        return cash_order_workflow_id(self.order_id)


class PayerInstructions(BaseModel):
    """What the merchant shows the payer, in Spanish and in English."""

    es: str
    en: str


_LOCALES = {"CO": "es_CO", "MX": "es_MX"}


def _local_amount(amount: Money, locale: str) -> str:
    """``150.000`` (Colombia) or ``1,234.50`` (Mexico): as the payer reads amounts."""
    from babel.numbers import format_decimal

    major = Decimal(amount.to_major())
    pattern = "#,##0" if major == major.to_integral_value() else "#,##0.00"
    return format_decimal(major, format=pattern, locale=locale)


def payer_instructions(
    network: str,
    voucher_reference: str,
    barcode: str | None,
    amount: Money,
    expires_at: datetime,
    timezone: str,
    country: str,
) -> PayerInstructions:
    """How to pay the voucher at a shop, in the payer's language and in English.

    Not for workflow code (babel reads its locale data from files): the activity that
    issues the voucher builds them.

    Args:
        network: the network as payers know it (``Efecty``).
        voucher_reference: the code the payer quotes at the till.
        barcode: the barcode value the till scans, if the network has one.
        amount: what to pay.
        expires_at: until when (shown in the network's local time).
        timezone: that local time zone.
        country: the payer's country, for how amounts are written.
    """
    local = expires_at.astimezone(ZoneInfo(timezone))
    when_es = local.strftime("%d/%m/%Y %H:%M")
    when_en = local.strftime("%Y-%m-%d %H:%M")
    due_es = f"${_local_amount(amount, _LOCALES.get(country, 'es'))} {amount.currency}"
    due_en = f"{_local_amount(amount, 'en')} {amount.currency}"
    code_es = f" o muestre el código de barras {barcode}" if barcode else ""
    code_en = f" or show the barcode {barcode}" if barcode else ""
    return PayerInstructions(
        es=(
            f"Pague {due_es} en efectivo en cualquier punto {network}. Indique la referencia "
            f"de pago {voucher_reference}{code_es}. Pague antes del {when_es} (hora local); "
            "después de esa fecha la referencia vence. Conserve su recibo."
        ),
        en=(
            f"Pay {due_en} in cash at any {network} location. Give the payment reference "
            f"{voucher_reference}{code_en}. Pay before {when_en} local time; after that the "
            "reference expires. Keep your receipt."
        ),
    )


@lru_cache(maxsize=16)
def _holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_business_day(day: date, country: str) -> bool:
    """True for a weekday that is not one of ``country``'s public holidays."""
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def settlement_time(paid_at: datetime, business_days: int, country: str, timezone: str) -> datetime:
    """When a payment made at ``paid_at`` settles: 09:00 local on the Nth business day after.

    Weekends and ``country``'s public holidays (the ``holidays`` package) are skipped;
    the day of the payment never counts. With ``business_days`` 0 it settles at once.
    Not for workflow code: the holiday calendars are data that changes between
    versions, so workflows get this from an activity, whose answer their history keeps.
    """
    if business_days == 0:
        return paid_at
    zone = ZoneInfo(timezone)
    day = paid_at.astimezone(zone).date()
    counted = 0
    while counted < business_days:
        day += timedelta(days=1)
        if is_business_day(day, country):
            counted += 1
    return datetime.combine(day, SETTLEMENT_HOUR, tzinfo=zone)


# -- activity inputs and outputs -----------------------------------------------------


class CreateVoucherInput(BaseModel):
    """Input of the ``create_voucher`` activity; ``provider`` picks the network's adapter.

    ``reference`` (the order's workflow id) is the network's idempotency key: creating
    twice never issues two vouchers.
    """

    reference: str = Field(min_length=1, max_length=80)
    provider: str
    amount: Money
    country: str
    payer: Payer
    expires_in_days: int | None = None
    description: str | None = None


class IssuedVoucher(BaseModel):
    """What the network answered: the voucher the payer takes to the shop.

    Attributes:
        report: where it stands (pending right after issue), as a provider report.
        voucher_reference: the code the payer quotes at the till (numeric for Efecty).
        barcode: the barcode value the till scans, if any.
        expires_at: when the network stops taking payments for it.
        receipt_url: where the payer can print or see the voucher, if any.
    """

    report: ProviderEvent
    voucher_reference: str
    barcode: str | None = None
    expires_at: datetime
    receipt_url: str | None = None


class CreateVoucherResult(BaseModel):
    """Output of ``create_voucher``.

    ``instructions`` are what the payer is shown, in the network's words and local
    time; ``resolved_by_status_query`` is true after an ambiguous call.
    """

    voucher: IssuedVoucher
    instructions: PayerInstructions | None = None
    resolved_by_status_query: bool = False


class CancelVoucherResult(BaseModel):
    """Output of ``cancel_voucher``.

    ``refused`` is true when the network can no longer cancel it (already paid);
    ``report`` is where it stands after the cancel, None when the network never saw it.
    """

    report: ProviderEvent | None = None
    refused: bool = False


class SettlementTimeInput(BaseModel):
    """Input of ``settlement_time``: a payment and the network's calendar."""

    provider: str
    paid_at: datetime
    business_days: int = Field(ge=0)


class SettlementTimeResult(BaseModel):
    """Output of ``settlement_time``: when the network settles the payment."""

    settle_at: datetime


class StockAction(StrEnum):
    """What the merchant's stock hook is told."""

    HOLD = "hold"
    RELEASE = "release"


class StockHookInput(BaseModel):
    """Input of ``notify_stock``: hold the order's goods, or release them (expiry).

    The merchant's hook is called with ``idempotency_key`` ``{order}:{action}``, so a
    retried call holds or releases once.
    """

    order_id: str
    merchant_id: str
    action: StockAction
    merchant_reference: str | None = None
    until: datetime | None = None
    reason: str | None = None

    @property
    def idempotency_key(self) -> str:
        """``cash-order-{id}:hold``: the hook's idempotency key."""
        return f"{cash_order_workflow_id(self.order_id)}:{self.action.value}"


class CashOrderView(BaseModel):
    """What a query or the CLI shows of a cash order; the payer only masked."""

    order_id: str
    merchant_id: str
    status: CashOrderStatus
    amount: Money
    fee: Money | None = None
    country: str
    provider: str
    payer: str
    payer_document: str
    merchant_reference: str | None = None
    voucher_reference: str | None = None
    barcode: str | None = None
    receipt_url: str | None = None
    instructions: PayerInstructions | None = None
    expires_at: datetime | None = None
    paid_at: datetime | None = None
    settle_at: datetime | None = None
    settled_at: datetime | None = None
    stock: str | None = None
    """``held`` once the merchant's hook took the hold, ``released`` after expiry."""
    provider_status: str | None = None
    provider_transaction_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    status_queries: int = 0
    events_applied: int = 0
    review_flags: list[ReviewFlag] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def booked(self) -> bool:
        """Whether the payment was booked (and so may be refunded, by bank transfer)."""
        return self.paid_at is not None and self.status in (
            CashOrderStatus.PAID,
            CashOrderStatus.SETTLED,
            CashOrderStatus.NEEDS_REVIEW,
        )

    @classmethod
    def initial(cls, request: CashOrderRequest, now: datetime) -> CashOrderView:
        """The view of an order that has just been received."""
        return cls(
            order_id=request.order_id,
            merchant_id=request.merchant_id,
            status=CashOrderStatus.RECEIVED,
            amount=request.amount,
            country=request.country,
            provider=request.provider,
            payer=mask_name(request.payer.name),
            payer_document=mask_document(
                request.payer.document_type, request.payer.document_number
            ),
            merchant_reference=request.merchant_reference,
            created_at=now,
            updated_at=now,
        )


class CashOrderResult(BaseModel):
    """The workflow's result: the final view of the order."""

    order: CashOrderView


def cash_order_summary(amount: Money, provider: str, payer: str) -> str:
    """``120,000.00 COP via efecty from M. G.``: the order in business terms.

    Args:
        amount: what the voucher is for.
        provider: the cash network.
        payer: the MASKED payer (initials); never pass the name itself.
    """
    return f"{_major(amount)} {amount.currency} via {provider} from {payer}"
