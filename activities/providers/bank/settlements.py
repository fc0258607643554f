"""The bank's daily settlement report, as the engine reads it.

The engine sends credit transfers only to refund
cash orders, so a transfer is a refund to us; a returned one moved no money.
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
        transaction_id="transfer_id",
        reference="external_id",
        type="operation",
        gross="amount",
        fee="fee",
        net="net_amount",
        currency="currency",
        status="status",
        transaction_time="value_time",
        settlement_date="settlement_date",
    ),
    amounts="major",
    types={"CREDIT_TRANSFER": LineKind.REFUND},
    statuses={"SETTLED": LineStatus.SUCCEEDED, "RETURNED": LineStatus.FAILED},
)
