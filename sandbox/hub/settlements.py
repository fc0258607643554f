"""The hub's daily settlement report: payouts, collections and refunds once final.

The hub writes every amount in major units with two decimals, zero-decimal currencies
too (UGX ``1500.00``), and its own column names.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat, utc_date
from payments_engine.sandbox.hub.hub_api import HubError, guard
from payments_engine.sandbox.hub.state import get_state
from payments_engine.sandbox.hub.store import HubStore
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus

FORMAT = ReportFormat(
    columns=(
        "transactionId",
        "thirdPartyTransId",
        "transactionType",
        "grossAmount",
        "feeAmount",
        "netAmount",
        "currency",
        "status",
        "transactionTime",
        "settlementDate",
    ),
    amount=settlements.two_decimals,
    statuses=("success", "failed", "reversed"),
    types={"payout": "payout", "collection": "collection", "refund": "refund"},
)

_REFUND_WORDS = {
    HubRefundStatus.PROCESSED: "success",
    HubRefundStatus.FAILED: "failed",
    HubRefundStatus.REVERSED: "reversed",
}


def lines_of(store: HubStore) -> Iterator[Line]:
    """Every final payout, collection and refund of the hub, as report lines."""
    for payout in store.transfers():
        if payout.status.is_final:
            yield _line(
                payout.transaction_id,
                payout.third_party_trans_id,
                "payout",
                payout.order.amount,
                0,
                payout.order.currency,
                payout.status,
                payout.updated_at,
            )
    for collection in store.collections:
        if collection.status.is_final:
            yield _line(
                collection.transaction_id,
                collection.third_party_trans_id,
                "collection",
                collection.order.amount,
                collection.fee,
                collection.order.currency,
                collection.status,
                collection.updated_at,
            )
    for refund in store.refunds:
        if refund.status.is_final:
            word = _REFUND_WORDS[refund.status]
            yield Line(
                transaction_id=refund.refund_id,
                reference=refund.external_refund_id,
                kind="refund",
                type=FORMAT.types["refund"],
                gross=refund.order.amount,
                fee=0,
                currency=refund.order.currency,
                status=word,
                moved=word == "success",
                transaction_time=refund.updated_at,
                settlement_date=utc_date(refund.updated_at),
            )


def _line(
    transaction_id: str,
    reference: str,
    kind: str,
    gross: int,
    fee: int,
    currency: str,
    status: HubStatus,
    when: datetime,
) -> Line:
    success = status is HubStatus.SUCCESS
    return Line(
        transaction_id=transaction_id,
        reference=reference,
        kind=kind,
        type=FORMAT.types[kind],
        gross=gross,
        fee=fee if success else 0,
        currency=currency,
        status="success" if success else "failed",
        moved=success,
        transaction_time=when,
        settlement_date=utc_date(when),
    )


publisher = Publisher("hub", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher, "/v1/settlements", guard, error=lambda message: HubError(400, "400", message)
)
admin_router = settlements.admin_router(publisher)
