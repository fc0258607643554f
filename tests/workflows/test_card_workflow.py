"""CardWorkflow on the time-skipping test server, with the fake issuer and a real ledger.

Every test that ends with a card checks it against the ledger once the card has posted
its queued steps (:meth:`CardBench.settled`, then :meth:`CardBench.assert_invariant`):
balance and holds agree, and balance == funded - captured + refunded - held - returned.

Time: the test server's clock runs in real time and jumps only in ``env.sleep``. A
result is awaited with auto time skipping off (:func:`finished`): while skipping, the
server jumps over the timeouts of activities still running, even years ahead. Moments
(deadlines, expiries, the day boundary) are based on ``env.get_current_time()``, never
on the machine's clock.

Each test has a test server of its own (``conftest.py`` says why). The long lives of a
card (thousands of updates, continue-as-new) are in ``test_card_runs.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from payments_engine.domain.card import (
    KYC_EVENT,
    AuthorizationDecision,
    AuthorizationRequest,
    CardLimits,
    CardResult,
    CardState,
    DeclineReason,
    FundCardRequest,
    KycStatus,
    MerchantInfo,
    NetworkTransactionType,
    StandIn,
    TransactionFlag,
    TransactionKind,
)
from payments_engine.domain.events import ProviderEvent, TransferOutcome
from payments_engine.domain.ledger import card_settlement
from payments_engine.domain.money import Money
from payments_engine.workflows.card import CardWorkflow
from tests.workflows.card_support import (
    CURRENCY,
    PLATFORM_FUNDS,
    Card,
    CardBench,
    active_card,
    authorize,
    checked,
    fund,
    funded_card_bench,
    kes,
    purchase,
    transaction_event,
    transactions,
)

CAPTURE = NetworkTransactionType.CAPTURE
REVERSAL = NetworkTransactionType.REVERSAL
REFUND = NetworkTransactionType.REFUND
NETWORK_EXPIRY = NetworkTransactionType.EXPIRY
CASINO = MerchantInfo(name="Lucky Bets", mcc="7995", country="KE")
KAMPALA = MerchantInfo(name="Capital Shoppers", mcc="5411", country="UG")


@pytest.fixture
async def bench(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[CardBench]:
    """A card worker on a fresh ledger whose platform holds ``PLATFORM_FUNDS``."""
    async with funded_card_bench(env.client, tmp_path) as funded:
        yield funded


# ------------------------------------------------------------------ helpers


async def refused(call: Awaitable[object]) -> ApplicationError:
    """The ApplicationError an Update was refused (or failed) with."""
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


def declined(decision: AuthorizationDecision, reason: DeclineReason) -> bool:
    return (
        not decision.approved
        and decision.approved_amount == 0
        and decision.decline_reason is reason
    )


async def skip_to(env: WorkflowEnvironment, hour: int, minute: int = 0) -> datetime:
    """Skip the server's clock to the next ``hour:minute`` UTC (at least a minute ahead)."""
    now = await env.get_current_time()
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    while target <= now + timedelta(minutes=1):
        target += timedelta(days=1)
    await env.sleep(target - now)
    return target


def kyc_event(card: Card) -> ProviderEvent:
    return ProviderEvent(
        provider="issuer",
        event_id=f"kyc-{card.id}",
        reference=card.id,
        outcome=TransferOutcome.CHANGED,
        provider_status=KYC_EVENT,
        provider_transaction_id=f"chd_{card.id}",
    )


def stand_in(card: Card, authorization_id: str) -> ProviderEvent:
    return StandIn(card_reference=card.id, authorization_id=authorization_id).event("issuer")


async def finished(env: WorkflowEnvironment, card: Card, timeout: float = 15.0) -> CardResult:
    """The card's result, awaited in real time.

    Awaiting a result normally lets the test server skip time, and it then skips over
    the timeouts of activities still running (the card's last ledger post), even years
    ahead; a test that needs time to pass says how much with ``env.sleep``.
    """
    with env.auto_time_skipping_disabled():
        result = await asyncio.wait_for(card.result(), timeout)
    assert isinstance(result, CardResult)
    return result


# ----------------------------------------------------------- declines


async def test_insufficient_funds_declines_and_places_no_hold(bench: CardBench) -> None:
    card = await active_card(bench, 1_000)

    decision = await authorize(card, "a1", 1_500)

    assert declined(decision, DeclineReason.INSUFFICIENT_FUNDS)
    view = await checked(bench, card)
    assert (view.balance, view.held, view.open_holds) == (1_000, 0, 0)
    assert (view.authorizations, view.declines) == (1, 1)
    [*_, last] = await transactions(card)
    assert last.kind is TransactionKind.AUTHORIZATION and last.approved is False
    assert last.decline_reason is DeclineReason.INSUFFICIENT_FUNDS


