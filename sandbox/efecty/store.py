"""State of one Efecty simulator: vouchers by ``referenceCode``, PayU-shaped confirmations."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from payments_engine.sandbox.cash.records import VoucherRecord, VoucherState
from payments_engine.sandbox.cash.store import VoucherStore
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.wire import (
    CURRENCY,
    PROVIDER,
    STATE_POL,
    TIMEZONE,
    Confirmation,
    TransactionState,
)

_ZONE = ZoneInfo(TIMEZONE)
_BARCODE_PREFIX = "4157709998000001"
"""GS1 application identifier 415 and the network's collection code, as PayU's barcodes."""


def local_time(value: datetime) -> str:
    """``2025-01-08T14:03:00.250-05:00``: Bogota's local time with its offset."""
    return value.astimezone(_ZONE).isoformat(timespec="milliseconds")


def pesos(minor: int) -> str:
    """Whole pesos as Efecty writes them (``120000``) from centavos."""
    return str(minor // 100)


class EfectyStore(VoucherStore[EfectySandboxConfig]):
    """Everything one Efecty simulator knows; vouchers are filed under ``referenceCode``.

    Notifications are PayU confirmations, signed ``X-Signature`` and retried up to 9
    times in all.
    """

    provider = PROVIDER
    # Whole pesos only: its fee is rounded to them too.
    fee_unit = 100

    @staticmethod
    def _new_delivery_id() -> str:
        return "dlv_" + uuid.uuid4().hex[:16]

    def _new_network_id(self) -> str:
        return str(uuid.uuid4())

    def _new_voucher_reference(self) -> str:
        # 9 or 10 digits, as Efecty's payment references.
        return str(10**8 + secrets.randbelow(10**10 - 10**8))

    def _barcode(self, voucher: VoucherRecord) -> str:
        assert voucher.voucher_reference is not None
        expiry = voucher.expires_at.astimezone(_ZONE).strftime("%Y%m%d")
        amount = pesos(voucher.order.amount)
        return (
            f"{_BARCODE_PREFIX}8020{voucher.voucher_reference.zfill(10)}"
            f"3900{amount.zfill(10)}96{expiry}"
        )

    def _new_event_id(self) -> str:
        return "ntf_" + uuid.uuid4().hex[:20]

    def notification_body(self, voucher: VoucherRecord, event_id: str) -> bytes:
        """PayU's confirmation of the voucher's final state."""
        state = TransactionState(voucher.status.value)
        state_pol, response_code, message = STATE_POL[state]
        approved = voucher.status is VoucherState.APPROVED
        fee = pesos(voucher.fee) if approved and voucher.fee is not None else None
        assert voucher.voucher_reference is not None
        return Confirmation(
            notification_id=event_id,
            merchant_id=self.config.merchant_id,
            reference_sale=voucher.reference,
            reference_pol=str(voucher.order_number),
            transaction_id=voucher.network_id,
            state_pol=state_pol,
            response_code_pol=response_code,
            response_message_pol=message,
            value=voucher.order.amount_text,
            currency=CURRENCY,
            commision_pol=fee,
            payment_reference=voucher.voucher_reference,
            transaction_date=local_time(voucher.created_at),
            payment_date=local_time(voucher.paid_at) if approved and voucher.paid_at else None,
            expiration_date=local_time(voucher.expires_at),
        ).to_json()
