"""The hub's daily settlement report, as the engine reads it.

Major units with two decimals, zero-decimal
currencies too (``1500.00`` UGX), which the parser accepts as whole units.
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
        transaction_id="transactionId",
        reference="thirdPartyTransId",
        type="transactionType",
        gross="grossAmount",
        fee="feeAmount",
        net="netAmount",
        currency="currency",
        status="status",
        transaction_time="transactionTime",
        settlement_date="settlementDate",
    ),
    amounts="major",
    types={"payout": LineKind.PAYOUT, "collection": LineKind.COLLECTION, "refund": LineKind.REFUND},
    statuses={
        "success": LineStatus.SUCCEEDED,
        "failed": LineStatus.FAILED,
        "reversed": LineStatus.REVERSED,
    },
)
