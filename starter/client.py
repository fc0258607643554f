"""PaymentsClient: the typed, async way for a merchant's code to use the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from pydantic import BaseModel, SecretStr
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import payout_spec
from payments_engine.db.batches import BatchStore
from payments_engine.db.ledger import Ledger
from payments_engine.db.reconciliation import ReconciliationStore
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.errors import (
    PaymentsError,
    PayoutNotFound,
    PayoutNotResolvable,
    ProviderNotConfigured,
    ReferenceConflict,
)
from payments_engine.domain.ids import payout_workflow_id
from payments_engine.domain.ledger import AccountBalance, FundMerchantInput, PostedEntry
from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.domain.payout import (
    PayoutRequest,
    PayoutResult,
    PayoutStatus,
    PayoutView,
    ResolvePayout,
    payout_summary,
)
from payments_engine.runtime.codec import settings_fingerprint_key
from payments_engine.runtime.settings import Settings
from payments_engine.runtime.temporal import connect
from payments_engine.starter.batches import BatchesClient
from payments_engine.starter.cards import CardsClient
from payments_engine.starter.cash_orders import CashOrdersClient
from payments_engine.starter.collections import CollectionsClient
from payments_engine.starter.floats import FloatsClient
from payments_engine.starter.listing import list_payments
from payments_engine.starter.reconciliation import ReconciliationClient
from payments_engine.starter.refunds import DEFAULT_REFUND_WINDOW, RefundsClient
from payments_engine.workflows.payout import PayoutWorkflow

FINGERPRINT_MEMO = "request_fingerprint"


class LedgerNotConfigured(PaymentsError):
    """A ledger operation was asked of a client built without a ledger."""

    type = "LedgerNotConfigured"


class CreatedPayout(BaseModel):
    """The answer to a create: the payout's workflow id and run id."""

    payout_id: str
    workflow_id: str
    run_id: str


class PayoutSummary(BaseModel):
    """A line of ``payments payout list``, read from search attributes (no PII)."""

    payout_id: str
    merchant_id: str | None
    status: str | None
    amount: Money | None
    country: str | None
    provider: str | None
    started_at: datetime
    closed: bool


