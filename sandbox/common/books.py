"""A kind of record a simulator keeps beside its transfers: collections, refunds, requests to pay.

The common store (:class:`~payments_engine.sandbox.common.store.SimulatorStore`) files
one kind of record, the transfers; a :class:`RecordBook` files another kind the same way:
by key, with a schedule of the steps due on their plans and a document kind of its own
in the state file. The store journals the changes and applies the steps, so a book
holds no reference to either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from payments_engine.sandbox.common.persistence import Document, DocumentStore
from payments_engine.sandbox.common.records import TransferRecord
from payments_engine.sandbox.common.schedule import Schedule

RecordT = TypeVar("RecordT", bound=TransferRecord[Any, Any])


class RecordBook(Generic[RecordT]):
    """Records of one kind, filed under their ``record_id``, oldest first.

    Args:
        kind: their document kind in the state file.
        encode: a record's state-file document.
        decode: the record :paramref:`encode` wrote.
    """

    def __init__(
        self,
        kind: str,
        encode: Callable[[RecordT], Document],
        decode: Callable[[Document], RecordT],
    ) -> None:
        """Empty."""
        self.kind = kind
        self.encode = encode
        self._decode = decode
        self._records: dict[str, RecordT] = {}
        self._schedule = Schedule()

    def __iter__(self) -> Iterator[RecordT]:
        """Every record, oldest first."""
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        """How many records there are."""
        return len(self._records)

    def get(self, key: str) -> RecordT | None:
        """The record filed under ``key``, if any."""
        return self._records.get(key)

    def add(self, record: RecordT) -> None:
        """File a new record and schedule its plan, if it has one."""
        self._records[record.record_id] = record
        self.push(record)

    def push(self, record: RecordT) -> None:
        """Schedule the first step of the record's plan (nothing if it has none)."""
        if record.plan:
            self._schedule.push(record.record_id, record.plan[0].at)

    def load(self, db: DocumentStore) -> list[RecordT]:
        """Load the records of a state file, with the plans they had left; return them."""
        loaded = []
        for _, document in db.load(self.kind):
            record = self._decode(document)
            # Steps that came due while the hub was down are applied by the next advance.
            self.add(record)
            loaded.append(record)
        return loaded

    def advance(self, now: float, take_step: Callable[[RecordT, Any], None]) -> list[RecordT]:
        """Apply every planned step due at ``now``; return the records it changed.

        Args:
            now: the store's scheduling clock.
            take_step: applies one step to its record (the step is off the plan).
        """
        changed: list[RecordT] = []
        for key in self._schedule.pop_due(now):
            record = self._records.get(key)
            if record is None or not record.plan or record.plan[0].at > now:
                # A stale entry: the plan was cleared or moved since it was scheduled.
                continue
            while record.plan and record.plan[0].at <= now:
                take_step(record, record.plan.pop(0))
            changed.append(record)
            self.push(record)
        return changed

    def clear(self) -> None:
        """Forget every record."""
        self._records.clear()
        self._schedule.clear()
