"""Every magic scenario of the sandbox, end to end over real HTTP and a real Temporal.

All scenarios start together (the one resolved only by polling waits for the first
status poll, 30 s), each for its own merchant so its balances can be checked exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx
import pytest

from payments_engine.activities.providers.hub.wire import HubStatus
from payments_engine.domain.ledger import FundMerchantInput, merchant_available, merchant_reserved
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest, PayoutStatus, PayoutView
from payments_engine.domain.search_attributes import ALL_KEYS
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import AMOUNT, eventually, payout, settled, transfers

pytestmark = pytest.mark.integration

FUNDS = Money(amount=10_000_00, currency="KES")
NEEDS_REVIEW_DEADLINE_SECONDS = 4


@dataclass(frozen=True)
class Expected:
    """What a scenario must end in."""

    status: PayoutStatus
    provider_status: str | None
    failure_code: str | None
    executed: bool | None


EXPECTED: dict[Scenario, Expected] = {
    Scenario.SUCCESS: Expected(PayoutStatus.SUCCEEDED, "MR101", None, True),
    Scenario.INSUFFICIENT_FUNDS: Expected(
        PayoutStatus.FAILED, "ER102", "provider_insufficient_funds", False
    ),
    Scenario.INVALID_NUMBER: Expected(PayoutStatus.FAILED, "ER101", "invalid_msisdn", False),
    Scenario.WALLET_CLOSED: Expected(PayoutStatus.FAILED, "ER103", "wallet_closed", False),
    Scenario.DAILY_LIMIT: Expected(PayoutStatus.FAILED, "ER104", "daily_limit_exceeded", False),
    Scenario.TIMEOUT_AFTER_ACCEPT: Expected(PayoutStatus.SUCCEEDED, "MR101", None, True),
    Scenario.WEBHOOK_NEVER_SENT: Expected(PayoutStatus.SUCCEEDED, "MR101", None, True),
    Scenario.DUPLICATE_WEBHOOK: Expected(PayoutStatus.SUCCEEDED, "MR101", None, True),
    Scenario.LATE_SUCCESS: Expected(PayoutStatus.SUCCEEDED, "MR101", None, True),
    Scenario.NEVER_RESOLVES: Expected(PayoutStatus.NEEDS_REVIEW, "MR102", None, True),
}


@dataclass
class Outcome:
    """A scenario's payout as it ended, and the sandbox's record of it."""

    request: PayoutRequest
    view: PayoutView
    transfer: dict[str, object] | None


@pytest.fixture(scope="module")
async def outcomes(stack: EngineStack) -> dict[Scenario, Outcome]:
    """Run one payout per scenario, all at once, and collect how each ended."""
    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)
    requests: dict[Scenario, PayoutRequest] = {}
    for scenario in Scenario:
        merchant_id = f"m-{scenario.value.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        await stack.ledger.fund_merchant(
            FundMerchantInput(merchant_id=merchant_id, amount=FUNDS, reference=f"f-{merchant_id}")
        )
        extra: dict[str, int] = {}
        if scenario is Scenario.NEVER_RESOLVES:
            extra["resolution_deadline_seconds"] = NEEDS_REVIEW_DEADLINE_SECONDS
        if scenario is Scenario.WEBHOOK_NEVER_SENT:
            # Found by the first status poll; 30 s by default, asked sooner here.
            extra["first_poll_seconds"] = 3
        requests[scenario] = payout(merchant_id, scenario, **extra)
        await payments.create_payout(requests[scenario])
    views = await asyncio.gather(
        *(settled(payments, r.payout_id, timeout=90) for r in requests.values())
    )
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin") as admin:
        recorded = await transfers(admin)
    return {
        scenario: Outcome(request, view, recorded.get(request.workflow_id))
        for (scenario, request), view in zip(requests.items(), views, strict=True)
    }


@pytest.mark.parametrize("scenario", list(Scenario), ids=lambda s: s.value)
async def test_scenario_final_state(
    scenario: Scenario, outcomes: dict[Scenario, Outcome], stack: EngineStack
) -> None:
    outcome, expected = outcomes[scenario], EXPECTED[scenario]
    assert outcome.view.status is expected.status
    assert outcome.view.provider_status == expected.provider_status
    assert outcome.view.failure_code == expected.failure_code
    assert outcome.transfer is not None, "the sandbox never saw the payout"
    assert outcome.transfer["executed"] is expected.executed
    # Exactly once at the provider, whatever the scenario threw at the adapter.
    assert outcome.transfer["submit_count"] == 1


@pytest.mark.parametrize("scenario", list(Scenario), ids=lambda s: s.value)
async def test_scenario_ledger(
    scenario: Scenario, outcomes: dict[Scenario, Outcome], stack: EngineStack
) -> None:
    request = outcomes[scenario].request
    merchant_id = request.merchant_id
    available = await stack.ledger.balance(merchant_available(merchant_id), "KES")
    reserved = await stack.ledger.balance(merchant_reserved(merchant_id), "KES")
    kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
    status = EXPECTED[scenario].status
    if status is PayoutStatus.SUCCEEDED:
        assert (available, reserved) == (FUNDS.amount - AMOUNT.amount, 0)
        assert kinds == ["payout_reserve", "payout_settle"]
    elif status is PayoutStatus.FAILED:
        assert (available, reserved) == (FUNDS.amount, 0)
        assert kinds == ["payout_release", "payout_reserve"]
    else:
        # Money may have moved at the provider: it stays reserved until someone decides.
        assert (available, reserved) == (FUNDS.amount - AMOUNT.amount, AMOUNT.amount)
        assert kinds == ["payout_reserve"]


async def test_webhook_never_sent_resolved_by_polling(outcomes: dict[Scenario, Outcome]) -> None:
    view = outcomes[Scenario.WEBHOOK_NEVER_SENT].view
    assert view.events_applied == 0
    assert view.status_queries >= 1


async def test_duplicate_webhook_applied_once(
    outcomes: dict[Scenario, Outcome], sandbox_admin: httpx.AsyncClient
) -> None:
    outcome = outcomes[Scenario.DUPLICATE_WEBHOOK]
    deliveries = (await sandbox_admin.get("/webhooks")).json()
    mine = [d for d in deliveries if d["thirdPartyTransId"] == outcome.request.workflow_id]
    assert sum(1 for d in mine if d["delivered"]) == 2, "the sandbox should have sent it twice"
    assert outcome.view.events_applied == 1


async def test_search_attributes_filter_payouts_in_the_ui(
    outcomes: dict[Scenario, Outcome], stack: EngineStack
) -> None:
    # Runs before the late-answer test below moves the needs_review payout on.
    review = outcomes[Scenario.NEVER_RESOLVES].request
    query = (
        f'PaymentStatus = "needs_review" AND Country = "KE" AND MerchantId = "{review.merchant_id}"'
    )

    async def matching() -> list[str]:
        return [w.id async for w in stack.client.list_workflows(query)]

    assert await eventually(matching, lambda ids: ids == [review.workflow_id], timeout=15)
    succeeded = outcomes[Scenario.SUCCESS].request
    execution = await stack.client.get_workflow_handle(succeeded.workflow_id).describe()
    ours = {key.name for key in ALL_KEYS}
    attributes = {k.name: v for k, v in execution.typed_search_attributes if k.name in ours}
    assert attributes == {
        "PaymentKind": "payout",
        "PaymentStatus": "succeeded",
        "PaymentProvider": "hub",
        "Country": "KE",
        "Currency": "KES",
        "AmountMinor": AMOUNT.amount,
        "MerchantReference": succeeded.payout_id,
        "MerchantId": succeeded.merchant_id,
    }
    assert "+254" not in str(attributes), "no phone number in search attributes"


async def test_needs_review_payout_settles_on_late_provider_answer(
    outcomes: dict[Scenario, Outcome],
    stack: EngineStack,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    request = outcomes[Scenario.NEVER_RESOLVES].request
    # Days later the hub gives up on the transfer and says so in a webhook.
    forced = await sandbox_admin.post(
        f"/transfers/{request.workflow_id}/resolve", json={"status": HubStatus.WALLET_CLOSED}
    )
    assert forced.status_code == 200
    view = await settled_final(payments, request.payout_id)
    assert (view.status, view.failure_code) == (PayoutStatus.FAILED, "wallet_closed")
    available = await stack.ledger.balance(merchant_available(request.merchant_id), "KES")
    assert available == FUNDS.amount


async def settled_final(payments: PaymentsClient, payout_id: str) -> PayoutView:
    """Wait until the payout is succeeded or failed."""
    return await eventually(
        lambda: payments.get_payout(payout_id), lambda v: v.status.is_final, timeout=30
    )
