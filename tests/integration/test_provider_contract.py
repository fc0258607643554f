"""The payout contract every provider passes: the same tests, once per provider.

Each provider's behaviours (paid, refused, answer lost, callback lost, late, never) end as
its own simulator says, checked against the simulator's record of what it executed and
against the ledger; replayed and forged-but-signed callbacks move no money; a worker
killed with SIGKILL mid-submission leaves every payout executed exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.db.models import WebhookEvent
from payments_engine.domain.events import ReviewFlag
from payments_engine.domain.ledger import FundMerchantInput, merchant_available, merchant_reserved
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, PayoutView
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.providers import CASES, HUB, Behaviour, ProviderCase
from tests.integration.support import AMOUNT, CRASH_QUEUE, WorkerProcesses, eventually, settled

pytestmark = pytest.mark.integration

FUNDS = Money(amount=10_000_00, currency="KES")
NEEDS_REVIEW_DEADLINE_SECONDS = 4
LOST_CALLBACK_POLL_SECONDS = 3
CRASH_PAYOUTS = 8
PAID = {
    Behaviour.SUCCESS,
    Behaviour.ANSWER_LOST,
    Behaviour.CALLBACK_LOST,
    Behaviour.LATE_SUCCESS,
}


def request_for(
    case: ProviderCase, merchant_id: str, behaviour: Behaviour, **extra: Any
) -> PayoutRequest:
    """A 1,500.00 KES payout through ``case``'s provider that makes it do ``behaviour``."""
    return PayoutRequest(
        payout_id=f"pc-{case.name}-{behaviour.value.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        amount=AMOUNT,
        recipient_msisdn=case.numbers[behaviour],
        country="KE",
        provider=case.name,
        **extra,
    )


async def funded_merchant(stack: EngineStack, funds: Money = FUNDS) -> str:
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    await stack.ledger.fund_merchant(
        FundMerchantInput(merchant_id=merchant_id, amount=funds, reference=f"f-{merchant_id}")
    )
    return merchant_id


async def put_faults(stack: EngineStack, case: ProviderCase, faults: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}{case.admin}") as admin:
        (await admin.put("/faults", json=faults)).raise_for_status()


def signed(case: ProviderCase, stack: EngineStack, body: bytes) -> dict[str, str]:
    """Headers signing ``body`` with the provider's scheme and the stack's secret."""
    secret = stack.settings.provider(case.name).webhook_secret
    assert secret is not None
    return PROVIDERS[case.name].signature.sign(
        secret.get_secret_value(),
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(time.time()),
        body=body,
    )


@dataclass
class Outcome:
    request: PayoutRequest
    view: PayoutView


@pytest.fixture(scope="module")
async def outcomes(stack: EngineStack) -> dict[tuple[str, Behaviour], Outcome]:
    """One payout per provider and behaviour, all at once, each for its own merchant."""
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    requests: dict[tuple[str, Behaviour], PayoutRequest] = {}
    for case in CASES:
        for behaviour in Behaviour:
            extra: dict[str, int] = {}
            if behaviour is Behaviour.NEVER_RESOLVES:
                extra["resolution_deadline_seconds"] = NEEDS_REVIEW_DEADLINE_SECONDS
            if behaviour is Behaviour.CALLBACK_LOST:
                # Found by the first status poll; 30 s by default, asked sooner here.
                extra["first_poll_seconds"] = LOST_CALLBACK_POLL_SECONDS
            request = request_for(case, await funded_merchant(stack), behaviour, **extra)
            requests[case.name, behaviour] = request
            await payments.create_payout(request)
    views = await asyncio.gather(
        *(settled(payments, r.payout_id, timeout=90) for r in requests.values())
    )
    return {
        key: Outcome(request, view)
        for (key, request), view in zip(requests.items(), views, strict=True)
    }


