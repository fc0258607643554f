"""The relay's outbox: redeliver stored events whose delivery failed.

An event answered 503 because Temporal was away, or stored by a relay that died before
delivering it, stays ``received``. Providers usually retry, but not all do, and not
forever: :class:`Redeliverer` is the relay's own net. Each event is retried with
exponential backoff (its ``next_attempt_at``), from the STORED raw body re-parsed by its
provider's parser, through the same deliverer and bookkeeping as the request path.

Several relays may share the database: each claims an event (a guarded UPDATE of
``next_attempt_at``) before delivering it, so two rarely deliver the same event at once;
when they do, the workflow drops the second copy by event id.

Logs name the provider and event id only: bodies carry personal data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from payments_engine.activities.providers.base import MalformedEvent
from payments_engine.domain.events import ProviderEvent
from payments_engine.relay.delivery import DeliveryUnavailable, EventDeliverer
from payments_engine.relay.store import DATABASE_ERRORS, DueEvent, EventStore, settled_state

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
"""How long :meth:`Redeliverer.stop` lets an attempt in flight finish before cancelling."""


class _Attempt(Enum):
    SETTLED = "settled"
    FAILED = "failed"
    """This event could not be delivered (it no longer parses, a deliverer bug)."""
    UNAVAILABLE = "unavailable"
    """Delivery itself is unavailable: Temporal is away."""


@dataclass(frozen=True)
class Round:
    """What one round of redelivery did.

    Attributes:
        due: events found due.
        claimed: of those, events this relay took (the others another relay had).
        settled: of those, events now delivered or unmatched.
        halted: the round stopped early because delivery is unavailable.
    """

    due: int
    claimed: int
    settled: int
    halted: bool


class Redeliverer:
    """Background loop redelivering due ``received`` events, owned by the relay app."""

    def __init__(
        self,
        store: EventStore,
        deliverer: EventDeliverer,
        parsers: Mapping[str, Callable[[bytes], ProviderEvent]],
        poll_seconds: float,
        batch_size: int,
    ) -> None:
        """Keep what a round needs.

        Args:
            store: the stored events.
            deliverer: the request path's deliverer.
            parsers: provider name -> parser of its webhook bodies.
            poll_seconds: the pause between rounds that found nothing more to do.
            batch_size: the most events one round takes on.
        """
        self._store = store
        self._deliverer = deliverer
        self._parsers = parsers
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The trouble last logged ("database", "delivery"): an outage is logged once when
        # it starts and once when it ends, not once a poll.
        self._trouble: str | None = None

    def start(self) -> None:
        """Run the loop in a background task until :meth:`stop`."""
        if self._task is not None and not self._task.done():
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self.run(), name="relay-redelivery")

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """Stop the loop: let an attempt in flight finish, cancel it after the grace.

        An attempt cut short leaves its event ``received``; it is delivered again later,
        and the workflow drops the copy if the first one reached it.
        """
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            task.cancel()
            await asyncio.wait({task})

    async def run(self) -> None:
        """Redeliver due events until stopped; never raises on database or Temporal errors."""
        logger.info("redelivery started: every %.1f s", self._poll_seconds)
        while not self._stopping.is_set():
            busy = False
            try:
                done = await self.redeliver_due()
                # A full batch that went through: the backlog may hold more, go on.
                busy = done.due >= self._batch_size and not done.halted
            except DATABASE_ERRORS as exc:
                self._report(
                    "database", f"redelivery paused: database unavailable ({type(exc).__name__})"
                )
            except Exception as exc:
                # The loop must outlive any one bug. Type only: a message may quote the
                # body, and so may a traceback's.
                logger.error("redelivery round failed: %s", type(exc).__name__)
            if busy:
                continue
            try:
                await asyncio.wait_for(self._stopping.wait(), self._poll_seconds)
            except TimeoutError:
                pass
        logger.info("redelivery stopped")

    async def redeliver_due(self) -> Round:
        """Run one round: claim and redeliver the events due now, longest due first.

        The round stops at the first event whose delivery is unavailable: Temporal is
        most likely away for the others too, and each would wait out its RPC timeout.

        Returns:
            What the round did.

        Raises:
            SQLAlchemyError: the database failed while listing or claiming events.
            OSError: the database cannot be reached.
        """
        due = await self._store.due(self._batch_size)
        if self._trouble == "database":
            self._recovered()
        claimed = settled = 0
        for item in due:
            if self._stopping.is_set():
                break
            body = await self._store.claim(item)
            if body is None:
                continue
            claimed += 1
            attempt = await self._redeliver(item, body)
            if attempt is _Attempt.SETTLED:
                settled += 1
            elif attempt is _Attempt.UNAVAILABLE:
                return Round(len(due), claimed, settled, halted=True)
        return Round(len(due), claimed, settled, halted=False)

    async def _redeliver(self, item: DueEvent, body: bytes) -> _Attempt:
        """Deliver one claimed event and record the attempt."""
        parser = self._parsers.get(item.provider)
        if parser is None:
            logger.error(
                "redelivery impossible: provider=%s event=%r has no parser",
                item.provider,
                item.event_id,
            )
            await self._store.record_attempt(item.provider, item.event_id, None)
            return _Attempt.FAILED
        try:
            event = parser(body)
        except Exception as exc:
            # It parsed when it was stored: the parser changed since. Keep it, retried
            # with backoff and counted in the backlog, until someone looks. Only our own
            # messages are logged: another exception's may quote the body.
            logger.error(
                "redelivery impossible: provider=%s event=%r stored body no longer parses (%s)",
                item.provider,
                item.event_id,
                exc if isinstance(exc, MalformedEvent) else type(exc).__name__,
            )
            await self._store.record_attempt(item.provider, item.event_id, None)
            return _Attempt.FAILED
        try:
            outcome = await self._deliverer.deliver(event)
        except DeliveryUnavailable as exc:
            await self._store.record_attempt(item.provider, item.event_id, None)
            self._report("delivery", f"redelivery paused: delivery unavailable ({exc})")
            return _Attempt.UNAVAILABLE
        except Exception as exc:
            # A deliverer bug must not stop the loop; the event is retried with backoff.
            await self._store.record_attempt(item.provider, item.event_id, None)
            logger.error(
                "redelivery failed: provider=%s event=%r (%s)",
                item.provider,
                item.event_id,
                type(exc).__name__,
            )
            return _Attempt.FAILED
        if self._trouble == "delivery":
            self._recovered()
        result = settled_state(outcome)
        await self._store.record_attempt(item.provider, item.event_id, result)
        logger.info(
            "webhook redelivered, %s: provider=%s event=%r reference=%r",
            result.value,
            item.provider,
            item.event_id,
            event.reference,
        )
        return _Attempt.SETTLED

    def _report(self, trouble: str, message: str) -> None:
        """Log an outage once as a warning, then at debug level while it lasts."""
        level = logging.DEBUG if self._trouble == trouble else logging.WARNING
        self._trouble = trouble
        logger.log(level, message)

    def _recovered(self) -> None:
        logger.info("redelivery resumed: %s available again", self._trouble)
        self._trouble = None
