"""A fake card issuer (as activities) and a real SQLite ledger for CardWorkflow tests.

The fake issuer keeps what the real one would: cardholders with a KYC verdict, cards,
network transactions the tests add, and the notifications it was asked to send. The
ledger is the engine's own, so every test can check the card's balance against it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from payments_engine.activities.ledger import LedgerActivities
from payments_engine.db.ledger import Ledger
from payments_engine.db.migrate import upgrade
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain import recipes
from payments_engine.domain.card import (
    AuthorizationRequest,
    Cardholder,
    CardholderStatus,
    CardInput,
    CardLedgerBatch,
    CardLimits,
    CardState,
    CardTransaction,
    CardView,
    CloseCardInput,
    CreateCardholderInput,
    CreateCardInput,
    FundCardRequest,
    GetCardholderInput,
    GetNetworkTransactionInput,
    IdDocument,
    IssueCardRequest,
    IssuedCard,
    KycStatus,
    LowBalanceNotice,
    MerchantInfo,
    NetworkTransaction,
    NetworkTransactionType,
)
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.ledger import (
    FundMerchantInput,
    card_available,
    card_holds,
    merchant_available,
)
from payments_engine.domain.money import Money
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.card import CardWorkflow

CURRENCY = "KES"
MERCHANT = "platform"
SHOP = MerchantInfo(name="Naivas", mcc="5411", country="KE")
PLATFORM_FUNDS = 1_000_000
"""What the card tests fund the platform with before each test."""
SETTLE_TIMEOUT = 10.0
"""Seconds :meth:`CardBench.settled` waits for a card and its ledger to agree."""
QUERY_TIMEOUT = timedelta(seconds=2)


def holder(document: str = "12345678") -> Cardholder:
    """A cardholder whose document number picks the fake KYC's verdict (0001 rejects,
    0002 reviews then approves)."""
    return Cardholder(
        first_name="Wanjiru",
        last_name="Kamau",
        date_of_birth="1990-04-01",  # type: ignore[arg-type]
        id_document=IdDocument(type="national_id", number=document),
        country="KE",
    )


@dataclass
class FakeIssuer:
    """The issuer's side, as activities with the real ones' names."""

    kyc: dict[str, KycStatus] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    transactions: dict[str, NetworkTransaction] = field(default_factory=dict)
    notices: list[LowBalanceNotice] = field(default_factory=list)
    expiry: datetime = field(default_factory=lambda: datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC))

    def add(
        self,
        card_reference: str,
        kind: NetworkTransactionType,
        amount: int,
        authorization_id: str | None = None,
        currency: str = CURRENCY,
    ) -> str:
        """Record a network event; returns its token (what a webhook would name)."""
        token = f"txn_{uuid.uuid4().hex[:12]}"
        self.transactions[token] = NetworkTransaction(
            token=token,
            type=kind,
            card_reference=card_reference,
            authorization_id=authorization_id,
            amount=Money(amount=amount, currency=currency),
            merchant=SHOP,
            created_at=datetime.now(UTC),
        )
        return token

    def activities(self) -> list[object]:
        @activity.defn(name="create_cardholder")
        async def create_cardholder(inp: CreateCardholderInput) -> CardholderStatus:
            number = inp.cardholder.id_document.number
            status = {
                "0001": KycStatus.REJECTED,
                "0002": KycStatus.PENDING_REVIEW,
                "0003": KycStatus.PENDING_REVIEW,
            }.get(number[-4:], KycStatus.APPROVED)
            token = f"chd_{inp.reference}"
            self.kyc.setdefault(token, status)
            return CardholderStatus(token=token, kyc_status=self.kyc[token])

        @activity.defn(name="get_cardholder")
        async def get_cardholder(inp: GetCardholderInput) -> CardholderStatus | None:
            status = self.kyc.get(inp.token)
            return None if status is None else CardholderStatus(token=inp.token, kyc_status=status)

        @activity.defn(name="create_card")
        async def create_card(inp: CreateCardInput) -> IssuedCard:
            if self.kyc.get(inp.cardholder_token) is not KycStatus.APPROVED:
                raise ApplicationError("kyc", type="ProviderConflict", non_retryable=True)
            token = self.cards.setdefault(inp.reference, f"crd_{inp.reference}")
            return IssuedCard(token=token, last_four="4242", expires_at=self.expiry)

        @activity.defn(name="close_card")
        async def close_card(inp: CloseCardInput) -> None:
            self.closed.add(inp.token)

        @activity.defn(name="get_network_transaction")
        async def get_network_transaction(
            inp: GetNetworkTransactionInput,
        ) -> NetworkTransaction | None:
            return self.transactions.get(inp.token)

        @activity.defn(name="notify_low_balance")
        async def notify_low_balance(notice: LowBalanceNotice) -> None:
            if all(n.idempotency_key != notice.idempotency_key for n in self.notices):
                self.notices.append(notice)

        return [
            create_cardholder,
            get_cardholder,
            create_card,
            close_card,
            get_network_transaction,
            notify_low_balance,
        ]


@dataclass
class CardBench:
    """A worker with the fake issuer and a real ledger, and helpers to drive cards."""

    client: Client
    task_queue: str
    issuer: FakeIssuer
    ledger: Ledger
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    """Ledger step key -> an event the ``post_card_entries`` activity waits for before it
    posts a batch holding that step (a test keeps a step in flight, then sets it)."""
    waiting: set[str] = field(default_factory=set)
    """Keys of gated steps the activity is waiting on now (the step is in flight)."""
    handles: list[WorkflowHandle[CardWorkflow, object]] = field(default_factory=list)

    async def fund_platform(self, amount: int) -> None:
        """Credit the platform's available balance (a bank top-up)."""
        await self.ledger.post(
            recipes.fund_merchant(
                FundMerchantInput(
                    merchant_id=MERCHANT,
                    amount=Money(amount=amount, currency=CURRENCY),
                    reference=f"topup-{uuid.uuid4().hex[:8]}",
                )
            )
        )

    async def start(
        self,
        card_id: str | None = None,
        *,
        limits: CardLimits | None = None,
        document: str = "12345678",
        low_balance_threshold: int | None = None,
    ) -> WorkflowHandle[CardWorkflow, object]:
        """Start a card workflow."""
        card_id = card_id or f"c{uuid.uuid4().hex[:10]}"
        request = IssueCardRequest(
            card_id=card_id,
            merchant_id=MERCHANT,
            currency=CURRENCY,
            cardholder=holder(document),
            limits=limits or CardLimits(),
            low_balance_threshold=low_balance_threshold,
        )
        handle = await self.client.start_workflow(
            CardWorkflow.run,
            CardInput(request=request),
            id=request.workflow_id,
            task_queue=self.task_queue,
        )
        self.handles.append(handle)
        return handle

    def gate(self, key: str) -> asyncio.Event:
        """Hold back the ledger batch carrying step ``key`` until the returned event is set."""
        return self.gates.setdefault(key, asyncio.Event())

    async def in_flight(self, key: str, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait (real time) until the ledger activity is held at the gate of step ``key``."""
        async with asyncio.timeout(timeout):
            while key not in self.waiting:
                await asyncio.sleep(0.02)

    async def platform_available(self) -> int:
        """The platform's available balance on the ledger."""
        return await self.ledger.balance(merchant_available(MERCHANT), CURRENCY)

    async def network(
        self,
        handle: WorkflowHandle[CardWorkflow, object],
        kind: NetworkTransactionType,
        amount: int,
        authorization_id: str | None = None,
        *,
        card_reference: str | None = None,
        currency: str = CURRENCY,
    ) -> str:
        """Record a network event at the issuer and send the card its webhook hint."""
        token = self.issuer.add(
            card_reference or handle.id, kind, amount, authorization_id, currency=currency
        )
        await handle.signal(CardWorkflow.provider_event, transaction_event(handle.id, token))
        return token

    async def settled(
        self,
        handle: WorkflowHandle[CardWorkflow, object],
        until: Callable[[CardView], bool] = lambda view: True,
        timeout: float = SETTLE_TIMEOUT,
    ) -> CardView:
        """The card's view once ``until`` holds and the ledger agrees with it.

        The card answers first and posts its queued ledger steps right after, so a test
        polls (in real time: a query does not skip time) until both sides agree.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        view: CardView | None = None
        ledger: tuple[int, int] | None = None
        while True:
            try:
                view = await handle.query(CardWorkflow.get_card, rpc_timeout=QUERY_TIMEOUT)
            except RPCError as err:
                # The test server sometimes leaves a query unanswered (one sent while the
                # card continues as new): ask again rather than wait out its deadline.
                if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                    raise
            else:
                ledger = await self.ledger_view(view.card_id)
                if until(view) and ledger == (view.balance, view.held):
                    return view
            if loop.time() > deadline:
                raise AssertionError(
                    f"card {handle.id} did not settle in {timeout}s: {view!r}, ledger "
                    f"(available, holds) = {ledger}"
                )
            await asyncio.sleep(0.05)

    async def stop_all(self) -> None:
        """Open every gate and end (Temporal-terminate) the cards a test left running, so
        their timers do not fire for nobody while a later test skips time."""
        for gate in self.gates.values():
            gate.set()
        for handle in self.handles:
            try:
                description = await handle.describe()
                if description.status is WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test over")
            except Exception:  # best effort: the test itself already passed or failed
                pass

    async def ledger_view(self, card_id: str) -> tuple[int, int]:
        """(available, holds) of the card on the ledger."""
        return (
            await self.ledger.balance(card_available(card_id), CURRENCY),
            await self.ledger.balance(card_holds(card_id), CURRENCY),
        )

    async def assert_invariant(self, view: CardView) -> None:
        """The ledger agrees with the card: balance and holds, and
        balance == fundings - captures + refunds - open holds - returned."""
        available, holds = await self.ledger_view(view.card_id)
        assert (available, holds) == (view.balance, view.held)
        assert (
            view.balance == view.funded - view.captured + view.refunded - view.held - view.returned
        )


@asynccontextmanager
async def card_bench(client: Client, tmp_path: Path) -> AsyncIterator[CardBench]:
    """Run a worker for CardWorkflow on a fresh SQLite ledger until the block ends."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cards.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        ledger = Ledger(session_factory(engine))
        issuer = FakeIssuer()
        task_queue = f"cards-{uuid.uuid4().hex[:8]}"
        ledger_activities = LedgerActivities(ledger)
        bench = CardBench(client=client, task_queue=task_queue, issuer=issuer, ledger=ledger)

        @activity.defn(name="post_card_entries")
        async def post_card_entries(batch: CardLedgerBatch) -> int:
            for step in batch.steps:
                gate = bench.gates.get(step.key)
                if gate is not None and not gate.is_set():
                    bench.waiting.add(step.key)
                    await gate.wait()
                    bench.waiting.discard(step.key)
            return await ledger_activities.post_card_entries(batch)

        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[CardWorkflow],
            activities=[*issuer.activities(), post_card_entries],
            workflow_runner=WORKFLOW_RUNNER,
            max_cached_workflows=100,
        ):
            try:
                yield bench
            finally:
                await bench.stop_all()
    finally:
        await engine.dispose()