@pytest.mark.parametrize("behaviour", list(Behaviour), ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
async def test_behaviour_ends_as_the_provider_said(
    case: ProviderCase,
    behaviour: Behaviour,
    outcomes: dict[tuple[str, Behaviour], Outcome],
    stack: EngineStack,
) -> None:
    outcome = outcomes[case.name, behaviour]
    view, request = outcome.view, outcome.request
    recorded = (await case.transfers(stack)).get(request.workflow_id)
    assert recorded is not None, "the simulator never saw the payout"
    # Exactly once at the provider, whatever the behaviour threw at the adapter.
    assert recorded["submit_count"] == 1

    available = await stack.ledger.balance(merchant_available(request.merchant_id), "KES")
    reserved = await stack.ledger.balance(merchant_reserved(request.merchant_id), "KES")
    kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
    if behaviour in PAID:
        assert (view.status, view.provider_status) == (PayoutStatus.SUCCEEDED, case.paid)
        assert recorded["executed"] is True
        assert (available, reserved) == (FUNDS.amount - AMOUNT.amount, 0)
        assert kinds == ["payout_reserve", "payout_settle"]
    elif behaviour is Behaviour.REFUSED:
        assert view.status is PayoutStatus.FAILED
        assert (view.provider_status, view.failure_code) == case.refused
        assert recorded["executed"] is False
        assert (available, reserved) == (FUNDS.amount, 0)
        assert kinds == ["payout_release", "payout_reserve"]
    else:
        assert (view.status, view.provider_status) == (PayoutStatus.NEEDS_REVIEW, case.pending)
        assert view.review_flags == [ReviewFlag.DEADLINE_PASSED]
        # Money may have moved at the provider: it stays reserved until someone decides.
        assert (available, reserved) == (FUNDS.amount - AMOUNT.amount, AMOUNT.amount)
        assert kinds == ["payout_reserve"]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_lost_callback_is_found_by_polling(
    case: ProviderCase, outcomes: dict[tuple[str, Behaviour], Outcome]
) -> None:
    view = outcomes[case.name, Behaviour.CALLBACK_LOST].view
    assert view.status is PayoutStatus.SUCCEEDED
    assert view.events_applied == 0
    assert view.status_queries >= 1


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_replayed_callbacks_are_duplicates_and_move_no_money(
    case: ProviderCase,
    outcomes: dict[tuple[str, Behaviour], Outcome],
    stack: EngineStack,
    payments: PaymentsClient,
) -> None:
    paid = [outcomes[case.name, b].request for b in (Behaviour.SUCCESS, Behaviour.LATE_SUCCESS)]
    references = {r.workflow_id for r in paid}

    async def stored() -> list[bytes]:
        async with stack.sessions() as session:
            rows = await session.execute(
                select(WebhookEvent.raw_body).where(
                    WebhookEvent.provider == case.name, WebhookEvent.reference.in_(references)
                )
            )
            return [bytes(row.raw_body) for row in rows]

    bodies = await eventually(stored, lambda found: len(found) >= len(paid))
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        for body in bodies * 2:
            answer = await relay.post(
                f"/webhooks/{case.name}", content=body, headers=signed(case, stack, body)
            )
            assert (answer.status_code, answer.json()) == (200, {"status": "duplicate"})
    for request in paid:
        view = await payments.get_payout(request.payout_id)
        assert view.status is PayoutStatus.SUCCEEDED
        kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
        assert kinds == ["payout_reserve", "payout_settle"]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_signed_success_for_another_amount_moves_no_money(
    case: ProviderCase, stack: EngineStack, payments: PaymentsClient
) -> None:
    request = request_for(case, await funded_merchant(stack), Behaviour.NEVER_RESOLVES)
    await payments.create_payout(request)
    await eventually(
        lambda: payments.get_payout(request.payout_id),
        lambda v: v.status is PayoutStatus.SUBMITTED,
    )
    forged = case.callback(request.workflow_id, case.paid, Money(amount=1, currency="KES"))
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        answer = await relay.post(
            f"/webhooks/{case.name}", content=forged, headers=signed(case, stack, forged)
        )
    # Authentic (signed), so stored and delivered; the workflow refuses to act on it.
    assert (answer.status_code, answer.json()) == (200, {"status": "delivered"})
    view = await eventually(
        lambda: payments.get_payout(request.payout_id),
        lambda v: ReviewFlag.PROVIDER_MISMATCH in v.review_flags,
    )
    assert view.status is PayoutStatus.NEEDS_REVIEW
    assert [e.kind for e in await stack.ledger.entries(reference=request.payout_id)] == [
        "payout_reserve"
    ]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_needs_review_settles_on_the_providers_late_failure(
    case: ProviderCase,
    outcomes: dict[tuple[str, Behaviour], Outcome],
    stack: EngineStack,
    payments: PaymentsClient,
) -> None:
    request = outcomes[case.name, Behaviour.NEVER_RESOLVES].request
    body, failure_code = case.resolve_failed
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}{case.admin}") as admin:
        forced = await admin.post(
            f"/transfers/{case.admin_id(request.workflow_id)}/resolve", json=body
        )
    assert forced.status_code == 200, forced.text
    # The hub's webhook or, for a provider whose callback is not retried, the 6-hourly
    # review poll would find it; an operator's "recheck" is not there yet, so the
    # webhook path is what this waits for.
    view = await eventually(
        lambda: payments.get_payout(request.payout_id), lambda v: v.status.is_final, timeout=30
    )
    assert (view.status, view.failure_code) == (PayoutStatus.FAILED, failure_code)
    available = await stack.ledger.balance(merchant_available(request.merchant_id), "KES")
    assert available == FUNDS.amount


