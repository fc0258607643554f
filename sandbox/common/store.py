"""The base of every simulator's store: transfers, faults, floats, outbox and state file.

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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from payments_engine.sandbox.common import floats, outbox, records
from payments_engine.sandbox.common.config import SimulatorConfig
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.common.floats import Floats
from payments_engine.sandbox.common.outbox import Delivery, Outbox
from payments_engine.sandbox.common.persistence import (
    Document,
    DocumentStore,
    Journal,
    LegacyImport,
)
from payments_engine.sandbox.common.records import TransferRecord
from payments_engine.sandbox.common.schedule import Schedule

ConfigT = TypeVar("ConfigT", bound=SimulatorConfig)
TransferT = TypeVar("TransferT", bound=TransferRecord[Any, Any])


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class TransferNotFound(LookupError):
    """The simulator holds no transfer with the given reference."""


class ResolveRefused(Exception):
    """A forced resolution cannot be applied (already final, or the float is too low)."""


class SimulatorStore(ABC, Generic[ConfigT, TransferT]):
    """Everything one simulator knows, in memory and, if configured, in its state file.

    Its transfers are filed under their :attr:`~.records.TransferRecord.record_id`.
    Subclasses name their provider and say how its webhooks are sent (the class
    attributes, :meth:`_new_delivery_id`, :meth:`_retry_delays`), encode and decode
    their transfers for the state file (:meth:`_encode`, :meth:`_decode`) and apply
    their planned steps (:meth:`_take_step`).

    Args:
        config: the simulator's configuration (floats, timings, webhooks, state file).
        clock: Unix seconds, for every delay; due times are kept in the state file, so
            a clock that restarts from zero (``time.monotonic``) would break them.
        wall_clock: aware UTC now, for every timestamp.

    Raises:
        SandboxStateError: ``config.state_file`` is not a usable state file.
    """

    provider: ClassVar[str]
    """The provider's name, its documents' key in a shared state file."""

    at_most_once: ClassVar[bool] = False
    """Webhooks are never sent twice, not even after a crash mid-attempt."""

    legacy: ClassVar[LegacyImport | None] = None
    """Imports a version-1 state file (the hub's old tables); None refuses one."""

    def __init__(
        self,
        config: ConfigT,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; no faults either way."""
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self.faults = Faults()
        # Through the class: a function kept on a class would bind to the instance.
        legacy = type(self).legacy
        self._db = (
            DocumentStore(config.state_file, self.provider, legacy=legacy)
            if config.state_file is not None
            else None
        )
        self._journal = Journal(self._db)
        self.floats = Floats(config.float_balances, self._journal)
        self.outbox = Outbox(
            retry_delays=self._retry_delays(),
            journal=self._journal,
            clock=clock,
            wall_clock=wall_clock,
            new_id=self._new_delivery_id,
            at_most_once=self.at_most_once,
        )
        self._schedule = Schedule()
        self._transfers: dict[str, TransferT] = {}
        self.generation = 0
        """How many times :meth:`reset` ran: what keeps its own memory (the settlement
        faults) starts over when it changes."""
        self._open()

    @staticmethod
    @abstractmethod
    def _new_delivery_id() -> str:
        """A new webhook delivery id, the message id its signature signs."""

    def _retry_delays(self) -> Sequence[float]:
        """Seconds between webhook attempts; empty, the default, sends each once."""
        return ()

    def _open(self) -> None:
        """Load the state file's records, if there is a file."""
        if self._db is None:
            return
        self.floats.restore(self._db.load(floats.KIND))
        self.outbox.restore(self._db.load(outbox.KIND))
        self._restore(self._db)

    def _restore(self, db: DocumentStore) -> None:
        """Load the transfers from the state file, with the plans they had left."""
        for _, document in db.load(records.KIND):
            transfer = self._decode(document)
            self._transfers[transfer.record_id] = transfer
            if transfer.plan:
                # Steps that came due while the simulator was down: the next advance().
                self._push(transfer)

    @abstractmethod
    def _encode(self, transfer: TransferT) -> Document:
        """The state-file document of a transfer."""

    @abstractmethod
    def _decode(self, document: Document) -> TransferT:
        """The transfer :meth:`_encode` wrote."""

    @abstractmethod
    def _take_step(self, transfer: TransferT, step: Any) -> None:
        """Apply one planned step of ``transfer`` that is due (it is off the plan)."""

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
        self._transfers.clear()
        if self._db is not None:
            self._db.clear()
        self.generation += 1

    def _flush(self) -> None:
        """Write what the current method changed to the state file, in one transaction."""
        self._journal.flush()

    def load_documents(self, kind: str) -> list[tuple[str, Document]]:
        """The documents of ``kind`` the state file holds (none without a file).

        For machinery that keeps its own documents beside the store's (a report's
        faults), restored on start and after a reset like the transfers.
        """
        if self._db is None:
            return []
        return list(self._db.load(kind))

    def save_document(self, kind: str, id_: str, document: Document) -> None:
        """Write one document of ``kind`` to the state file now (nothing without a file)."""
        self._journal.put(kind, id_, lambda: document)
        self._journal.flush()

    def balances(self) -> dict[str, int]:
        """The float per currency, in minor units."""
        return self.floats.balances()

    # -- transfers ---------------------------------------------------------------------

    def get(self, key: str) -> TransferT | None:
        """The transfer filed under ``key``, if any."""
        return self._transfers.get(key)

    def query_status(self, key: str) -> TransferT | None:
        """Like :meth:`get`, counting the query on the transfer."""
        return self._count(key, queries=1)

    def note_repeat(self, key: str) -> TransferT | None:
        """Count a submission that reused a taken key; nothing else happens."""
        return self._count(key, submissions=1)

    def transfers(self) -> list[TransferT]:
        """Every transfer, oldest first."""
        return list(self._transfers.values())

    def advance(self) -> list[TransferT]:
        """Apply every planned status step that is due; return the transfers it changed."""
        now = self._clock()
        changed: list[TransferT] = []
        for key in self._schedule.pop_due(now):
            transfer = self._transfers.get(key)
            if transfer is None or not transfer.plan:
                continue
            while transfer.plan and transfer.plan[0].at <= now:
                self._take_step(transfer, transfer.plan.pop(0))
            changed.append(transfer)
            if transfer.plan:
                self._push(transfer)
        self._flush()
        return changed

    def _count(self, key: str, *, submissions: int = 0, queries: int = 0) -> TransferT | None:
        """The transfer filed under ``key``, if any, its counters raised and written."""
        transfer = self._transfers.get(key)
        if transfer is not None:
            transfer.submit_count += submissions
            transfer.status_queries += queries
            self._changed(transfer)
            self._flush()
        return transfer

    def _add(self, transfer: TransferT) -> None:
        """File a new transfer."""
        self._transfers[transfer.record_id] = transfer
        self._changed(transfer)

    def _pending(self, key: str) -> TransferT:
        """The transfer filed under ``key``, which a forced resolution may still change.

        Raises:
            TransferNotFound: no transfer is filed under ``key``.
            ResolveRefused: the transfer is already final.
        """
        transfer = self._transfers.get(key)
        if transfer is None:
            raise TransferNotFound(key)
        if transfer.status.is_final:
            raise ResolveRefused(f"the transfer is already final ({transfer.status.value})")
        return transfer

    def _resolve(self, transfer: TransferT, step: Any) -> TransferT:
        """Drop the plan of ``transfer`` and take ``step``, a final one, now."""
        transfer.plan.clear()
        self._take_step(transfer, step)
        self._flush()
        return transfer

    def _changed(self, transfer: TransferT) -> None:
        """Note that ``transfer`` changed, for the state file."""
        self._journal.put(records.KIND, transfer.record_id, lambda: self._encode(transfer))

    def _push(self, transfer: TransferT) -> None:
        """Schedule the first step of the transfer's plan."""
        self._schedule.push(transfer.record_id, transfer.plan[0].at)

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
