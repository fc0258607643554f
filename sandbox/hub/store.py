"""State of one sandbox hub: transfers with their plans, on the common store machinery.

Faults, the float, the webhook outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`); this module adds the
hub's transfers, what each magic number plans for them and the hub's webhook events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import Document, DocumentStore
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
    utc_now,
)
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.persistence import decode_transfer, encode_transfer, import_v1
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


class HubStore(SimulatorStore[SandboxConfig, Transfer]):
    """Everything one sandbox hub knows, in memory and, if configured, in its state file.

    Transfers are filed under their ``thirdPartyTransId``. Webhooks are retried after the
    configured delays; a version-1 state file (the hub's own tables) is imported.
    """

    provider = PROVIDER
    legacy = import_v1

    @staticmethod
    def _new_delivery_id() -> str:
        return "dlv_" + uuid.uuid4().hex[:12]

    def _retry_delays(self) -> Sequence[float]:
        return self.config.webhook_retry_delays

    def _restore(self, db: DocumentStore) -> None:
        super()._restore(db)
        for delivery in self.outbox.deliveries():
            if not delivery.url and self.config.webhook_url is not None:
                delivery.url = self.config.webhook_url  # imported from a version-1 file

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