@asynccontextmanager
async def funded_card_bench(client: Client, tmp_path: Path) -> AsyncIterator[CardBench]:
    """:func:`card_bench` whose platform holds ``PLATFORM_FUNDS``."""
    async with card_bench(client, tmp_path) as bench:
        await bench.fund_platform(PLATFORM_FUNDS)
        yield bench


def transaction_event(
    card_reference: str, token: str, event_id: str | None = None
) -> ProviderEvent:
    """The issuer's webhook hint that transaction ``token`` happened on a card."""
    return ProviderEvent(
        provider="issuer",
        event_id=event_id or f"evt_{uuid.uuid4().hex[:12]}",
        reference=card_reference,
        outcome=TransferOutcome.CHANGED,
        provider_status="card.transaction",
        provider_transaction_id=token,
    )


def in_a_while(seconds: float) -> datetime:
    """A moment ``seconds`` from now (UTC)."""
    return datetime.now(UTC) + timedelta(seconds=seconds)


# ------------------------------------------------- driving a card from a test

Card = WorkflowHandle[CardWorkflow, Any]


def kes(amount: int) -> Money:
    """``amount`` minor units of the cards' currency."""
    return Money(amount=amount, currency=CURRENCY)


def purchase(
    authorization_id: str,
    amount: int,
    *,
    merchant: MerchantInfo = SHOP,
    partial: bool = False,
    respond_by: datetime | None = None,
    currency: str = CURRENCY,
) -> AuthorizationRequest:
    return AuthorizationRequest(
        authorization_id=authorization_id,
        amount=Money(amount=amount, currency=currency),
        merchant=merchant,
        partial_allowed=partial,
        respond_by=respond_by,
    )


