"""The client's cards: issue prepaid virtual cards, fund and control them, read them.

Every operation on a card is an Update of its workflow, refused by the card's validator
before it enters history when the card's state forbids it; the errors come back as the
engine's typed errors (``CardStateConflict``, ``CurrencyMismatch``, ``ReferenceConflict``,
``InsufficientFunds``), and an unknown card is ``CardNotFound``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from payments_engine.activities.providers.base import ProviderNotSupported
from payments_engine.activities.providers.registry import card_spec
from payments_engine.domain import search_attributes as sa
from payments_engine.domain.card import (
    CardInput,
    CardLimits,
    CardState,
    CardTransaction,
    CardView,
    FundCardRequest,
    IssueCardRequest,
    card_workflow_id,
)
from payments_engine.domain.errors import (
    CardNotFound,
    CardStateConflict,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    PaymentsError,
    ProviderNotConfigured,
    ReferenceConflict,
)
from payments_engine.starter.history import started_with
from payments_engine.workflows.card import CardWorkflow

# The card workflow's refusals, as the client's typed errors.
_ERRORS: dict[str, type[PaymentsError]] = {
    error.type: error
    for error in (
        CardStateConflict,
        CurrencyMismatch,
        ReferenceConflict,
        InsufficientFunds,
        InvalidAmount,
    )
}


class IssuedCardRef(BaseModel):
    """The answer to an issue: the card's workflow id and run id."""

    card_id: str
    workflow_id: str
    run_id: str


class CardsClient:
    """Issue, fund, control and read cards (``PaymentsClient.cards``).

    Args:
        temporal: a client with the engine's data converter and payload codec (the
            cardholder's data travels encrypted).
        task_queue: the workers' task queue.
    """

    def __init__(self, temporal: Client, task_queue: str) -> None:
        """Keep the client; this class opens no connection of its own."""
        self._temporal = temporal
        self._task_queue = task_queue

    @staticmethod
    def check_provider(name: str) -> None:
        """Refuse a provider the registry does not know or that issues no cards.

        Raises:
            ProviderNotConfigured: with the reason in the message.
        """
        try:
            card_spec(name)
        except ProviderNotSupported as exc:
            raise ProviderNotConfigured(str(exc)) from None

    async def issue(self, request: IssueCardRequest) -> IssuedCardRef:
        """Start the card's workflow; the same request twice is one card.

        Raises:
            ProviderNotConfigured: the provider does not issue cards.
            ReferenceConflict: the card id was used before with other parameters.
        """
        self.check_provider(request.provider)
        try:
            await self._temporal.start_workflow(
                CardWorkflow.run,
                CardInput(request=request),
                id=request.workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Prepaid card {request.card_id} in {request.currency}",
                search_attributes=sa.payment_search_attributes(
                    kind=sa.KIND_CARD,
                    status=CardState.PENDING_KYC.value,
                    provider=request.provider,
                    country=request.cardholder.country,
                    currency=request.currency,
                    amount=0,
                    reference=request.card_id,
                    merchant_id=request.merchant_id,
                ),
            )
        except WorkflowAlreadyStartedError:
            pass
        recorded = await self._recorded(request.workflow_id)
        if recorded is None or recorded.model_dump() != request.model_dump():
            raise ReferenceConflict(
                f"card id {request.card_id!r} was already used with other parameters"
            )
        description = await self._handle(request.card_id).describe()
        return IssuedCardRef(
            card_id=request.card_id, workflow_id=request.workflow_id, run_id=description.run_id
        )

    async def _recorded(self, workflow_id: str) -> IssueCardRequest | None:
        """The request the card's first run was started with, or None."""
        # The first run of the chain holds the original request.
        started = await started_with(self._temporal, workflow_id, CardInput)
        return None if started is None else started.request

    def _handle(self, card_id: str) -> WorkflowHandle[Any, Any]:
        return self._temporal.get_workflow_handle(card_workflow_id(card_id))

    async def get(self, card_id: str) -> CardView:
        """The card now (no personal data).

        Raises:
            CardNotFound: no card with that id.
        """
        try:
            return await self._handle(card_id).query(CardWorkflow.get_card)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CardNotFound(f"no card {card_id!r}") from exc
            raise

    async def transactions(self, card_id: str) -> list[CardTransaction]:
        """The card's recent transactions, oldest first.

        Raises:
            CardNotFound: no card with that id.
        """
        try:
            return await self._handle(card_id).query(CardWorkflow.get_transactions)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CardNotFound(f"no card {card_id!r}") from exc
            raise

    async def fund(self, card_id: str, request: FundCardRequest) -> CardView:
        """Move money from the platform's available balance to the card (once per reference).

        Raises:
            InsufficientFunds: the platform's available balance cannot cover it.
            CurrencyMismatch, ReferenceConflict, CardStateConflict, CardNotFound.
        """
        return await self._update(card_id, CardWorkflow.fund, request)

    async def set_limits(self, card_id: str, limits: CardLimits) -> CardView:
        """Replace the card's spending controls."""
        return await self._update(card_id, CardWorkflow.set_limits, limits)

    async def freeze(self, card_id: str) -> CardView:
        """Decline every authorization until unfrozen."""
        return await self._update(card_id, CardWorkflow.freeze)

    async def unfreeze(self, card_id: str) -> CardView:
        """Authorize again."""
        return await self._update(card_id, CardWorkflow.unfreeze)

    async def terminate(self, card_id: str) -> CardView:
        """End the card; its balance returns to the platform once its holds close."""
        return await self._update(card_id, CardWorkflow.terminate)

    async def _update(self, card_id: str, update: Any, *args: Any) -> CardView:
        handle = self._handle(card_id)
        try:
            result: CardView = await handle.execute_update(update, *args)
        except WorkflowUpdateFailedError as exc:
            self._raise_refusal(exc)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            await self._raise_absent(card_id)
        return result

    @staticmethod
    def _raise_refusal(exc: WorkflowUpdateFailedError) -> NoReturn:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in _ERRORS:
            raise _ERRORS[cause.type](cause.message) from None
        raise exc

    async def _raise_absent(self, card_id: str) -> NoReturn:
        """An Update found no running card: it never existed, or it has ended."""
        try:
            description = await self._handle(card_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise CardNotFound(f"no card {card_id!r}") from None
            raise
        if description.status is WorkflowExecutionStatus.RUNNING:
            # It ran on: a continue-as-new raced the Update; the caller may retry.
            raise CardStateConflict(f"card {card_id!r} was busy; try again") from None
        view = await self.get(card_id)
        raise CardStateConflict(f"card {card_id!r} is {view.state.value}") from None
