"""The client's cash orders: issue vouchers payers pay in cash, follow and list them.

The network's own rules (currency, limits, whole pesos, expiry range, payer documents)
are checked here against the provider's :class:`~domain.cash.VoucherRules` before
anything starts, so a bad order is a clear error and nothing is created. Refunds of
cash orders are bank transfers: :meth:`CashOrdersClient.refund_request` builds one for
``PaymentsClient.refunds.create``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import voucher_spec
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.bank import BankAccount, mask_name
from payments_engine.domain.cash import (
    CashOrderRequest,
    CashOrderResult,
    CashOrderStatus,
    CashOrderView,
    VoucherRules,
    cash_order_summary,
    cash_order_workflow_id,
)
from payments_engine.domain.errors import (
    CashOrderNotFound,
    ProviderNotConfigured,
    ReferenceConflict,
)
from payments_engine.domain.ledger import RefundOrigin
from payments_engine.domain.money import Money
from payments_engine.domain.refund import RefundRequest
from payments_engine.starter.history import started_with
from payments_engine.starter.listing import list_payments
from payments_engine.workflows.cash_order import CashOrderWorkflow

DEFAULT_CASH_PROVIDER = "efecty"
DEFAULT_BANK_TRANSFER_PROVIDER = "bank"
WAIT_POLL_SECONDS = 0.5
# Where ``wait`` stops by default: the payment is in (settlement follows days later),
# or the order is over.
DECIDED = frozenset(
    {
        CashOrderStatus.PAID,
        CashOrderStatus.SETTLED,
        CashOrderStatus.EXPIRED,
        CashOrderStatus.FAILED,
        CashOrderStatus.NEEDS_REVIEW,
    }
)


class CreatedCashOrder(BaseModel):
    """The answer to a create: the order's workflow id and run id."""

    order_id: str
    workflow_id: str
    run_id: str


class CashOrderSummary(BaseModel):
    """A line of ``payments cash-order list``, read from search attributes (no PII)."""

    order_id: str
    merchant_id: str | None
    status: str | None
    amount: Money | None
    country: str | None
    provider: str | None
    started_at: datetime
    closed: bool


def voucher_rules(provider: str) -> VoucherRules:
    """The rules of the cash network ``provider``.

    Raises:
        ProviderNotConfigured: the provider is unknown or is not a cash network.
    """
    try:
        rules = voucher_spec(provider).voucher_rules
    except ProviderNotSupported as exc:
        raise ProviderNotConfigured(str(exc)) from None
    if rules is None:
        raise ProviderNotConfigured(f"provider {provider!r} states no voucher rules")
    return rules


