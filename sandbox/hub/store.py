"""State of one sandbox hub: payouts, collections and refunds with their plans.

Faults, the float, the webhook outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`), whose transfers are the
hub's payouts; collections and refunds are kept in books of their own
(:class:`~.books.RecordBook`) on the same journal, clock and outbox. This module adds
what each magic value plans for them, the money they move and the hub's webhook events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.books import RecordBook
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import Document, DocumentStore
from payments_engine.sandbox.common.records import TransferRecord
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
    utc_now,
)
from payments_engine.sandbox.hub.amounts import fee_of
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.persistence import (
    COLLECTION,
    REFUND,
    decode_collection,
    decode_refund,
    decode_transfer,
    encode_collection,
    encode_refund,
    encode_transfer,
    import_v1,
)
from payments_engine.sandbox.hub.records import (
    Collection,
    CollectionOrder,
    PayoutOrder,
    PlannedStep,
    Refund,
    RefundOrder,
    RefundStep,
    Transfer,
)
from payments_engine.sandbox.hub.scenarios import (
    CollectionScenario,
    RefundScenario,
    Scenario,
    collection_scenario_for,
    refund_scenario_for,
    scenario_for,
)
from payments_engine.sandbox.hub.wire import (
    ACK_ACCEPTED,
    ACK_REJECTED,
    NOT_CANCELLABLE_MESSAGE,
    PROVIDER,
    HubCallback,
    HubRefundCallback,
    HubRefundStatus,
    HubStatus,
    RefundErrorCode,
)

__all__ = [
    "CancelRefused",
    "Collection",
    "CollectionOrder",
    "CollectionResult",
    "Delivery",
    "HubStore",
    "PayoutOrder",
    "PlannedStep",
    "Refund",
    "RefundOrder",
    "RefundRefused",
    "RefundResult",
    "ResolveRefused",
    "SubmitOutcome",
    "SubmitResult",
    "Transfer",
    "TransferNotFound",
    "utc_now",
]

RecordT = TypeVar("RecordT", bound=TransferRecord[Any, Any])

SECONDS_PER_DAY = 86_400
REFUND_DECLINED = "the payer's wallet refused the refund"
REFUND_RETURNED = "the payer's wallet returned the refund"
FLOAT_SHORT = "the hub's float cannot cover the refund"


def _new_transaction_id() -> str:
    return "MFS" + uuid.uuid4().hex[:12].upper()


def _new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:16]


def _new_refund_id() -> str:
    return "RF" + uuid.uuid4().hex[:14].upper()


class SubmitOutcome(StrEnum):
    """What a submission did."""

    CREATED = "created"
    REPEATED = "repeated"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class SubmitResult:
    """The outcome of a submission and the transfer it concerns."""

    outcome: SubmitOutcome
    transfer: Transfer


@dataclass(frozen=True)
class CollectionResult:
    """The outcome of a collection request and the collection it concerns."""

    outcome: SubmitOutcome
    collection: Collection


@dataclass(frozen=True)
class RefundResult:
    """The outcome of an accepted refund request (created or repeated) and its refund."""

    outcome: SubmitOutcome
    refund: Refund


class CancelRefused(Exception):
    """The collection can no longer be cancelled: final, or the payer is approving it."""


class RefundRefused(Exception):
    """The hub refuses a refund request; nothing was recorded.

    Attributes:
        http_status: the status of the hub's answer.
        code: the hub's error code.
        message: why, for people.
    """

    def __init__(self, http_status: int, code: RefundErrorCode, message: str) -> None:
        """Keep the answer's HTTP status, code and message."""
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


