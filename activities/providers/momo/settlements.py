"""MoMo's daily settlement report, as the engine reads it.

Major units with the currency's decimals.
"""

from __future__ import annotations

from payments_engine.domain.reconciliation import (
    LineKind,
    LineStatus,
    ReportColumns,
    ReportSpec,
)

SETTLEMENT_REPORT = ReportSpec(
    path="/v1_0/settlements/{date}",
    columns=ReportColumns(
        transaction_id="financialTransactionId",
        reference="externalId",
        type="transactionType",
        gross="amount",
        fee="fee",
        net="netAmount",
        currency="currency",
        status="status",
        transaction_time="transactionDate",
        settlement_date="settlementDate",
    ),
    amounts="major",
    types={"DISBURSEMENT": LineKind.PAYOUT, "REQUEST_TO_PAY": LineKind.COLLECTION},
    statuses={"SUCCESSFUL": LineStatus.SUCCEEDED, "FAILED": LineStatus.FAILED},
)
