"""The card issuer's daily settlement report, as the engine reads it.

Integer minor units; a force post is a
capture without an authorization.
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
        transaction_id="token",
        reference="card_reference",
        type="type",
        gross="amount",
        fee="fee",
        net="net_amount",
        currency="currency",
        status="status",
        transaction_time="created",
        settlement_date="settlement_date",
    ),
    amounts="minor",
    types={
        "CAPTURE": LineKind.CARD_CAPTURE,
        "FORCE_POST": LineKind.CARD_CAPTURE,
        "REFUND": LineKind.CARD_REFUND,
    },
    statuses={"SETTLED": LineStatus.SUCCEEDED, "DISPUTED": LineStatus.REVERSED},
)
