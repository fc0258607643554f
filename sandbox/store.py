"""State of one sandbox hub: transfers, float, webhook outbox and delivery log.

The store is synchronous and never awaits, so on one event loop every method runs
atomically: no locks are needed. Scheduling is state-based: each transfer carries a plan
of timed status steps, and each webhook delivery its own ``next_attempt_at``; the
background scheduler (:mod:`sandbox.delivery`) only asks the store what is due.
Unix seconds drive every delay, so due times kept in a state file still mean the same
after a restart; wall-clock UTC datetimes are every timestamp shown to clients.

The state lives in memory; with ``SandboxConfig.state_file`` set, every method that
changes it also writes the change through to that file (:mod:`sandbox.persistence`)
before returning, and a new store on the same file starts where the last one stopped.
"""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from payments_engine.domain.hub import ACK_ACCEPTED, ACK_REJECTED, HubCallback, HubStatus
from payments_engine.sandbox.config import Faults, SandboxConfig
from payments_engine.sandbox.persistence import HubDatabase, SavedState
from payments_engine.sandbox.records import Delivery, PayoutOrder, PlannedStep, Transfer
from payments_engine.sandbox.scenarios import Scenario, scenario_for

# The records live in sandbox.records, shared with the state file; importers of the
# store's names keep finding them here.
__all__ = [
    "Delivery",
    "HubStore",
    "PayoutOrder",
    "PlannedStep",
    "ResolveRefused",
    "SubmitOutcome",
    "SubmitResult",
    "Transfer",
    "TransferNotFound",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _new_transaction_id() -> str:
    return "MFS" + uuid.uuid4().hex[:12].upper()


def _new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:16]


def _new_delivery_id() -> str:
    return "dlv_" + uuid.uuid4().hex[:12]


class TransferNotFound(LookupError):
    """The hub holds no transfer with the given ``thirdPartyTransId``."""


class ResolveRefused(Exception):
    """A forced resolution cannot be applied (already final, or the float is too low)."""


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