class CashOrdersClient:
    """Create, follow and list cash orders (``PaymentsClient.cash_orders``).

    Args:
        temporal: a client with the engine's data converter and payload codec.
        task_queue: the workers' task queue.
    """

    def __init__(self, temporal: Client, task_queue: str) -> None:
        """Keep the client; this class opens no connection of its own."""
        self._temporal = temporal
        self._task_queue = task_queue

    @staticmethod
    def checked(request: CashOrderRequest) -> CashOrderRequest:
        """The request with the network's settlement delay, once the network's rules hold.

        Raises:
            ProviderNotConfigured: the provider is unknown or is not a cash network.
            InvalidAmount: another currency, centavos where only whole units are taken,
                or outside the network's limits.
            ValidationFailed: another country, a document the network does not take, an
                expiry outside its range.
        """
        rules = voucher_rules(request.provider)
        rules.check(request.amount, request.country, request.payer, request.expires_in_days)
        if request.settlement_business_days is None:
            request = request.model_copy(
                update={"settlement_business_days": rules.settlement_business_days}
            )
        return request

    async def create(self, request: CashOrderRequest) -> CreatedCashOrder:
        """Start the order; the same request twice returns the same order.

        Raises:
            ProviderNotConfigured: the provider is unknown or not a cash network.
            InvalidAmount: the amount breaks the network's rules.
            ValidationFailed: the country, payer document or expiry break them.
            ReferenceConflict: the order id was used before with other parameters.
        """
        request = self.checked(request)
        try:
            await self._temporal.start_workflow(
                CashOrderWorkflow.run,
                request,
                id=request.workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary="Cash order "
                + cash_order_summary(
                    request.amount, request.provider, mask_name(request.payer.name)
                ),
                search_attributes=sa.payment_search_attributes(
                    kind=sa.KIND_CASH_ORDER,
                    status=CashOrderStatus.RECEIVED.value,
                    provider=request.provider,
                    country=request.country,
                    currency=request.amount.currency,
                    amount=request.amount.amount,
                    reference=request.order_id,
                    merchant_id=request.merchant_id,
                ),
            )
        except WorkflowAlreadyStartedError:
            pass
        handle = self._temporal.get_workflow_handle(request.workflow_id)
        description = await handle.describe()
        recorded = await started_with(
            self._temporal, description.id, CashOrderRequest, description.run_id
        )
        # The description is free text shown to the payer; it does not define the order.
        if recorded is None or recorded.model_dump(exclude={"description"}) != request.model_dump(
            exclude={"description"}
        ):
            raise ReferenceConflict(
                f"cash order id {request.order_id!r} was already used with other parameters"
            )
        return CreatedCashOrder(
            order_id=request.order_id, workflow_id=request.workflow_id, run_id=description.run_id
        )

    async def get(self, order_id: str) -> CashOrderView:
        """The order's current view.

        Raises:
            CashOrderNotFound: no cash order with that id.
        """
        try:
            return await self._handle(order_id).query(CashOrderWorkflow.get_status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CashOrderNotFound(f"no cash order {order_id!r}") from exc
            raise

    async def wait(
        self,
        order_id: str,
        until: frozenset[CashOrderStatus] = DECIDED,
        poll_seconds: float = WAIT_POLL_SECONDS,
    ) -> CashOrderView:
        """Wait until the order reaches one of ``until`` (default: paid or over).

        An expired order goes on listening for a late payment for days, and a paid one
        waits for its settlement day: this asks its ``get_status`` query every
        ``poll_seconds`` instead of waiting for the workflow to end.

        Raises:
            CashOrderNotFound: no cash order with that id.
        """
        while True:
            view = await self.get(order_id)
            if view.status in until:
                return view
            await asyncio.sleep(poll_seconds)

    async def list(
        self,
        status: CashOrderStatus | None = None,
        merchant_id: str | None = None,
        limit: int = 50,
    ) -> list[CashOrderSummary]:
        """Newest cash orders first, filtered by status and merchant (no PII)."""
        found = await list_payments(
            self._temporal,
            sa.KIND_CASH_ORDER,
            status=None if status is None else CashOrderStatus(status).value,
            merchant_id=merchant_id,
            limit=limit,
        )
        return [CashOrderSummary(order_id=line.pop("reference"), **line) for line in found]

    @staticmethod
    def refund_request(
        order_id: str,
        *,
        refund_id: str,
        amount: Money,
        reason: str,
        bank_account: BankAccount | None,
        merchant_id: str | None = None,
        provider: str = DEFAULT_BANK_TRANSFER_PROVIDER,
    ) -> RefundRequest:
        """A bank-transfer refund of a cash order, for ``PaymentsClient.refunds.create``.

        Raises:
            CashRefundNeedsBankAccount: no bank account: cash is never refunded in cash.
            ValidationFailed: bad ids, amount or reason.
        """
        fields: dict[str, object] = {
            "refund_id": refund_id,
            "original_id": order_id,
            "origin": RefundOrigin.CASH_ORDER,
            "amount": amount,
            "reason": reason,
            "provider": provider,
            "bank_account": bank_account,
        }
        if merchant_id is not None:
            fields["merchant_id"] = merchant_id
        return RefundRequest.model_validate(fields)

    def _handle(self, order_id: str) -> WorkflowHandle[CashOrderWorkflow, CashOrderResult]:
        return self._temporal.get_workflow_handle_for(
            CashOrderWorkflow.run, cash_order_workflow_id(order_id)
        )
