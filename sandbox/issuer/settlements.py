"""The issuer's daily settlement report: card captures, refunds and force posts.

The issuer writes amounts in minor units, as its API does, and names its columns the way
its transactions do (``token``, ``card_reference``, ``created``). Reversals and expiries
release a hold and move no money: they are not in the report. A capture without an
authorization is a force post (``FORCE_POST``).
"""

from __future__ import annotations

from collections.abc import Iterator

from payments_engine.sandbox.common import settlements
from payments_engine.sandbox.common.settlements import Line, Publisher, ReportFormat, utc_date
from payments_engine.sandbox.issuer.issuer_api import IssuerError, guard
from payments_engine.sandbox.issuer.state import get_state
from payments_engine.sandbox.issuer.store import IssuerStore
from payments_engine.sandbox.issuer.wire import ErrorCode, TransactionType


def minor_units(amount: int, currency: str) -> str:  # noqa: ARG001 - every currency alike
    """Minor units as an integer, the issuer's way (``1500``)."""
    return str(amount)


FORMAT = ReportFormat(
    columns=(
        "token",
        "card_reference",
        "type",
        "amount",
        "fee",
        "net_amount",
        "currency",
        "status",
        "created",
        "settlement_date",
    ),
    amount=minor_units,
    statuses=("SETTLED", "DISPUTED"),
    types={"card_capture": "CAPTURE", "card_refund": "REFUND"},
)

FORCE_POST = "FORCE_POST"

_KINDS = {TransactionType.CAPTURE: "card_capture", TransactionType.REFUND: "card_refund"}


def lines_of(store: IssuerStore) -> Iterator[Line]:
    """Every capture, force post and refund, settled on the UTC date it was made."""
    for transaction in store.transactions:
        kind = _KINDS.get(transaction.type)
        if kind is None:
            continue
        forced = kind == "card_capture" and transaction.authorization_id is None
        yield Line(
            transaction_id=transaction.token,
            reference=transaction.card_reference,
            kind=kind,
            type=FORCE_POST if forced else FORMAT.types[kind],
            gross=transaction.amount,
            fee=0,
            currency=transaction.currency,
            status=FORMAT.statuses[0],
            moved=True,
            transaction_time=transaction.created,
            settlement_date=utc_date(transaction.created),
        )


publisher = Publisher("issuer", FORMAT, lines_of, get_state)
router = settlements.provider_router(
    publisher,
    "/v1/settlements",
    guard,
    error=lambda message: IssuerError(400, ErrorCode.INVALID_REQUEST, message),
)
admin_router = settlements.admin_router(publisher)
