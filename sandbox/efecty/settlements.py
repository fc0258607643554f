"""Efecty's daily settlement report ("liquidación"): whole pesos, Spanish columns."""

from __future__ import annotations

from collections.abc import Iterator

from payments_engine.sandbox.cash.settlements import voucher_lines
from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat
from payments_engine.sandbox.efecty.efecty_api import EfectyError, guard
from payments_engine.sandbox.efecty.state import get_state
from payments_engine.sandbox.efecty.store import EfectyStore
from payments_engine.sandbox.efecty.wire import TIMEZONE

COUNTRY = "CO"

FORMAT = ReportFormat(
    columns=(
        "idTransaccion",
        "referenciaComercio",
        "tipo",
        "valorBruto",
        "comision",
        "valorNeto",
        "moneda",
        "estado",
        "fechaTransaccion",
        "fechaLiquidacion",
    ),
    amount=settlements.whole_units,
    statuses=("APROBADA", "REVERSADA"),
    types={"cash_payment": "RECAUDO"},
)


def lines_of(store: EfectyStore) -> Iterator[Line]:
    """Every approved voucher, settled three Colombian business days after the
    payment's Bogota date."""
    return voucher_lines(store, FORMAT, COUNTRY, "APROBADA", TIMEZONE)


publisher = Publisher("efecty", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher,
    "/v4/settlements",
    guard,
    error=lambda message: EfectyError(400, "INVALID_REQUEST", message),
)
admin_router = settlements.admin_router(publisher)