@pytest.fixture
async def faults_cleared(stack: EngineStack) -> AsyncIterator[None]:
    """Every simulator's faults are switched off after the test, whatever happened."""
    yield
    for case in CASES:
        await put_faults(stack, case, {})


# The kill's effect on the ledger's store is proven once on PostgreSQL (the hub); every
# provider's case runs on SQLite (slow: the main pass only), keeping the suite in budget.
@pytest.mark.parametrize(
    "case",
    [case if case is HUB else pytest.param(case, marks=pytest.mark.slow) for case in CASES],
    ids=str,
)
async def test_worker_killed_mid_flight_every_payout_executes_once(
    case: ProviderCase,
    stack: EngineStack,
    workers: WorkerProcesses,
    faults_cleared: None,
) -> None:
    payments = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    merchant = await funded_merchant(
        stack, Money(amount=CRASH_PAYOUTS * AMOUNT.amount, currency="KES")
    )
    float_before = await case.float_minor(stack)
    # The provider executes every submission and holds its answer: each payout stays in
    # flight in its submit activity, whatever the timing, until the worker is dead.
    await put_faults(stack, case, {"hold_submissions": True})
    first = workers.start()
    requests = [request_for(case, merchant, Behaviour.SUCCESS) for _ in range(CRASH_PAYOUTS)]
    for request in requests:
        await payments.create_payout(request)
    references = {r.workflow_id for r in requests}

    async def seen() -> int:
        return len(references & set(await case.transfers(stack)))

    await eventually(seen, lambda n: n == CRASH_PAYOUTS, timeout=60)
    for request in requests:
        kinds = [e.kind for e in await stack.ledger.entries(reference=request.payout_id)]
        assert kinds == ["payout_reserve"], "a payout got past its submission before the kill"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    await put_faults(stack, case, {})
    workers.start()
    views = await asyncio.wait_for(
        asyncio.gather(*(payments.wait_payout(r.payout_id) for r in requests)), timeout=150
    )

    assert [v.status for v in views] == [PayoutStatus.SUCCEEDED] * CRASH_PAYOUTS
    recorded = await case.transfers(stack)
    for reference in references:
        assert recorded[reference]["executed"] is True
        # The restarted worker asked before resubmitting: one submission each.
        assert recorded[reference]["submit_count"] == 1
    # The provider's float moved by exactly one transfer per payout.
    assert float_before - await case.float_minor(stack) == CRASH_PAYOUTS * AMOUNT.amount
    for request in requests:
        kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
        assert kinds == ["payout_reserve", "payout_settle"]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_recheck_finds_a_silent_payment_before_the_first_poll(
    case: ProviderCase, stack: EngineStack, payments: PaymentsClient
) -> None:
    request = request_for(case, await funded_merchant(stack), Behaviour.CALLBACK_LOST)
    await payments.create_payout(request)

    async def paid_at_the_provider() -> str | None:
        transfer = (await case.transfers(stack)).get(request.workflow_id)
        return None if transfer is None else transfer["status"]

    await eventually(paid_at_the_provider, lambda status: status == case.paid, timeout=20)
    started = time.monotonic()
    checked = await payments.recheck_payout(request.payout_id)
    view = await eventually(
        lambda: payments.get_payout(request.payout_id), lambda v: v.status.is_final, timeout=20
    )
    # Well before the workflow's own first poll (30 s after submission).
    assert time.monotonic() - started < 20
    assert checked.provider_status == case.paid
    assert view.status is PayoutStatus.SUCCEEDED and view.events_applied == 0


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_the_web_ui_summary_tells_the_story_without_the_number(
    case: ProviderCase, outcomes: dict[tuple[str, Behaviour], Outcome], stack: EngineStack
) -> None:
    request = outcomes[case.name, Behaviour.REFUSED].request
    described = await stack.client.get_workflow_handle(request.workflow_id).describe()
    summary = await described.static_summary()
    masked = f"+254******{case.numbers[Behaviour.REFUSED][-3:]}"
    assert summary == f"Payout 1,500.00 KES via {case.name} to {masked}"
    assert case.numbers[Behaviour.REFUSED] not in (summary or "")
