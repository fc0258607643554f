"""In-memory state of one sandbox hub: transfers, float, webhook outbox and delivery log.

The store is synchronous and never awaits, so on one event loop every method runs
atomically: no locks are needed. Scheduling is state-based: each transfer carries a plan
of timed status steps, and each webhook delivery its own ``next_attempt_at``; the
background scheduler (:mod:`sandbox.delivery`) only asks the store what is due.
Monotonic time drives every delay, wall-clock UTC time every timestamp shown to clients.
"""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from domain.hub import (
    ACK_ACCEPTED,
    ACK_REJECTED,
    HubAck,
    HubCallback,
    HubStatus,
    HubTransfer,
)
from domain.money import Money
from sandbox.config import Faults, SandboxConfig
from sandbox.scenarios import Scenario, scenario_for

STATUS_MESSAGES: dict[HubStatus, str] = {
    HubStatus.SUCCESS: "Transaction successful",
    HubStatus.PENDING: "Transaction pending",
    HubStatus.PENDING_AWAITING: "Transaction pending, awaiting the wallet",
    HubStatus.QUEUED: "Transaction queued",
    HubStatus.INVALID_MSISDN: "Invalid MSISDN",
    HubStatus.INSUFFICIENT_FUNDS: "Insufficient funds",
    HubStatus.WALLET_CLOSED: "Wallet closed",
    HubStatus.DAILY_LIMIT_EXCEEDED: "Daily limit exceeded",
}


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


@dataclass(frozen=True)
class PayoutOrder:
    """A validated payout request, with the amount in minor units.

    Attributes:
        third_party_trans_id: the client's reference, the idempotency key.
        msisdn: the beneficiary's number as the client sent it.
        country: ISO 3166-1 alpha-2 code, upper case.
        currency: ISO 4217 code.
        amount: minor units, positive.
        description: free text from the client.
    """

    third_party_trans_id: str
    msisdn: str
    country: str
    currency: str
    amount: int
    description: str | None = None

    def same_parameters(self, other: PayoutOrder) -> bool:
        """True if ``other`` asks for the same transfer (the description may differ)."""
        return (self.msisdn, self.country, self.currency, self.amount) == (
            other.msisdn,
            other.country,
            other.currency,
            other.amount,
        )


@dataclass(frozen=True)
class PlannedStep:
    """A status a transfer takes at a monotonic time, and whether a webhook announces it."""

    at: float
    status: HubStatus
    notify: bool