class HubStore:
    """Everything one sandbox hub knows, in memory and, if configured, in its state file.

    Args:
        config: the sandbox configuration (floats, timings, webhook settings, state file).
        clock: Unix seconds, for every delay; due times are kept in the state file, so
            a clock that restarts from zero (``time.monotonic``) would break them.
        wall_clock: aware UTC now, for every timestamp.

    Raises:
        SandboxStateError: ``config.state_file`` is not a usable state file.
    """

    def __init__(
        self,
        config: SandboxConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; no faults either way."""
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._sequence = itertools.count()
        self.faults = Faults()
        self._floats: dict[str, int] = dict(config.float_balances)
        self._transfers: dict[str, Transfer] = {}
        # (time of the head step, tie-breaker, thirdPartyTransId); one entry per planned
        # transfer, so a transfer whose plan was cleared leaves at most a stale entry.
        self._schedule: list[tuple[float, int, str]] = []
        self._outbox: list[Delivery] = []
        self._log: list[Delivery] = []
        # What the current method changed, written through by _flush() before it returns.
        self._changed_transfers: dict[str, Transfer] = {}
        self._changed_deliveries: dict[str, Delivery] = {}
        self._changed_floats: set[str] = set()
        self._db: HubDatabase | None = None
        if config.state_file is not None:
            self._db = HubDatabase(config.state_file)
            self._restore(self._db.load())

    def _restore(self, saved: SavedState) -> None:
        self._floats.update(saved.floats)
        for transfer in saved.transfers:
            self._transfers[transfer.third_party_trans_id] = transfer
            if transfer.plan:
                # Steps that came due while the hub was down are applied by the next advance().
                self._push(transfer)
        self._log = list(saved.deliveries)
        self._outbox = [delivery for delivery in self._log if not delivery.done]

    def close(self) -> None:
        """Close the state file, if any; later changes would stay in memory only."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def reset(self) -> None:
        """Forget every transfer and delivery, clear the faults and restore the floats.

        The state file, if any, is emptied too.
        """
        self.faults = Faults()
        self._floats = dict(self.config.float_balances)
        self._transfers.clear()
        self._schedule.clear()
        self._outbox.clear()
        self._log.clear()
        self._changed_transfers.clear()
        self._changed_deliveries.clear()
        self._changed_floats.clear()
        if self._db is not None:
            self._db.clear()

    def _flush(self) -> None:
        """Write what the current method changed to the state file, in one transaction."""
        # A failed write raises before the clearing below, so the next flush retries it.
        if self._db is not None:
            self._db.save(
                transfers=self._changed_transfers.values(),
                deliveries=self._changed_deliveries.values(),
                floats={currency: self._floats[currency] for currency in self._changed_floats},
            )
        self._changed_transfers.clear()
        self._changed_deliveries.clear()
        self._changed_floats.clear()

    def _changed(self, transfer: Transfer) -> None:
        self._changed_transfers[transfer.third_party_trans_id] = transfer

    # -- transfers ---------------------------------------------------------------------

    def submit(self, order: PayoutOrder) -> SubmitResult:
        """Record and execute a payout, or answer a repeat of its reference.

        A repeat never executes anything: with the same parameters it is answered with
        the existing transfer, with other parameters it is a conflict.
        """
        existing = self._transfers.get(order.third_party_trans_id)
        if existing is not None:
            existing.submit_count += 1
            self._changed(existing)
            self._flush()
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
        self._transfers[order.third_party_trans_id] = transfer
        self._changed(transfer)
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

    def get(self, third_party_trans_id: str) -> Transfer | None:
        """The transfer with that reference, if any."""
        return self._transfers.get(third_party_trans_id)

    def query_status(self, third_party_trans_id: str) -> Transfer | None:
        """Like :meth:`get`, counting the query on the transfer."""
        transfer = self._transfers.get(third_party_trans_id)
        if transfer is not None:
            transfer.status_queries += 1
            self._changed(transfer)
            self._flush()
        return transfer

    def transfers(self) -> list[Transfer]:
        """Every transfer, oldest first."""
        return list(self._transfers.values())

    def balances(self) -> dict[str, int]:
        """The float per currency, in minor units."""
        return dict(sorted(self._floats.items()))

    def advance(self) -> list[Transfer]:
        """Apply every planned status step that is due; return the transfers it changed."""
        now = self._clock()
        changed: list[Transfer] = []
        while self._schedule and self._schedule[0][0] <= now:
            _, _, reference = heapq.heappop(self._schedule)
            transfer = self._transfers.get(reference)
            if transfer is None or not transfer.plan:
                continue
            while transfer.plan and transfer.plan[0].at <= now:
                step = transfer.plan.pop(0)
                self._set_status(transfer, step.status, notify=step.notify)
            changed.append(transfer)
            if transfer.plan:
                self._push(transfer)
        self._flush()
        return changed

    def force_status(self, third_party_trans_id: str, status: HubStatus) -> Transfer:
        """Give a transfer a final status now and announce it by webhook.

        Raises:
            TransferNotFound: no transfer has that reference.
            ValueError: ``status`` is not final.
            ResolveRefused: the transfer is already final, or a success cannot be paid
                from the float.
        """
        if not status.outcome.is_final:
            raise ValueError(f"{status.value} is not a final status")
        transfer = self._transfers.get(third_party_trans_id)
        if transfer is None:
            raise TransferNotFound(third_party_trans_id)
        if transfer.status.outcome.is_final:
            raise ResolveRefused(f"the transfer is already final ({transfer.status.value})")
        if status is HubStatus.SUCCESS and not transfer.executed and not self._debit(transfer):
            raise ResolveRefused(f"the {transfer.order.currency} float cannot cover it")
        transfer.plan.clear()
        self._set_status(transfer, status, notify=True)
        self._flush()
        return transfer

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

    def _push(self, transfer: Transfer) -> None:
        heapq.heappush(
            self._schedule,
            (transfer.plan[0].at, next(self._sequence), transfer.third_party_trans_id),
        )

    def _debit(self, transfer: Transfer) -> bool:
        currency, amount = transfer.order.currency, transfer.order.amount
        available = self._floats.get(currency, 0)
        if available < amount:
            return False
        self._floats[currency] = available - amount
        self._changed_floats.add(currency)
        transfer.executed = True
        self._changed(transfer)
        return True

    def _set_status(self, transfer: Transfer, status: HubStatus, *, notify: bool) -> None:
        transfer.status = status
        transfer.updated_at = self._wall_clock()
        self._changed(transfer)
        if status.outcome.is_final and status is not HubStatus.SUCCESS and transfer.executed:
            # A failed transfer never reached the wallet: the money goes back to the float.
            currency = transfer.order.currency
            self._floats[currency] = self._floats.get(currency, 0) + transfer.order.amount
            self._changed_floats.add(currency)
            transfer.executed = False
        if notify:
            self._enqueue_webhooks(transfer)

    # -- webhooks ----------------------------------------------------------------------

    def _enqueue_webhooks(self, transfer: Transfer) -> None:
        if self.config.webhook_url is None:
            return
        twice = self.faults.duplicate_webhooks
        copies = 2 if twice or transfer.scenario is Scenario.DUPLICATE_WEBHOOK else 1
        event = transfer.callback(_new_event_id(), transfer.status, transfer.updated_at)
        last = self._enqueue_event(event, copies, after=None)
        if self.faults.out_of_order_webhooks and transfer.status.outcome.is_final:
            # A stale report of the earlier pending state, stamped with that earlier
            # time, arriving after the final one: receivers must not step back.
            stale = transfer.callback(_new_event_id(), HubStatus.PENDING, transfer.created_at)
            self._enqueue_event(stale, 2 if twice else 1, after=last)

    def _enqueue_event(self, event: HubCallback, copies: int, after: Delivery | None) -> Delivery:
        body = event.model_dump_json(by_alias=True).encode("utf-8")
        now, wall = self._clock(), self._wall_clock()
        created: list[Delivery] = []
        for _ in range(copies):
            delivery = Delivery(
                delivery_id=_new_delivery_id(),
                event_id=event.event_id,
                third_party_trans_id=event.third_party_trans_id,
                status=event.status,
                body=body,
                next_attempt_at=now,
                created_at=wall,
                after=created[-1] if created else after,
            )
            self._outbox.append(delivery)
            self._log.append(delivery)
            self._changed_deliveries[delivery.delivery_id] = delivery
            created.append(delivery)
        return created[-1]

    def claim_due_deliveries(self) -> list[Delivery]:
        """Mark the deliveries due for an attempt as in flight and return them."""
        now = self._clock()
        due: list[Delivery] = []
        for delivery in self._outbox:
            if delivery.in_flight or delivery.next_attempt_at > now:
                continue
            if delivery.after is not None and not delivery.after.done:
                continue
            delivery.in_flight = True
            due.append(delivery)
        return due

    def release(self, delivery: Delivery) -> None:
        """Put back a claimed delivery whose attempt was abandoned (cancelled) unsent."""
        delivery.in_flight = False

    def record_attempt(
        self, delivery: Delivery, *, http_status: int | None, error: str | None
    ) -> None:
        """Record one delivery attempt; ``error`` None means the receiver accepted it.

        A failed attempt is retried after the next configured delay; after the last one
        the delivery is given up and stays in the log as failed.
        """
        # After a reset the delivery may already be gone: then nothing is written back.
        current = delivery in self._outbox
        delivery.in_flight = False
        delivery.attempts += 1
        delivery.last_http_status = http_status
        delivery.last_error = error
        delivery.last_attempt_at = self._wall_clock()
        delays = self.config.webhook_retry_delays
        if error is None:
            delivery.delivered = True
        elif delivery.attempts > len(delays):
            delivery.gave_up = True
        else:
            delivery.next_attempt_at = self._clock() + delays[delivery.attempts - 1]
        if not current:
            return
        if delivery.done:
            self._outbox.remove(delivery)
        self._changed_deliveries[delivery.delivery_id] = delivery
        self._flush()

    def deliveries(self) -> list[Delivery]:
        """The delivery log, oldest first, pending deliveries included."""
        return list(self._log)
