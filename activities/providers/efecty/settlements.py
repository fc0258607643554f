"""Efecty's daily settlement report, as the engine reads it.

Whole pesos, Spanish column names; a payment is
listed on the day the network settles it, three Colombian business days later.
"""

from __future__ import annotations

from payments_engine.domain.reconciliation import (
    LineKind,
    LineStatus,
    ReportColumns,
    ReportSpec,
)

SETTLEMENT_REPORT = ReportSpec(
    path="/v4/settlements/{date}",
    columns=ReportColumns(
        transaction_id="idTransaccion",
        reference="referenciaComercio",
        type="tipo",
        gross="valorBruto",
        fee="comision",
        net="valorNeto",
        currency="moneda",
        status="estado",
        transaction_time="fechaTransaccion",
        settlement_date="fechaLiquidacion",
    ),
    amounts="major",
    types={"RECAUDO": LineKind.CASH_PAYMENT},
    statuses={"APROBADA": LineStatus.SUCCEEDED, "REVERSADA": LineStatus.REVERSED},
)
