"""State of one MoMo simulator: transfers by reference id, on the common store machinery.

Faults, the float, the callback outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`). MoMo sends each callback
once and never retries it, not even after a restart (the outbox is ``at_most_once``);
polling is the fallback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from payments_engine.sandbox.common.persistence import Document
from payments_engine.sandbox.common.store import ResolveRefused, SimulatorStore, TransferNotFound
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

__all__ = [
    "MomoStore",
    "ResolveRefused",
    "SubmitResult",
    "TransferNotFound",
]

_AT_ONCE = (MomoScenario.PAYEE_NOT_FOUND, MomoScenario.NOT_ENOUGH_FUNDS)


def _new_financial_transaction_id() -> str:
    return str(uuid.uuid4().int % 10**10).zfill(10)


@dataclass(frozen=True)
class SubmitResult:
    """What a submission did: created the transfer, or found its reference id taken."""

    created: bool
    transfer: MomoTransfer


class MomoStore(SimulatorStore[MomoSandboxConfig, MomoTransfer]):
    """Everything one MoMo simulator knows, in memory and, if configured, in its state file.

    Transfers are filed under their ``X-Reference-Id``. Each callback is sent once.
    """

    provider = PROVIDER
    # One attempt per callback (no retry delays), never repeated, not even after a restart.
    at_most_once = True

    @staticmethod
    def _new_delivery_id() -> str:
        return "msg_" + uuid.uuid4().hex

    def _encode(self, transfer: MomoTransfer) -> Document:
        return encode_transfer(transfer)

    def _decode(self, document: Document) -> MomoTransfer:
        return decode_transfer(document)

    def _take_step(self, transfer: MomoTransfer, step: PlannedStep) -> None:
        self._set_status(transfer, step.status, step.reason, notify=step.notify)

    # -- transfers ---------------------------------------------------------------------

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
        self._add(transfer)
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

    def by_external_id(self, external_id: str) -> list[MomoTransfer]:
        """Every transfer carrying that ``externalId``, oldest first."""
        return [t for t in self._transfers.values() if t.order.external_id == external_id]

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
        transfer = self._pending(reference_id)
        order = transfer.order
        if status is TransferStatus.SUCCESSFUL and not transfer.executed:
            if not self.floats.debit(order.currency, order.amount):
                raise ResolveRefused(f"the {order.currency} float cannot cover it")
            transfer.executed = True
        return self._resolve(transfer, PlannedStep(self._clock(), status, reason, notify=True))

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
