"""The client's batch payouts: validate a file, check the money, store it, start it.

``submit`` reads the whole file first (every bad line with its number and reason;
nothing starts unless the caller skips them), checks the merchant's available balance
per currency and each provider's float against what the batch will draw, stores the
lines, and starts ``batch-{batch_id}``. The batch id is the caller's batch reference or
derives from the file's content, so the same file submitted twice is one batch, paid
once. Progress, pause, resume and cancel go to the running workflow; the per-line
results come from the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.batches import BatchStore
from payments_engine.db.ledger import Ledger
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.batch import (
    BatchBreaker,
    BatchProgress,
    BatchRequest,
    BatchRun,
    CurrencyTotal,
    GroupAction,
    LineProblem,
    batch_id_for,
    batch_workflow_id,
)
from payments_engine.domain.errors import PaymentsError, ValidationFailed
from payments_engine.domain.floats import FloatWatchResult
from payments_engine.domain.ledger import merchant_available
from payments_engine.domain.money import Money
from payments_engine.domain.payout import DEFAULT_MERCHANT_ID, DEFAULT_PROVIDER
from payments_engine.starter.batch_file import BatchFile, read_batch_file
from payments_engine.starter.floats import FloatsClient
from payments_engine.workflows.batch_payout import BatchPayoutWorkflow

log = logging.getLogger(__name__)


class BatchFileInvalid(ValidationFailed):
    """The batch file has bad lines; ``problems`` lists each with its line number."""

    type = "BatchFileInvalid"

    def __init__(self, problems: list[LineProblem]) -> None:
        """Keep the problems; the message counts them."""
        super().__init__(f"{len(problems)} line(s) of the batch file are invalid")
        self.problems = problems


class BatchShortfall(PaymentsError):
    """The merchant's balance or a provider's float cannot cover the batch."""

    type = "BatchShortfall"


class BatchNotFound(PaymentsError, LookupError):
    """No batch has that id."""

    type = "BatchNotFound"


class BatchEnded(PaymentsError):
    """The batch has completed or was cancelled: there is nothing left to steer."""

    type = "BatchEnded"


@dataclass(frozen=True)
class SubmittedBatch:
    """A batch stored and started (or found already there).

    Attributes:
        batch_id: its id.
        workflow_id: ``batch-{batch_id}``.
        lines: valid lines stored.
        skipped: invalid lines left out (with ``--skip-invalid``).
        totals: per currency.
        created: False when the same file was submitted before (nothing new is paid).
        shortfalls: what could not be covered, when allowed to start anyway.
    """

    batch_id: str
    workflow_id: str
    lines: int
    skipped: list[LineProblem]
    totals: list[CurrencyTotal]
    created: bool
    shortfalls: list[str]


class BatchesClient:
    """Submit batch files and follow, pause, resume or cancel their batches.

    Args:
        temporal: the engine's Temporal client.
        task_queue: the workers' task queue.
        store: the batches' lines (the ledger's database).
        ledger: for the merchant's available balance.
    """

    def __init__(
        self, temporal: Client, task_queue: str, store: BatchStore | None, ledger: Ledger | None
    ) -> None:
        """Keep the clients; nothing is contacted here."""
        self._temporal = temporal
        self._task_queue = task_queue
        self._store = store
        self._ledger = ledger

    def read(self, data: bytes, default_provider: str = DEFAULT_PROVIDER) -> BatchFile:
        """Validate a batch file's bytes (no I/O): its lines, problems and totals."""
        return read_batch_file(data, default_provider=default_provider)

    async def submit(
        self,
        data: bytes,
        *,
        batch_reference: str | None = None,
        merchant_id: str = DEFAULT_MERCHANT_ID,
        default_provider: str = DEFAULT_PROVIDER,
        skip_invalid: bool = False,
        allow_partial: bool = False,
        concurrency: int | None = None,
        breaker: BatchBreaker | None = None,
        page_size: int | None = None,
        lines_per_run: int | None = None,
    ) -> SubmittedBatch:
        """Validate, check the money, store the lines and start the batch.

        Raises:
            BatchFileInvalid: bad lines, and ``skip_invalid`` was not given.
            BatchShortfall: the merchant's balance or a provider's float is short, and
                ``allow_partial`` was not given.
            ReferenceConflict: the batch id was used for another file or merchant.
        """
        store = self._require_store()
        parsed = self.read(data, default_provider)
        whole_file = [p for p in parsed.problems if p.line_no == 1]
        if whole_file or (parsed.problems and not skip_invalid) or not parsed.lines:
            raise BatchFileInvalid(parsed.problems or [LineProblem(line_no=1, reason="no lines")])
        batch_id = batch_id_for(batch_reference, parsed.sha256)
        request = BatchRequest(batch_id=batch_id, merchant_id=merchant_id)
        tuning = {
            "concurrency": concurrency,
            "breaker": breaker,
            "page_size": page_size,
            "lines_per_run": lines_per_run,
        }
        request = BatchRequest.model_validate(
            request.model_dump() | {k: v for k, v in tuning.items() if v is not None}
        )
        existing = await store.get(batch_id)
        shortfalls: list[str] = []
        if existing is None:
            shortfalls = await self.shortfalls(parsed, merchant_id)
            if shortfalls and not allow_partial:
                raise BatchShortfall("; ".join(shortfalls))
        stored = await store.create(
            batch_id, merchant_id, parsed.sha256, parsed.lines, parsed.totals
        )
        await self._start(request.model_copy(update={"lines": stored.lines}))
        return SubmittedBatch(
            batch_id=batch_id,
            workflow_id=request.workflow_id,
            lines=stored.lines,
            skipped=parsed.problems,
            totals=list(stored.totals),
            created=stored.created,
            shortfalls=shortfalls,
        )

    async def shortfalls(self, parsed: BatchFile, merchant_id: str) -> list[str]:
        """What the merchant's balance and the providers' floats cannot cover."""
        short: list[str] = []
        if self._ledger is not None:
            for total in parsed.totals:
                available = await self._ledger.balance(
                    merchant_available(merchant_id), total.currency
                )
                if available < total.amount:
                    has = Money(amount=available, currency=total.currency)
                    draws_money = Money(amount=total.amount, currency=total.currency)
                    short.append(
                        f"merchant {merchant_id} has {has} available; the batch draws {draws_money}"
                    )
        draws: dict[tuple[str, str], int] = {}
        for line in parsed.lines:
            key = (line.provider, line.amount.currency)
            draws[key] = draws.get(key, 0) + line.amount.amount
        for provider in sorted({p for p, _ in draws}):
            floats = await self._floats(provider)
            if floats is None:
                continue
            for (name, currency), amount in sorted(draws.items()):
                if name != provider:
                    continue
                balance = floats.balances.get(currency, 0)
                if balance < amount:
                    short.append(
                        f"{provider}'s float has {Money(amount=balance, currency=currency)};"
                        f" the batch draws {Money(amount=amount, currency=currency)}"
                    )
        return short

    async def _floats(self, provider: str) -> FloatWatchResult | None:
        """The provider's float, read by a worker; None if it states none or cannot now.

        A float that cannot be read does not stop a batch the merchant's money covers:
        the payouts themselves are refused by a provider that cannot pay them.
        """
        spec = PROVIDERS.get(provider)
        if spec is None or spec.floats is None:
            return None
        try:
            return await FloatsClient(self._temporal, self._task_queue).read(provider)
        except WorkflowFailureError as exc:
            log.warning("the float of %s could not be read: %s", provider, exc.cause)
            return None

    async def _start(self, request: BatchRequest) -> None:
        """Start the batch's workflow unless it runs or ran already (the same file)."""
        if await self._finished(request.workflow_id):
            return
        try:
            await self._temporal.start_workflow(
                BatchPayoutWorkflow.run,
                BatchRun(request=request),
                id=request.workflow_id,
                task_queue=self._task_queue,
                # The same batch again joins the running one; a finished one is not re-run.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Batch {request.batch_id} of merchant {request.merchant_id}",
                search_attributes=sa.batch_search_attributes(
                    batch_id=request.batch_id, merchant_id=request.merchant_id
                ),
            )
        except WorkflowAlreadyStartedError:
            pass  # it ended between the two calls: nothing to start

    async def _finished(self, workflow_id: str) -> bool:
        try:
            description = await self._temporal.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.close_time is not None

    async def progress(self, batch_id: str) -> BatchProgress:
        """Where the batch stands (also once it ended).

        Raises:
            BatchNotFound: no such batch.
        """
        handle = self._handle(batch_id)
        try:
            return await handle.query(BatchPayoutWorkflow.get_progress)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise BatchNotFound(f"no batch {batch_id!r}") from None
            raise

    async def pause(self, batch_id: str) -> BatchProgress:
        """Start no new payout until resumed."""
        return await self._steer(batch_id, BatchPayoutWorkflow.pause)

    async def resume(self, batch_id: str, group: str | None = None) -> BatchProgress:
        """Resume the batch, or one paused group of it."""
        if group is None:
            return await self._steer(batch_id, BatchPayoutWorkflow.resume)
        return await self._steer(
            batch_id, BatchPayoutWorkflow.resume_group, GroupAction(group=group)
        )

    async def cancel(self, batch_id: str, group: str | None = None) -> BatchProgress:
        """Cancel the batch, or one group of it: nothing new starts; started ones finish."""
        if group is None:
            return await self._steer(batch_id, BatchPayoutWorkflow.cancel)
        return await self._steer(
            batch_id, BatchPayoutWorkflow.cancel_group, GroupAction(group=group)
        )

    async def _steer(self, batch_id: str, update: Any, *args: Any) -> BatchProgress:
        """Run an operator's Update; its refusal or the batch's absence as a clear error.

        Raises:
            ValidationFailed: the batch refused (a group not paused, resumed after cancel).
            BatchNotFound: no such batch.
            BatchEnded: the batch has completed or was cancelled.
        """
        handle = self._handle(batch_id)
        try:
            result: BatchProgress = await handle.execute_update(update, *args)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == ValidationFailed.type:
                raise ValidationFailed(cause.message) from None
            raise
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            progress = await self.progress(batch_id)  # BatchNotFound when there is none
            raise BatchEnded(f"batch {batch_id!r} has ended: {progress.status}") from None
        return result

    async def wait(self, batch_id: str) -> BatchProgress:
        """Wait for the batch to end; its final progress."""
        result: BatchProgress = await self._handle(batch_id).result()
        return result

    async def results(
        self, batch_id: str
    ) -> AsyncIterator[tuple[str, str, str | None, str | None]]:
        """Per line: reference, state, provider transaction id, failure code.

        Raises:
            BatchNotFound: no such batch is stored.
        """
        store = self._require_store()
        if await store.get(batch_id) is None:
            raise BatchNotFound(f"no batch {batch_id!r}")
        async for row in store.results(batch_id):
            yield row

    def _handle(self, batch_id: str) -> WorkflowHandle[BatchPayoutWorkflow, BatchProgress]:
        return self._temporal.get_workflow_handle_for(
            BatchPayoutWorkflow.run, batch_workflow_id(batch_id)
        )

    def _require_store(self) -> BatchStore:
        if self._store is None:
            raise ValidationFailed("batches need the ledger's database (its lines live there)")
        return self._store
