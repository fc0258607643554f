"""The client's refunds: give (part of) a collection or a cash order back, follow and
list refunds.

A cash order's refund is a bank transfer to the payer's account (``origin``
``cash_order``, ``bank_account`` required) through the bank-transfer provider; its rules
are the same, checked against the cash order.

The rules that need the original are checked here, before anything starts, each a
typed error: the collection exists, was paid and is this merchant's
(``InvalidTransaction``), the same currency (``CurrencyMismatch``), not more than it
(``RefundAmountExceeded``), inside the refund window (``RefundWindowExpired``). The
sum of a collection's refunds is kept within what was paid by the ledger, whatever
their timing; a refund id reused with other parameters is a ``ReferenceConflict``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import refund_spec
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.cash import CashOrderStatus, CashOrderView
from payments_engine.domain.collection import CollectionView
from payments_engine.domain.errors import (
    CashOrderNotFound,
    CollectionNotFound,
    CurrencyMismatch,
    InvalidTransaction,
    ProviderNotConfigured,
    ReferenceConflict,
    RefundAmountExceeded,
    RefundNotFound,
    RefundWindowExpired,
)
from payments_engine.domain.ids import refund_workflow_id
from payments_engine.domain.ledger import RefundOrigin
from payments_engine.domain.money import Money
from payments_engine.domain.refund import RefundRequest, RefundResult, RefundStatus, RefundView
from payments_engine.starter.cash_orders import CashOrdersClient
from payments_engine.starter.collections import CollectionsClient
from payments_engine.starter.history import started_with
from payments_engine.starter.listing import list_payments
from payments_engine.workflows.refund import RefundWorkflow

DEFAULT_REFUND_WINDOW = timedelta(days=180)
WAIT_POLL_SECONDS = 0.5
# Where ``wait`` stops: the provider's word is in (a reversal may still come later).
SETTLED = frozenset({RefundStatus.PROCESSED, RefundStatus.FAILED, RefundStatus.REVERSED})


class CreatedRefund(BaseModel):
    """The answer to a create: the refund's workflow id and run id."""

    refund_id: str
    workflow_id: str
    run_id: str


class RefundSummary(BaseModel):
    """A line of ``payments refund list``, read from search attributes (no PII)."""

    refund_id: str
    merchant_id: str | None
    status: str | None
    amount: Money | None
    country: str | None
    provider: str | None
    started_at: datetime
    closed: bool


