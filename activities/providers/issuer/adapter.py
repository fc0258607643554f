"""The card issuer adapter: its HTTP dialect, nothing of the card's rules.

Creating a cardholder or a card carries an ``Idempotency-Key`` derived from the card's
reference, so a retry after a timeout gets the same cardholder or card back instead of
a second one: with idempotency keys an ambiguous create is simply sent again.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from payments_engine.activities.providers.base import (
    ProviderFault,
    ProviderSettings,
    Refused,
    Transient,
    fetch,
    send,
)
from payments_engine.activities.providers.issuer.wire import (
    CARDHOLDERS_PATH,
    CARDS_PATH,
    IDEMPOTENCY_HEADER,
    NOTIFICATIONS_PATH,
    PROVIDER_NAME,
    TRANSACTIONS_PATH,
    CardCreate,
    CardholderCreate,
    CardholderWire,
    CardWire,
    IdDocumentWire,
    NotificationCreate,
    TransactionWire,
)
from payments_engine.domain.card import (
    CardholderStatus,
    CreateCardholderInput,
    CreateCardInput,
    IssuedCard,
    KycStatus,
    LowBalanceNotice,
    MerchantInfo,
    NetworkTransaction,
    NetworkTransactionType,
)
from payments_engine.domain.errors import ProviderConflict
from payments_engine.domain.money import Money


def auth_headers(settings: ProviderSettings) -> dict[str, str]:
    """The bearer token the issuer wants on every call."""
    assert settings.api_key is not None
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _conflict(response: httpx.Response) -> ProviderFault | None:
    # The issuer's 409 is final (KYC not approved, a key reused with another body).
    if response.status_code == 409:
        return Refused(ProviderConflict, f"{PROVIDER_NAME} refused: {response.text[:80]}")
    return None


_Wire = TypeVar("_Wire", bound=BaseModel)


def _read(model: type[_Wire], content: bytes, what: str) -> _Wire:
    try:
        return model.model_validate_json(content)
    except ValidationError:
        # Never the body: it may hold the cardholder's data.
        raise Transient(f"{PROVIDER_NAME} answered an unreadable {what}") from None


def _status(wire: CardholderWire) -> CardholderStatus:
    return CardholderStatus(token=wire.token, kyc_status=KycStatus(wire.kyc_status.lower()))


def _month_end(year: int, month: int) -> datetime:
    # A card is valid through the last second of its expiry month.
    last = calendar.monthrange(year, month)[1]
    return datetime(year, month, last, 23, 59, 59, tzinfo=UTC)


class IssuerCards:
    """The issuer's card API on one HTTP client.

    Args:
        http: a client whose base URL is the issuer's API, with its auth headers.
        settings: the issuer's settings (unused beyond the client's construction).
    """

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings) -> None:
        """Keep the client."""
        self._http = http

    async def create_cardholder(self, inp: CreateCardholderInput) -> CardholderStatus:
        """Register the cardholder once per card reference; KYC starts at the issuer."""
        holder = inp.cardholder
        body = CardholderCreate(
            reference=inp.reference,
            first_name=holder.first_name,
            last_name=holder.last_name,
            date_of_birth=holder.date_of_birth.isoformat(),
            id_document=IdDocumentWire(
                type=holder.id_document.type, number=holder.id_document.number
            ),
            country=holder.country,
        )
        response = await send(
            self._http,
            CARDHOLDERS_PATH,
            PROVIDER_NAME,
            json=body.model_dump(),
            headers={IDEMPOTENCY_HEADER: f"{inp.reference}:cardholder"},
            own_reading=_conflict,
        )
        return _status(_read(CardholderWire, response.content, "cardholder"))

    async def get_cardholder(self, token: str) -> CardholderStatus | None:
        """The cardholder's KYC verdict now; None if the issuer does not know the token."""
        content = await fetch(self._http, f"{CARDHOLDERS_PATH}/{token}", PROVIDER_NAME)
        if content is None:
            return None
        return _status(_read(CardholderWire, content, "cardholder"))

    async def create_card(self, inp: CreateCardInput) -> IssuedCard:
        """Issue the virtual card once per card reference."""
        body = CardCreate(
            cardholder_token=inp.cardholder_token,
            reference=inp.reference,
            currency=inp.currency,
            expiry_months=inp.expiry_months,
        )
        response = await send(
            self._http,
            CARDS_PATH,
            PROVIDER_NAME,
            json=body.model_dump(),
            headers={IDEMPOTENCY_HEADER: f"{inp.reference}:card"},
            own_reading=_conflict,
        )
        card = _read(CardWire, response.content, "card")
        return IssuedCard(
            token=card.token,
            last_four=card.last_four,
            expires_at=_month_end(card.exp_year, card.exp_month),
        )

    async def close_card(self, token: str) -> None:
        """Close the card at the issuer (idempotent there): the network declines it after."""
        await send(
            self._http, f"{CARDS_PATH}/{token}/close", PROVIDER_NAME, json={}, own_reading=_conflict
        )

    async def get_transaction(self, token: str) -> NetworkTransaction | None:
        """The issuer's record of one network event; None if it has none."""
        content = await fetch(self._http, f"{TRANSACTIONS_PATH}/{token}", PROVIDER_NAME)
        if content is None:
            return None
        wire = _read(TransactionWire, content, "transaction")
        merchant = None
        if wire.merchant is not None:
            merchant = MerchantInfo(
                name=wire.merchant.name, mcc=wire.merchant.mcc, country=wire.merchant.country
            )
        try:
            amount = Money(amount=wire.amount, currency=wire.currency)
        except (ValidationError, ValueError):
            raise Transient(f"{PROVIDER_NAME} transaction in an unreadable currency") from None
        return NetworkTransaction(
            token=wire.token,
            type=NetworkTransactionType(wire.type.lower()),
            card_reference=wire.card_reference,
            authorization_id=wire.authorization_id,
            amount=amount,
            merchant=merchant,
            created_at=wire.created,
        )

    async def notify(self, notice: LowBalanceNotice) -> None:
        """Pass a low-balance alert to the platform through the issuer."""
        body = NotificationCreate(
            card_reference=notice.card_reference,
            kind="low_balance",
            balance=notice.balance.amount,
            currency=notice.balance.currency,
            threshold=notice.threshold,
            idempotency_key=notice.idempotency_key,
        )
        await send(
            self._http,
            NOTIFICATIONS_PATH,
            PROVIDER_NAME,
            json=body.model_dump(),
            own_reading=_conflict,
        )
