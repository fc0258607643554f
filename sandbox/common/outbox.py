"""The webhook outbox of a simulator: deliveries, their retries and the delivery log.

A delivery is one POST of an event's exact bytes to one URL; the dispatcher
(:mod:`.dispatcher`) signs it afresh at every attempt with the provider's signature
scheme, the delivery's id being the message id. A failed attempt is retried after the
next configured delay; after the last one the delivery is given up and stays in the log.
An outbox without delays sends each delivery once and never retries it
(``at_most_once`` also keeps a restart from sending it again).

Scheduling times (``next_attempt_at``) are seconds of the store's clock, Unix seconds by
default, so they keep their meaning across a restart; timestamps are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from payments_engine.sandbox.common.persistence import (
    Document,
    Journal,
    decode_required_time,
    decode_time,
    encode_time,
)

KIND = "delivery"
INTERRUPTED = "interrupted before an answer; never retried"


@dataclass(eq=False)
class Delivery:
    """One delivery of a webhook event: an outbox entry while pending, then a log line.

    Two deliveries share an ``event_id`` when a provider sends an event twice on purpose.

    Attributes:
        delivery_id: unique; the message id the signature scheme signs.
        event_id: the event's id in the body, if the provider has one, else the
            delivery id.
        reference: the transfer it reports on, by the client's reference.
        record_id: the same transfer, by the key the simulator files it under (the hub's
            ``thirdPartyTransId``, MoMo's ``X-Reference-Id``).
        status: the provider's status the event reports.
        body: the exact bytes sent at every attempt (the signature is fresh each time).
        url: where it is POSTed.
        next_attempt_at: when the next attempt is due, on the store's scheduling clock.
        after: a delivery that must be done (delivered or given up) before this one
            starts; it keeps duplicates and stale out-of-order events in sequence.
    """

    delivery_id: str
    event_id: str
    reference: str
    record_id: str
    status: str
    body: bytes
    url: str
    next_attempt_at: float
    created_at: datetime
    after: Delivery | None = None
    attempts: int = 0
    delivered: bool = False
    gave_up: bool = False
    in_flight: bool = False
    last_http_status: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None

    @property
    def done(self) -> bool:
        """True once delivered or given up."""
        return self.delivered or self.gave_up


class Outbox:
    """The pending deliveries of one simulator and its delivery log.

    Args:
        retry_delays: seconds between attempts; attempts = len + 1. Empty: one attempt.
        journal: where changes are noted for the state file.
        clock: the store's scheduling clock (Unix seconds).
        wall_clock: aware UTC now.
        new_id: makes a delivery id.
        at_most_once: an attempt is written to the state file before it is made, and an
            attempt cut short (shutdown, crash) is never made again: for providers that
            send a callback once only.
    """

    def __init__(
        self,
        *,
        retry_delays: Sequence[float],
        journal: Journal,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        new_id: Callable[[], str],
        at_most_once: bool = False,
    ) -> None:
        """Empty."""
        self._delays = list(retry_delays)
        self._journal = journal
        self._clock = clock
        self._wall_clock = wall_clock
        self._new_id = new_id
        self.at_most_once = at_most_once
        self._pending: list[Delivery] = []
        self._log: list[Delivery] = []

    def enqueue(
        self,
        *,
        reference: str,
        status: str,
        body: bytes,
        url: str,
        record_id: str | None = None,
        event_id: str | None = None,
        copies: int = 1,
        after: Delivery | None = None,
    ) -> Delivery:
        """Queue ``copies`` deliveries of one event, each waiting for the one before.

        Args:
            record_id: the transfer's key at the simulator; None when it is ``reference``.
            event_id: the event's id; None uses each delivery's own id.
            after: a delivery the first copy waits for.

        Returns:
            The last delivery queued.
        """
        now, wall = self._clock(), self._wall_clock()
        previous = after
        for _ in range(copies):
            delivery_id = self._new_id()
            delivery = Delivery(
                delivery_id=delivery_id,
                event_id=event_id or delivery_id,
                reference=reference,
                record_id=record_id or reference,
                status=str(status),
                body=body,
                url=url,
                next_attempt_at=now,
                created_at=wall,
                after=previous,
            )
            self._pending.append(delivery)
            self._log.append(delivery)
            self._changed(delivery)
            previous = delivery
        assert previous is not None and previous is not after, "copies must be positive"
        return previous

    def claim_due(self) -> list[Delivery]:
        """Mark the deliveries due for an attempt as in flight and return them."""
        now = self._clock()
        due: list[Delivery] = []
        for delivery in self._pending:
            if delivery.in_flight or delivery.next_attempt_at > now:
                continue
            if delivery.after is not None and not delivery.after.done:
                continue
            delivery.in_flight = True
            due.append(delivery)
            if self.at_most_once:
                self._changed(delivery)
        if due and self.at_most_once:
            # Written before the attempt: a crash during it cannot lead to a second one.
            self._journal.flush()
        return due

    def release(self, delivery: Delivery) -> None:
        """Put back a claimed delivery whose attempt was abandoned (cancelled).

        With ``at_most_once`` the attempt may have reached the receiver: it counts as
        made, without an answer, and is not made again.
        """
        if self.at_most_once:
            self.record_attempt(delivery, http_status=None, error=INTERRUPTED)
        else:
            delivery.in_flight = False

    def record_attempt(
        self, delivery: Delivery, *, http_status: int | None, error: str | None
    ) -> None:
        """Record one delivery attempt; ``error`` None means the receiver accepted it."""
        # After a reset the delivery may already be gone: then nothing is written back.
        current = delivery in self._pending
        delivery.in_flight = False
        delivery.attempts += 1
        delivery.last_http_status = http_status
        delivery.last_error = error
        delivery.last_attempt_at = self._wall_clock()
        if error is None:
            delivery.delivered = True
        elif delivery.attempts > len(self._delays):
            delivery.gave_up = True
        else:
            delivery.next_attempt_at = self._clock() + self._delays[delivery.attempts - 1]
        if not current:
            return
        if delivery.done:
            self._pending.remove(delivery)
        self._changed(delivery)
        self._journal.flush()

    def deliveries(self) -> list[Delivery]:
        """The delivery log, oldest first, pending deliveries included."""
        return list(self._log)

    def clear(self) -> None:
        """Forget every delivery."""
        self._pending.clear()
        self._log.clear()

    def restore(self, documents: Iterable[tuple[str, Document]]) -> None:
        """Load the deliveries kept in a state file.

        An attempt that was in flight when the state was written is made again, unless
        the outbox is ``at_most_once``: then it counts as made, without an answer.
        """
        by_id: dict[str, Delivery] = {}
        for _, document in documents:
            # A delivery only ever waits for an older one, so that one is already loaded.
            after_id = document.get("after")
            delivery = _decode(document, by_id.get(after_id) if after_id else None)
            if delivery.in_flight:
                delivery.in_flight = False
                if self.at_most_once:
                    delivery.attempts += 1
                    delivery.gave_up = True
                    delivery.last_error = INTERRUPTED
            by_id[delivery.delivery_id] = delivery
            self._log.append(delivery)
        self._pending = [delivery for delivery in self._log if not delivery.done]

    def _changed(self, delivery: Delivery) -> None:
        self._journal.put(KIND, delivery.delivery_id, lambda: _encode(delivery))


def _encode(delivery: Delivery) -> Document:
    return {
        "delivery_id": delivery.delivery_id,
        "event_id": delivery.event_id,
        "reference": delivery.reference,
        "record_id": delivery.record_id,
        "status": delivery.status,
        "body": delivery.body.decode("utf-8"),
        "url": delivery.url,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": encode_time(delivery.created_at),
        "after": delivery.after.delivery_id if delivery.after else None,
        "attempts": delivery.attempts,
        "delivered": delivery.delivered,
        "gave_up": delivery.gave_up,
        "in_flight": delivery.in_flight,
        "last_http_status": delivery.last_http_status,
        "last_error": delivery.last_error,
        "last_attempt_at": encode_time(delivery.last_attempt_at),
    }


def _decode(document: Document, after: Delivery | None) -> Delivery:
    return Delivery(
        delivery_id=document["delivery_id"],
        event_id=document["event_id"],
        reference=document["reference"],
        record_id=document.get("record_id") or document["reference"],
        status=document["status"],
        body=document["body"].encode("utf-8"),
        url=document["url"],
        next_attempt_at=float(document["next_attempt_at"]),
        created_at=decode_required_time(document["created_at"]),
        after=after,
        attempts=int(document["attempts"]),
        delivered=bool(document["delivered"]),
        gave_up=bool(document["gave_up"]),
        in_flight=bool(document.get("in_flight", False)),
        last_http_status=document["last_http_status"],
        last_error=document["last_error"],
        last_attempt_at=decode_time(document["last_attempt_at"]),
    )


def encode_delivery(delivery: Delivery) -> Document:
    """The state-file document of a delivery (for imports of older state files)."""
    return _encode(delivery)
