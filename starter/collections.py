"""The client's collections: ask payers to pay, follow and list the collections."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import collection_spec
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.collection import (
    CollectionRequest,
    CollectionResult,
    CollectionStatus,
    CollectionView,
    collection_summary,
)
from payments_engine.domain.errors import (
    CollectionNotFound,
    ProviderNotConfigured,
    ReferenceConflict,
)
from payments_engine.domain.ids import collection_workflow_id
from payments_engine.domain.money import Money
from payments_engine.domain.msisdn import mask_msisdn
from payments_engine.starter.history import started_with
from payments_engine.starter.listing import list_payments
from payments_engine.workflows.collection import CollectionWorkflow


class CreatedCollection(BaseModel):
    """The answer to a create: the collection's workflow id and run id."""

    collection_id: str
    workflow_id: str
    run_id: str


class CollectionSummary(BaseModel):
    """A line of ``payments collection list``, read from search attributes (no PII)."""

    collection_id: str
    merchant_id: str | None
    status: str | None
    amount: Money | None
    country: str | None
    provider: str | None
    started_at: datetime
    closed: bool


class CollectionsClient:
    """Create, follow and list collections (``PaymentsClient.collections``).

    Args:
        temporal: a client with the engine's data converter and payload codec.
        task_queue: the workers' task queue.
    """

    def __init__(self, temporal: Client, task_queue: str) -> None:
        """Keep the client; this class opens no connection of its own."""
        self._temporal = temporal
        self._task_queue = task_queue

    @staticmethod
    def check_provider(name: str) -> None:
        """Refuse a provider the registry does not know or that does not collect.

        Raises:
            ProviderNotConfigured: with the reason in the message.
        """
        try:
            collection_spec(name)
        except ProviderNotSupported as exc:
            raise ProviderNotConfigured(str(exc)) from None

    async def create(self, request: CollectionRequest) -> CreatedCollection:
        """Start the collection; the same request twice returns the same collection.

        Raises:
            ProviderNotConfigured: the provider is unknown or does not collect.
            ReferenceConflict: the collection id was used before with other parameters.
        """
        self.check_provider(request.provider)
        try:
            await self._temporal.start_workflow(
                CollectionWorkflow.run,
                request,
                id=request.workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary="Collection "
                + collection_summary(
                    request.amount, request.provider, mask_msisdn(request.payer_msisdn)
                ),
                search_attributes=sa.payment_search_attributes(
                    kind=sa.KIND_COLLECTION,
                    status=CollectionStatus.RECEIVED.value,
                    provider=request.provider,
                    country=request.country,
                    currency=request.amount.currency,
                    amount=request.amount.amount,
                    reference=request.collection_id,
                    merchant_id=request.merchant_id,
                ),
            )
        except WorkflowAlreadyStartedError:
            pass
        handle = self._temporal.get_workflow_handle(request.workflow_id)
        description = await handle.describe()
        recorded = await started_with(
            self._temporal, description.id, CollectionRequest, description.run_id
        )
        # The description is free text shown to the payer; it does not define the payment.
        if recorded is None or recorded.model_dump(exclude={"description"}) != request.model_dump(
            exclude={"description"}
        ):
            raise ReferenceConflict(
                f"collection id {request.collection_id!r} was already used with other parameters"
            )
        return CreatedCollection(
            collection_id=request.collection_id,
            workflow_id=request.workflow_id,
            run_id=description.run_id,
        )

    async def get(self, collection_id: str) -> CollectionView:
        """The collection's current view.

        Raises:
            CollectionNotFound: no collection with that id.
        """
        try:
            return await self._handle(collection_id).query(CollectionWorkflow.get_status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CollectionNotFound(f"no collection {collection_id!r}") from exc
            raise

    async def wait(self, collection_id: str) -> CollectionView:
        """Wait for the collection to end and return its final view."""
        result: CollectionResult = await self._handle(collection_id).result()
        return result.collection

    async def list(
        self,
        status: CollectionStatus | None = None,
        merchant_id: str | None = None,
        limit: int = 50,
    ) -> list[CollectionSummary]:
        """Newest collections first, filtered by status and merchant (no PII)."""
        found = await list_payments(
            self._temporal,
            sa.KIND_COLLECTION,
            status=None if status is None else CollectionStatus(status).value,
            merchant_id=merchant_id,
            limit=limit,
        )
        return [CollectionSummary(collection_id=line.pop("reference"), **line) for line in found]

    def _handle(self, collection_id: str) -> WorkflowHandle[CollectionWorkflow, CollectionResult]:
        return self._temporal.get_workflow_handle_for(
            CollectionWorkflow.run, collection_workflow_id(collection_id)
        )
