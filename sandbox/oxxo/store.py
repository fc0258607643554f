"""State of one OXXO simulator: vouchers by ``Idempotency-Key``, detail-free events."""

from __future__ import annotations

import secrets
import uuid

from payments_engine.sandbox.cash.records import VoucherRecord
from payments_engine.sandbox.cash.store import VoucherStore
from payments_engine.sandbox.oxxo.config import OxxoSandboxConfig
from payments_engine.sandbox.oxxo.wire import PROVIDER, Event, EventData

NUMBER_DIGITS = 18
"""The barcode number's length (Stripe's OXXO numbers have 14 or more)."""


class OxxoStore(VoucherStore[OxxoSandboxConfig]):
    """Everything one OXXO simulator knows; vouchers are filed under the Idempotency-Key.

    Notifications say only that a voucher changed (its event id and our reference),
    signed with Standard Webhooks, the event id being the message id.
    """

    provider = PROVIDER

    @staticmethod
    def _new_delivery_id() -> str:
        return "dlv_" + uuid.uuid4().hex[:16]

    def _new_network_id(self) -> str:
        return "pi_" + uuid.uuid4().hex[:24]

    def _new_voucher_reference(self) -> str:
        return "9" + "".join(str(secrets.randbelow(10)) for _ in range(NUMBER_DIGITS - 1))

    def _barcode(self, voucher: VoucherRecord) -> str:
        assert voucher.voucher_reference is not None
        return voucher.voucher_reference

    def _new_event_id(self) -> str:
        return "evt_" + uuid.uuid4().hex[:24]

    def notification_body(self, voucher: VoucherRecord, event_id: str) -> bytes:
        """The event: its id and whose voucher changed, nothing else."""
        return Event(
            id=event_id, created=self.now(), data=EventData(reference=voucher.reference)
        ).to_json()