@dataclass(eq=False)
class Transfer:
    """One transfer as the hub records it.

    Attributes:
        executed: the money left the float: true while an accepted transfer is pending
            or once it succeeded; false for rejected ones and failed ones (refunded).
        plan: the status steps still to come, earliest first.
        submit_count: how many submissions carried this ``thirdPartyTransId``.
        status_queries: how many status queries asked for it.
    """

    order: PayoutOrder
    transaction_id: str
    scenario: Scenario
    status: HubStatus
    ack_code: str
    executed: bool
    created_at: datetime
    updated_at: datetime
    plan: list[PlannedStep] = field(default_factory=list)
    submit_count: int = 1
    status_queries: int = 0

    @property
    def third_party_trans_id(self) -> str:
        """The client's reference."""
        return self.order.third_party_trans_id

    @property
    def money(self) -> Money:
        """The amount and currency."""
        return Money(amount=self.order.amount, currency=self.order.currency)

    @property
    def message(self) -> str:
        """Human-readable text of the current status."""
        return STATUS_MESSAGES[self.status]

    def ack(self) -> HubAck:
        """The acknowledgement a submission of this transfer gets, now."""
        return HubAck(
            code=self.ack_code,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            message=self.message,
        )

    def to_wire(self) -> HubTransfer:
        """The answer of a status query."""
        amount = self.money.to_major()
        return HubTransfer(
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=self.status,
            currency=self.order.currency,
            send_amount=amount,
            receive_amount=amount,
            message=self.message,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def callback(self, event_id: str, status: HubStatus, timestamp: datetime) -> HubCallback:
        """A ``transactionStatus`` webhook reporting ``status`` as of ``timestamp``."""
        amount = self.money.to_major()
        return HubCallback(
            event_id=event_id,
            third_party_trans_id=self.third_party_trans_id,
            transaction_id=self.transaction_id,
            status=status,
            currency=self.order.currency,
            send_amount=amount,
            receive_amount=amount,
            message=STATUS_MESSAGES[status],
            timestamp=timestamp,
        )


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


@dataclass(eq=False)
class Delivery:
    """One delivery of a webhook event: an outbox entry while pending, then a log line.

    Two deliveries share an ``event_id`` when the hub sends an event twice on purpose.

    Attributes:
        body: the exact bytes sent at every attempt (the signature is fresh each time).
        after: a delivery that must be done (delivered or given up) before this one
            starts; it keeps duplicates and stale out-of-order events in sequence.
    """

    delivery_id: str
    event_id: str
    third_party_trans_id: str
    status: HubStatus
    body: bytes
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


class HubStore:
    """Everything one sandbox hub knows, in memory.

    Args:
        config: the sandbox configuration (floats, timings, webhook settings).
        clock: monotonic seconds, for every delay.
        wall_clock: aware UTC now, for every timestamp.
    """

    def __init__(
        self,
        config: SandboxConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start empty, with the configured floats and no faults."""
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

    def reset(self) -> None:
        """Forget every transfer and delivery, clear the faults and restore the floats."""
        self.faults = Faults()
        self._floats = dict(self.config.float_balances)
        self._transfers.clear()
        self._schedule.clear()
        self._outbox.clear()
        self._log.clear()

    # -- transfers ---------------------------------------------------------------------

    def submit(self, order: PayoutOrder) -> SubmitResult:
        """Record and execute a payout, or answer a repeat of its reference.

        A repeat never executes anything: with the same parameters it is answered with
        the existing transfer, with other parameters it is a conflict.
        """
        existing = self._transfers.get(order.third_party_trans_id)
        if existing is not None:
            existing.submit_count += 1
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
        if scenario is Scenario.INVALID_NUMBER:
            transfer.status = HubStatus.INVALID_MSISDN
            transfer.ack_code = ACK_REJECTED
            return SubmitResult(SubmitOutcome.CREATED, transfer)

        if self._debit(transfer):
            transfer.plan = self._plan(scenario, now)
        else:
            # The hub's own float cannot cover it: accepted, then failed like a real hub.
            settle = now + self.config.settle_seconds
            transfer.plan = [PlannedStep(settle, HubStatus.INSUFFICIENT_FUNDS, notify=True)]
        self._push(transfer)
        return SubmitResult(SubmitOutcome.CREATED, transfer)

    def get(self, third_party_trans_id: str) -> Transfer | None:
        """The transfer with that reference, if any."""
        return self._transfers.get(third_party_trans_id)

    def query_status(self, third_party_trans_id: str) -> Transfer | None:
        """Like :meth:`get`, counting the query on the transfer."""
        transfer = self._transfers.get(third_party_trans_id)
        if transfer is not None:
            transfer.status_queries += 1
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
        transfer.executed = True
        return True

    def _set_status(self, transfer: Transfer, status: HubStatus, *, notify: bool) -> None:
        transfer.status = status
        transfer.updated_at = self._wall_clock()
        if status.outcome.is_final and status is not HubStatus.SUCCESS and transfer.executed:
            # A failed transfer never reached the wallet: the money goes back to the float.
            currency = transfer.order.currency
            self._floats[currency] = self._floats.get(currency, 0) + transfer.order.amount
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
            return
        # After a reset the delivery may already be gone from the outbox.
        if delivery in self._outbox:
            self._outbox.remove(delivery)

    def deliveries(self) -> list[Delivery]:
        """The delivery log, oldest first, pending deliveries included."""
        return list(self._log)
