"""The relay's stored webhook events: dedupe, conflicts, delivery bookkeeping and backlog.

Both the request path and the redelivery loop go through :class:`EventStore`, so an event
is recorded the same way whoever delivers it. Database errors propagate (the caller
decides between a 503 and a retry later), except from :meth:`EventStore.record_attempt`,
which is bookkeeping after the fact.

SQLAlchemy errors quote the statement's parameters (the raw body) in their message, so
whoever logs one logs only its type name.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, Executable, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments_engine.db.models import WebhookEvent, WebhookEventConflict
from payments_engine.db.session import write
from payments_engine.relay.delivery import DeliveryOutcome

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (SQLAlchemyError, OSError)
"""What a database that is down or misbehaving raises."""


class EventState(StrEnum):
    """Values of ``webhook_events.state``."""

    RECEIVED = "received"
    DELIVERED = "delivered"
    UNMATCHED = "unmatched"


FINAL_STATES = frozenset({EventState.DELIVERED, EventState.UNMATCHED})


def settled_state(outcome: DeliveryOutcome) -> EventState:
    """The state an event settles in once its delivery had ``outcome``."""
    if outcome == DeliveryOutcome.DELIVERED:
        return EventState.DELIVERED
    return EventState.UNMATCHED


class Arrival(StrEnum):
    """What storing a verified webhook found."""

    NEW = "new"
    """First copy of the event: stored now, to be delivered."""
    UNDELIVERED = "undelivered"
    """An exact repeat of a stored event not delivered yet: deliver the stored copy."""
    DUPLICATE = "duplicate"
    """An exact repeat of a stored event that was delivered or found unmatched."""
    CONFLICT = "conflict"
    """The id of a stored event with another body: kept for audit, never delivered."""


@dataclass(frozen=True)
class Stored:
    """The outcome of :meth:`EventStore.store`.

    Attributes:
        arrival: what the webhook turned out to be.
        raw_body: the body stored under the event id, which for a repeat or a conflict is
            the first copy's, not the request's.
        body_sha256: hex SHA-256 of ``raw_body``.
    """

    arrival: Arrival
    raw_body: bytes
    body_sha256: str


@dataclass(frozen=True)
class DueEvent:
    """A stored, undelivered event whose redelivery is due.

    Attributes:
        id: the row's primary key.
        provider: who sent it.
        event_id: the provider's event id.
        next_attempt_at: the schedule as read; claiming is guarded by it.
    """

    id: int
    provider: str
    event_id: str
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Backlog:
    """What is stored and not delivered yet.

    Attributes:
        undelivered: events still ``received``.
        oldest_received_at: when the oldest of them arrived; None when there is none.
        conflicts: conflicting copies kept for audit, ever.
    """

    undelivered: int
    oldest_received_at: datetime | None
    conflicts: int


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between delivery attempts of one event.

    Attributes:
        initial_seconds: the wait after the first failed attempt.
        max_seconds: the cap; the wait doubles with every failure up to it.
    """

    initial_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait before the next attempt, after ``attempts`` failed ones."""
        # Capping the exponent first keeps 2**n finite however many attempts were made.
        exponent = min(max(attempts - 1, 0), 64)
        return timedelta(seconds=min(self.initial_seconds * 2.0**exponent, self.max_seconds))


def body_digest(body: bytes) -> str:
    """Hex SHA-256 of a raw webhook body."""
    return hashlib.sha256(body).hexdigest()


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; SQLite hands back naive UTC ones."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class EventStore:
    """Reads and writes ``webhook_events`` and ``webhook_event_conflicts``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], float],
        backoff: Backoff,
        lease: timedelta,
    ) -> None:
        """Keep the session factory and the scheduling rules.

        Args:
            sessions: sessions on the database holding the two tables.
            clock: unix seconds now; every stamp and schedule is taken from it.
            backoff: the wait after a failed delivery attempt.
            lease: how long whoever is delivering an event keeps it before another
                relay may take it over.
        """
        self._sessions = sessions
        self._clock = clock
        self._backoff = backoff
        self._lease = lease

    @property
    def _engine(self) -> AsyncEngine:
        """The engine the sessions are bound to now (writes go through it directly)."""
        bind = self._sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise TypeError("the event store's sessions must be bound to an engine")
        return bind

    def now(self) -> datetime:
        """Aware UTC now, by the store's clock."""
        return datetime.fromtimestamp(self._clock(), UTC)

    async def store(
        self, provider: str, event_id: str, reference: str | None, signed_at: int, body: bytes
    ) -> Stored:
        """Store a verified webhook, or tell what the copy stored earlier makes of it.

        A new event is stored ``received``, leased to the caller, which delivers it now.
        An exact repeat of an event not delivered yet is leased to the caller again. A
        different body under a stored event id is kept in ``webhook_event_conflicts``.

        Args:
            provider: who sent it.
            event_id: the provider's event id.
            reference: our reference the event is about, if it names one.
            signed_at: the signature's timestamp.
            body: the raw, verified body.

        Returns:
            What the webhook is, with the body stored under its id.
        """
        digest = body_digest(body)
        now = self.now()
        # A Core INSERT: the ORM's unit of work costs more than the write itself.
        new_event = insert(WebhookEvent).values(
            provider=provider,
            event_id=event_id,
            reference=reference,
            state=EventState.RECEIVED.value,
            signature_timestamp=signed_at,
            raw_body=body,
            body_sha256=digest,
            received_at=now,
            delivery_attempts=0,
            next_attempt_at=now + self._lease,
        )
        try:
            # One write transaction (on SQLite one hop to its writer, as the ledger's).
            await write(self._engine, _execute, new_event)
            return Stored(Arrival.NEW, body, digest)
        except IntegrityError:
            # The unique (provider, event_id) is the dedupe, and inserting first is what
            # makes two concurrent copies of a webhook safe: the loser lands here.
            pass

        this_event = (WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(
                        WebhookEvent.id,
                        WebhookEvent.state,
                        WebhookEvent.body_sha256,
                        WebhookEvent.raw_body,
                    ).where(*this_event)
                )
            ).one_or_none()
            if row is None:
                # Rows are never deleted, so a conflict without a row is not a duplicate.
                raise SQLAlchemyError("webhook event conflicted but cannot be found")
            stored = bytes(row.raw_body)
            if row.body_sha256 == digest:
                if row.state in FINAL_STATES:
                    return Stored(Arrival.DUPLICATE, stored, digest)
                # The caller delivers it now: keep the redelivery loop off it meanwhile.
                await session.execute(
                    update(WebhookEvent)
                    .where(
                        WebhookEvent.id == row.id,
                        WebhookEvent.state == EventState.RECEIVED.value,
                    )
                    .values(next_attempt_at=now + self._lease)
                )
                return Stored(Arrival.UNDELIVERED, stored, digest)

        try:
            async with self._sessions.begin() as session:
                session.add(
                    WebhookEventConflict(
                        provider=provider,
                        event_id=event_id,
                        body_sha256=digest,
                        signature_timestamp=signed_at,
                        raw_body=body,
                        received_at=now,
                    )
                )
        except IntegrityError:
            # This very body was kept as a conflict already (the provider retried it).
            pass
        return Stored(Arrival.CONFLICT, stored, row.body_sha256)

    async def record_attempt(self, provider: str, event_id: str, result: EventState | None) -> None:
        """Count a delivery attempt; move the row to ``result``, or schedule a retry.

        Bookkeeping only, so a database failure is logged, not raised: the event is
        stored already, and if it reached its workflow the row stays "received" and a
        later re-delivery is dropped by the workflow, which dedupes by event id.

        Args:
            provider: who sent the event.
            event_id: the provider's event id.
            result: DELIVERED or UNMATCHED once settled; None when delivery failed and
                the event is due again after the backoff.
        """
        try:
            await self._record_attempt(provider, event_id, result)
        except DATABASE_ERRORS as exc:
            logger.error(
                "delivery attempt not recorded: provider=%s event=%r (%s)",
                provider,
                event_id,
                type(exc).__name__,
            )

    async def _record_attempt(
        self, provider: str, event_id: str, result: EventState | None
    ) -> None:
        await write(self._engine, self._count_attempt, provider, event_id, result, self.now())

    def _count_attempt(
        self,
        conn: Connection,
        provider: str,
        event_id: str,
        result: EventState | None,
        now: datetime,
    ) -> None:
        this_event = (WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        if result is None:
            attempts = conn.scalar(
                update(WebhookEvent)
                .where(*this_event)
                .values(delivery_attempts=WebhookEvent.delivery_attempts + 1)
                .returning(WebhookEvent.delivery_attempts)
            )
            if attempts is not None:
                conn.execute(
                    update(WebhookEvent)
                    .where(*this_event, WebhookEvent.state == EventState.RECEIVED.value)
                    .values(next_attempt_at=now + self._backoff.delay(attempts))
                )
            return
        # A concurrent copy of the webhook may have settled the row already. Delivered
        # wins: a copy that found the workflow closed (unmatched) may finish before the
        # copy that signalled it, and must not hide that the event was delivered. One
        # statement counts the attempt and settles the row where it may be settled.
        settles = WebhookEvent.state.in_(
            [EventState.RECEIVED.value, EventState.UNMATCHED.value]
            if result is EventState.DELIVERED
            else [EventState.RECEIVED.value]
        )
        values: dict[str, object] = {
            "delivery_attempts": WebhookEvent.delivery_attempts + 1,
            "state": case((settles, result.value), else_=WebhookEvent.state),
            "next_attempt_at": case((settles, None), else_=WebhookEvent.next_attempt_at),
        }
        if result is EventState.DELIVERED:
            values["delivered_at"] = case((settles, now), else_=WebhookEvent.delivered_at)
        conn.execute(update(WebhookEvent).where(*this_event).values(values))

    async def due(self, limit: int) -> list[DueEvent]:
        """The undelivered events due for redelivery, longest due first.

        Args:
            limit: the most events returned.
        """
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    WebhookEvent.id,
                    WebhookEvent.provider,
                    WebhookEvent.event_id,
                    WebhookEvent.next_attempt_at,
                )
                .where(
                    WebhookEvent.state == EventState.RECEIVED.value,
                    # NULL only in a row written by hand: never leave it stranded.
                    (WebhookEvent.next_attempt_at <= self.now())
                    | WebhookEvent.next_attempt_at.is_(None),
                )
                .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id)
                .limit(limit)
            )
            return [
                DueEvent(row.id, row.provider, row.event_id, row.next_attempt_at) for row in rows
            ]

    async def claim(self, due: DueEvent) -> bytes | None:
        """Take a due event for delivery, unless someone else took or settled it first.

        The claim moves ``next_attempt_at`` one lease ahead, guarded by the value read in
        :meth:`due`: of several relays racing for the event exactly one UPDATE matches,
        and the others see no row.

        Args:
            due: the event as :meth:`due` read it.

        Returns:
            The stored raw body when claimed; None when another relay has the event.
        """
        unchanged: ColumnElement[bool]
        if due.next_attempt_at is None:
            unchanged = WebhookEvent.next_attempt_at.is_(None)
        else:
            unchanged = WebhookEvent.next_attempt_at == due.next_attempt_at
        async with self._sessions.begin() as session:
            body = await session.scalar(
                update(WebhookEvent)
                .where(
                    WebhookEvent.id == due.id,
                    WebhookEvent.state == EventState.RECEIVED.value,
                    unchanged,
                )
                .values(next_attempt_at=self.now() + self._lease)
                .returning(WebhookEvent.raw_body)
            )
        return None if body is None else bytes(body)

    async def backlog(self) -> Backlog:
        """Count the undelivered events and the conflicts, and date the oldest event."""
        async with self._sessions() as session:
            undelivered, oldest = (
                await session.execute(
                    select(func.count(), func.min(WebhookEvent.received_at)).where(
                        WebhookEvent.state == EventState.RECEIVED.value
                    )
                )
            ).one()
            conflicts = await session.scalar(select(func.count()).select_from(WebhookEventConflict))
        return Backlog(
            undelivered=int(undelivered),
            oldest_received_at=None if oldest is None else as_utc(oldest),
            conflicts=int(conflicts or 0),
        )


def _execute(conn: Connection, statement: Executable) -> None:
    conn.execute(statement)
