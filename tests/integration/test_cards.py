"""Cards on the real stack: issuer sandbox -> relay -> Update -> answer, and network events.

Purchases are made at the sandbox's network (``POST /admin/issuer/purchases``), which
signs an authorization request, POSTs it to the relay and records the answer and its
latency; captures, reversals, refunds and force posts come back as signed webhooks that
the card confirms with the issuer's API. After each test the card agrees with the
network's own record and with the ledger.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from payments_engine.domain.card import (
    Cardholder,
    CardState,
    CardView,
    FundCardRequest,
    IdDocument,
    IssueCardRequest,
    TransactionKind,
    card_workflow_id,
)
from payments_engine.domain.errors import CardNotFound, CardStateConflict
from payments_engine.domain.ledger import (
    FundMerchantInput,
    card_available,
    card_holds,
    merchant_available,
)
from payments_engine.domain.money import Money
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import CRASH_QUEUE, WorkerProcesses, eventually

pytestmark = pytest.mark.integration

KES = "KES"


def issue_request(merchant: str, *, document: str = "31415926", **extra: Any) -> IssueCardRequest:
    return IssueCardRequest(
        card_id=f"it-{uuid.uuid4().hex[:10]}",
        merchant_id=merchant,
        currency=KES,
        cardholder=Cardholder(
            first_name="Achieng",
            last_name="Otieno",
            date_of_birth="1992-07-14",  # type: ignore[arg-type]
            id_document=IdDocument(type="national_id", number=document),
            country="KE",
        ),
        **extra,
    )


@pytest.fixture
async def network(stack: EngineStack) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox issuer's admin: the card network's side."""
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin/issuer", timeout=30) as c:
        yield c


async def purchase(network: httpx.AsyncClient, card_id: str, amount: int) -> dict[str, Any]:
    response = await network.post(
        "/purchases",
        json={"card": card_id, "amount": amount, "currency": KES, "mcc": "5411", "country": "KE"},
    )
    response.raise_for_status()
    return dict(response.json())


async def network_record(network: httpx.AsyncClient, card_id: str) -> list[dict[str, Any]]:
    response = await network.get("/authorizations")
    response.raise_for_status()
    return [a for a in response.json() if a["card_reference"] == card_workflow_id(card_id)]


async def agrees(stack: EngineStack, payments: PaymentsClient, card_id: str) -> CardView:
    """Wait until the ledger shows the card's balance and holds; the card's own sums hold."""

    async def probe() -> tuple[CardView, tuple[int, int]]:
        view = await payments.cards.get(card_id)
        ledger = (
            await stack.ledger.balance(card_available(card_id), KES),
            await stack.ledger.balance(card_holds(card_id), KES),
        )
        return view, ledger

    view, _ = await eventually(probe, lambda v: v[1] == (v[0].balance, v[0].held), timeout=30)
    assert view.balance == view.funded - view.captured + view.refunded - view.held - view.returned
    return view


async def funded_card(
    payments: PaymentsClient, stack: EngineStack, amount: int, **extra: Any
) -> IssueCardRequest:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant, amount=Money(amount=amount, currency=KES), reference=merchant
        )
    )
    request = issue_request(merchant, **extra)
    await payments.cards.issue(request)
    await eventually(
        lambda: payments.cards.get(request.card_id), lambda v: v.state is CardState.ACTIVE
    )
    await payments.cards.fund(
        request.card_id,
        FundCardRequest(reference="first", amount=Money(amount=amount, currency=KES)),
    )
    return request


async def test_a_card_through_the_network(
    stack: EngineStack, payments: PaymentsClient, network: httpx.AsyncClient
) -> None:
    # KYC under review (...0002): the issuer's webhook ends it and the card becomes active.
    request = await funded_card(
        payments, stack, 100_00, document="77770002", low_balance_threshold=76_00
    )
    card_id = request.card_id
    approved = await purchase(network, card_id, 30_00)
    assert (approved["result"], approved["answered_by"]) == ("APPROVED", "engine")
    assert approved["latency_ms"] < 5_000
    declined = await purchase(network, card_id, 1_000_00)
    assert (declined["result"], declined["decline_reason"]) == ("DECLINED", "insufficient_funds")

    auth = approved["authorization_id"]
    for path, body in [
        (f"/authorizations/{auth}/captures", {"amount": 20_00}),
        (f"/authorizations/{auth}/reversals", None),
        (f"/cards/{card_id}/refunds", {"amount": 5_00}),
        (f"/cards/{card_id}/force-captures", {"amount": 1_00}),
    ]:
        (await network.post(path, json=body)).raise_for_status()
    # A repeated webhook is applied once.
    events = (await network.get("/webhooks")).json()
    mine = [e for e in events if card_workflow_id(card_id) in str(e)]
    if mine:
        event_id = mine[-1].get("event_id") or mine[-1].get("id")
        await network.post(f"/events/{event_id}/resend")

    view = await eventually(
        lambda: payments.cards.get(card_id),
        lambda v: v.captured == 21_00 and v.refunded == 5_00 and v.held == 0,
        timeout=30,
    )
    view = await agrees(stack, payments, card_id)
    assert view.balance == 100_00 - 21_00 + 5_00
    kinds = [t.kind for t in await payments.cards.transactions(card_id)]
    assert kinds.count(TransactionKind.CAPTURE) == 2
    assert kinds.count(TransactionKind.REFUND) == 1
    notices = [
        n
        for n in (await network.get("/notifications")).json()
        if n["card_reference"] == card_workflow_id(card_id)
    ]
    # Below 76.00 once (70.00 after the purchase). Whatever order the network's events
    # arrive in, the balance never crosses it again: only the reversal (+10.00) lifts it
    # back to 76.00 or more, and after it the force post (-1.00) leaves 79.00 at least.
    # (At 75.00 the refund's +5.00 and the force post's -1.00 would cross it twice.)
    assert len(notices) == 1 and notices[0]["balance"] in (70_00, 69_00)

    await payments.cards.terminate(card_id)
    handle = stack.client.get_workflow_handle(card_workflow_id(card_id))
    await handle.result()
    assert await stack.ledger.balance(card_available(card_id), KES) == 0
    assert await stack.ledger.balance(merchant_available(request.merchant_id), KES) == view.balance
    after = await purchase(network, card_id, 1_00)
    assert (after["result"], after["answered_by"]) == ("DECLINED", "network")


