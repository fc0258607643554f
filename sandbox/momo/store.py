"""State of one MoMo simulator: transfers by reference id, on the common store machinery.

Faults, the float, the callback outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`). MoMo sends each callback
once and never retries it, not even after a restart (the outbox is ``at_most_once``);
polling is the fallback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments_engine.sandbox.common.persistence import DocumentStore
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
    utc_now,
)
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.records import (
    MomoTransfer,
    PlannedStep,
    TransferOrder,
    decode_transfer,
    encode_transfer,
)
from payments_engine.sandbox.momo.scenarios import MomoScenario, scenario_for
from payments_engine.sandbox.momo.wire import PROVIDER, Reason, TransferStatus

TRANSFER = "transfer"

__all__ = [
    "MomoStore",
    "ResolveRefused",
    "SubmitResult",
    "TransferNotFound",
]

_AT_ONCE = (MomoScenario.PAYEE_NOT_FOUND, MomoScenario.NOT_ENOUGH_FUNDS)


def _new_financial_transaction_id() -> str:
    return str(uuid.uuid4().int % 10**10).zfill(10)


def _new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


@dataclass(frozen=True)
class SubmitResult:
    """What a submission did: created the transfer, or found its reference id taken."""

    created: bool
    transfer: MomoTransfer


class MomoStore(SimulatorStore):
    """Everything one MoMo simulator knows, in memory and, if configured, in its state file.

    Args:
        config: the simulator's configuration (floats, timings, callbacks, state file).
        clock: Unix seconds, for every delay (kept in the state file).
        wall_clock: aware UTC now, for every timestamp.

    Raises:
        SandboxStateError: ``config.state_file`` is not a usable state file.
    """

    def __init__(
        self,
        config: MomoSandboxConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; no faults either way."""
        super().__init__(
            provider=PROVIDER,
            state_file=config.state_file,
            float_balances=config.float_balances,
            retry_delays=(),
            new_delivery_id=_new_message_id,
            clock=clock,
            wall_clock=wall_clock,
            at_most_once=True,
        )
        self.config = config
        self._transfers: dict[str, MomoTransfer] = {}
        self._open()

    def _restore(self, db: DocumentStore) -> None:
        for _, document in db.load(TRANSFER):
            transfer = decode_transfer(document)
            self._transfers[transfer.reference_id] = transfer
            if transfer.plan:
                self._push(transfer)

    def _clear(self) -> None:
        self._transfers.clear()

    def _changed(self, transfer: MomoTransfer) -> None:
        self._journal.put(TRANSFER, transfer.reference_id, lambda: encode_transfer(transfer))

    # -- transfers ---------------------------------------------------------------------

    def note_repeat(self, reference_id: str) -> MomoTransfer | None:
        """Count a submission that reused a taken reference id; nothing else happens."""
        transfer = self._transfers.get(reference_id)
        if transfer is not None:
            transfer.submit_count += 1
            self._changed(transfer)
            self._flush()
        return transfer

    def submit(self, order: TransferOrder) -> SubmitResult:
        """Record and execute a transfer, unless its reference id is taken (then count it)."""
        existing = self.note_repeat(order.reference_id)
        if existing is not None:
            return SubmitResult(created=False, transfer=existing)

        now, wall = self._clock(), self._wall_clock()
        scenario = scenario_for(order.party_id)
        transfer = MomoTransfer(
            order=order,
            scenario=scenario,
            status=TransferStatus.PENDING,
            executed=False,
            created_at=wall,
            updated_at=wall,
        )
        self._transfers[order.reference_id] = transfer
        self._changed(transfer)
        if scenario in _AT_ONCE:
            # Refused before any money moved.
            self._set_status(transfer, TransferStatus.FAILED, scenario.reason, notify=True)
        elif self.floats.debit(order.currency, order.amount):
            transfer.executed = True
            transfer.plan = self._plan(scenario, now)
        else:
            # The simulator's own float cannot cover it: pending, then failed, unexecuted.
            settle = now + self.config.settle_seconds
            transfer.plan = [
                PlannedStep(settle, TransferStatus.FAILED, Reason.NOT_ENOUGH_FUNDS, notify=True)
            ]
        if transfer.plan:
            self._push(transfer)
        self._flush()
        return SubmitResult(created=True, transfer=transfer)

    def get(self, reference_id: str) -> MomoTransfer | None:
        """The transfer with that reference id, if any."""
        return self._transfers.get(reference_id)

    def query_status(self, reference_id: str) -> MomoTransfer | None:
        """Like :meth:`get`, counting the query on the transfer."""
        transfer = self._transfers.get(reference_id)
        if transfer is not None:
            transfer.status_queries += 1
            self._changed(transfer)
            self._flush()
        return transfer

    def by_external_id(self, external_id: str) -> list[MomoTransfer]:
        """Every transfer carrying that ``externalId``, oldest first."""
        return [t for t in self._transfers.values() if t.order.external_id == external_id]

    def transfers(self) -> list[MomoTransfer]:
        """Every transfer, oldest first."""
        return list(self._transfers.values())

    def advance(self) -> list[MomoTransfer]:
        """Apply every planned status step that is due; return the transfers it changed."""
        now = self._clock()
        changed: list[MomoTransfer] = []
        for reference_id in self._schedule.pop_due(now):
            transfer = self._transfers.get(reference_id)
            if transfer is None or not transfer.plan:
                continue
            while transfer.plan and transfer.plan[0].at <= now:
                step = transfer.plan.pop(0)
                self._set_status(transfer, step.status, step.reason, notify=step.notify)
            changed.append(transfer)
            if transfer.plan:
                self._push(transfer)
        self._flush()
        return changed

    def force_status(
        self, reference_id: str, status: TransferStatus, reason: Reason | None = None
    ) -> MomoTransfer:
        """Give a pending transfer a final status now and send its callback.

        Raises:
            TransferNotFound: no transfer has that reference id.
            ValueError: ``status`` is not final, or ``reason`` does not fit it.
            ResolveRefused: the transfer is already final, or a success cannot be paid
                from the float.
        """
        if not status.is_final:
            raise ValueError(f"{status.value} is not a final status")
        if (status is TransferStatus.FAILED) != (reason is not None):
            raise ValueError("a FAILED status needs a reason, a SUCCESSFUL one has none")
        transfer = self._transfers.get(reference_id)
        if transfer is None:
            raise TransferNotFound(reference_id)
        if transfer.status.is_final:
            raise ResolveRefused(f"the transfer is already final ({transfer.status.value})")
        order = transfer.order
        if status is TransferStatus.SUCCESSFUL and not transfer.executed:
            if not self.floats.debit(order.currency, order.amount):
                raise ResolveRefused(f"the {order.currency} float cannot cover it")
            transfer.executed = True
        transfer.plan.clear()
        self._set_status(transfer, status, reason, notify=True)
        self._flush()
        return transfer

    def _plan(self, scenario: MomoScenario, now: float) -> list[PlannedStep]:
        settle = now + self.config.settle_seconds
        match scenario:
            case MomoScenario.ONGOING:
                return []
            case MomoScenario.LATE_SUCCESS:
                late = now + self.config.late_success_seconds
                return [PlannedStep(late, TransferStatus.SUCCESSFUL, None, notify=True)]
            case MomoScenario.CALLBACK_LOST:
                return [PlannedStep(settle, TransferStatus.SUCCESSFUL, None, notify=False)]
            case _:
                final = scenario.final_status or TransferStatus.SUCCESSFUL
                return [PlannedStep(settle, final, scenario.reason, notify=True)]

    def _push(self, transfer: MomoTransfer) -> None:
        self._schedule.push(transfer.reference_id, transfer.plan[0].at)

    def _set_status(
        self,
        transfer: MomoTransfer,
        status: TransferStatus,
        reason: Reason | None,
        *,
        notify: bool,
    ) -> None:
        transfer.status = status
        transfer.reason = reason if status is TransferStatus.FAILED else None
        transfer.updated_at = self._wall_clock()
        if status is TransferStatus.SUCCESSFUL and transfer.financial_transaction_id is None:
            transfer.financial_transaction_id = _new_financial_transaction_id()
        if status is TransferStatus.FAILED and transfer.executed:
            # The payee never got it: the money goes back to the float.
            self.floats.credit(transfer.order.currency, transfer.order.amount)
            transfer.executed = False
        self._changed(transfer)
        if notify:
            self._send_callback(transfer)

    def _send_callback(self, transfer: MomoTransfer) -> None:
        url = transfer.order.callback_url or self.config.webhook_url
        if url is None:
            return
        self.outbox.enqueue(
            reference=transfer.order.external_id,
            record_id=transfer.reference_id,
            status=transfer.status,
            body=transfer.to_wire().to_json(),
            url=url,
        )
