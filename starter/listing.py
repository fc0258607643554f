"""Listing payments from Temporal's visibility store: search attributes only, no PII."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from payments_engine.domain import search_attributes as sa
from payments_engine.domain.errors import PaymentsError
from payments_engine.domain.money import Money


def quote_free(value: str) -> str:
    """Refuse values that would break out of a visibility query string."""
    if '"' in value or "\\" in value:
        raise PaymentsError("quotes and backslashes are not allowed in filters")
    return value


async def list_payments(
    temporal: Client,
    kind: str,
    *,
    status: str | None = None,
    merchant_id: str | None = None,
    extra: dict[str, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest payments of ``kind`` first, as the fields every summary line shares.

    Args:
        temporal: the Temporal client.
        kind: ``payout``, ``collection`` or ``refund`` (search attribute PaymentKind).
        status: only this status (PaymentStatus).
        merchant_id: only this merchant (MerchantId).
        extra: more keyword attributes that must equal the given values.
        limit: at most this many.

    Returns:
        Per payment: ``reference`` (its id), ``merchant_id``, ``status``, ``amount``,
        ``country``, ``provider``, ``started_at`` and ``closed``.
    """
    clauses = [f'{sa.PAYMENT_KIND.name} = "{kind}"']
    if status is not None:
        clauses.append(f'{sa.PAYMENT_STATUS.name} = "{quote_free(status)}"')
    if merchant_id is not None:
        clauses.append(f'{sa.MERCHANT_ID.name} = "{quote_free(merchant_id)}"')
    for name, value in (extra or {}).items():
        clauses.append(f'{name} = "{quote_free(value)}"')
    found: list[dict[str, Any]] = []
    async for execution in temporal.list_workflows(" AND ".join(clauses), limit=limit):
        attrs = execution.typed_search_attributes
        amount_minor, currency = attrs.get(sa.AMOUNT_MINOR), attrs.get(sa.CURRENCY)
        found.append(
            {
                "reference": attrs.get(sa.MERCHANT_REFERENCE) or execution.id,
                "merchant_id": attrs.get(sa.MERCHANT_ID),
                "status": attrs.get(sa.PAYMENT_STATUS),
                "amount": (
                    Money(amount=amount_minor, currency=currency)
                    if amount_minor is not None and currency
                    else None
                ),
                "country": attrs.get(sa.COUNTRY),
                "provider": attrs.get(sa.PAYMENT_PROVIDER),
                "started_at": execution.start_time,
                "closed": execution.status is not None
                and execution.status != WorkflowExecutionStatus.RUNNING,
            }
        )
        if len(found) >= limit:
            break
    return found
