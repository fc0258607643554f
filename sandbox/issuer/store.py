"""State of one card issuer simulator: cardholders, cards, authorizations, transactions.

Faults, the webhook outbox, the scheduler and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`), whose transfers are the
issuer's cardholders: a review's KYC decision is their one planned step, taken by the
background scheduler. Cards, authorizations, transactions and notifications are kept in
books of their own (:class:`Book`) on the same journal, so a state file keeps them all.

The store never awaits: the network's authorization request (:mod:`.network`) is made
outside it, and its decision recorded here afterwards. Every money movement of the
network (capture, reversal, expiry, refund, force post) becomes a transaction and a
``card.transaction`` webhook, retried like the hub's.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import Document, DocumentStore
from payments_engine.sandbox.common.store import SimulatorStore, utc_now
from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.records import (
    AUTHORIZATION,
    CARD,
    NOTIFICATION,
    TRANSACTION,
    AuthorizationRecord,
    CardholderRecord,
    CardRecord,
    Decision,
    KycStep,
    decode_authorization,
    decode_card,
    decode_cardholder,
    encode_authorization,
    encode_card,
    encode_cardholder,
    encode_model,
    fingerprint,
    mask_document,
    mask_name,
)
from payments_engine.sandbox.issuer.scenarios import scenario_for
from payments_engine.sandbox.issuer.wire import (
    PROVIDER,
    CardholderRequest,
    CardRequest,
    CardState,
    CardTransactionEvent,
    ErrorCode,
    KycStatus,
    KycUpdatedEvent,
    Merchant,
    Notification,
    NotificationRequest,
    Transaction,
    TransactionType,
)

T = TypeVar("T")

BIN = "400000"
"""The issuer's card numbers start with it (a Visa test range)."""

CARD_ID_PREFIX = "card-"
"""Our card references are ``card-<card id>``: the admin finds a card by either."""


def new_token(prefix: str) -> str:
    """A new id of the issuer: ``<prefix>_<24 hex digits>``."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits`` followed by it pass the Luhn check."""
    total = 0
    # From the right, every other digit starting with the last one of ``digits`` doubles.
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_pan() -> str:
    """A new 16-digit card number in the issuer's BIN, Luhn valid."""
    body = BIN + "".join(str(secrets.randbelow(10)) for _ in range(15 - len(BIN)))
    return body + luhn_check_digit(body)


def _expiry(created: datetime, months: int) -> tuple[int, int]:
    """(month, year) ``months`` after ``created``'s month."""
    total = created.year * 12 + created.month - 1 + months
    return total % 12 + 1, total // 12


class NotFound(LookupError):
    """The issuer holds no such record."""


