"""The base of every simulator's store: faults, floats, outbox, schedule and state file.

A store is synchronous and never awaits, so on one event loop every method runs
atomically: no locks are needed. Scheduling is state-based: each transfer carries a plan
of timed steps and each webhook delivery its own ``next_attempt_at``; the background
dispatcher (:mod:`.dispatcher`) only asks the store what is due. Unix seconds drive every
delay, so due times kept in a state file still mean the same after a restart; wall-clock
UTC datetimes are every timestamp shown to clients.

The state lives in memory; with a state file, every method that changes it also writes
the change through to that file before returning (:class:`.persistence.Journal`), and a
new store on the same file starts where the last one stopped. Faults are not kept.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from payments_engine.sandbox.common import floats, outbox
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.common.floats import Floats
from payments_engine.sandbox.common.outbox import Delivery, Outbox
from payments_engine.sandbox.common.persistence import DocumentStore, Journal, LegacyImport
from payments_engine.sandbox.common.schedule import Schedule


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class TransferNotFound(LookupError):
    """The simulator holds no transfer with the given reference."""


class ResolveRefused(Exception):
    """A forced resolution cannot be applied (already final, or the float is too low)."""


class SimulatorStore(ABC):
    """Everything one simulator knows, in memory and, if configured, in its state file.

    Subclasses keep their own records, restore them in :meth:`_restore` and forget them
    in :meth:`_clear`; they must call :meth:`_open` at the end of their ``__init__``.

    Args:
        provider: the provider's name, its documents' key in a shared state file.
        state_file: the SQLite state file; None keeps everything in memory only.
        float_balances: the float per currency at start and after a reset.
        retry_delays: seconds between webhook attempts; empty sends each once.
        new_delivery_id: makes a webhook delivery id (the signed message id).
        clock: Unix seconds, for every delay; due times are kept in the state file, so
            a clock that restarts from zero (``time.monotonic``) would break them.
        wall_clock: aware UTC now, for every timestamp.
        at_most_once: webhooks are never sent twice, not even after a crash mid-attempt.
        legacy: imports a version-1 state file (the hub's old tables).

    Raises:
        SandboxStateError: ``state_file`` is not a usable state file.
    """

    def __init__(
        self,
        *,
        provider: str,
        state_file: Path | None,
        float_balances: Mapping[str, int],
        retry_delays: Sequence[float],
        new_delivery_id: Callable[[], str],
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
        at_most_once: bool = False,
        legacy: LegacyImport | None = None,
    ) -> None:
        """Open the state file, if any; records are loaded by :meth:`_open`."""
        self._clock = clock
        self._wall_clock = wall_clock
        self.faults = Faults()
        self._db = (
            DocumentStore(state_file, provider, legacy=legacy) if state_file is not None else None
        )
        self._journal = Journal(self._db)
        self.floats = Floats(float_balances, self._journal)
        self.outbox = Outbox(
            retry_delays=retry_delays,
            journal=self._journal,
            clock=clock,
            wall_clock=wall_clock,
            new_id=new_delivery_id,
            at_most_once=at_most_once,
        )
        self._schedule = Schedule()

    def _open(self) -> None:
        """Load the state file's records, if there is a file."""
        if self._db is None:
            return
        self.floats.restore(self._db.load(floats.KIND))
        self.outbox.restore(self._db.load(outbox.KIND))
        self._restore(self._db)

    @abstractmethod
    def _restore(self, db: DocumentStore) -> None:
        """Load the provider's own records (transfers ...) from the state file."""

    @abstractmethod
    def _clear(self) -> None:
        """Forget the provider's own records (the state file is cleared by the caller)."""

    @abstractmethod
    def advance(self) -> Sequence[object]:
        """Apply every planned step that is due; return the records it changed."""

    def close(self) -> None:
        """Close the state file, if any; later changes would stay in memory only."""
        if self._db is not None:
            self._db.close()
            self._db = None
            self._journal.db = None

    def reset(self) -> None:
        """Forget every transfer and delivery, clear the faults and restore the floats.

        The state file, if any, is emptied too.
        """
        self.faults = Faults()
        self.floats.reset()
        self.outbox.clear()
        self._schedule.clear()
        self._journal.discard()
        self._clear()
        if self._db is not None:
            self._db.clear()

    def _flush(self) -> None:
        """Write what the current method changed to the state file, in one transaction."""
        self._journal.flush()

    def balances(self) -> dict[str, int]:
        """The float per currency, in minor units."""
        return self.floats.balances()

    # -- webhooks: the dispatcher's side ---------------------------------------------

    def claim_due_deliveries(self) -> list[Delivery]:
        """Mark the deliveries due for an attempt as in flight and return them."""
        return self.outbox.claim_due()

    def release(self, delivery: Delivery) -> None:
        """Put back a claimed delivery whose attempt was abandoned (cancelled) unsent."""
        self.outbox.release(delivery)

    def record_attempt(
        self, delivery: Delivery, *, http_status: int | None, error: str | None
    ) -> None:
        """Record one delivery attempt; ``error`` None means the receiver accepted it.

        A failed attempt is retried after the next configured delay; after the last one
        the delivery is given up and stays in the log as failed.
        """
        self.outbox.record_attempt(delivery, http_status=http_status, error=error)

    def deliveries(self) -> list[Delivery]:
        """The delivery log, oldest first, pending deliveries included."""
        return self.outbox.deliveries()
