"""MoMo's daily settlement report: transfers (payouts) and requests to pay, once final.

MoMo states no fee: the fee is always 0 and the net the whole amount.
"""

from __future__ import annotations

from collections.abc import Iterator

from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat, utc_date
from payments_engine.sandbox.momo.momo_api import MomoError, guard
from payments_engine.sandbox.momo.records import MomoRequestToPay, MomoTransfer
from payments_engine.sandbox.momo.state import get_state
from payments_engine.sandbox.momo.store import MomoStore
from payments_engine.sandbox.momo.wire import TransferStatus

FORMAT = ReportFormat(
    columns=(
        "financialTransactionId",
        "externalId",
        "transactionType",
        "amount",
        "fee",
        "netAmount",
        "currency",
        "status",
        "transactionDate",
        "settlementDate",
    ),
    amount=settlements.major_amount,
    statuses=("SUCCESSFUL", "FAILED"),
    types={"payout": "DISBURSEMENT", "collection": "REQUEST_TO_PAY"},
)


def lines_of(store: MomoStore) -> Iterator[Line]:
    """Every final transfer and request to pay."""
    for transfer in store.transfers():
        if transfer.status.is_final:
            yield _line(transfer, "payout")
    for request in store.requests_to_pay:
        if request.status.is_final:
            yield _line(request, "collection")


def _line(record: MomoTransfer | MomoRequestToPay, kind: str) -> Line:
    success = record.status is TransferStatus.SUCCESSFUL
    return Line(
        transaction_id=record.financial_transaction_id or record.reference_id,
        reference=record.order.external_id,
        kind=kind,
        type=FORMAT.types[kind],
        gross=record.order.amount,
        fee=0,
        currency=record.order.currency,
        status=record.status.value,
        moved=success,
        transaction_time=record.updated_at,
        settlement_date=utc_date(record.updated_at),
    )


publisher = Publisher("momo", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher,
    "/v1_0/settlements",
    guard,
    error=lambda message: MomoError(400, "BAD_REQUEST", message),
)
admin_router = settlements.admin_router(publisher)