async def authorize(card: Card, authorization_id: str, amount: int, **kw: Any) -> Any:
    return await card.execute_update(
        CardWorkflow.authorize, purchase(authorization_id, amount, **kw)
    )


async def fund(card: Card, reference: str, amount: int) -> CardView:
    return await card.execute_update(
        CardWorkflow.fund, FundCardRequest(reference=reference, amount=kes(amount))
    )


async def active_card(
    bench: CardBench,
    balance: int = 10_000,
    *,
    limits: CardLimits | None = None,
    low_balance_threshold: int | None = None,
) -> Card:
    """An issued card funded with ``balance`` (reference ``f0``), once it is active.

    Funding may be answered before the issuer's card is issued: a test's first
    authorization must not race the activation (it would be declined as inactive).
    """
    card = await bench.start(limits=limits, low_balance_threshold=low_balance_threshold)
    if balance:
        await fund(card, "f0", balance)
    await bench.settled(card, lambda view: view.state is CardState.ACTIVE)
    return card


async def checked(
    bench: CardBench, card: Card, until: Any = lambda view: True, timeout: float = 10.0
) -> CardView:
    """The card once settled, checked against the ledger."""
    view = await bench.settled(card, until, timeout)
    await bench.assert_invariant(view)
    return view


async def transactions(card: Card) -> list[CardTransaction]:
    return await card.query(CardWorkflow.get_transactions)
