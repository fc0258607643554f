"""Report lines of the cash networks: every approved voucher, a cash payment.

A cash network settles on the third business day after the day the payer paid, that day
taken in the network's own time zone (weekends and the country's public holidays
skipped), as the engine expects (``domain.cash.settlement_time``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from payments_engine.sandbox.cash.records import VoucherState
from payments_engine.sandbox.cash.store import VoucherStore
from payments_engine.sandbox.common.settlements import (
    CASH_SETTLEMENT_BUSINESS_DAYS,
    Line,
    ReportFormat,
    business_days_after,
)


def voucher_lines(
    store: VoucherStore[Any],
    report_format: ReportFormat,
    country: str,
    success: str,
    timezone: str,
) -> Iterator[Line]:
    """The approved vouchers of ``store`` as cash-payment lines.

    Args:
        store: the network's store.
        report_format: the network's words.
        country: whose holidays the settlement skips.
        success: the network's word for a paid voucher.
        timezone: the network's zone, whose date of the payment counts.
    """
    zone = ZoneInfo(timezone)
    for voucher in store.transfers():
        if voucher.status is not VoucherState.APPROVED:
            continue
        when = voucher.confirmed_at or voucher.paid_at or voucher.updated_at
        # Paid at 20:00 in Bogota is the next day in UTC: the local day counts.
        paid_day = (voucher.paid_at or when).astimezone(zone).date()
        yield Line(
            transaction_id=voucher.network_id,
            reference=voucher.order.reference,
            kind="cash_payment",
            type=report_format.types["cash_payment"],
            gross=voucher.order.amount,
            fee=voucher.fee or 0,
            currency=voucher.order.currency,
            status=success,
            moved=True,
            transaction_time=when,
            settlement_date=business_days_after(paid_day, CASH_SETTLEMENT_BUSINESS_DAYS, country),
        )