class PaymentsClient:
    """Create and follow payouts on Temporal; fund and read the ledger.

    Collections, refunds, cards, cash orders and reconciliation live in their namespaces:
    ``client.collections``, ``client.refunds``, ``client.cards``, ``client.cash_orders``
    and ``client.reconciliation``.

    Args:
        temporal: a client using the engine's data converter, payload codec included
            (``runtime.temporal.connect``).
        task_queue: the workers' task queue.
        ledger: the ledger, for funding and balances; optional for payout-only use.
        fingerprint_key: the HMAC key of the request fingerprint kept in each payout's
            memo (``PAYMENTS_FINGERPRINT_KEY``; ``open_client`` passes it). Every client of
            one engine should use the same key. Without one, no fingerprint is stored and
            a reused payout id is checked against the request recorded in the payout's
            history instead (one more call to Temporal per create).
        refund_window: how long after a collection was paid it may be refunded
            (``PAYMENTS_REFUND_WINDOW_DAYS``; ``open_client`` passes it).
    """

    def __init__(
        self,
        temporal: Client,
        task_queue: str,
        ledger: Ledger | None = None,
        *,
        fingerprint_key: SecretStr | bytes | None = None,
        refund_window: timedelta = DEFAULT_REFUND_WINDOW,
    ) -> None:
        """Keep the clients; this class opens no connection of its own."""
        self._temporal = temporal
        self._task_queue = task_queue
        self._ledger = ledger
        if isinstance(fingerprint_key, SecretStr):
            fingerprint_key = fingerprint_key.get_secret_value().encode()
        self._fingerprint_key = fingerprint_key
        self.collections = CollectionsClient(temporal, task_queue)
        """Collections from payers' wallets: ``create``, ``get``, ``wait``, ``list``."""
        self.cash_orders = CashOrdersClient(temporal, task_queue)
        """Cash vouchers (Efecty, OXXO): ``create``, ``get``, ``wait``, ``list``."""
        self.refunds = RefundsClient(
            temporal, task_queue, self.collections, refund_window, cash_orders=self.cash_orders
        )
        """Refunds of collections and (by bank transfer) of cash orders: ``create`` ..."""
        self.cards = CardsClient(temporal, task_queue)
        """Prepaid virtual cards: ``issue``, ``get``, ``fund``, ``set_limits``, ``freeze`` ..."""
        self.floats = FloatsClient(temporal, task_queue)
        """Providers' floats: ``read`` now, ``watch`` on a schedule, ``unwatch``."""
        self.batches = BatchesClient(
            temporal,
            task_queue,
            None if ledger is None else BatchStore(ledger.engine),
            ledger,
        )
        """Batch payouts from a file: ``submit``, ``progress``, ``pause``, ``cancel`` ..."""
        self.reconciliation = ReconciliationClient(
            temporal, task_queue, None if ledger is None else ReconciliationStore(ledger.engine)
        )
        """Settlement reports matched to the ledger: ``run``, ``report``, ``resolve`` ..."""

    @staticmethod
    def check_provider(name: str) -> None:
        """Refuse a provider the registry does not know or that does not pay out.

        Raises:
            ProviderNotConfigured: with the known providers in the message.
        """
        try:
            payout_spec(name)
        except ProviderNotSupported as exc:
            raise ProviderNotConfigured(str(exc)) from None

    async def create_payout(self, request: PayoutRequest) -> CreatedPayout:
        """Start the payout's workflow; the same request twice returns the same payout.

        Raises:
            ProviderNotConfigured: the request names a provider the engine does not know,
                or one that does not pay out.
            ReferenceConflict: the payout id was used before with other parameters.
        """
        self.check_provider(request.provider)
        # Keyed: the memo holds nothing from which a guessed phone number can be checked.
        key = self._fingerprint_key
        memo = {FINGERPRINT_MEMO: request.fingerprint(key)} if key is not None else None
        try:
            await self._temporal.start_workflow(
                PayoutWorkflow.run,
                request,
                id=request.workflow_id,
                task_queue=self._task_queue,
                # A running payout with this id is returned as is; a closed one is kept.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The Web UI's one-line story; the workflow keeps its details current.
                static_summary=(
                    "Payout "
                    + payout_summary(
                        request.amount, request.provider, mask_msisdn(request.recipient_msisdn)
                    )
                ),
                memo=memo,
                search_attributes=sa.payout_search_attributes(
                    status=PayoutStatus.RECEIVED.value,
                    provider=request.provider,
                    country=request.country,
                    currency=request.amount.currency,
                    amount=request.amount.amount,
                    payout_id=request.payout_id,
                    merchant_id=request.merchant_id,
                ),
            )
        except WorkflowAlreadyStartedError:
            pass
        description = await self._temporal.get_workflow_handle(request.workflow_id).describe()
        if not await self._same_request(description, request):
            raise ReferenceConflict(
                f"payout id {request.payout_id!r} was already used with different parameters"
            )
        return CreatedPayout(
            payout_id=request.payout_id,
            workflow_id=request.workflow_id,
            run_id=description.run_id,
        )

    async def _same_request(
        self, description: WorkflowExecutionDescription, request: PayoutRequest
    ) -> bool:
        """Whether the payout ``description`` is of was started with ``request``.

        The memo's keyed fingerprint answers at once when it matches. Otherwise (none
        stored, stored under another key, or a real conflict) the request recorded in
        the payout's history decides, compared in memory.
        """
        key = self._fingerprint_key
        if key is not None:
            stored = await description.memo_value(FINGERPRINT_MEMO, None)
            if stored == request.fingerprint(key):
                return True
        handle = self._temporal.get_workflow_handle(description.id, run_id=description.run_id)
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            recorded = await self._temporal.data_converter.decode(
                started.input.payloads, [PayoutRequest]
            )
            return bool(recorded) and recorded[0].fingerprint() == request.fingerprint()
        return False

    async def get_payout(self, payout_id: str) -> PayoutView:
        """The payout's current view, from the workflow's ``get_status`` query.

        Raises:
            PayoutNotFound: no payout with that id.
        """
        try:
            return await self._handle(payout_id).query(PayoutWorkflow.get_status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise PayoutNotFound(f"no payout {payout_id!r}") from exc
            raise

    async def wait_payout(self, payout_id: str) -> PayoutView:
        """Wait for the payout's workflow to complete and return its final view."""
        result: PayoutResult = await self._handle(payout_id).result()
        return result.payout

    async def resolve_payout(self, payout_id: str, decision: ResolvePayout) -> PayoutView:
        """Settle or fail a payout after checking it with the provider.

        Allowed in needs_review, and before the deadline once the provider has no record
        of the transfer or the payout's ``review_grace_seconds`` have passed.

        Raises:
            PayoutNotFound: no payout with that id.
            PayoutNotResolvable: the payout may not be decided yet (or is already final).
        """
        return await self._operate(
            payout_id, self._handle(payout_id).execute_update(PayoutWorkflow.resolve, decision)
        )

    async def recheck_payout(self, payout_id: str) -> PayoutView:
        """Ask the provider now where an open payout stands; a verified final answer applies.

        Raises:
            PayoutNotFound: no payout with that id.
            PayoutNotResolvable: the payout is not with the provider (or already final).
        """
        return await self._operate(
            payout_id, self._handle(payout_id).execute_update(PayoutWorkflow.recheck)
        )

    @staticmethod
    async def _operate(payout_id: str, update: Awaitable[PayoutView]) -> PayoutView:
        """Run an operator's update, turning Temporal's refusals into the engine's errors."""
        try:
            return await update
        except WorkflowUpdateFailedError as exc:
            raise PayoutNotResolvable(str(exc.cause or exc)) from exc
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            if "completed" in exc.message:
                raise PayoutNotResolvable(f"payout {payout_id!r} is already final") from exc
            raise PayoutNotFound(f"no payout {payout_id!r}") from exc

    async def list_payouts(
        self,
        status: PayoutStatus | None = None,
        merchant_id: str | None = None,
        limit: int = 50,
    ) -> list[PayoutSummary]:
        """Newest payouts first, filtered by status and merchant, from search attributes."""
        found = await list_payments(
            self._temporal,
            sa.KIND_PAYOUT,
            status=None if status is None else PayoutStatus(status).value,
            merchant_id=merchant_id,
            limit=limit,
        )
        return [PayoutSummary(payout_id=line.pop("reference"), **line) for line in found]

    async def fund_merchant(self, funding: FundMerchantInput) -> PostedEntry:
        """Credit a merchant's available balance once per bank transfer reference."""
        return await self._require_ledger().fund_merchant(funding)

    async def balances(self, merchant_id: str | None = None) -> list[AccountBalance]:
        """Balances of one merchant's accounts, or of every account."""
        prefix = f"merchant:{merchant_id}:" if merchant_id else None
        return await self._require_ledger().balances(prefix)

    def _handle(self, payout_id: str) -> WorkflowHandle[PayoutWorkflow, PayoutResult]:
        return self._temporal.get_workflow_handle_for(
            PayoutWorkflow.run, payout_workflow_id(payout_id)
        )

    def _require_ledger(self) -> Ledger:
        if self._ledger is None:
            raise LedgerNotConfigured("this client was built without a ledger")
        return self._ledger


@asynccontextmanager
async def open_client(
    settings: Settings, with_ledger: bool = False
) -> AsyncIterator[PaymentsClient]:
    """A :class:`PaymentsClient` connected with ``settings``; with the ledger when asked.

    Used by the CLI and the demo; from your own code, build the client yourself.
    """
    temporal = await connect(settings)
    key = settings_fingerprint_key(settings)
    window = timedelta(days=settings.refund_window_days)
    if not with_ledger:
        yield PaymentsClient(
            temporal, settings.task_queue, fingerprint_key=key, refund_window=window
        )
        return
    engine = create_engine(settings.resolved_database_url)
    try:
        yield PaymentsClient(
            temporal,
            settings.task_queue,
            Ledger(session_factory(engine)),
            fingerprint_key=key,
            refund_window=window,
        )
    finally:
        await engine.dispose()