async def test_partial_approval_takes_what_the_balance_covers(bench: CardBench) -> None:
    card = await active_card(bench, 1_000)

    decision = await authorize(card, "a1", 1_500, partial=True)
    empty = await authorize(card, "a2", 10, partial=True)

    assert decision.approved and decision.approved_amount == 1_000
    assert declined(empty, DeclineReason.INSUFFICIENT_FUNDS)
    view = await checked(bench, card, lambda v: v.held == 1_000)
    assert (view.balance, view.held, view.open_holds) == (0, 1_000, 1)


async def test_partial_approval_takes_what_the_daily_amount_leaves(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    await skip_to(env, 8)
    card = await active_card(bench, 10_000, limits=CardLimits(daily_amount=5_000))

    assert (await authorize(card, "a1", 4_500)).approved
    whole = await authorize(card, "a2", 1_000)
    part = await authorize(card, "a3", 1_000, partial=True)
    nothing = await authorize(card, "a4", 1, partial=True)

    assert declined(whole, DeclineReason.DAILY_AMOUNT_EXCEEDED)
    assert part.approved and part.approved_amount == 500
    assert declined(nothing, DeclineReason.DAILY_AMOUNT_EXCEEDED)
    view = await checked(bench, card, lambda v: v.held == 5_000)
    assert (view.today.amount, view.today.count) == (5_000, 2)
    assert view.balance == 5_000


@dataclass(frozen=True)
class LimitCase:
    limits: CardLimits
    request: AuthorizationRequest
    reason: DeclineReason


LIMIT_CASES = {
    "over_transaction_limit": LimitCase(
        CardLimits(per_authorization=1_000),
        purchase("x", 1_001, partial=True),
        DeclineReason.OVER_TRANSACTION_LIMIT,
    ),
    "country_not_allowed": LimitCase(
        CardLimits(allowed_countries=["ke", "TZ"]),
        purchase("x", 100, merchant=KAMPALA),
        DeclineReason.COUNTRY_NOT_ALLOWED,
    ),
    "merchant_category_blocked": LimitCase(
        CardLimits(blocked_categories=["7995"]),
        purchase("x", 100, merchant=CASINO),
        DeclineReason.MERCHANT_CATEGORY_BLOCKED,
    ),
    "currency_mismatch": LimitCase(
        CardLimits(), purchase("x", 100, currency="UGX"), DeclineReason.CURRENCY_MISMATCH
    ),
}


@pytest.mark.parametrize("case", LIMIT_CASES.values(), ids=LIMIT_CASES.keys())
async def test_spending_controls_decline(bench: CardBench, case: LimitCase) -> None:
    card = await active_card(bench, 10_000, limits=case.limits)

    decision = await card.execute_update(CardWorkflow.authorize, case.request)
    allowed = await authorize(card, "ok", 100)

    assert declined(decision, case.reason)
    assert allowed.approved
    view = await checked(bench, card, lambda v: v.held == 100)
    assert (view.authorizations, view.declines, view.balance) == (2, 1, 9_900)


async def test_daily_limits_decline_then_reset_after_midnight_utc(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    day = await skip_to(env, 9)
    card = await active_card(bench, 10_000, limits=CardLimits(daily_count=2, daily_amount=3_000))

    assert (await authorize(card, "a1", 1_000)).approved
    assert declined(await authorize(card, "a2", 2_500), DeclineReason.DAILY_AMOUNT_EXCEEDED)
    assert (await authorize(card, "a3", 2_000)).approved
    assert declined(await authorize(card, "a4", 1), DeclineReason.DAILY_COUNT_EXCEEDED)
    view = await checked(bench, card, lambda v: v.held == 3_000)
    assert view.today.model_dump() == {"day": day.date().isoformat(), "amount": 3_000, "count": 2}

    await skip_to(env, 0, 5)  # the next day, UTC

    assert (await authorize(card, "b1", 2_000)).approved
    assert (await authorize(card, "b2", 1_000)).approved
    assert declined(await authorize(card, "b3", 1), DeclineReason.DAILY_COUNT_EXCEEDED)
    view = await checked(bench, card, lambda v: v.held == 6_000)
    next_day = (day + timedelta(days=1)).date().isoformat()
    assert view.today.model_dump() == {"day": next_day, "amount": 3_000, "count": 2}


async def test_daily_limits_follow_the_cards_own_day(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    """Nairobi (UTC+3): the card's day turns at 21:00 UTC, not at midnight UTC."""
    evening = await skip_to(env, 20, 30)  # 23:30 in Nairobi
    limits = CardLimits(daily_count=1, day_offset_minutes=180)
    card = await active_card(bench, 10_000, limits=limits)

    assert (await authorize(card, "a1", 100)).approved
    assert declined(await authorize(card, "a2", 100), DeclineReason.DAILY_COUNT_EXCEEDED)
    view = await checked(bench, card, lambda v: v.held == 100)
    assert view.today.day == evening.date().isoformat()

    after = await skip_to(env, 21, 30)  # 00:30 the next day in Nairobi; same UTC day
    assert after.date() == evening.date()

    assert (await authorize(card, "a3", 100)).approved
    assert declined(await authorize(card, "a4", 100), DeclineReason.DAILY_COUNT_EXCEEDED)
    view = await checked(bench, card, lambda v: v.held == 200)
    assert view.today.day == (evening + timedelta(days=1)).date().isoformat()
    assert (view.today.amount, view.today.count) == (100, 1)


async def test_a_new_day_offset_keeps_todays_usage(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    await skip_to(env, 22)  # 01:00 tomorrow in Nairobi
    card = await active_card(bench, 10_000, limits=CardLimits(daily_count=1))
    assert (await authorize(card, "a1", 100)).approved

    await card.execute_update(
        CardWorkflow.set_limits, CardLimits(daily_count=1, day_offset_minutes=180)
    )
    second = await authorize(card, "a2", 100)

    await checked(bench, card, lambda v: v.held == 100 * (1 + second.approved))
    assert declined(second, DeclineReason.DAILY_COUNT_EXCEEDED)


async def test_frozen_card_declines_until_unfrozen(bench: CardBench) -> None:
    card = await active_card(bench)

    frozen = await card.execute_update(CardWorkflow.freeze)
    decision = await authorize(card, "a1", 100)
    active = await card.execute_update(CardWorkflow.unfreeze)
    again = await authorize(card, "a2", 100)

    assert frozen.state is CardState.FROZEN and active.state is CardState.ACTIVE
    assert declined(decision, DeclineReason.CARD_FROZEN)
    assert again.approved
    view = await checked(bench, card, lambda v: v.held == 100)
    assert (view.authorizations, view.declines) == (2, 1)


async def test_late_request_declines_with_issuer_timeout(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await active_card(bench)
    now = await env.get_current_time()

    late = await authorize(card, "a1", 100, respond_by=now - timedelta(seconds=1))
    in_time = await authorize(card, "a2", 100, respond_by=now + timedelta(minutes=5))

    assert declined(late, DeclineReason.ISSUER_TIMEOUT)
    assert in_time.approved
    view = await checked(bench, card, lambda v: v.held == 100)
    assert view.balance == 9_900


async def test_card_pending_kyc_declines_as_inactive_until_approved(bench: CardBench) -> None:
    card = await bench.start(document="AB0002")
    await fund(card, "f0", 5_000)  # a platform may fund a card before it is issued

    decision = await authorize(card, "a1", 100)
    pending = await card.query(CardWorkflow.get_card)
    bench.issuer.kyc[f"chd_{card.id}"] = KycStatus.APPROVED
    await card.signal(CardWorkflow.provider_event, kyc_event(card))
    await bench.settled(card, lambda v: v.state is CardState.ACTIVE)
    approved = await authorize(card, "a2", 100)

    assert declined(decision, DeclineReason.CARD_INACTIVE)
    assert pending.state is CardState.PENDING_KYC and pending.card_token is None
    assert approved.approved
    view = await checked(bench, card, lambda v: v.held == 100)
    assert view.card_token == f"crd_{card.id}" and view.last_four == "4242"
    assert (view.balance, view.declines) == (4_900, 1)


async def test_terminated_card_with_an_open_hold_declines_and_refuses_changes(
    env: WorkflowEnvironment,
    bench: CardBench,
) -> None:
    card = await active_card(bench)
    assert (await authorize(card, "a1", 3_000)).approved
    await bench.settled(card, lambda v: v.held == 3_000)
    platform = await bench.platform_available()

    ended = await card.execute_update(CardWorkflow.terminate)
    decision = await authorize(card, "a2", 100)
    before = await card.query(CardWorkflow.get_card)
    refusals = [
        await refused(card.execute_update(CardWorkflow.freeze)),
        await refused(card.execute_update(CardWorkflow.unfreeze)),
        await refused(card.execute_update(CardWorkflow.terminate)),
        await refused(card.execute_update(CardWorkflow.set_limits, CardLimits(daily_count=3))),
        await refused(fund(card, "f1", 1_000)),
    ]
    after = await card.query(CardWorkflow.get_card)

    assert ended.state is CardState.TERMINATED
    assert declined(decision, DeclineReason.CARD_TERMINATED)
    assert {r.type for r in refusals} == {"CardStateConflict"}
    assert all(r.non_retryable for r in refusals)
    assert after == before
    assert (after.balance, after.held, after.funded) == (7_000, 3_000, 10_000)
    assert await bench.platform_available() == platform
    # The hold keeps the card open; its capture settles it, and the rest goes back.
    await bench.network(card, CAPTURE, 2_500, "a1")
    await bench.network(card, REVERSAL, 500, "a1")
    result = await finished(env, card)
    assert result.card.state is CardState.TERMINATED
    assert (result.card.balance, result.card.captured, result.card.returned) == (0, 2_500, 7_500)
    assert await bench.platform_available() == platform + 7_500
    assert bench.issuer.closed == {f"crd_{card.id}"}
    await checked(bench, card)


async def test_expired_card_declines_then_terminates(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    """A request that reaches the card after its expiry, before the card's own timer has
    terminated it (its main loop busy posting), is declined ``card_expired``.

    The server does not skip time while an activity runs, so this waits a few real
    seconds for the expiry.
    """
    expiry = await env.get_current_time() + timedelta(seconds=4)
    bench.issuer.expiry = expiry
    card = await active_card(bench, 10_000)
    busy = bench.gate("a1")
    assert (await authorize(card, "a1", 1_000)).approved
    await bench.in_flight("a1")

    while await env.get_current_time() <= expiry:
        await asyncio.sleep(0.1)
    decision = await authorize(card, "a2", 100)
    busy.set()
    ended = await bench.settled(card, lambda v: v.state is CardState.TERMINATED)
    after_end = await authorize(card, "a3", 100)

    assert declined(decision, DeclineReason.CARD_EXPIRED)
    assert declined(after_end, DeclineReason.CARD_TERMINATED)
    assert (ended.held, ended.balance) == (1_000, 9_000)  # the hold keeps it open
    await bench.network(card, REVERSAL, 1_000, "a1")
    result = await finished(env, card)
    assert (result.card.balance, result.card.returned) == (0, 10_000)
    assert bench.issuer.closed == {f"crd_{card.id}"}
    await checked(bench, card)


# -------------------------------------------------------- idempotency


async def test_a_repeated_authorization_gets_the_same_answer_and_one_hold(
    bench: CardBench,
) -> None:
    card = await active_card(bench, 10_000)

    first = await authorize(card, "a1", 3_000)
    again = await authorize(card, "a1", 3_000)
    other_amount = await authorize(card, "a1", 9_000)
    together = await asyncio.gather(*(authorize(card, "a2", 1_000) for _ in range(5)))
    no = await authorize(card, "a3", 50_000)
    no_again = await authorize(card, "a3", 1)
    conflict = await refused(authorize(card, "a1", 3_000, currency="UGX"))

    assert first.approved and first == again == other_amount
    assert all(d == together[0] for d in together) and together[0].approved
    assert declined(no, DeclineReason.INSUFFICIENT_FUNDS) and no_again == no
    assert conflict.type == "ReferenceConflict"
    view = await checked(bench, card, lambda v: v.held == 4_000)
    assert (view.open_holds, view.balance, view.authorizations, view.declines) == (2, 6_000, 3, 1)


async def test_a_funding_reference_credits_once(bench: CardBench) -> None:
    card = await bench.start()

    await fund(card, "f1", 2_000)
    again = await fund(card, "f1", 2_000)
    await fund(card, "f2", 500)
    conflict = await refused(fund(card, "f1", 2_001))
    currency = await refused(
        card.execute_update(
            CardWorkflow.fund,
            FundCardRequest(reference="f3", amount=Money(amount=100, currency="UGX")),
        )
    )

    assert (again.balance, again.funded) == (2_000, 2_000)
    assert conflict.type == "ReferenceConflict"
    assert currency.type == "CurrencyMismatch"
    view = await checked(bench, card)
    assert (view.balance, view.funded) == (2_500, 2_500)
    assert await bench.platform_available() == PLATFORM_FUNDS - 2_500
    fundings = [t for t in await transactions(card) if t.kind is TransactionKind.FUNDING]
    assert [(t.id, t.amount) for t in fundings] == [("f1", 2_000), ("f2", 500)]


async def test_concurrent_repeats_of_a_funding_credit_once(bench: CardBench) -> None:
    card = await bench.start()
    references = [f"f{i}" for i in range(5)]

    views = await asyncio.gather(*(fund(card, ref, 100) for ref in references for _ in range(8)))

    assert {view.funded for view in views} <= {100 * n for n in range(1, 6)}
    view = await card.query(CardWorkflow.get_card)
    assert (view.balance, view.funded) == (500, 500)
    await bench.assert_invariant(view)


async def test_a_concurrent_funding_with_another_amount_is_refused(bench: CardBench) -> None:
    card = await bench.start()
    slow = bench.gate("f1")
    first = asyncio.create_task(fund(card, "f1", 1_000))
    await bench.in_flight("f1")

    second = asyncio.create_task(fund(card, "f1", 2_000))
    await asyncio.sleep(0.5)  # let the second reach the card while the first posts
    slow.set()
    view = await first
    outcome = await asyncio.gather(second, return_exceptions=True)

    assert view.balance == 1_000
    await checked(bench, card, lambda v: v.funded == 1_000)
    assert isinstance(outcome[0], WorkflowUpdateFailedError)
    assert isinstance(outcome[0].cause, ApplicationError)
    assert outcome[0].cause.type == "ReferenceConflict"


async def test_funding_beyond_the_platforms_balance_fails_and_changes_nothing(
    bench: CardBench,
) -> None:
    card = await active_card(bench, 10_000)
    before = await card.query(CardWorkflow.get_card)

    error = await refused(fund(card, "big", PLATFORM_FUNDS))

    assert error.type == "InsufficientFunds"
    after = await checked(bench, card)
    assert after == before
    assert await bench.platform_available() == PLATFORM_FUNDS - 10_000
    # Nothing was recorded under the reference: it may be used once there is money.
    await bench.fund_platform(10_000)
    view = await fund(card, "big", PLATFORM_FUNDS)
    assert view.balance == PLATFORM_FUNDS + 10_000
    await checked(bench, card)


# ------------------------------------------------------ holds and expiry


async def test_a_hold_expires_after_seven_days(env: WorkflowEnvironment, bench: CardBench) -> None:
    card = await active_card(bench, 10_000)
    assert (await authorize(card, "a1", 3_000)).approved
    assert (await authorize(card, "a2", 2_000)).approved
    await bench.network(card, CAPTURE, 1_200, "a2")
    await bench.settled(card, lambda v: v.captured == 1_200)

    await env.sleep(timedelta(days=6, hours=23))
    assert (await card.query(CardWorkflow.get_card)).open_holds == 2
    await env.sleep(timedelta(hours=1, minutes=1))

    view = await checked(bench, card, lambda v: v.open_holds == 0)
    assert (view.balance, view.held, view.captured) == (8_800, 0, 1_200)
    expiries = {t.id: t for t in await transactions(card) if t.kind is TransactionKind.EXPIRY}
    assert set(expiries) == {"expire:a1", "expire:a2"}
    assert (expiries["expire:a1"].amount, expiries["expire:a2"].amount) == (3_000, 800)
    assert expiries["expire:a1"].authorization_id == "a1"


async def test_the_expiry_of_a_partly_reversed_hold_lists_what_it_released(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await active_card(bench, 10_000)
    assert (await authorize(card, "a1", 3_000)).approved
    await bench.network(card, REVERSAL, 1_000, "a1")
    await bench.settled(card, lambda v: v.held == 2_000)

    await env.sleep(timedelta(days=7, minutes=1))

    await checked(bench, card, lambda v: v.open_holds == 0)
    [expiry] = [t for t in await transactions(card) if t.kind is TransactionKind.EXPIRY]
    assert expiry.amount == 2_000


async def test_expiry_terminates_the_card_and_returns_its_balance(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    now = await env.get_current_time()
    bench.issuer.expiry = now + timedelta(days=1)
    card = await active_card(bench, 10_000)
    assert (await authorize(card, "a1", 2_000)).approved
    await bench.network(card, CAPTURE, 2_000, "a1")
    await bench.settled(card, lambda v: v.captured == 2_000)
    assert await bench.platform_available() == PLATFORM_FUNDS - 10_000

    await env.sleep(timedelta(days=1, minutes=1))
    result = await finished(env, card)

    assert result.card.state is CardState.TERMINATED
    assert (result.card.balance, result.card.returned) == (0, 8_000)
    assert await bench.platform_available() == PLATFORM_FUNDS - 2_000
    assert bench.issuer.closed == {f"crd_{card.id}"}
    assert (await card.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert (await env.get_current_time()) >= now + timedelta(days=1)
    [*_, last] = await transactions(card)
    assert (last.kind, last.amount) == (TransactionKind.BALANCE_RETURN, 8_000)
    await checked(bench, card)


async def test_an_expired_card_with_a_hold_returns_everything_once_the_hold_expires(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    now = await env.get_current_time()
    bench.issuer.expiry = now + timedelta(days=1)
    card = await active_card(bench, 10_000)
    assert (await authorize(card, "a1", 4_000)).approved
    await bench.settled(card, lambda v: v.held == 4_000)

    await env.sleep(timedelta(days=1, minutes=1))
    ended = await checked(bench, card, lambda v: v.state is CardState.TERMINATED)
    assert (ended.balance, ended.held, ended.returned) == (6_000, 4_000, 0)
    await env.sleep(timedelta(days=6))
    result = await finished(env, card)

    assert (result.card.balance, result.card.held, result.card.returned) == (0, 0, 10_000)
    assert await bench.platform_available() == PLATFORM_FUNDS
    await checked(bench, card)


# ------------------------------------------------------- network events


async def test_captures_full_partial_multiple_over_and_forced(bench: CardBench) -> None:
    card = await active_card(bench, 10_000)
    for authorization_id in ("full", "split", "over"):
        assert (await authorize(card, authorization_id, 1_000)).approved

    await bench.network(card, CAPTURE, 1_000, "full")
    await bench.network(card, CAPTURE, 400, "split")
    await bench.network(card, CAPTURE, 300, "split")
    await bench.network(card, CAPTURE, 1_200, "over")
    await bench.network(card, CAPTURE, 500)  # no authorization: a force post
    await bench.network(card, CAPTURE, 250, "never-authorized")

    view = await checked(bench, card, lambda v: v.captured == 3_650)
    assert (view.held, view.open_holds) == (300, 1)  # 300 left on "split"
    # 10,000 - 3,000 held + 1,000 + 700 + 1,000 from their holds - 200 - 500 - 250 extra
    assert view.balance == 10_000 - 3_650 - 300
    assert view.flagged == 3
    captures = [t for t in await transactions(card) if t.kind is TransactionKind.CAPTURE]
    assert [(t.authorization_id, t.amount, t.flags) for t in captures] == [
        ("full", 1_000, []),
        ("split", 400, []),
        ("split", 300, []),
        ("over", 1_200, [TransactionFlag.OVER_CAPTURE]),
        (None, 500, [TransactionFlag.FORCE_POST]),
        ("never-authorized", 250, [TransactionFlag.FORCE_POST]),
    ]
    assert await bench.ledger.balance(card_settlement("issuer"), CURRENCY) == 3_650

    await bench.network(card, REVERSAL, 300, "split")
    view = await checked(bench, card, lambda v: v.held == 0)
    assert view.balance == 10_000 - 3_650


async def test_a_force_post_may_take_the_balance_below_zero(bench: CardBench) -> None:
    card = await active_card(bench, 1_000)

    await bench.network(card, CAPTURE, 1_500)

    view = await checked(bench, card, lambda v: v.captured == 1_500)
    assert view.balance == -500
    assert declined(await authorize(card, "a1", 1, partial=True), DeclineReason.INSUFFICIENT_FUNDS)
    await bench.network(card, REFUND, 700)
    view = await checked(bench, card, lambda v: v.refunded == 700)
    assert view.balance == 200


async def test_reversals_partial_and_full_and_network_expiry(bench: CardBench) -> None:
    card = await active_card(bench, 10_000)
    for authorization_id in ("a1", "a2", "a3"):
        assert (await authorize(card, authorization_id, 1_000)).approved

    await bench.network(card, REVERSAL, 400, "a1")
    view = await checked(bench, card, lambda v: v.held == 2_600)
    assert (view.balance, view.open_holds) == (7_400, 3)

    await bench.network(card, REVERSAL, 5_000, "a1")  # more than left: releases what is left
    await bench.network(card, REVERSAL, 1_000, "a2")
    await bench.network(card, CAPTURE, 300, "a3")
    await bench.network(card, NETWORK_EXPIRY, 1_000, "a3")  # the network expired the rest
    await bench.network(card, REVERSAL, 100, "a2")  # already closed: nothing moves

    view = await checked(bench, card, lambda v: v.held == 0 and v.captured == 300)
    assert (view.balance, view.open_holds, view.flagged) == (9_700, 0, 0)
    kinds = [(t.kind, t.authorization_id) for t in await transactions(card)][-6:]
    assert kinds == [
        (TransactionKind.REVERSAL, "a1"),
        (TransactionKind.REVERSAL, "a1"),
        (TransactionKind.REVERSAL, "a2"),
        (TransactionKind.CAPTURE, "a3"),
        (TransactionKind.EXPIRY, "a3"),
        (TransactionKind.REVERSAL, "a2"),
    ]


async def test_refunds_credit_the_card(bench: CardBench) -> None:
    card = await active_card(bench, 5_000)
    assert (await authorize(card, "a1", 2_000)).approved
    await bench.network(card, CAPTURE, 2_000, "a1")

    await bench.network(card, REFUND, 750, "a1")
    await bench.network(card, REFUND, 250)

    view = await checked(bench, card, lambda v: v.refunded == 1_000)
    assert (view.balance, view.captured, view.held) == (4_000, 2_000, 0)
    assert await bench.ledger.balance(card_settlement("issuer"), CURRENCY) == 1_000


async def test_duplicate_unknown_and_foreign_webhooks_move_nothing(bench: CardBench) -> None:
    card = await active_card(bench, 10_000)
    other = await active_card(bench, 0)
    assert (await authorize(card, "a1", 1_000)).approved
    token = bench.issuer.add(card.id, CAPTURE, 600, "a1")

    hint = transaction_event(card.id, token, event_id="evt-1")
    await card.signal(CardWorkflow.provider_event, hint)
    await card.signal(CardWorkflow.provider_event, hint)  # the same webhook redelivered
    await card.signal(CardWorkflow.provider_event, transaction_event(card.id, token))
    await card.signal(  # a webhook naming a transaction the issuer does not have
        CardWorkflow.provider_event, transaction_event(card.id, "txn_unknown")
    )
    foreign = bench.issuer.add(other.id, CAPTURE, 700, "a1")  # another card's transaction
    await card.signal(CardWorkflow.provider_event, transaction_event(card.id, foreign))
    await card.signal(  # a hint addressed to another card
        CardWorkflow.provider_event, transaction_event(other.id, token)
    )
    dollars = bench.issuer.add(card.id, CAPTURE, 100, "a1", currency="USD")
    await card.signal(CardWorkflow.provider_event, transaction_event(card.id, dollars))
    # Events are verified in order: once this one shows, every earlier one was handled.
    await bench.network(card, REFUND, 1)

    view = await checked(bench, card, lambda v: v.refunded == 1)
    assert (view.captured, view.held, view.balance, view.flagged) == (600, 400, 9_001, 0)
    captures = [t for t in await transactions(card) if t.kind is TransactionKind.CAPTURE]
    assert [t.id for t in captures] == [token]
    await card.signal(CardWorkflow.provider_event, hint)  # once more, later
    await bench.network(card, REFUND, 2)
    view = await checked(bench, card, lambda v: v.refunded == 3)
    assert view.captured == 600
    assert (await checked(bench, other)).captured == 0


# ------------------------------------------------------------ stand-ins


async def test_a_stand_in_before_the_late_update_declines_it(bench: CardBench) -> None:
    card = await active_card(bench, 10_000)

    await card.signal(CardWorkflow.provider_event, stand_in(card, "a1"))
    decision = await authorize(card, "a1", 1_000)
    again = await authorize(card, "a1", 1_000)

    assert declined(decision, DeclineReason.ISSUER_TIMEOUT) and again == decision
    view = await checked(bench, card)
    assert (view.balance, view.held, view.open_holds) == (10_000, 0, 0)


async def test_a_stand_in_after_approval_releases_the_hold(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    await skip_to(env, 10)
    card = await active_card(bench, 10_000, limits=CardLimits(daily_count=5))
    assert (await authorize(card, "a1", 1_000)).approved
    assert (await authorize(card, "a2", 500)).approved
    await bench.settled(card, lambda v: v.held == 1_500)

    await card.signal(CardWorkflow.provider_event, stand_in(card, "a1"))
    await card.signal(CardWorkflow.provider_event, stand_in(card, "a1"))  # redelivered

    view = await checked(bench, card, lambda v: v.held == 500)
    assert (view.balance, view.open_holds, view.flagged) == (9_500, 1, 1)
    assert declined(await authorize(card, "a1", 1_000), DeclineReason.ISSUER_TIMEOUT)
    [auth] = [t for t in await transactions(card) if t.id == "a1"]
    assert auth.approved is False and auth.decline_reason is DeclineReason.ISSUER_TIMEOUT
    assert auth.flags == [TransactionFlag.STAND_IN_AFTER_APPROVAL]
    # The released hold no longer counts against the day.
    assert (view.today.amount, view.today.count) == (500, 1)


# ---------------------------------------------------------- low balance


async def test_low_balance_alert_once_per_crossing(bench: CardBench) -> None:
    card = await active_card(bench, 10_000, low_balance_threshold=5_000)

    assert (await authorize(card, "a1", 6_000)).approved  # 4,000 < 5,000: alert
    assert (await authorize(card, "a2", 500)).approved  # still below: no second alert
    await checked(bench, card, lambda v: v.held == 6_500)
    await wait_for(lambda: len(bench.issuer.notices) == 1)
    await fund(card, "f1", 1_000)  # 4,500: still below, not re-armed
    await fund(card, "f2", 1_000)  # 5,500: re-armed
    assert (await authorize(card, "a3", 1_000)).approved  # 4,500: second alert

    await checked(bench, card, lambda v: v.held == 7_500)
    await wait_for(lambda: len(bench.issuer.notices) == 2)
    first, second = bench.issuer.notices
    assert (first.balance, first.threshold) == (kes(4_000), 5_000)
    assert second.balance == kes(4_500)
    assert first.idempotency_key != second.idempotency_key
    assert first.card_reference == card.id
    await asyncio.sleep(0.3)
    assert len(bench.issuer.notices) == 2


async def wait_for(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


# ------------------------------------------------------------- bad input


def test_a_funding_must_be_positive() -> None:
    for amount in (0, -100):
        with pytest.raises(ValidationError, match="greater than zero"):
            FundCardRequest(reference="f1", amount=kes(amount))


def test_contradicting_limits_are_refused() -> None:
    with pytest.raises(ValidationError, match="cannot be below the per-authorization"):
        CardLimits(per_authorization=2_000, daily_amount=1_000)


async def test_unfreezing_an_active_card_and_freezing_a_pending_one_are_refused(
    bench: CardBench,
) -> None:
    card = await active_card(bench)
    pending = await bench.start(document="XY0002")

    unfreeze = await refused(card.execute_update(CardWorkflow.unfreeze))
    freeze = await refused(pending.execute_update(CardWorkflow.freeze))

    assert unfreeze.type == freeze.type == "CardStateConflict"
    assert (await checked(bench, card)).state is CardState.ACTIVE
    assert (await checked(bench, pending)).state is CardState.PENDING_KYC


async def test_limits_the_client_did_not_validate_do_not_reach_the_card(
    bench: CardBench,
) -> None:
    card = await active_card(bench, limits=CardLimits(daily_count=2))
    bad = CardLimits.model_construct(per_authorization=2_000, daily_amount=1_000)

    error = await refused(card.execute_update(CardWorkflow.set_limits, bad))

    assert "Failed decoding arguments" in str(error)  # refused before it entered history

    view = await checked(bench, card)
    assert view.limits == CardLimits(daily_count=2)


# ------------------------------------------------------------------ KYC


async def test_rejected_kyc_ends_the_card(env: WorkflowEnvironment, bench: CardBench) -> None:
    card = await bench.start(document="AB0001")

    result = await finished(env, card)

    assert result.card.state is CardState.KYC_REJECTED
    assert result.card.card_token is None and bench.issuer.cards == {}
    await checked(bench, card)


async def test_pending_kyc_is_polled_when_no_webhook_comes(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await bench.start(document="AB0002")
    await bench.settled(card, lambda v: v.state is CardState.PENDING_KYC)
    bench.issuer.kyc[f"chd_{card.id}"] = KycStatus.APPROVED

    await env.sleep(timedelta(minutes=11))

    view = await checked(bench, card, lambda v: v.state is CardState.ACTIVE)
    assert view.card_token == f"crd_{card.id}"


async def test_pending_kyc_rejected_after_review(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await bench.start(document="AB0003")
    await bench.settled(card, lambda v: v.state is CardState.PENDING_KYC)
    bench.issuer.kyc[f"chd_{card.id}"] = KycStatus.REJECTED

    await card.signal(CardWorkflow.provider_event, kyc_event(card))
    result = await finished(env, card)

    assert result.card.state is CardState.KYC_REJECTED
    await checked(bench, card)


async def test_rejected_kyc_returns_what_was_funded_during_the_review(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await bench.start(document="AB0003")
    await fund(card, "f0", 5_000)
    bench.issuer.kyc[f"chd_{card.id}"] = KycStatus.REJECTED

    await card.signal(CardWorkflow.provider_event, kyc_event(card))
    result = await finished(env, card)

    assert result.card.state is CardState.KYC_REJECTED
    await checked(bench, card)
    assert result.card.balance == 0
    assert await bench.platform_available() == PLATFORM_FUNDS


async def test_terminating_during_kyc_review_returns_the_funding(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await bench.start(document="AB0002")
    await fund(card, "f0", 5_000)

    await card.execute_update(CardWorkflow.terminate)
    result = await finished(env, card)

    assert result.card.state is CardState.TERMINATED
    assert (result.card.balance, result.card.returned) == (0, 5_000)
    assert await bench.platform_available() == PLATFORM_FUNDS
    assert bench.issuer.closed == set()
    await checked(bench, card)


async def test_a_funding_in_flight_at_termination_is_returned(
    env: WorkflowEnvironment, bench: CardBench
) -> None:
    card = await active_card(bench, 5_000)
    slow = bench.gate("f1")
    funding = asyncio.create_task(fund(card, "f1", 3_000))
    await bench.in_flight("f1")

    await card.execute_update(CardWorkflow.terminate)
    slow.set()
    outcome = await asyncio.gather(funding, return_exceptions=True)
    result = await finished(env, card)

    await checked(bench, card)
    moved = 0 if isinstance(outcome[0], BaseException) else 3_000
    assert (result.card.balance, result.card.returned) == (0, 5_000 + moved)
    assert await bench.platform_available() == PLATFORM_FUNDS