async def test_an_unknown_card_reference_is_declined(
    stack: EngineStack, payments: PaymentsClient, network: httpx.AsyncClient
) -> None:
    request = await funded_card(payments, stack, 10_00)
    # The card's workflow is gone (terminated and closed at Temporal but, here, still
    # open at the issuer): the relay answers for it.
    handle = stack.client.get_workflow_handle(card_workflow_id(request.card_id))
    await handle.terminate("test: the card's workflow is gone")
    answer = await purchase(network, request.card_id, 1_00)
    assert (answer["result"], answer["decline_reason"]) == ("DECLINED", "card_inactive")
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED
    # Nothing was held for it.
    assert await stack.ledger.balance(card_holds(request.card_id), KES) == 0


@pytest.mark.slow
async def test_worker_killed_while_authorizations_arrive(
    stack: EngineStack, network: httpx.AsyncClient, workers: WorkerProcesses
) -> None:
    # The card runs on the crash queue, served only by the worker processes below.
    crashing = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    first = workers.start()
    request = await funded_card(crashing, stack, 100_00)
    card_id = request.card_id
    before = [await purchase(network, card_id, 5_00) for _ in range(3)]
    assert {(a["result"], a["answered_by"]) for a in before} == {("APPROVED", "engine")}

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    during = await asyncio.gather(*(purchase(network, card_id, 5_00) for _ in range(4)))
    deadline_ms = stack.settings.authorization_default_deadline_ms
    for answer in during:
        # The relay answered the default in time: the network did not have to.
        assert (answer["result"], answer["decline_reason"]) == ("DECLINED", "issuer_timeout")
        assert answer["answered_by"] == "engine"
        assert answer["latency_ms"] < deadline_ms

    workers.start()
    # Until the restarted worker has the card (the dead one's sticky task times out
    # first) the relay goes on standing in; then the card answers again.
    after: list[dict[str, Any]] = []
    for _ in range(30):
        after.append(await purchase(network, card_id, 5_00))
        if after[-1]["result"] == "APPROVED":
            break
    assert after[-1]["result"] == "APPROVED"
    assert all(a["answered_by"] == "engine" for a in after)

    # The card agrees with what the network was told: a hold for each approval only.
    record = await network_record(network, card_id)
    approved = {a["authorization_id"] for a in record if a["result"] == "APPROVED"}
    assert len(approved) == 4

    async def decisions() -> dict[str, bool | None]:
        return {
            t.id: t.approved
            for t in await crashing.cards.transactions(card_id)
            if t.kind is TransactionKind.AUTHORIZATION
        }

    told = {a["authorization_id"]: a["result"] == "APPROVED" for a in record}
    await eventually(decisions, lambda d: all(d.get(k) == v for k, v in told.items()), timeout=60)
    view = await agrees(stack, crashing, card_id)
    assert view.held == 4 * 5_00 and view.open_holds == 4
    assert view.balance == 100_00 - 4 * 5_00


async def test_an_unknown_card_is_a_clear_error(payments: PaymentsClient) -> None:
    with pytest.raises(CardNotFound):
        await payments.cards.get("no-such-card")
    with pytest.raises(CardNotFound):
        await payments.cards.fund(
            "no-such-card",
            FundCardRequest(reference="r1", amount=Money(amount=1_00, currency=KES)),
        )
    with pytest.raises(CardNotFound):
        await payments.cards.freeze("no-such-card")


async def test_a_closed_card_refuses_operations(
    stack: EngineStack, payments: PaymentsClient
) -> None:
    request = await funded_card(payments, stack, 10_00)
    await payments.cards.terminate(request.card_id)
    await stack.client.get_workflow_handle(card_workflow_id(request.card_id)).result()
    for operation in (
        payments.cards.freeze(request.card_id),
        payments.cards.terminate(request.card_id),
        payments.cards.fund(
            request.card_id,
            FundCardRequest(reference="again", amount=Money(amount=1_00, currency=KES)),
        ),
    ):
        with pytest.raises(CardStateConflict, match="terminated"):
            await operation
    # Its balance went back to the platform once, and stays there.
    assert await stack.ledger.balance(merchant_available(request.merchant_id), KES) == 10_00
