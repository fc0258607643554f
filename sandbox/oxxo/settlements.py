"""OXXO's daily settlement report: pesos with centavos, snake_case columns."""

from __future__ import annotations

from collections.abc import Iterator

from payments_engine.sandbox.cash.settlements import voucher_lines
from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat
from payments_engine.sandbox.oxxo.oxxo_api import OxxoError, guard
from payments_engine.sandbox.oxxo.state import get_state
from payments_engine.sandbox.oxxo.store import OxxoStore
from payments_engine.sandbox.oxxo.wire import TIMEZONE

COUNTRY = "MX"

FORMAT = ReportFormat(
    columns=(
        "payment_id",
        "order_reference",
        "type",
        "gross_amount",
        "fee_amount",
        "net_amount",
        "currency",
        "status",
        "paid_at",
        "settlement_date",
    ),
    amount=settlements.major_amount,
    statuses=("succeeded", "reversed"),
    types={"cash_payment": "oxxo_payment"},
)


def lines_of(store: OxxoStore) -> Iterator[Line]:
    """Every approved voucher, settled three Mexican business days after the
    payment's Mexico City date."""
    return voucher_lines(store, FORMAT, COUNTRY, "succeeded", TIMEZONE)


publisher = Publisher("oxxo", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher,
    "/v1/settlements",
    guard,
    error=lambda message: OxxoError(400, "invalid_request", message),
)
admin_router = settlements.admin_router(publisher)
