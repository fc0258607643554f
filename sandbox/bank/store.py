"""State of one bank simulator: transfers by ``external_id``, their plans and webhooks.

Faults, the float, the webhook outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`); this module adds the
idempotent submission (same ``external_id`` and body: the same transfer; another body:
a conflict), what each magic account number plans, the history of each transfer and
its ``transfer.settled`` / ``transfer.returned`` webhooks, retried after the configured
delays.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.bank.records import (
    BankTransfer,
    HistoryEntry,
    PlannedStep,
    TransferOrder,
    decode_transfer,
    encode_transfer,
)
from payments_engine.sandbox.bank.scenarios import SLOW_FACTOR, BankScenario, scenario_for
from payments_engine.sandbox.bank.wire import (
    IDEMPOTENCY_CONFLICT_MESSAGE,
    PROVIDER,
    ErrorCode,
    ReturnCode,
    TransferStatus,
)
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import Document
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
)

__all__ = [
    "BankStore",
    "ResolveRefused",
    "SubmitOutcome",
    "SubmitRefused",
    "SubmitResult",
    "TransferNotFound",
]


class SubmitOutcome(StrEnum):
    """What a submission did."""

    CREATED = "created"
    REPEATED = "repeated"


@dataclass(frozen=True)
class SubmitResult:
    """A created transfer, or the one an identical earlier submission created."""

    outcome: SubmitOutcome
    transfer: BankTransfer


class SubmitRefused(Exception):
    """The bank refuses the submission; nothing is created.

    Attributes:
        http_status: 400 for a business refusal, 409 for a reused ``external_id``.
        code: the bank's error code.
    """

    def __init__(self, http_status: int, code: ErrorCode, message: str) -> None:
        """Keep the answer's status, code and message."""
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message


def new_transfer_id() -> str:
    """A new transfer id of the bank."""
    return "trf_" + uuid.uuid4().hex[:16]


def new_event_id() -> str:
    """A new webhook event id."""
    return "evt_" + uuid.uuid4().hex[:16]


