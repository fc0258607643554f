"""Long lives of a card: thousands of updates and signals, many runs (continue-as-new), a
backlog of events. On the time-skipping test server, each test on a server of its own.

Apart from ``test_card_workflow.py`` so that xdist can run them beside it: they are the
slowest card tests, and none of them needs time to jump. (On a real dev server the
2,000 authorizations take 160 s instead of 26 s.)
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from payments_engine.domain.card import RECENT_TRANSACTIONS, CardInput, NetworkTransactionType
from payments_engine.domain.ledger import card_settlement
from payments_engine.workflows.card import CONTINUE_AS_NEW_EVENTS, CardWorkflow
from tests.workflows.card_support import (
    CURRENCY,
    PLATFORM_FUNDS,
    Card,
    CardBench,
    active_card,
    authorize,
    checked,
    funded_card_bench,
    transactions,
)

CAPTURE = NetworkTransactionType.CAPTURE
REVERSAL = NetworkTransactionType.REVERSAL
REFUND = NetworkTransactionType.REFUND


@pytest.fixture
async def bench(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[CardBench]:
    """A card worker on a fresh ledger whose platform holds ``PLATFORM_FUNDS``."""
    async with funded_card_bench(env.client, tmp_path) as funded:
        yield funded


@dataclass
class Planned:
    """One authorization of the big test and what the network later does with it."""

    authorization_id: str
    amount: int
    captured: int
    reversed: int

    @property
    def open(self) -> bool:
        return not (self.captured or self.reversed)


def expected(plans: list[Planned]) -> tuple[int, int]:
    """(captured, held) once the card has applied everything sent for ``plans``."""
    return sum(p.captured for p in plans), sum(p.amount for p in plans if p.open)


@pytest.mark.timeout(300)
async def test_two_thousand_authorizations_across_runs(bench: CardBench) -> None:
    """2,000 authorizations, 20 at a time with repeats: 55% captured, 20% partly captured
    and the rest reversed, 20% reversed, 5% left open. The card continues as new many
    times and ends exact, by our count and by the ledger's.

    Traffic is flow-controlled: every 100 authorizations the test waits for the card to
    catch up (see test_a_backlog_of_events_does_not_grow_one_run_without_bound).
    """
    rng = random.Random(20_260_101)
    funded = 8_000_000
    await bench.fund_platform(funded)
    card = await active_card(bench, funded)
    plans: list[Planned] = []
    for i in range(2_000):
        amount = rng.randint(100, 5_000)
        roll = rng.random()
        if roll < 0.55:
            captured = amount
        elif roll < 0.75:
            captured = rng.randint(1, amount - 1)
        elif roll < 0.95:
            captured = 0
        else:
            plans.append(Planned(f"auth-{i:04d}", amount, 0, 0))
            continue
        plans.append(Planned(f"auth-{i:04d}", amount, captured, amount - captured))
    amounts = {p.authorization_id: p.amount for p in plans}

    for start in range(0, len(plans), 20):
        batch = plans[start : start + 20]
        repeats = plans[max(start - 2, 0) : start]  # retried requests of the batch before
        decisions = await asyncio.gather(
            *(authorize(card, p.authorization_id, p.amount) for p in batch + repeats)
        )
        assert all(d.approved for d in decisions)
        assert all(d.approved_amount == amounts[d.authorization_id] for d in decisions)
        hints = []
        for p in batch:
            if p.captured:
                hints.append(bench.network(card, CAPTURE, p.captured, p.authorization_id))
            if p.reversed:
                hints.append(bench.network(card, REVERSAL, p.reversed, p.authorization_id))
        await asyncio.gather(*hints)
        if (start + 20) % 100 == 0:
            so_far = expected(plans[: start + 20])
            await bench.settled(card, lambda v, e=so_far: (v.captured, v.held) == e, timeout=60)

    captured, held = expected(plans)
    view = await bench.settled(card, lambda v: (v.captured, v.held) == (captured, held), timeout=60)
    await bench.assert_invariant(view)
    left_open = sum(1 for p in plans if p.open)
    assert (view.balance, view.open_holds) == (funded - captured - held, left_open)
    assert (view.funded, view.refunded, view.returned) == (funded, 0, 0)
    assert (view.authorizations, view.declines, view.flagged) == (2_000, 0, 0)
    assert await bench.ledger.balance(card_settlement("issuer"), CURRENCY) == captured
    assert await bench.platform_available() == PLATFORM_FUNDS
    assert view.runs >= 3, view.runs
    kinds = Counter(t.kind for t in await transactions(card))
    assert sum(kinds.values()) == RECENT_TRANSACTIONS
    # A retried request long after its hold was settled still gets its first answer.
    assert (await authorize(card, plans[-1].authorization_id, 1)).approved
    assert (await card.query(CardWorkflow.get_card)).authorizations == 2_000


async def run_histories(bench: CardBench, card: Card) -> list[Any]:
    """The history of each run of ``card``, first to last."""
    histories = []
    run_id: str | None = card.first_execution_run_id
    while run_id:
        history = await bench.client.get_workflow_handle(card.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if continued
            else None
        )
    return histories


async def test_a_backlog_of_events_does_not_grow_one_run_without_bound(
    bench: CardBench,
) -> None:
    card = await active_card(bench, 10_000)
    busy = bench.gate("a1")
    assert (await authorize(card, "a1", 100)).approved
    await bench.in_flight("a1")
    # 400 refund hints arrive while the card is busy posting.
    await asyncio.gather(*(bench.network(card, REFUND, 1) for _ in range(400)))
    busy.set()

    view = await checked(bench, card, lambda v: v.refunded == 400, timeout=60)

    # The test server may serve a run's history a moment before its continue-as-new
    # shows: the chain read may stop short of the latest run (read it again), never go
    # past it.
    lengths: list[int] = []
    for _ in range(50):
        lengths = [len(history.events) for history in await run_histories(bench, card)]
        assert len(lengths) <= view.runs, (view.runs, lengths)
        if len(lengths) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(lengths) >= 2, (view.runs, lengths)
    assert max(lengths) <= 3 * CONTINUE_AS_NEW_EVENTS, lengths


async def test_closed_holds_are_not_carried_into_the_next_run(bench: CardBench) -> None:
    card = await active_card(bench, 1_000_000)
    # Enough captured authorizations for the card to continue as new at least once.
    for start in range(0, 160, 10):
        ids = [f"a{i}" for i in range(start, start + 10)]
        await asyncio.gather(*(authorize(card, i, 100) for i in ids))
        await asyncio.gather(*(bench.network(card, CAPTURE, 100, i) for i in ids))
        await bench.settled(card, lambda v, n=start + 10: v.captured == 100 * n)
    assert (await authorize(card, "open", 100)).approved
    view = await checked(bench, card, lambda v: v.held == 100)
    assert view.runs >= 2, view.runs

    # The current run (not the chain from the first, which the test server may serve a
    # moment before its continue-as-new shows).
    latest = await bench.client.get_workflow_handle(card.id).fetch_history()
    started = latest.events[0].workflow_execution_started_event_attributes
    [carried] = await bench.client.data_converter.decode(started.input.payloads, [CardInput])
    assert carried.carry is not None
    assert all(hold.open_amount for hold in carried.carry.holds.values()), sorted(
        carried.carry.holds
    )
