"""The base of a cash network's store: vouchers, their timed steps and notifications.

Faults, the float, the notification outbox and the state file are the common store's
(:class:`~payments_engine.sandbox.common.store.SimulatorStore`), whose transfers are the
network's vouchers, filed under its idempotency key. Each network subclasses it with its
ids, its voucher codes and the body of its notification (:class:`VoucherStore`'s abstract
methods); what happens to a voucher is the same on every network (:mod:`.scenarios`).

A voucher's plan holds its timed steps (expire, payment at the shop, confirmation), taken
by the background scheduler or by the next API call. A step that no longer applies (an
expiry of a paid voucher, a payment of a paid one) does nothing. Notifications announce
the final states only (APPROVED, EXPIRED, CANCELLED) and are retried after the
configured delays.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from payments_engine.sandbox.cash.config import CashSandboxConfig
from payments_engine.sandbox.cash.records import (
    HistoryEvent,
    StepKind,
    VoucherOrder,
    VoucherRecord,
    VoucherState,
    VoucherStep,
    decode_voucher,
    encode_voucher,
)
from payments_engine.sandbox.cash.scenarios import VoucherScenario
from payments_engine.sandbox.common.outbox import Delivery
from payments_engine.sandbox.common.persistence import Document
from payments_engine.sandbox.common.store import SimulatorStore

ConfigT = TypeVar("ConfigT", bound=CashSandboxConfig)

BEFORE_EXPIRY_SECONDS = 1.0
"""How long before the expiry the payer of ``03`` pays."""


class VoucherNotFound(LookupError):
    """The network issued no voucher under that name."""


class AlreadyPaid(Exception):
    """The voucher was paid at the shop: it can be neither paid again nor cancelled."""


class NothingToResend(LookupError):
    """No notification with that event id was ever queued."""


@dataclass(frozen=True)
class Created:
    """What a create did: issued (or declined) a voucher, or found its key taken.

    Attributes:
        created: False when the key was taken.
        voucher: the voucher filed under the key.
        same_request: for a taken key, whether the request was the same.
    """

    created: bool
    voucher: VoucherRecord
    same_request: bool = True


def fee_of(amount: int, bps: int, unit: int) -> int:
    """``bps`` basis points of ``amount``, rounded half up to a multiple of ``unit``."""
    return (amount * bps + 5_000 * unit) // (10_000 * unit) * unit


class VoucherStore(SimulatorStore[ConfigT, VoucherRecord]):
    """Everything one cash network knows, in memory and, if configured, in its state file.

    Subclasses name the provider and make the network's ids, voucher codes and
    notification bodies.
    """

    fee_unit: int = 1
    """The network writes amounts in multiples of this many minor units (Efecty: 100)."""

    # -- what each network makes ------------------------------------------------------

    @abstractmethod
    def _new_network_id(self) -> str:
        """The network's id of a new voucher."""

    @abstractmethod
    def _new_voucher_reference(self) -> str:
        """The code a payer quotes at the till, unique at the network."""

    @abstractmethod
    def _barcode(self, voucher: VoucherRecord) -> str:
        """The value the till scans."""

    @abstractmethod
    def _new_event_id(self) -> str:
        """A new notification event id."""

    @abstractmethod
    def notification_body(self, voucher: VoucherRecord, event_id: str) -> bytes:
        """The exact bytes of a notification of the voucher as it stands."""

    # -- the common store's hooks -----------------------------------------------------

    def _retry_delays(self) -> Sequence[float]:
        return self.config.webhook_retry_delays

    def _encode(self, transfer: VoucherRecord) -> Document:
        return encode_voucher(transfer)

    def _decode(self, document: Document) -> VoucherRecord:
        return decode_voucher(document)

    def _take_step(self, transfer: VoucherRecord, step: VoucherStep) -> None:
        match step.kind:
            case StepKind.EXPIRE:
                self._expire(transfer, step.at)
            case StepKind.PAY:
                self._pay(transfer, step.at, planned=True)
            case StepKind.CONFIRM:
                self._confirm(transfer, step.at)

    # -- vouchers ---------------------------------------------------------------------

    def create(self, order: VoucherOrder) -> Created:
        """Issue a voucher once per key; a taken key is counted and changes nothing.

        The payer's document chooses the scenario: ``08`` declines (nothing is issued,
        the refusal is kept so a repeat is refused alike). With
        ``voucher_lifetime_seconds`` set, the voucher expires that long after now,
        whatever ``order.requested_expiry`` says.
        """
        existing = self.repeat(order.key)
        if existing is not None:
            same = existing.order.fingerprint == order.fingerprint
            return Created(created=False, voucher=existing, same_request=same)

        now, wall = self._clock(), self._wall_clock()
        lifetime = self.config.voucher_lifetime_seconds
        expires_at = (
            wall + timedelta(seconds=lifetime) if lifetime is not None else order.requested_expiry
        )
        declined = order.scenario is VoucherScenario.PAYER_BLOCKED
        voucher = VoucherRecord(
            order=order,
            status=VoucherState.DECLINED if declined else VoucherState.PENDING,
            executed=False,
            created_at=wall,
            updated_at=wall,
            network_id=self._new_network_id(),
            order_number=self._new_order_number(),
            voucher_reference=None,
            barcode=None,
            expires_at=expires_at,
            created_clock=now,
        )
        if declined:
            voucher.note(wall, HistoryEvent.DECLINED, "payer blocked: no voucher issued")
        else:
            voucher.voucher_reference = self._unique_voucher_reference()
            voucher.barcode = self._barcode(voucher)
            voucher.note(wall, HistoryEvent.CREATED, f"expires {expires_at.isoformat()}")
            for step in self._plan(voucher):
                voucher.add_step(step)
        self._add(voucher)
        if voucher.plan:
            self._push(voucher)
        self._flush()
        return Created(created=True, voucher=voucher)

    def repeat(self, key: str) -> VoucherRecord | None:
        """Count (and note in its history) a create that reused a taken key; None if the
        key is not taken."""
        existing = self.note_repeat(key)
        if existing is not None:
            existing.note(self._wall_clock(), HistoryEvent.REPEATED)
            self._changed(existing)
            self._flush()
        return existing

    def _new_order_number(self) -> int:
        return 1_400_000_000 + len(self._transfers) + 1

    def _unique_voucher_reference(self) -> str:
        taken = {voucher.voucher_reference for voucher in self._transfers.values()}
        while True:
            candidate = self._new_voucher_reference()
            if candidate not in taken:
                return candidate

    def _plan(self, voucher: VoucherRecord) -> list[VoucherStep]:
        """The timed steps of a new voucher's scenario."""
        config = self.config
        now, expiry = voucher.created_clock, voucher.expiry_clock
        confirm = config.confirmation_delay_seconds
        late = config.late_payment_seconds
        # At the shop after the configured delay, or halfway to the expiry if sooner.
        shop = now + min(config.shop_payment_delay_seconds, (expiry - now) / 2)
        expire = VoucherStep(expiry, StepKind.EXPIRE)
        match voucher.scenario:
            case (
                VoucherScenario.PAID
                | VoucherScenario.DUPLICATE_NOTIFICATION
                | VoucherScenario.NOTIFICATION_LOST
            ):
                return [
                    VoucherStep(shop, StepKind.PAY),
                    VoucherStep(shop + confirm, StepKind.CONFIRM),
                    expire,
                ]
            case VoucherScenario.PAID_BEFORE_EXPIRY:
                paid = max(now, expiry - BEFORE_EXPIRY_SECONDS)
                return [
                    VoucherStep(paid, StepKind.PAY),
                    VoucherStep(paid + confirm, StepKind.CONFIRM),
                    expire,
                ]
            case VoucherScenario.PAID_AFTER_EXPIRY:
                return [
                    expire,
                    VoucherStep(expiry + late, StepKind.PAY),
                    VoucherStep(expiry + late + confirm, StepKind.CONFIRM),
                ]
            case VoucherScenario.SLOW_CONFIRMATION:
                return [
                    VoucherStep(shop, StepKind.PAY),
                    expire,
                    VoucherStep(expiry + late, StepKind.CONFIRM),
                ]
            case _:
                return [expire]

    def now(self) -> datetime:
        """The store's wall-clock time now (aware UTC)."""
        return self._wall_clock()

    def by_voucher_reference(self, voucher_reference: str) -> VoucherRecord | None:
        """The voucher a payer quotes at the till by that code, if any."""
        for voucher in self._transfers.values():
            if voucher.voucher_reference == voucher_reference:
                return voucher
        return None

    def by_network_id(self, network_id: str) -> VoucherRecord | None:
        """The issued voucher with that network id, if any, counting a status query."""
        for voucher in self._transfers.values():
            if voucher.network_id == network_id and voucher.issued:
                return self.query_status(voucher.record_id)
        return None

    def issued(self, key: str) -> VoucherRecord | None:
        """The issued voucher filed under ``key``, counting a status query; None if
        there is none (or the network declined it)."""
        voucher = self.query_status(key)
        return voucher if voucher is not None and voucher.issued else None

    def by_reference(self, reference: str) -> list[VoucherRecord]:
        """The issued vouchers carrying the merchant's ``reference``, oldest first."""
        return [v for v in self._transfers.values() if v.reference == reference and v.issued]

    def find(self, name: str) -> VoucherRecord:
        """A voucher by its voucher reference, its key, its network id or the merchant's
        reference (the newest voucher carrying it).

        Raises:
            VoucherNotFound: no voucher goes by that name.
        """
        for voucher in self._transfers.values():
            if name in (voucher.voucher_reference, voucher.network_id):
                return voucher
        filed = self._transfers.get(name)
        if filed is not None:
            return filed
        carrying = [v for v in self._transfers.values() if v.reference == name]
        if carrying:
            return carrying[-1]
        raise VoucherNotFound(name)

    def pay(self, name: str) -> VoucherRecord:
        """The payer pays the voucher at a shop now; the network confirms it
        ``confirmation_delay_seconds`` later. After the expiry (or a cancel) this is a
        late payment, which the network accepts.

        Raises:
            VoucherNotFound: no issued voucher goes by that name.
            AlreadyPaid: it was paid already.
        """
        self.advance()
        voucher = self.find(name)
        if not voucher.issued:
            raise VoucherNotFound(name)
        if voucher.paid_at is not None:
            raise AlreadyPaid(f"the voucher was paid at {voucher.paid_at.isoformat()}")
        now = self._clock()
        self._pay(voucher, now, planned=False)
        confirm = now + self.config.confirmation_delay_seconds
        voucher.add_step(VoucherStep(confirm, StepKind.CONFIRM))
        # Only the new step: the others are scheduled already.
        self._schedule.push(voucher.record_id, confirm)
        self._flush()
        return voucher

    def cancel(self, key: str) -> VoucherRecord:
        """Stop the network taking the voucher: CANCELLED and notified.

        An expired or cancelled voucher is answered as it is.

        Raises:
            VoucherNotFound: no issued voucher under ``key``.
            AlreadyPaid: it was paid at the shop (confirmed or not).
        """
        self.advance()
        voucher = self._transfers.get(key)
        if voucher is None or not voucher.issued:
            raise VoucherNotFound(key)
        wall = self._wall_clock()
        if voucher.paid_at is not None:
            voucher.note(wall, HistoryEvent.CANCEL_REFUSED, "already paid")
            self._changed(voucher)
            self._flush()
            raise AlreadyPaid(f"the voucher was paid at {voucher.paid_at.isoformat()}")
        if voucher.status is VoucherState.PENDING:
            voucher.status = VoucherState.CANCELLED
            voucher.closed_at = wall
            voucher.updated_at = wall
            voucher.note(wall, HistoryEvent.CANCELLED)
            self._changed(voucher)
            self._notify(voucher)
        self._flush()
        return voucher

    def _pay(self, voucher: VoucherRecord, at: float, *, planned: bool) -> None:
        if voucher.paid_at is not None or not voucher.issued:
            return
        paid_at = voucher.wall_time(at) if planned else self._wall_clock()
        voucher.paid_at = paid_at
        voucher.updated_at = self._wall_clock()
        late = paid_at > voucher.expires_at or voucher.status is not VoucherState.PENDING
        detail = f"late payment accepted ({voucher.status.value.lower()})" if late else None
        voucher.note(paid_at, HistoryEvent.PAID, detail)
        self._changed(voucher)

    def _confirm(self, voucher: VoucherRecord, at: float) -> None:
        if voucher.paid_at is None or voucher.status.is_final:
            return
        order = voucher.order
        confirmed_at = voucher.wall_time(at)
        voucher.status = VoucherState.APPROVED
        voucher.confirmed_at = confirmed_at
        voucher.updated_at = self._wall_clock()
        voucher.fee = fee_of(order.amount, self.config.fee_bps, self.fee_unit)
        voucher.executed = True
        # The network owes the merchant the payment, less its fee.
        self.floats.credit(order.currency, order.amount - voucher.fee)
        voucher.note(confirmed_at, HistoryEvent.CONFIRMED, f"fee {voucher.fee}")
        self._changed(voucher)
        self._notify(voucher)

    def _expire(self, voucher: VoucherRecord, at: float) -> None:
        if voucher.status is not VoucherState.PENDING or voucher.paid_at is not None:
            return
        voucher.status = VoucherState.EXPIRED
        voucher.closed_at = voucher.wall_time(at)
        voucher.updated_at = self._wall_clock()
        voucher.note(voucher.closed_at, HistoryEvent.EXPIRED)
        self._changed(voucher)
        self._notify(voucher)

    # -- notifications ----------------------------------------------------------------

    def _notify(self, voucher: VoucherRecord) -> Delivery | None:
        """Queue the notification of the voucher's state, as its scenario says."""
        event_id = self._new_event_id()
        wall = self._wall_clock()
        state = voucher.status.value
        if voucher.scenario is VoucherScenario.NOTIFICATION_LOST:
            voucher.note(wall, HistoryEvent.NOTIFICATION_LOST, f"{event_id} {state}: never sent")
            self._changed(voucher)
            return None
        url = voucher.order.notify_url or self.config.webhook_url
        if url is None:
            voucher.note(wall, HistoryEvent.NOTIFICATION, f"{event_id} {state}: no URL, not sent")
            self._changed(voucher)
            return None
        duplicate = voucher.scenario is VoucherScenario.DUPLICATE_NOTIFICATION
        delivery = self.outbox.enqueue(
            reference=voucher.reference,
            record_id=voucher.record_id,
            status=state,
            body=self.notification_body(voucher, event_id),
            url=url,
            event_id=event_id,
            copies=2 if duplicate or self.faults.duplicate_webhooks else 1,
        )
        voucher.note(wall, HistoryEvent.NOTIFICATION, f"{event_id} {state}")
        if duplicate:
            # Then the same news once more, under a new event id.
            again = self._new_event_id()
            delivery = self.outbox.enqueue(
                reference=voucher.reference,
                record_id=voucher.record_id,
                status=state,
                body=self.notification_body(voucher, again),
                url=url,
                event_id=again,
                after=delivery,
            )
            voucher.note(wall, HistoryEvent.NOTIFICATION, f"{again} {state} (new event id)")
        self._changed(voucher)
        return delivery

    def notify(self, name: str) -> Delivery:
        """Send a new notification of the voucher's state now, under a new event id.

        Raises:
            VoucherNotFound: no issued voucher goes by that name.
            NothingToResend: it is PENDING (nothing final to announce), or no URL is set.
        """
        self.advance()
        voucher = self.find(name)
        if not voucher.issued:
            raise VoucherNotFound(name)
        if not voucher.status.notified:
            raise NothingToResend(f"the voucher is {voucher.status.value}: nothing to announce")
        url = voucher.order.notify_url or self.config.webhook_url
        if url is None:
            raise NothingToResend("no notification URL is configured")
        event_id = self._new_event_id()
        delivery = self.outbox.enqueue(
            reference=voucher.reference,
            record_id=voucher.record_id,
            status=voucher.status.value,
            body=self.notification_body(voucher, event_id),
            url=url,
            event_id=event_id,
        )
        voucher.note(self._wall_clock(), HistoryEvent.NOTIFICATION, f"{event_id} (admin)")
        self._changed(voucher)
        self._flush()
        return delivery

    def resend(self, event_id: str) -> Delivery:
        """Send a notification once more, byte for byte, after its last delivery: a
        duplicate.

        Raises:
            NothingToResend: no notification with that event id was ever queued.
        """
        sent = [d for d in self.outbox.deliveries() if d.event_id == event_id]
        if not sent:
            raise NothingToResend(event_id)
        last = sent[-1]
        delivery = self.outbox.enqueue(
            reference=last.reference,
            record_id=last.record_id,
            status=last.status,
            body=last.body,
            url=last.url,
            event_id=event_id,
            after=last,
        )
        voucher = self._transfers.get(last.record_id)
        if voucher is not None:
            voucher.note(self._wall_clock(), HistoryEvent.NOTIFICATION, f"{event_id} (resent)")
            self._changed(voucher)
        self._flush()
        return delivery

    def notifications_of(self, voucher: VoucherRecord) -> list[Delivery]:
        """The deliveries of the voucher's notifications, oldest first."""
        return [d for d in self.outbox.deliveries() if d.record_id == voucher.record_id]
