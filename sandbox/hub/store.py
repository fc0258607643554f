"""State of one sandbox hub: transfers with their plans, on the common store machinery.

Faults, the float, the webhook outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`); this module adds the
hub's transfers, what each magic number plans for them and the hub's webhook events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import DocumentStore
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
    utc_now,
)
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.persistence import (
    TRANSFER,
    decode_transfer,
    encode_transfer,
    import_v1,
)
from payments_engine.sandbox.hub.records import PayoutOrder, PlannedStep, Transfer
from payments_engine.sandbox.hub.scenarios import Scenario, scenario_for
from payments_engine.sandbox.hub.wire import (
    ACK_ACCEPTED,
    ACK_REJECTED,
    PROVIDER,
    HubCallback,
    HubStatus,
)

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


def _new_transaction_id() -> str:
    return "MFS" + uuid.uuid4().hex[:12].upper()


def _new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:16]


def _new_delivery_id() -> str:
    return "dlv_" + uuid.uuid4().hex[:12]


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


class HubStore(SimulatorStore):
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
        super().__init__(
            provider=PROVIDER,
            state_file=config.state_file,
            float_balances=config.float_balances,
            retry_delays=config.webhook_retry_delays,
            new_delivery_id=_new_delivery_id,
            clock=clock,
            wall_clock=wall_clock,
            legacy=import_v1,
        )
        self.config = config
        self._transfers: dict[str, Transfer] = {}
        self._open()

    def _restore(self, db: DocumentStore) -> None:
        for _, document in db.load(TRANSFER):
            transfer = decode_transfer(document)
            self._transfers[transfer.third_party_trans_id] = transfer
            if transfer.plan:
                # Steps that came due while the hub was down are applied by the next advance().
                self._push(transfer)
        for delivery in self.outbox.deliveries():
            if not delivery.url and self.config.webhook_url is not None:
                delivery.url = self.config.webhook_url  # imported from a version-1 file

    def _clear(self) -> None:
        self._transfers.clear()

    def _changed(self, transfer: Transfer) -> None:
        self._journal.put(
            TRANSFER, transfer.third_party_trans_id, lambda: encode_transfer(transfer)
        )

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

    def advance(self) -> list[Transfer]:
        """Apply every planned status step that is due; return the transfers it changed."""
        now = self._clock()
        changed: list[Transfer] = []
        for reference in self._schedule.pop_due(now):
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
        if not status.is_final:
            raise ValueError(f"{status.value} is not a final status")
        transfer = self._transfers.get(third_party_trans_id)
        if transfer is None:
            raise TransferNotFound(third_party_trans_id)
        if transfer.status.is_final:
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
        self._schedule.push(transfer.third_party_trans_id, transfer.plan[0].at)

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

    # -- webhooks ----------------------------------------------------------------------

    def _enqueue_webhooks(self, transfer: Transfer) -> None:
        url = self.config.webhook_url
        if url is None:
            return
        twice = self.faults.duplicate_webhooks
        copies = 2 if twice or transfer.scenario is Scenario.DUPLICATE_WEBHOOK else 1
        event = transfer.callback(_new_event_id(), transfer.status, transfer.updated_at)
        last = self._enqueue_event(url, event, copies, after=None)
        if self.faults.out_of_order_webhooks and transfer.status.is_final:
            # A stale report of the earlier pending state, stamped with that earlier
            # time, arriving after the final one: receivers must not step back.
            stale = transfer.callback(_new_event_id(), HubStatus.PENDING, transfer.created_at)
            self._enqueue_event(url, stale, 2 if twice else 1, after=last)

    def _enqueue_event(
        self, url: str, event: HubCallback, copies: int, after: Delivery | None
    ) -> Delivery:
        return self.outbox.enqueue(
            reference=event.third_party_trans_id,
            status=event.status,
            body=event.model_dump_json(by_alias=True).encode("utf-8"),
            url=url,
            event_id=event.event_id,
            copies=copies,
            after=after,
        )