class RefundsClient:
    """Create, follow and list refunds of collections (``PaymentsClient.refunds``).

    Args:
        temporal: a client with the engine's data converter and payload codec.
        task_queue: the workers' task queue.
        collections: the collections, to check a refund against its original.
        window: how long after the collection was paid it may be refunded.
        cash_orders: the cash orders, to check a bank-transfer refund against its
            original; None refunds no cash orders.
    """

    def __init__(
        self,
        temporal: Client,
        task_queue: str,
        collections: CollectionsClient,
        window: timedelta = DEFAULT_REFUND_WINDOW,
        cash_orders: CashOrdersClient | None = None,
    ) -> None:
        """Keep the clients; this class opens no connection of its own."""
        self._temporal = temporal
        self._task_queue = task_queue
        self._collections = collections
        self._cash_orders = cash_orders
        self._window = window

    async def create(self, request: RefundRequest) -> CreatedRefund:
        """Start the refund; the same request twice returns the same refund.

        Raises:
            InvalidTransaction: the collection is unknown, not paid, or another
                merchant's.
            CurrencyMismatch: the refund's currency is not the collection's.
            RefundAmountExceeded: the refund alone is more than the collection.
            RefundWindowExpired: the collection was paid longer ago than the window.
            ProviderNotConfigured: the collection's provider cannot refund.
            ReferenceConflict: the refund id was used before with other parameters.
        """
        existing = await started_with(self._temporal, request.workflow_id, RefundRequest)
        if existing is None:
            request, original = await self._checked(request)
            try:
                await self._temporal.start_workflow(
                    RefundWorkflow.run,
                    request,
                    id=request.workflow_id,
                    task_queue=self._task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=(
                        f"Refund {request.amount.to_major()} {request.amount.currency}"
                        f" of {request.origin.value.replace('_', ' ')} {request.original_id}"
                        + (" by bank transfer" if request.bank_account is not None else "")
                    ),
                    search_attributes=sa.payment_search_attributes(
                        kind=sa.KIND_REFUND,
                        status=RefundStatus.RECEIVED.value,
                        provider=request.provider,
                        country=original.country,
                        currency=request.amount.currency,
                        amount=request.amount.amount,
                        reference=request.refund_id,
                        merchant_id=request.merchant_id,
                        original=request.original_id,
                    ),
                )
            except WorkflowAlreadyStartedError:
                pass
            existing = await started_with(self._temporal, request.workflow_id, RefundRequest)
        # The provider comes from the collection, not from the caller: compare the rest.
        if existing is None or existing.model_dump(exclude={"provider"}) != request.model_dump(
            exclude={"provider"}
        ):
            raise ReferenceConflict(
                f"refund id {request.refund_id!r} was already used with other parameters"
            )
        description = await self._temporal.get_workflow_handle(request.workflow_id).describe()
        return CreatedRefund(
            refund_id=request.refund_id, workflow_id=request.workflow_id, run_id=description.run_id
        )

    async def _checked(
        self, request: RefundRequest
    ) -> tuple[RefundRequest, CollectionView | CashOrderView]:
        """The request with its provider, and the original, once every rule holds."""
        if request.origin is RefundOrigin.CASH_ORDER:
            return await self._checked_cash(request)
        try:
            original = await self._collections.get(request.original_id)
        except CollectionNotFound:
            if await self._is_cash_order(request.original_id):
                raise InvalidTransaction(
                    f"{request.original_id!r} is a cash order: cash orders are refunded by bank "
                    "transfer, never in cash (payments cash-order refund)"
                ) from None
            raise InvalidTransaction(f"no collection {request.original_id!r} to refund") from None
        if not original.booked:
            raise InvalidTransaction(
                f"collection {request.original_id!r} is {original.status.value}, not paid"
            )
        self._check_against(request, original.merchant_id, original.amount, "collection")
        try:
            refund_spec(original.provider)
        except ProviderNotSupported as exc:
            raise ProviderNotConfigured(str(exc)) from None
        paid_at = original.updated_at or original.created_at or datetime.now(UTC)
        if datetime.now(UTC) > paid_at + self._window:
            raise RefundWindowExpired(
                f"collection {request.original_id!r} was paid on {paid_at:%Y-%m-%d}; refunds "
                f"are accepted for {self._window.days} days"
            )
        return request.model_copy(update={"provider": original.provider}), original

    async def _is_cash_order(self, order_id: str) -> bool:
        if self._cash_orders is None:
            return False
        try:
            await self._cash_orders.get(order_id)
        except CashOrderNotFound:
            return False
        return True

    async def _checked_cash(self, request: RefundRequest) -> tuple[RefundRequest, CashOrderView]:
        """A bank-transfer refund of a cash order, once every rule holds."""
        if self._cash_orders is None:
            raise InvalidTransaction("this client refunds no cash orders")
        try:
            original = await self._cash_orders.get(request.original_id)
        except CashOrderNotFound:
            raise InvalidTransaction(f"no cash order {request.original_id!r} to refund") from None
        if not original.booked:
            state = original.status.value
            if original.status is CashOrderStatus.NEEDS_REVIEW:
                state = "in review without a booked payment"
            raise InvalidTransaction(f"cash order {request.original_id!r} is {state}, not paid")
        self._check_against(request, original.merchant_id, original.amount, "cash order")
        try:
            refund_spec(request.provider)
        except ProviderNotSupported as exc:
            raise ProviderNotConfigured(str(exc)) from None
        paid_at = original.paid_at or datetime.now(UTC)
        if datetime.now(UTC) > paid_at + self._window:
            raise RefundWindowExpired(
                f"cash order {request.original_id!r} was paid on {paid_at:%Y-%m-%d}; refunds "
                f"are accepted for {self._window.days} days"
            )
        return request, original

    @staticmethod
    def _check_against(request: RefundRequest, merchant_id: str, paid: Money, kind: str) -> None:
        """The rules every refund meets: the merchant's, same currency, not more than paid."""
        if merchant_id != request.merchant_id:
            raise InvalidTransaction(
                f"{kind} {request.original_id!r} is not merchant {request.merchant_id!r}'s"
            )
        if paid.currency != request.amount.currency:
            raise CurrencyMismatch(
                f"{kind} {request.original_id!r} is in {paid.currency}, "
                f"not {request.amount.currency}"
            )
        if request.amount.amount > paid.amount:
            raise RefundAmountExceeded(f"a refund of {request.amount} is more than the {paid} paid")

    async def get(self, refund_id: str) -> RefundView:
        """The refund's current view.

        Raises:
            RefundNotFound: no refund with that id.
        """
        try:
            return await self._handle(refund_id).query(RefundWorkflow.get_status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RefundNotFound(f"no refund {refund_id!r}") from exc
            raise

    async def wait(self, refund_id: str, poll_seconds: float = WAIT_POLL_SECONDS) -> RefundView:
        """Wait until the refund is processed, failed or reversed, and return that view.

        A processed refund's workflow goes on listening for a reversal for days
        (``reversal_watch_seconds``); this returns as soon as the refund is processed,
        asking its ``get_status`` query every ``poll_seconds`` (a query adds nothing to
        the workflow's history).

        Raises:
            RefundNotFound: no refund with that id.
        """
        while True:
            view = await self.get(refund_id)
            if view.status in SETTLED:
                return view
            await asyncio.sleep(poll_seconds)

    async def list(
        self,
        original_id: str | None = None,
        status: RefundStatus | None = None,
        merchant_id: str | None = None,
        limit: int = 50,
    ) -> list[RefundSummary]:
        """Newest refunds first: all, or those of one collection (no PII)."""
        found = await list_payments(
            self._temporal,
            sa.KIND_REFUND,
            status=None if status is None else RefundStatus(status).value,
            merchant_id=merchant_id,
            extra=None if original_id is None else {sa.ORIGINAL_REFERENCE.name: original_id},
            limit=limit,
        )
        return [RefundSummary(refund_id=line.pop("reference"), **line) for line in found]

    def _handle(self, refund_id: str) -> WorkflowHandle[RefundWorkflow, RefundResult]:
        return self._temporal.get_workflow_handle_for(
            RefundWorkflow.run, refund_workflow_id(refund_id)
        )
