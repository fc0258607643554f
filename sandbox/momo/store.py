"""State of one MoMo simulator: transfers and requests to pay by reference id.

Faults, the float, the callback outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`), whose transfers are
MoMo's disbursement transfers; requests to pay are kept in a book of their own (a
:class:`~payments_engine.sandbox.hub.books.RecordBook`) on the same journal, clock and
outbox, so their reference ids are a namespace apart. MoMo sends each callback once and
never retries it, not even after a restart (the outbox is ``at_most_once``); polling is
the fallback.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments_engine.sandbox.common.books import RecordBook
from payments_engine.sandbox.common.persistence import Document, DocumentStore
from payments_engine.sandbox.common.store import (
    ResolveRefused,
    SimulatorStore,
    TransferNotFound,
    utc_now,
)
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.records import (
    REQUEST_TO_PAY,
    MomoRequestToPay,
    MomoTransfer,
    PlannedStep,
    RequestToPayOrder,
    TransferOrder,
    decode_request_to_pay,
    decode_transfer,
    encode_request_to_pay,
    encode_transfer,
)
from payments_engine.sandbox.momo.scenarios import (
    MomoScenario,
    RequestToPayScenario,
    request_to_pay_scenario_for,
    scenario_for,
)
from payments_engine.sandbox.momo.wire import PROVIDER, Reason, TransferStatus

__all__ = [
    "MomoStore",
    "RequestToPaySubmitResult",
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


@dataclass(frozen=True)
class RequestToPaySubmitResult:
    """What a request to pay did: created it, or found its reference id taken."""

    created: bool
    request: MomoRequestToPay


class MomoStore(SimulatorStore[MomoSandboxConfig, MomoTransfer]):
    """Everything one MoMo simulator knows, in memory and, if configured, in its state file.

    Transfers (the common store's) and requests to pay are each filed under their
    ``X-Reference-Id``, each kind apart. Each callback is sent once.

    Attributes:
        requests_to_pay: the requests to pay, oldest first.
    """

    provider = PROVIDER
    # One attempt per callback (no retry delays), never repeated, not even after a restart.
    at_most_once = True

    def __init__(
        self,
        config: MomoSandboxConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Start from the state file if there is one, else empty; see the common store."""
        # Before the common store opens the state file: loading fills this book.
        self.requests_to_pay: RecordBook[MomoRequestToPay] = RecordBook(
            REQUEST_TO_PAY, encode_request_to_pay, decode_request_to_pay
        )
        super().__init__(config, clock=clock, wall_clock=wall_clock)

    @staticmethod
    def _new_delivery_id() -> str:
        return "msg_" + uuid.uuid4().hex

    def _restore(self, db: DocumentStore) -> None:
        super()._restore(db)
        self.requests_to_pay.load(db)

    def reset(self) -> None:
        """Forget every transfer, request to pay and callback; restore the floats."""
        self.requests_to_pay.clear()
        super().reset()

    def advance(self) -> list[MomoTransfer]:
        """Apply every planned step that is due; return the transfers it changed.

        Requests to pay move on their plans too; they are not in the answer, which stays
        what the common store's callers expect.
        """
        self.requests_to_pay.advance(self._clock(), self._take_request_step)
        # The common advance writes everything changed so far in one transaction.
        return super().advance()

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

    # -- requests to pay ---------------------------------------------------------------

    def request_to_pay(self, order: RequestToPayOrder) -> RequestToPaySubmitResult:
        """Record a request to pay and ask its payer, unless its reference id is taken.

        A taken reference id (by another request to pay: transfers are another
        namespace) is counted and changes nothing else. Nothing moves until the payer
        pays: then the float is credited with the whole amount (MoMo states no fee).
        """
        existing = self.note_request_repeat(order.reference_id)
        if existing is not None:
            return RequestToPaySubmitResult(created=False, request=existing)

        now, wall = self._clock(), self._wall_clock()
        scenario = request_to_pay_scenario_for(order.party_id)
        window = self.config.request_to_pay_window_seconds
        request = MomoRequestToPay(
            order=order,
            scenario=scenario,
            status=TransferStatus.PENDING,
            executed=False,
            created_at=wall,
            updated_at=wall,
            expires_at=wall + timedelta(seconds=window),
        )
        request.plan = self._request_plan(scenario, now, window)
        self.requests_to_pay.add(request)
        self._noted(request)
        self._flush()
        return RequestToPaySubmitResult(created=True, request=request)

    def note_request_repeat(self, reference_id: str) -> MomoRequestToPay | None:
        """Count a request to pay that reused a taken reference id; nothing else happens."""
        return self._count_request(reference_id, submissions=1)

    def query_request_to_pay(self, reference_id: str) -> MomoRequestToPay | None:
        """The request to pay with that reference id, if any, counting the status query."""
        return self._count_request(reference_id, queries=1)

    def requests_to_pay_by_external_id(self, external_id: str) -> list[MomoRequestToPay]:
        """Every request to pay carrying that ``externalId``, oldest first."""
        return [r for r in self.requests_to_pay if r.order.external_id == external_id]

    def _request_plan(
        self, scenario: RequestToPayScenario, now: float, window: float
    ) -> list[PlannedStep]:
        settle = now + self.config.settle_seconds
        expiry = now + window
        expired = PlannedStep(expiry, TransferStatus.FAILED, Reason.EXPIRED, notify=True)
        match scenario:
            case RequestToPayScenario.NEVER_ANSWERS:
                return [expired]
            case RequestToPayScenario.APPROVES_LATE:
                # An approval under way when the window closed: it lands anyway.
                late = expiry + self.config.late_success_seconds
                return [PlannedStep(late, TransferStatus.SUCCESSFUL, None, notify=True)]
            case _ if settle > expiry:
                # The payer would answer after the window: MoMo expires the request first.
                return [expired]
            case RequestToPayScenario.CALLBACK_LOST:
                return [PlannedStep(settle, TransferStatus.SUCCESSFUL, None, notify=False)]
            case _:
                final = scenario.final_status or TransferStatus.SUCCESSFUL
                return [PlannedStep(settle, final, scenario.reason, notify=True)]

    def _take_request_step(self, request: MomoRequestToPay, step: PlannedStep) -> None:
        request.status = step.status
        request.reason = step.reason if step.status is TransferStatus.FAILED else None
        request.updated_at = self._wall_clock()
        if step.status is TransferStatus.SUCCESSFUL:
            # The payer paid: the whole amount reaches the float (MoMo states no fee).
            request.executed = True
            request.financial_transaction_id = _new_financial_transaction_id()
            self.floats.credit(request.order.currency, request.order.amount)
        self._noted(request)
        if step.notify:
            self._send_callback(request)

    def _count_request(
        self, reference_id: str, *, submissions: int = 0, queries: int = 0
    ) -> MomoRequestToPay | None:
        """The request to pay filed under ``reference_id``, its counters raised and written."""
        request = self.requests_to_pay.get(reference_id)
        if request is not None:
            request.submit_count += submissions
            request.status_queries += queries
            self._noted(request)
            self._flush()
        return request

    def _noted(self, request: MomoRequestToPay) -> None:
        """Note that ``request`` changed, for the state file."""
        book = self.requests_to_pay
        self._journal.put(book.kind, request.record_id, lambda: book.encode(request))

    # -- callbacks ---------------------------------------------------------------------

    def _send_callback(self, record: MomoTransfer | MomoRequestToPay) -> None:
        """Queue the one callback announcing the record's status: its status answer."""
        url = record.order.callback_url or self.config.webhook_url
        if url is None:
            return
        self.outbox.enqueue(
            reference=record.order.external_id,
            record_id=record.reference_id,
            status=record.status,
            body=record.to_wire().to_json(),
            url=url,
        )