class BankStore(SimulatorStore[BankSandboxConfig, BankTransfer]):
    """Everything one bank simulator knows, in memory and, if configured, in its state file.

    Transfers are filed under their ``external_id``. Webhooks are retried after
    ``webhook_retry_delays``; a resend repeats an event byte for byte.
    """

    provider = PROVIDER

    @staticmethod
    def _new_delivery_id() -> str:
        return "msg_" + uuid.uuid4().hex

    def _retry_delays(self) -> Sequence[float]:
        return self.config.webhook_retry_delays

    def _encode(self, transfer: BankTransfer) -> Document:
        return encode_transfer(transfer)

    def _decode(self, document: Document) -> BankTransfer:
        return decode_transfer(document)

    def _take_step(self, transfer: BankTransfer, step: PlannedStep) -> None:
        self._set_status(transfer, step.status, step.return_code, notify=step.notify)

    # -- transfers ---------------------------------------------------------------------

    def submit(self, order: TransferOrder) -> SubmitResult:
        """Accept a transfer once per ``external_id`` and debit the float.

        A repeat with the same body answers the existing transfer (counted as a repeat);
        the magic account ending ``08`` and a float too low to cover it are refused,
        and nothing is created.

        Raises:
            SubmitRefused: 409 ``idempotency_conflict`` (the ``external_id`` carried
                another body), 400 ``invalid_account`` or ``insufficient_funds``.
        """
        digest = order.fingerprint()
        existing = self.note_repeat(order.external_id)
        if existing is not None:
            if existing.order_digest != digest:
                raise SubmitRefused(
                    409, ErrorCode.IDEMPOTENCY_CONFLICT, IDEMPOTENCY_CONFLICT_MESSAGE
                )
            return SubmitResult(SubmitOutcome.REPEATED, existing)

        scenario = scenario_for(order.account_number)
        if scenario is BankScenario.INVALID_ACCOUNT:
            raise SubmitRefused(
                400, ErrorCode.INVALID_ACCOUNT, "the receiving bank has no such account"
            )
        if not self.floats.debit(order.currency, order.amount):
            raise SubmitRefused(
                400,
                ErrorCode.INSUFFICIENT_FUNDS,
                f"the originating account cannot cover this {order.currency} transfer",
            )
        now, wall = self._clock(), self._wall_clock()
        transfer = BankTransfer(
            order=order,
            transfer_id=new_transfer_id(),
            order_digest=digest,
            scenario=scenario,
            status=TransferStatus.ACCEPTED,
            executed=True,
            created_at=wall,
            updated_at=wall,
            history=[HistoryEntry(TransferStatus.ACCEPTED, wall)],
        )
        transfer.plan = self._plan(scenario, now)
        self._add(transfer)
        if transfer.plan:
            self._push(transfer)
        self._flush()
        return SubmitResult(SubmitOutcome.CREATED, transfer)

    def _plan(self, scenario: BankScenario, now: float) -> list[PlannedStep]:
        delay = self.config.settlement_delay_seconds
        settle = now + delay
        match scenario:
            case BankScenario.SLOW:
                return [PlannedStep(now + SLOW_FACTOR * delay, TransferStatus.SETTLED, None, True)]
            case BankScenario.WEBHOOK_LOST:
                return [PlannedStep(settle, TransferStatus.SETTLED, None, notify=False)]
            case _:
                final = scenario.final_status or TransferStatus.SETTLED
                return [PlannedStep(settle, final, scenario.return_code, notify=True)]

    def force_status(
        self, external_id: str, status: TransferStatus, return_code: ReturnCode | None = None
    ) -> BankTransfer:
        """Give an ACCEPTED transfer a final status now and send its webhook.

        Raises:
            TransferNotFound: no transfer has that ``external_id``.
            ValueError: ``status`` is not final, or ``return_code`` does not fit it.
            ResolveRefused: the transfer is already final.
        """
        if not status.is_final:
            raise ValueError(f"{status.value} is not a final status")
        if (status is TransferStatus.RETURNED) != (return_code is not None):
            raise ValueError("RETURNED needs a return code; SETTLED takes none")
        transfer = self._pending(external_id)
        transfer.plan.clear()
        self._set_status(transfer, status, return_code, notify=True, forced=True)
        self._flush()
        return transfer

    def _set_status(
        self,
        transfer: BankTransfer,
        status: TransferStatus,
        return_code: ReturnCode | None,
        *,
        notify: bool,
        forced: bool = False,
    ) -> None:
        wall = self._wall_clock()
        transfer.status = status
        transfer.return_code = return_code if status is TransferStatus.RETURNED else None
        transfer.updated_at = wall
        transfer.history.append(HistoryEntry(status, wall, transfer.return_code, forced))
        if status is TransferStatus.RETURNED and transfer.executed:
            # The receiving bank sent the money back: it is in the float again.
            self.floats.credit(transfer.order.currency, transfer.order.amount)
            transfer.executed = False
        self._changed(transfer)
        if notify:
            self._announce(transfer)

    # -- webhooks ----------------------------------------------------------------------

    def _announce(self, transfer: BankTransfer) -> Delivery | None:
        """Queue the webhook of the transfer's final status as a new event.

        Delivered twice (the same event) with the ``duplicate_webhooks`` fault. Returns
        the last delivery queued; None when no webhook URL is configured.
        """
        url = self.config.webhook_url
        if url is None:
            return None
        event = transfer.event(new_event_id(), self._wall_clock())
        return self.outbox.enqueue(
            reference=transfer.record_id,
            record_id=transfer.record_id,
            status=transfer.status,
            body=event.to_json(),
            url=url,
            event_id=event.event_id,
            copies=2 if self.faults.duplicate_webhooks else 1,
        )

    def deliveries_of(self, external_id: str) -> list[Delivery]:
        """The webhook deliveries about one transfer, oldest first."""
        return [d for d in self.outbox.deliveries() if d.record_id == external_id]

    def resend_webhook(self, external_id: str) -> Delivery:
        """Send the webhook of the transfer's final status again.

        The last event sent for that status is repeated byte for byte (same event id),
        after its last delivery; when none was ever queued (the webhook was lost), a new
        event is sent.

        Raises:
            TransferNotFound: no transfer has that ``external_id``.
            ResolveRefused: the transfer is not final (there is no webhook to send), or
                no webhook URL is configured.
        """
        transfer = self._transfers.get(external_id)
        if transfer is None:
            raise TransferNotFound(external_id)
        if not transfer.status.is_final:
            raise ResolveRefused("the transfer is not final: it has no webhook yet")
        if self.config.webhook_url is None:
            raise ResolveRefused("no webhook URL is configured")
        sent = [d for d in self.deliveries_of(external_id) if d.status == transfer.status.value]
        if sent:
            last = sent[-1]
            delivery = self.outbox.enqueue(
                reference=last.reference,
                record_id=last.record_id,
                status=last.status,
                body=last.body,
                url=last.url,
                event_id=last.event_id,
                after=last,
            )
        else:
            announced = self._announce(transfer)
            assert announced is not None
            delivery = announced
        self._flush()
        return delivery