class Refused(Exception):
    """The issuer or the network refuses the request; nothing changed.

    Attributes:
        code: the ``error`` code of the answer.
        message: why, for people.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        """Keep the code and the message."""
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Created(Generic[T]):
    """What an idempotent creation did: created the record, or found it under its key."""

    created: bool
    record: T


class Book(Generic[T]):
    """Records of one kind, filed under their key, oldest first.

    Args:
        kind: their document kind in the state file.
        key: a record's key.
        encode: a record's state-file document.
        decode: the record :paramref:`encode` wrote.
    """

    def __init__(
        self,
        kind: str,
        key: Callable[[T], str],
        encode: Callable[[T], Document],
        decode: Callable[[Document], T],
    ) -> None:
        """Empty."""
        self.kind = kind
        self.key = key
        self.encode = encode
        self._decode = decode
        self._records: dict[str, T] = {}

    def __iter__(self) -> Iterator[T]:
        """Every record, oldest first."""
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        """How many records there are."""
        return len(self._records)

    def get(self, key: str) -> T | None:
        """The record filed under ``key``, if any."""
        return self._records.get(key)

    def add(self, record: T) -> None:
        """File a new record."""
        self._records[self.key(record)] = record

    def load(self, db: DocumentStore) -> list[T]:
        """Load the records of a state file; return them."""
        loaded = [self._decode(document) for _, document in db.load(self.kind)]
        for record in loaded:
            self.add(record)
        return loaded

    def clear(self) -> None:
        """Forget every record."""
        self._records.clear()


class IssuerStore(SimulatorStore[IssuerSandboxConfig, CardholderRecord]):
    """Everything one card issuer simulator knows, in memory and, if configured, on file.

    Cardholders (the common store's transfers) are filed under their token, found by
    their idempotency key too; so are cards. Card events are retried after the
    configured delays and signed with the event id as the message id.

    Attributes:
        cards: the cards, oldest first.
        authorizations: every purchase, declined ones too, by authorization id.
        transactions: the network events that moved money, by token.
        notifications: what the platform asked to tell its cardholders.
    """

    provider = PROVIDER

    def __init__(
        self,
        config: IssuerSandboxConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; see the common store."""
        # Before the common store opens the state file: loading fills these books.
        self.cards: Book[CardRecord] = Book(CARD, lambda c: c.token, encode_card, decode_card)
        self.authorizations: Book[AuthorizationRecord] = Book(
            AUTHORIZATION,
            lambda a: a.authorization_id,
            encode_authorization,
            decode_authorization,
        )
        self.transactions: Book[Transaction] = Book(
            TRANSACTION, lambda t: t.token, encode_model, Transaction.model_validate
        )
        self.notifications: Book[Notification] = Book(
            NOTIFICATION, lambda n: n.idempotency_key, encode_model, Notification.model_validate
        )
        self._cardholder_keys: dict[str, str] = {}
        self._card_keys: dict[str, str] = {}
        super().__init__(config, clock=clock, wall_clock=wall_clock)

    @staticmethod
    def _new_delivery_id() -> str:
        return "dlv_" + uuid.uuid4().hex[:12]

    def _retry_delays(self) -> Sequence[float]:
        return self.config.webhook_retry_delays

    def _restore(self, db: DocumentStore) -> None:
        super()._restore(db)
        for cardholder in self._transfers.values():
            self._cardholder_keys[cardholder.idempotency_key] = cardholder.token
        for card in self.cards.load(db):
            self._card_keys[card.idempotency_key] = card.token
        self.authorizations.load(db)
        self.transactions.load(db)
        self.notifications.load(db)

    def reset(self) -> None:
        """Forget everything: cardholders, cards, authorizations, transactions, events."""
        for book in (self.cards, self.authorizations, self.transactions, self.notifications):
            book.clear()
        self._cardholder_keys.clear()
        self._card_keys.clear()
        super().reset()

    def _encode(self, transfer: CardholderRecord) -> Document:
        return encode_cardholder(transfer)

    def _decode(self, document: Document) -> CardholderRecord:
        return decode_cardholder(document)

    def _take_step(self, transfer: CardholderRecord, step: KycStep) -> None:
        # A review ends: the decision is announced, the engine reads the cardholder.
        transfer.status = step.status
        transfer.updated_at = self._wall_clock()
        self._changed(transfer)
        event = KycUpdatedEvent(
            event_id=new_token("evt"),
            card_reference=transfer.reference,
            cardholder_token=transfer.token,
            kyc_status=step.status,
            created=transfer.updated_at,
        )
        self._announce(event.event_id, transfer.reference, transfer.token, step.status, event)

    def _noted(self, book: Book[T], record: T) -> None:
        """Note that ``record`` of ``book`` changed, for the state file."""
        self._journal.put(book.kind, book.key(record), lambda: book.encode(record))

    # -- cardholders -------------------------------------------------------------------

    def create_cardholder(
        self, idempotency_key: str, request: CardholderRequest
    ) -> Created[CardholderRecord]:
        """Create a cardholder and run its KYC check, once per idempotency key.

        The last four characters of the document number choose the check
        (:mod:`.scenarios`); a review is decided ``kyc_review_seconds`` later.

        Raises:
            Refused: the key was used with another body (``idempotency_key_reused``).
        """
        digest = fingerprint(request)
        token = self._cardholder_keys.get(idempotency_key)
        if token is not None:
            existing = self._transfers[token]
            if existing.request_digest != digest:
                raise Refused(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this Idempotency-Key created a cardholder from another body",
                )
            return Created(False, existing)

        now, wall = self._clock(), self._wall_clock()
        document = request.id_document
        scenario = scenario_for(document.number)
        cardholder = CardholderRecord(
            token=new_token("chd"),
            reference=request.reference,
            idempotency_key=idempotency_key,
            request_digest=digest,
            scenario=scenario,
            country=request.country,
            document_type=document.type,
            name_masked=mask_name(request.first_name, request.last_name),
            document_masked=mask_document(document.number),
            status=scenario.initial_status,
            executed=False,
            created_at=wall,
            updated_at=wall,
        )
        if not scenario.initial_status.is_final:
            review = now + self.config.kyc_review_seconds
            cardholder.plan = [KycStep(review, scenario.final_status)]
            self._push(cardholder)
        self._add(cardholder)
        self._cardholder_keys[idempotency_key] = cardholder.token
        self._flush()
        return Created(True, cardholder)

    def cardholder(self, token: str) -> CardholderRecord:
        """The cardholder with that token, its review decided if due.

        Raises:
            NotFound: no such cardholder.
        """
        self.advance()
        cardholder = self._transfers.get(token)
        if cardholder is None:
            raise NotFound(token)
        return cardholder

    # -- cards -------------------------------------------------------------------------

    def create_card(self, idempotency_key: str, request: CardRequest) -> Created[CardRecord]:
        """Issue a card to an APPROVED cardholder, once per idempotency key.

        Raises:
            Refused: the key was used with another body, or the cardholder is not
                APPROVED (``kyc_not_approved``).
            NotFound: no such cardholder.
        """
        digest = fingerprint(request)
        token = self._card_keys.get(idempotency_key)
        if token is not None:
            existing = self.cards.get(token)
            assert existing is not None, "the index only holds filed cards"
            if existing.request_digest != digest:
                raise Refused(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "this Idempotency-Key created a card from another body",
                )
            return Created(False, existing)

        holder = self.cardholder(request.cardholder_token)
        if holder.status is not KycStatus.APPROVED:
            raise Refused(
                ErrorCode.KYC_NOT_APPROVED,
                f"the cardholder's KYC is {holder.status.value}, not APPROVED",
            )
        wall = self._wall_clock()
        exp_month, exp_year = _expiry(wall, request.expiry_months)
        card = CardRecord(
            token=new_token("crd"),
            reference=request.reference,
            cardholder_token=holder.token,
            pan=new_pan(),
            cvv=f"{secrets.randbelow(1000):03d}",
            exp_month=exp_month,
            exp_year=exp_year,
            currency=request.currency,
            state=CardState.OPEN,
            created_at=wall,
            idempotency_key=idempotency_key,
            request_digest=digest,
        )
        self.cards.add(card)
        self._card_keys[idempotency_key] = card.token
        self._noted(self.cards, card)
        self._flush()
        return Created(True, card)

    def card(self, token: str) -> CardRecord:
        """The card with that token.

        Raises:
            NotFound: no such card.
        """
        card = self.cards.get(token)
        if card is None:
            raise NotFound(token)
        return card

    def find_card(self, name: str) -> CardRecord:
        """A card by its token, our reference (``card-abc``) or our card id (``abc``).

        Several cards may carry one reference (a reissue): the newest open one wins,
        else the newest.

        Raises:
            NotFound: no card goes by that name.
        """
        card = self.cards.get(name)
        if card is not None:
            return card
        for reference in (name, CARD_ID_PREFIX + name):
            named = [card for card in self.cards if card.reference == reference]
            if named:
                open_ = [card for card in named if card.state is CardState.OPEN]
                return (open_ or named)[-1]
        raise NotFound(name)

    def close_card(self, token: str) -> CardRecord:
        """Close a card for good; closing a closed card changes nothing.

        Raises:
            NotFound: no such card.
        """
        card = self.card(token)
        if card.state is not CardState.CLOSED:
            card.state = CardState.CLOSED
            self._noted(self.cards, card)
            self._flush()
        return card

    # -- notifications -----------------------------------------------------------------

    def record_notification(self, request: NotificationRequest) -> Created[Notification]:
        """Record an alert for a cardholder, once per idempotency key."""
        existing = self.notifications.get(request.idempotency_key)
        if existing is not None:
            return Created(False, existing)
        notification = Notification(
            id=new_token("ntf"),
            **request.model_dump(),
            created=self._wall_clock(),
        )
        self.notifications.add(notification)
        self._noted(self.notifications, notification)
        self._flush()
        return Created(True, notification)

    # -- authorizations ----------------------------------------------------------------

    def record_authorization(self, authorization: AuthorizationRecord) -> AuthorizationRecord:
        """File a new purchase with its first decision."""
        assert authorization.decisions, "a purchase is filed once decided"
        self.authorizations.add(authorization)
        self._noted(self.authorizations, authorization)
        self._flush()
        return authorization

    def record_retry(self, authorization_id: str, decision: Decision) -> AuthorizationRecord:
        """Add the decision of a re-sent authorization request; it is the one that counts.

        Raises:
            NotFound: no such authorization.
        """
        authorization = self.authorization(authorization_id)
        authorization.decisions.append(decision)
        self._noted(self.authorizations, authorization)
        self._flush()
        return authorization

    def authorization(self, authorization_id: str) -> AuthorizationRecord:
        """The purchase with that authorization id.

        Raises:
            NotFound: no such authorization.
        """
        authorization = self.authorizations.get(authorization_id)
        if authorization is None:
            raise NotFound(authorization_id)
        return authorization

    def capture(self, authorization_id: str, amount: int | None) -> Transaction:
        """Clear (part of) an approved authorization: a CAPTURE and its webhook.

        Several captures may clear one authorization; together they may exceed the
        approved amount by ``over_capture_tolerance_percent`` of it, no more.

        Args:
            amount: minor units; None captures what is approved and not yet captured.

        Raises:
            NotFound: no such authorization.
            Refused: it was declined, the amount is not positive, nothing is left to
                capture, or the captures would go beyond the tolerance.
        """
        authorization = self._approved(authorization_id, "captured")
        approved = authorization.approved_amount
        if amount is None:
            amount = approved - authorization.captured
            if amount <= 0:
                raise Refused(
                    ErrorCode.NOTHING_TO_CAPTURE,
                    "the approved amount is captured already: name an amount to over-capture",
                )
        _check_positive(amount)
        tolerance = self.config.over_capture_tolerance_percent
        limit = approved * (100 + tolerance) // 100
        if authorization.captured + amount > limit:
            raise Refused(
                ErrorCode.OVER_CAPTURE,
                f"the captures would total {authorization.captured + amount}, above the"
                f" {limit} allowed ({approved} approved + {tolerance}%)",
            )
        authorization.captured += amount
        return self._authorization_event(authorization, TransactionType.CAPTURE, amount)

    def reverse(self, authorization_id: str, amount: int | None) -> Transaction:
        """Release (part of) what an authorization still holds: a REVERSAL and its webhook.

        Args:
            amount: minor units; None releases everything still held.

        Raises:
            NotFound: no such authorization.
            Refused: it was declined, nothing is held, the amount is not positive or
                above what is held.
        """
        authorization = self._approved(authorization_id, "reversed")
        held = authorization.held
        if amount is None:
            amount = held
            if amount <= 0:
                raise Refused(ErrorCode.NOTHING_HELD, "the authorization holds nothing")
        _check_positive(amount)
        if amount > held:
            raise Refused(
                ErrorCode.ABOVE_HELD, f"the authorization holds {held}, less than {amount}"
            )
        authorization.reversed += amount
        return self._authorization_event(authorization, TransactionType.REVERSAL, amount)

    def expire(self, authorization_id: str) -> Transaction:
        """Release everything an authorization still holds: the EXPIRY advice and its webhook.

        Raises:
            NotFound: no such authorization.
            Refused: it was declined, or holds nothing.
        """
        authorization = self._approved(authorization_id, "expired")
        held = authorization.held
        if held <= 0:
            raise Refused(ErrorCode.NOTHING_HELD, "the authorization holds nothing")
        authorization.expired += held
        return self._authorization_event(authorization, TransactionType.EXPIRY, held)

    def _approved(self, authorization_id: str, action: str) -> AuthorizationRecord:
        authorization = self.authorization(authorization_id)
        if not authorization.approved:
            raise Refused(
                ErrorCode.AUTHORIZATION_DECLINED,
                f"a declined authorization cannot be {action}",
            )
        return authorization

    def _authorization_event(
        self, authorization: AuthorizationRecord, type_: TransactionType, amount: int
    ) -> Transaction:
        self._noted(self.authorizations, authorization)
        return self._transaction(
            type_,
            self.card(authorization.card_token),
            amount,
            authorization.currency,
            authorization.merchant,
            authorization.authorization_id,
        )

    # -- card events without an authorization ------------------------------------------

    def refund(self, card_name: str, amount: int, merchant: Merchant) -> Transaction:
        """A merchant's credit to the card: a REFUND without an authorization.

        Raises:
            NotFound: no card goes by that name.
            Refused: the amount is not positive.
        """
        card = self.find_card(card_name)
        _check_positive(amount)
        return self._transaction(TransactionType.REFUND, card, amount, card.currency, merchant)

    def force_capture(self, card_name: str, amount: int, merchant: Merchant) -> Transaction:
        """A clearing nobody authorized (force post): a CAPTURE without an authorization.

        Raises:
            NotFound: no card goes by that name.
            Refused: the amount is not positive.
        """
        card = self.find_card(card_name)
        _check_positive(amount)
        return self._transaction(TransactionType.CAPTURE, card, amount, card.currency, merchant)

    def _transaction(
        self,
        type_: TransactionType,
        card: CardRecord,
        amount: int,
        currency: str,
        merchant: Merchant,
        authorization_id: str | None = None,
    ) -> Transaction:
        """File a transaction, announce it and write everything changed."""
        transaction = Transaction(
            token=new_token("txn"),
            type=type_,
            card_token=card.token,
            card_reference=card.reference,
            authorization_id=authorization_id,
            amount=amount,
            currency=currency,
            merchant=merchant,
            created=self._wall_clock(),
        )
        self.transactions.add(transaction)
        self._noted(self.transactions, transaction)
        event = CardTransactionEvent(
            event_id=new_token("evt"),
            card_reference=card.reference,
            card_token=card.token,
            transaction_token=transaction.token,
            transaction_type=type_,
            authorization_id=authorization_id,
            amount=amount,
            currency=currency,
            created=transaction.created,
        )
        self._announce(event.event_id, card.reference, transaction.token, type_, event)
        self._flush()
        return transaction

    def transaction(self, token: str) -> Transaction:
        """The transaction with that token.

        Raises:
            NotFound: no such transaction.
        """
        transaction = self.transactions.get(token)
        if transaction is None:
            raise NotFound(token)
        return transaction

    # -- webhooks ----------------------------------------------------------------------

    def _announce(
        self,
        event_id: str,
        reference: str,
        record_id: str,
        status: str,
        event: CardTransactionEvent | KycUpdatedEvent,
    ) -> None:
        """Queue a card event's webhook (twice with the ``duplicate_webhooks`` fault)."""
        url = self.config.webhook_url
        if url is None:
            return
        self.outbox.enqueue(
            reference=reference,
            record_id=record_id,
            status=status,
            body=event.to_json(),
            url=url,
            event_id=event_id,
            copies=2 if self.faults.duplicate_webhooks else 1,
        )

    def resend(self, event_id: str) -> Delivery:
        """Send an event's webhook once more, byte for byte, after its last delivery.

        Raises:
            NotFound: no webhook of that event was ever queued.
        """
        sent = [delivery for delivery in self.outbox.deliveries() if delivery.event_id == event_id]
        if not sent:
            raise NotFound(event_id)
        last = sent[-1]
        delivery = self.outbox.enqueue(
            reference=last.reference,
            record_id=last.record_id,
            status=last.status,
            body=last.body,
            url=last.url,
            event_id=event_id,
            after=last,
        )
        self._flush()
        return delivery


def _check_positive(amount: int) -> None:
    if amount <= 0:
        raise Refused(ErrorCode.AMOUNT_NOT_POSITIVE, "the amount must be positive")
