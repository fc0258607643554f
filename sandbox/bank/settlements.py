"""The bank's daily settlement report: transfers once settled or returned."""

from __future__ import annotations

from collections.abc import Iterator

from payments_engine.sandbox.bank.bank_api import BankError, guard
from payments_engine.sandbox.bank.state import get_state
from payments_engine.sandbox.bank.store import BankStore
from payments_engine.sandbox.bank.wire import TransferStatus
from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat, utc_date

FORMAT = ReportFormat(
    columns=(
        "transfer_id",
        "external_id",
        "operation",
        "amount",
        "fee",
        "net_amount",
        "currency",
        "status",
        "value_time",
        "settlement_date",
    ),
    amount=settlements.major_amount,
    statuses=("SETTLED", "RETURNED"),
    types={"payout": "CREDIT_TRANSFER"},
)


def lines_of(store: BankStore) -> Iterator[Line]:
    """Every settled or returned transfer."""
    for transfer in store.transfers():
        if not transfer.status.is_final:
            continue
        yield Line(
            transaction_id=transfer.transfer_id,
            reference=transfer.order.external_id,
            kind="payout",
            type=FORMAT.types["payout"],
            gross=transfer.order.amount,
            fee=0,
            currency=transfer.order.currency,
            status=transfer.status.value,
            moved=transfer.status is TransferStatus.SETTLED,
            transaction_time=transfer.updated_at,
            settlement_date=utc_date(transfer.updated_at),
        )


publisher = Publisher("bank", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher,
    "/v1/settlements",
    guard,
    error=lambda message: BankError(400, "INVALID_REQUEST", message),
)
admin_router = settlements.admin_router(publisher)
