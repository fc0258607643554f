"""OXXO's daily settlement report, as the engine reads it.

Major units; a payment is listed on the day the
network settles it, three Mexican business days later.
"""

from __future__ import annotations

from payments_engine.domain.reconciliation import (
    LineKind,
    LineStatus,
    ReportColumns,
    ReportSpec,
)

SETTLEMENT_REPORT = ReportSpec(
    path="/v1/settlements/{date}",
    columns=ReportColumns(
        transaction_id="payment_id",
        reference="order_reference",
        type="type",
        gross="gross_amount",
        fee="fee_amount",
        net="net_amount",
        currency="currency",
        status="status",
        transaction_time="paid_at",
        settlement_date="settlement_date",
    ),
    amounts="major",
    types={"oxxo_payment": LineKind.CASH_PAYMENT},
    statuses={"succeeded": LineStatus.SUCCEEDED, "reversed": LineStatus.REVERSED},
)