class HubStore(SimulatorStore[SandboxConfig, Transfer]):
    """Everything one sandbox hub knows, in memory and, if configured, in its state file.

    Payouts (the common store's transfers) and collections are filed under their
    ``thirdPartyTransId``, each kind apart; refunds under the hub's ``refund_id``, found by
    our ``external_refund_id`` too. Webhooks are retried after the configured delays; a
    version-1 state file (the hub's own tables) is imported.

    Attributes:
        collections: the collections, oldest first.
        refunds: the refunds of collections, oldest first.
    """

    provider = PROVIDER
    legacy = import_v1

    def __init__(
        self,
        config: SandboxConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; see the common store."""
        # Before the common store opens the state file: loading fills these books.
        self.collections: RecordBook[Collection] = RecordBook(
            COLLECTION, encode_collection, decode_collection
        )
        self.refunds: RecordBook[Refund] = RecordBook(REFUND, encode_refund, decode_refund)
        self._refund_ids: dict[str, str] = {}
        self._refunds_of: dict[str, list[Refund]] = {}
        super().__init__(config, clock=clock, wall_clock=wall_clock)

    @staticmethod
    def _new_delivery_id() -> str:
        return "dlv_" + uuid.uuid4().hex[:12]

    def _retry_delays(self) -> Sequence[float]:
        return self.config.webhook_retry_delays

    def _restore(self, db: DocumentStore) -> None:
        super()._restore(db)
        self.collections.load(db)
        for refund in self.refunds.load(db):
            self._index(refund)
        for delivery in self.outbox.deliveries():
            if not delivery.url and self.config.webhook_url is not None:
                delivery.url = self.config.webhook_url  # imported from a version-1 file

    def reset(self) -> None:
        """Forget every payout, collection, refund and delivery; restore the floats."""
        self.collections.clear()
        self.refunds.clear()
        self._refund_ids.clear()
        self._refunds_of.clear()
        super().reset()

    def advance(self) -> list[Transfer]:
        """Apply every planned step that is due; return the payouts it changed.

        Collections and refunds move on their plans too; they are not in the answer,
        which stays what the common store's callers expect.
        """
        now = self._clock()
        self.collections.advance(now, self._take_collection_step)
        self.refunds.advance(now, self._take_refund_step)
        # The common advance writes everything changed so far in one transaction.
        return super().advance()

    def _encode(self, transfer: Transfer) -> Document:
        return encode_transfer(transfer)

    def _decode(self, document: Document) -> Transfer:
        return decode_transfer(document)

    def _take_step(self, transfer: Transfer, step: PlannedStep) -> None:
        self._set_status(transfer, step.status, notify=step.notify)

    # -- transfers ---------------------------------------------------------------------

    def submit(self, order: PayoutOrder) -> SubmitResult:
        """Record and execute a payout, or answer a repeat of its reference.

        A repeat never executes anything: with the same parameters it is answered with
        the existing transfer, with other parameters it is a conflict.
        """
        existing = self.note_repeat(order.third_party_trans_id)
        if existing is not None:
            same = existing.order.same_parameters(order)
            outcome = SubmitOutcome.REPEATED if same else SubmitOutcome.CONFLICT
            return SubmitResult(outcome, existing)

        now, wall = self._clock(), self._wall_clock()
        scenario = scenario_for(order.msisdn)
        transfer = Transfer(
            order=order,
            transaction_id=_new_transaction_id(),
            scenario=scenario,
            status=HubStatus.QUEUED,
            ack_code=ACK_ACCEPTED,
            executed=False,
            created_at=wall,
            updated_at=wall,
        )
        self._add(transfer)
        if scenario is Scenario.INVALID_NUMBER:
            transfer.status = HubStatus.INVALID_MSISDN
            transfer.ack_code = ACK_REJECTED
            self._flush()
            return SubmitResult(SubmitOutcome.CREATED, transfer)

        if self._debit(transfer):
            transfer.plan = self._plan(scenario, now)
        else:
            # The hub's own float cannot cover it: accepted, then failed like a real hub.
            settle = now + self.config.settle_seconds
            transfer.plan = [PlannedStep(settle, HubStatus.INSUFFICIENT_FUNDS, notify=True)]
        self._push(transfer)
        self._flush()
        return SubmitResult(SubmitOutcome.CREATED, transfer)

    def force_status(self, third_party_trans_id: str, status: HubStatus) -> Transfer:
        """Give a transfer a final status now and announce it by webhook.

        Raises:
            TransferNotFound: no transfer has that reference.
            ValueError: ``status`` is not final.
            ResolveRefused: the transfer is already final, or a success cannot be paid
                from the float.
        """
        if not status.is_final:
            raise ValueError(f"{status.value} is not a final status")
        transfer = self._pending(third_party_trans_id)
        if status is HubStatus.SUCCESS and not transfer.executed and not self._debit(transfer):
            raise ResolveRefused(f"the {transfer.order.currency} float cannot cover it")
        return self._resolve(transfer, PlannedStep(self._clock(), status, notify=True))

    def _plan(self, scenario: Scenario, now: float) -> list[PlannedStep]:
        settle = now + self.config.settle_seconds
        match scenario:
            case Scenario.NEVER_RESOLVES:
                # Due at once, so the next read already shows the transfer pending.
                return [PlannedStep(now, HubStatus.PENDING, notify=False)]
            case Scenario.LATE_SUCCESS:
                late = max(now, now + self.config.late_success_seconds)
                return [
                    PlannedStep(now, HubStatus.PENDING, notify=False),
                    PlannedStep(late, HubStatus.SUCCESS, notify=True),
                ]
            case Scenario.WEBHOOK_NEVER_SENT:
                return [PlannedStep(settle, HubStatus.SUCCESS, notify=False)]
            case _:
                final = scenario.final_status or HubStatus.SUCCESS
                return [PlannedStep(settle, final, notify=True)]

    def _debit(self, transfer: Transfer) -> bool:
        if not self.floats.debit(transfer.order.currency, transfer.order.amount):
            return False
        transfer.executed = True
        self._changed(transfer)
        return True

    def _set_status(self, transfer: Transfer, status: HubStatus, *, notify: bool) -> None:
        transfer.status = status
        transfer.updated_at = self._wall_clock()
        self._changed(transfer)
        if status.is_failure and transfer.executed:
            # A failed transfer never reached the wallet: the money goes back to the float.
            self.floats.credit(transfer.order.currency, transfer.order.amount)
            transfer.executed = False
        if notify:
            self._enqueue_webhooks(transfer)

    # -- collections -------------------------------------------------------------------

    def collect(self, order: CollectionOrder) -> CollectionResult:
        """Record a collection and push its prompt to the payer, or answer a repeat.

        A repeat never prompts again: with the same parameters it is answered with the
        existing collection, with other parameters it is a conflict. Payouts' references
        are another namespace: a payout may carry the same ``thirdPartyTransId``.
        """
        existing = self._count_in(self.collections, order.third_party_trans_id, submissions=1)
        if existing is not None:
            same = existing.order.same_parameters(order)
            outcome = SubmitOutcome.REPEATED if same else SubmitOutcome.CONFLICT
            return CollectionResult(outcome, existing)

        now, wall = self._clock(), self._wall_clock()
        scenario = collection_scenario_for(order.msisdn)
        collection = Collection(
            order=order,
            transaction_id=_new_transaction_id(),
            scenario=scenario,
            status=HubStatus.PENDING_AWAITING,
            ack_code=ACK_ACCEPTED,
            executed=False,
            created_at=wall,
            updated_at=wall,
            expires_at=wall + timedelta(seconds=order.approval_window_seconds),
        )
        if scenario is CollectionScenario.INVALID_NUMBER:
            # No prompt can reach the number: rejected at once, like a payout to it.
            collection.status = HubStatus.INVALID_MSISDN
            collection.ack_code = ACK_REJECTED
        else:
            collection.plan = self._collection_plan(scenario, now, order.approval_window_seconds)
        self.collections.add(collection)
        self._noted(self.collections, collection)
        self._flush()
        return CollectionResult(SubmitOutcome.CREATED, collection)

    def query_collection(self, third_party_trans_id: str) -> Collection | None:
        """The collection with that reference, if any, counting the status query."""
        return self._count_in(self.collections, third_party_trans_id, queries=1)

    def cancel_collection(self, third_party_trans_id: str) -> Collection:
        """Withdraw the payer's prompt: the collection ends cancelled (ER107), with a webhook.

        Cancelling a cancelled collection answers it again and changes nothing.

        Raises:
            TransferNotFound: no collection has that reference.
            CancelRefused: it is final otherwise, or the payer is already approving it.
        """
        collection = self.collections.get(third_party_trans_id)
        if collection is None:
            raise TransferNotFound(third_party_trans_id)
        if collection.status is HubStatus.CANCELLED:
            return collection
        approving = collection.scenario is CollectionScenario.APPROVES_LATE
        if collection.status.is_final or approving:
            raise CancelRefused(NOT_CANCELLABLE_MESSAGE)
        collection.plan.clear()
        self._set_collection_status(collection, HubStatus.CANCELLED, notify=True)
        self._flush()
        return collection

    def force_collection_status(self, third_party_trans_id: str, status: HubStatus) -> Collection:
        """Give a pending collection a final status now and announce it by webhook.

        Raises:
            TransferNotFound: no collection has that reference.
            ValueError: ``status`` is not final.
            ResolveRefused: the collection is already final.
        """
        if not status.is_final:
            raise ValueError(f"{status.value} is not a final status")
        collection = self.collections.get(third_party_trans_id)
        if collection is None:
            raise TransferNotFound(third_party_trans_id)
        if collection.status.is_final:
            raise ResolveRefused(f"the collection is already final ({collection.status.value})")
        collection.plan.clear()
        self._set_collection_status(collection, status, notify=True)
        self._flush()
        return collection

    def _collection_plan(
        self, scenario: CollectionScenario, now: float, window_seconds: int
    ) -> list[PlannedStep]:
        settle = now + self.config.settle_seconds
        expiry = now + window_seconds
        match scenario:
            case CollectionScenario.NEVER_ANSWERS:
                return [PlannedStep(expiry, HubStatus.EXPIRED, notify=True)]
            case CollectionScenario.APPROVES_LATE:
                late = expiry + self.config.late_success_seconds
                return [PlannedStep(late, HubStatus.SUCCESS, notify=True)]
            case _ if settle > expiry:
                # The payer would answer after the prompt is gone: it expires first.
                return [PlannedStep(expiry, HubStatus.EXPIRED, notify=True)]
            case _:
                final = scenario.final_status or HubStatus.SUCCESS
                notify = scenario is not CollectionScenario.WEBHOOK_NEVER_SENT
                return [PlannedStep(settle, final, notify=notify)]

    def _take_collection_step(self, collection: Collection, step: PlannedStep) -> None:
        self._set_collection_status(collection, step.status, notify=step.notify)

    def _set_collection_status(
        self, collection: Collection, status: HubStatus, *, notify: bool
    ) -> None:
        collection.status = status
        collection.updated_at = self._wall_clock()
        if status is HubStatus.SUCCESS and not collection.executed:
            # Paid: the hub keeps its fee and credits the rest to the merchant's float.
            order = collection.order
            collection.fee = fee_of(order.amount, self.config.collection_fee_bps)
            collection.paid_at = self._clock()
            collection.executed = True
            self.floats.credit(order.currency, order.amount - collection.fee)
        self._noted(self.collections, collection)
        if notify:
            self._enqueue_webhooks(collection)

    # -- refunds -----------------------------------------------------------------------

    def refund(self, order: RefundOrder) -> RefundResult:
        """Record a refund of a paid collection, or answer a repeat of its external id.

        Several refunds of one collection are fine, also of the same amount, as long as
        the refunds that have not failed (pending, processed or reversed) stay within
        what was collected. A repeat with the same parameters is answered with the
        existing refund and executes nothing.

        Raises:
            RefundRefused: the external id is taken by another refund (409), the
                collection is unknown (404) or not paid, the currency is not its
                currency, the refund window has passed or the amount is exceeded (422).
        """
        refund_id = self._refund_ids.get(order.external_refund_id)
        if refund_id is not None:
            existing = self._count_in(self.refunds, refund_id, submissions=1)
            assert existing is not None, "the index only holds filed refunds"
            if not existing.order.same_parameters(order):
                raise RefundRefused(
                    409,
                    RefundErrorCode.DUPLICATE_EXTERNAL_REFUND_ID,
                    "a refund with this external_refund_id exists with other parameters",
                )
            return RefundResult(SubmitOutcome.REPEATED, existing)

        now = self._clock()
        self._check_refundable(order, now)
        scenario = refund_scenario_for(order.amount)
        wall = self._wall_clock()
        refund = Refund(
            order=order,
            refund_id=_new_refund_id(),
            scenario=scenario,
            status=HubRefundStatus.PENDING,
            executed=False,
            created_at=wall,
            updated_at=wall,
        )
        settle = now + self.config.settle_seconds
        if scenario is RefundScenario.TIMEOUT_AFTER_ACCEPT:
            # Executed at once, so a client that timed out finds the money already gone.
            if self._execute_refund(refund):
                refund.plan = [RefundStep(settle, HubRefundStatus.PROCESSED, notify=True)]
            else:
                failed = HubRefundStatus.FAILED
                refund.plan = [RefundStep(settle, failed, notify=True, failure_reason=FLOAT_SHORT)]
        else:
            refund.plan = self._refund_plan(scenario, settle)
        self.refunds.add(refund)
        self._index(refund)
        self._noted(self.refunds, refund)
        self._flush()
        return RefundResult(SubmitOutcome.CREATED, refund)

    def query_refund(self, refund_id: str) -> Refund | None:
        """The refund with that hub id, if any, counting the status query."""
        return self._count_in(self.refunds, refund_id, queries=1)

    def query_refund_by_external_id(self, external_refund_id: str) -> Refund | None:
        """The refund with that client reference, if any, counting the status query."""
        refund_id = self._refund_ids.get(external_refund_id)
        return None if refund_id is None else self.query_refund(refund_id)

    def refunds_of(self, original_transaction_id: str) -> list[Refund]:
        """The refunds of a collection, oldest first."""
        return list(self._refunds_of.get(original_transaction_id, []))

    def force_refund_status(self, refund_id: str, status: HubRefundStatus) -> Refund:
        """Process or fail a pending refund now and announce it by webhook.

        Raises:
            TransferNotFound: no refund has that id.
            ValueError: ``status`` is neither processed nor failed.
            ResolveRefused: the refund is no longer pending, or the float cannot cover it.
        """
        if status not in (HubRefundStatus.PROCESSED, HubRefundStatus.FAILED):
            raise ValueError(f"{status.value}: a refund can only be forced to processed or failed")
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise TransferNotFound(refund_id)
        if refund.status.is_final:
            raise ResolveRefused(f"the refund is already final ({refund.status.value})")
        if status is HubRefundStatus.PROCESSED and not refund.executed:
            if not self._execute_refund(refund):
                raise ResolveRefused(f"the {refund.order.currency} float cannot cover it")
        refund.plan.clear()
        self._set_refund_status(refund, status, None, notify=True)
        self._flush()
        return refund

    def _check_refundable(self, order: RefundOrder, now: float) -> None:
        """Refuse ``order`` unless it may refund its collection now.

        Raises:
            RefundRefused: it may not; see :meth:`refund`.
        """
        original = self.collections.get(order.original_transaction_id)
        if original is None:
            raise RefundRefused(
                404,
                RefundErrorCode.INVALID_TRANSACTION,
                "no collection with given thirdPartyTransId",
            )
        if original.status is not HubStatus.SUCCESS or original.paid_at is None:
            raise RefundRefused(
                422,
                RefundErrorCode.INVALID_TRANSACTION,
                f"the collection is not paid ({original.status.value}): nothing to refund",
            )
        if order.currency != original.order.currency:
            raise RefundRefused(
                422,
                RefundErrorCode.CURRENCY_MISMATCH,
                f"the collection is in {original.order.currency}, not {order.currency}",
            )
        window = self.config.refund_window_days * SECONDS_PER_DAY
        if now - original.paid_at > window:
            raise RefundRefused(
                422,
                RefundErrorCode.REFUND_WINDOW_EXPIRED,
                f"the collection was paid more than {self.config.refund_window_days} days ago",
            )
        # Failed refunds gave nothing back; every other one counts, also reversed ones.
        committed = sum(
            refund.order.amount
            for refund in self._refunds_of.get(order.original_transaction_id, [])
            if refund.status is not HubRefundStatus.FAILED
        )
        collected = original.order.amount
        if committed + order.amount > collected:
            left = Money(amount=max(0, collected - committed), currency=order.currency)
            raise RefundRefused(
                422,
                RefundErrorCode.AMOUNT_EXCEEDED,
                f"the refunds would exceed the collected amount: {left.to_major()} left",
            )

    def _refund_plan(self, scenario: RefundScenario, settle: float) -> list[RefundStep]:
        processed = HubRefundStatus.PROCESSED
        match scenario:
            case RefundScenario.NEVER_RESOLVES:
                return []
            case RefundScenario.FAILED:
                failed = HubRefundStatus.FAILED
                return [RefundStep(settle, failed, notify=True, failure_reason=REFUND_DECLINED)]
            case RefundScenario.REVERSED:
                late = settle + self.config.late_success_seconds
                reversed_ = HubRefundStatus.REVERSED
                return [
                    RefundStep(settle, processed, notify=True),
                    RefundStep(late, reversed_, notify=True, failure_reason=REFUND_RETURNED),
                ]
            case RefundScenario.WEBHOOK_NEVER_SENT:
                return [RefundStep(settle, processed, notify=False)]
            case _:
                return [RefundStep(settle, processed, notify=True)]

    def _index(self, refund: Refund) -> None:
        self._refund_ids[refund.external_refund_id] = refund.refund_id
        self._refunds_of.setdefault(refund.order.original_transaction_id, []).append(refund)

    def _execute_refund(self, refund: Refund) -> bool:
        """Take the refund's money out of the float once; False if the float is short."""
        if not self.floats.debit(refund.order.currency, refund.order.amount):
            return False
        refund.executed = True
        refund.execution_count += 1
        self._noted(self.refunds, refund)
        return True

    def _take_refund_step(self, refund: Refund, step: RefundStep) -> None:
        status, reason = step.status, step.failure_reason
        if status is HubRefundStatus.PROCESSED and not refund.executed:
            if not self._execute_refund(refund):
                # The float cannot pay it: it fails, and nothing planned after it happens.
                status, reason = HubRefundStatus.FAILED, FLOAT_SHORT
                refund.plan.clear()
        self._set_refund_status(refund, status, reason, notify=step.notify)

    def _set_refund_status(
        self,
        refund: Refund,
        status: HubRefundStatus,
        failure_reason: str | None,
        *,
        notify: bool,
    ) -> None:
        if status in (HubRefundStatus.FAILED, HubRefundStatus.REVERSED) and refund.executed:
            # The money came back (or never left the hub): the float has it again.
            self.floats.credit(refund.order.currency, refund.order.amount)
            refund.executed = False
        refund.status = status
        refund.failure_reason = failure_reason
        refund.updated_at = self._wall_clock()
        self._noted(self.refunds, refund)
        if notify:
            self._enqueue_refund_webhooks(refund)

    # -- records in books --------------------------------------------------------------

    def _count_in(
        self, book: RecordBook[RecordT], key: str, *, submissions: int = 0, queries: int = 0
    ) -> RecordT | None:
        """The record filed under ``key`` in ``book``, if any, its counters raised."""
        record = book.get(key)
        if record is not None:
            record.submit_count += submissions
            record.status_queries += queries
            self._noted(book, record)
            self._flush()
        return record

    def _noted(self, book: RecordBook[RecordT], record: RecordT) -> None:
        """Note that ``record`` of ``book`` changed, for the state file."""
        self._journal.put(book.kind, record.record_id, lambda: book.encode(record))

    # -- webhooks ----------------------------------------------------------------------

    def _enqueue_webhooks(self, record: Transfer | Collection) -> None:
        url = self.config.webhook_url
        if url is None:
            return
        twice = self.faults.duplicate_webhooks
        copies = 2 if twice or record.duplicate_webhook else 1
        event = record.callback(_new_event_id(), record.status, record.updated_at)
        last = self._enqueue_event(url, event, copies, after=None)
        if self.faults.out_of_order_webhooks and record.status.is_final:
            # A stale report of the earlier pending state, stamped with that earlier
            # time, arriving after the final one: receivers must not step back.
            stale = record.callback(_new_event_id(), record.pending_status, record.created_at)
            self._enqueue_event(url, stale, 2 if twice else 1, after=last)

    def _enqueue_event(
        self, url: str, event: HubCallback, copies: int, after: Delivery | None
    ) -> Delivery:
        return self.outbox.enqueue(
            reference=event.third_party_trans_id,
            status=event.status,
            body=event.body(),
            url=url,
            event_id=event.event_id,
            copies=copies,
            after=after,
        )

    def _enqueue_refund_webhooks(self, refund: Refund) -> None:
        url = self.config.webhook_url
        if url is None:
            return
        twice = self.faults.duplicate_webhooks
        copies = 2 if twice or refund.duplicate_webhook else 1
        event = refund.callback(_new_event_id(), refund.status, refund.updated_at)
        last = self._enqueue_refund_event(url, event, copies, after=None)
        if self.faults.out_of_order_webhooks:
            stale = refund.callback(_new_event_id(), HubRefundStatus.PENDING, refund.created_at)
            self._enqueue_refund_event(url, stale, 2 if twice else 1, after=last)

    def _enqueue_refund_event(
        self, url: str, event: HubRefundCallback, copies: int, after: Delivery | None
    ) -> Delivery:
        # Logged under our reference, like every delivery; filed under the hub's id.
        return self.outbox.enqueue(
            reference=event.external_refund_id,
            record_id=event.refund_id,
            status=event.status,
            body=event.body(),
            url=url,
            event_id=event.event_id,
            copies=copies,
            after=after,
        )
