"""The ledger: balanced entries posted exactly once, under the conditions they state.

Each test runs on SQLite and on PostgreSQL; the ``ledger`` fixture audits the ledger
(trial balance zero, cached balances equal to postings) after every test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from payments_engine.db.ledger import Ledger
from payments_engine.db.models import Account
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain import recipes
from payments_engine.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    ReferenceConflict,
    UnbalancedEntry,
)
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    CashOrderLedgerInput,
    CollectionLedgerInput,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    PostedEntry,
    Posting,
    RefundLedgerInput,
    RefundOrigin,
    Requirement,
    cash_order_refundable,
    collection_refundable,
    merchant_available,
    merchant_pending_settlement,
    merchant_refunds_payable,
    merchant_reserved,
    provider_clearing,
    provider_fees,
)
from payments_engine.domain.money import Money

MERCHANT = "m1"
AVAILABLE = merchant_available(MERCHANT)
RESERVED = merchant_reserved(MERCHANT)
CLEARING = provider_clearing("hub")


def transfer(
    key: str,
    amount: int = 100,
    *,
    kind: str = "test",
    source: str = "a:1",
    to: str = "a:2",
    overdraw: bool = True,
    **conditions: Any,
) -> JournalEntryRequest:
    """A two-line KES entry moving ``amount`` from ``source`` (may go negative) to ``to``."""
    return JournalEntryRequest(
        idempotency_key=key,
        kind=kind,
        reference="ref-1",
        currency="KES",
        postings=[Posting(account=source, amount=-amount), Posting(account=to, amount=amount)],
        may_go_negative=[source] if overdraw else [],
        **conditions,
    )


def payout(payout_id: str = "p1", amount: int = 300, currency: str = "KES") -> PayoutLedgerInput:
    """A payout ledger input of ``MERCHANT`` through the hub."""
    return PayoutLedgerInput(
        payout_id=payout_id,
        merchant_id=MERCHANT,
        provider="hub",
        amount=Money(amount=amount, currency=currency),
    )


async def fund(
    ledger: Ledger, amount: int, reference: str = "bank-1", currency: str = "KES"
) -> None:
    """Credit ``MERCHANT``'s available balance."""
    await ledger.post(
        recipes.fund_merchant(
            FundMerchantInput(
                merchant_id=MERCHANT,
                amount=Money(amount=amount, currency=currency),
                reference=reference,
            )
        )
    )


# -- posting ---------------------------------------------------------------------------


async def test_post_balanced_entry(ledger: Ledger) -> None:
    posted = await ledger.post(transfer("k1", 250))

    assert posted.created is True
    assert posted.postings == [
        Posting(account="a:1", amount=-250),
        Posting(account="a:2", amount=250),
    ]
    assert posted.created_at.utcoffset() == timedelta(0)
    assert await ledger.balance("a:1", "KES") == -250
    assert await ledger.balance("a:2", "KES") == 250
    assert await ledger.balance("a:2", "UGX") == 0
    assert await ledger.balance("nobody", "KES") == 0
    assert await ledger.trial_balance() == {"KES": 0}

    stored = await ledger.entry("k1")
    assert stored is not None
    assert stored.created is False
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.model_dump(exclude={"created", "created_at"}) == posted.model_dump(
        exclude={"created", "created_at"}
    )
    assert [e.entry_id for e in await ledger.entries("ref-1")] == [posted.entry_id]
    assert await ledger.entries("other") == []
    assert await ledger.entry("missing") is None


def test_unbalanced_request_is_refused_by_the_model() -> None:
    with pytest.raises(UnbalancedEntry):
        JournalEntryRequest(
            idempotency_key="k",
            kind="test",
            currency="KES",
            postings=[Posting(account="a:1", amount=-100), Posting(account="a:2", amount=99)],
        )
    with pytest.raises(UnbalancedEntry):
        JournalEntryRequest(
            idempotency_key="k",
            kind="test",
            currency="KES",
            postings=[Posting(account="a:1", amount=0), Posting(account="a:2", amount=0)],
        )


async def test_same_key_twice_posts_once(ledger: Ledger) -> None:
    first = await ledger.post(transfer("k1", 100))
    second = await ledger.post(transfer("k1", 100))

    assert (first.created, second.created) == (True, False)
    assert second.entry_id == first.entry_id
    assert len(await ledger.entries()) == 1
    assert await ledger.balance("a:2", "KES") == 100


@pytest.mark.parametrize(
    "changed",
    [transfer("k1", 101), transfer("k1", 100, kind="other"), transfer("k1", 100, to="a:3")],
    ids=["amount", "kind", "account"],
)
async def test_same_key_with_other_entry_is_a_conflict(
    ledger: Ledger, changed: JournalEntryRequest
) -> None:
    await ledger.post(transfer("k1", 100))

    with pytest.raises(ReferenceConflict):
        await ledger.post(changed)

    assert len(await ledger.entries()) == 1
    assert await ledger.balance("a:2", "KES") == 100
    assert await ledger.balance("a:3", "KES") == 0


async def test_same_key_in_other_currency_is_a_conflict(ledger: Ledger) -> None:
    await ledger.post(transfer("k1", 100))
    other = transfer("k1", 100).model_copy(update={"currency": "UGX"})

    with pytest.raises(ReferenceConflict):
        await ledger.post(other)
    assert await ledger.balance("a:2", "UGX") == 0


async def test_concurrent_posts_of_one_key_make_one_entry(ledger: Ledger) -> None:
    results = await asyncio.gather(*(ledger.post(transfer("k1", 100)) for _ in range(20)))

    assert sum(r.created for r in results) == 1
    assert {r.entry_id for r in results} == {results[0].entry_id}
    assert len(await ledger.entries()) == 1
    assert await ledger.balance("a:2", "KES") == 100


async def test_concurrent_first_postings_create_each_account_once(ledger: Ledger) -> None:
    # Distinct keys, same brand-new accounts: creators race on the account rows.
    await asyncio.gather(*(ledger.post(transfer(f"k{i}", 10)) for i in range(10)))

    assert await ledger.balance("a:1", "KES") == -100
    assert [b.account for b in await ledger.balances("a:")] == ["a:1", "a:2"]


# -- no account below zero but those allowed -------------------------------------------


async def test_entry_taking_an_account_below_zero_is_refused_and_writes_nothing(
    ledger: Ledger,
) -> None:
    await ledger.post(transfer("fund", 100, source=EXTERNAL_BANK, to="a:1"))  # a:1 now holds 100

    with pytest.raises(InsufficientFunds) as raised:
        await ledger.post(transfer("k1", 101, source="a:1", to="a:2", overdraw=False))

    # The account and the amount, nothing else about it (no balance).
    assert str(raised.value) == "a:1 cannot cover 101 KES (entry 'k1')"
    assert raised.value.type == "InsufficientFunds"
    assert [e.idempotency_key for e in await ledger.entries()] == ["fund"]
    # Not even the brand-new destination account was created.
    assert [b.account for b in await ledger.balances("a:")] == ["a:1"]
    assert await ledger.balance("a:1", "KES") == 100


async def test_entry_on_a_never_used_account_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InsufficientFunds):
        await ledger.post(transfer("k1", 1, overdraw=False))

    assert await ledger.entries() == []
    assert await ledger.balances() == []


async def test_entry_may_empty_an_account_exactly(ledger: Ledger) -> None:
    await ledger.post(transfer("fund", 100, source=EXTERNAL_BANK, to="a:1"))

    await ledger.post(transfer("k1", 100, source="a:1", to="a:2", overdraw=False))

    assert await ledger.balance("a:1", "KES") == 0


async def test_an_allowed_account_goes_negative_but_the_others_are_checked(
    ledger: Ledger,
) -> None:
    # external:bank pays 100, a:1 pays 50, a:2 receives 150: only the bank may overdraw.
    entry = JournalEntryRequest(
        idempotency_key="k1",
        kind="test",
        currency="KES",
        postings=[
            Posting(account=EXTERNAL_BANK, amount=-100),
            Posting(account="a:1", amount=-50),
            Posting(account="a:2", amount=150),
        ],
        may_go_negative=[EXTERNAL_BANK],
    )
    with pytest.raises(InsufficientFunds, match="^a:1 cannot cover 50 KES"):
        await ledger.post(entry)
    assert await ledger.entries() == []

    await ledger.post(transfer("fund", 50, source=EXTERNAL_BANK, to="a:1"))
    posted = await ledger.post(entry)

    assert posted.created is True
    assert await ledger.balance(EXTERNAL_BANK, "KES") == -150
    assert await ledger.balance("a:1", "KES") == 0
    assert await ledger.balance("a:2", "KES") == 150


async def test_net_movement_counts_for_an_account_posted_twice(ledger: Ledger) -> None:
    # a:1 is debited 100 and credited 100 by one entry: its net movement is zero.
    entry = JournalEntryRequest(
        idempotency_key="k1",
        kind="test",
        currency="KES",
        postings=[
            Posting(account="a:1", amount=-100),
            Posting(account="a:1", amount=100),
            Posting(account="a:2", amount=-5),
            Posting(account="a:3", amount=5),
        ],
        may_go_negative=["a:2"],
    )

    await ledger.post(entry)

    assert await ledger.balance("a:1", "KES") == 0
    assert await ledger.balance("a:2", "KES") == -5


async def test_retried_entry_is_returned_even_when_its_funds_are_gone(ledger: Ledger) -> None:
    await fund(ledger, 300)
    first = await ledger.post(recipes.reserve_payout(payout("p1", 300)))

    retry = await ledger.post(recipes.reserve_payout(payout("p1", 300)))

    assert retry.created is False
    assert retry.entry_id == first.entry_id
    assert await ledger.balance(RESERVED, "KES") == 300


# -- requires and excludes -------------------------------------------------------------


async def test_missing_requirement_is_a_ledger_error(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as raised:
        await ledger.post(transfer("k2", requires=["k1"]))

    assert type(raised.value) is LedgerError
    assert "'k1'" in str(raised.value)
    assert await ledger.entries() == []
    assert await ledger.balances() == []


async def test_met_requirement_posts(ledger: Ledger) -> None:
    await ledger.post(transfer("k1", 100))

    posted = await ledger.post(
        transfer(
            "k2",
            30,
            requires=[
                "k1",
                Requirement(key="k1", account="a:2", amount=100, currency="KES"),
            ],
        )
    )

    assert posted.created is True
    assert await ledger.balance("a:2", "KES") == 130


@pytest.mark.parametrize(
    "requirement",
    [
        Requirement(key="k1", account="a:2", amount=99, currency="KES"),
        Requirement(key="k1", account="a:2", amount=100, currency="UGX"),
        Requirement(key="k1", account="a:3", amount=100, currency="KES"),
        Requirement(key="k1", account="a:1", amount=100, currency="KES"),
    ],
    ids=["amount", "currency", "account", "sign"],
)
async def test_requirement_of_another_movement_is_a_conflict(
    ledger: Ledger, requirement: Requirement
) -> None:
    await ledger.post(transfer("k1", 100))

    with pytest.raises(ReferenceConflict):
        await ledger.post(transfer("k2", 30, requires=[requirement]))

    assert [e.idempotency_key for e in await ledger.entries()] == ["k1"]
    assert await ledger.balance("a:2", "KES") == 100


async def test_excluded_entry_present_is_a_conflict(ledger: Ledger) -> None:
    await ledger.post(transfer("k1", 100))

    with pytest.raises(ReferenceConflict, match="'k1' was already posted"):
        await ledger.post(transfer("k2", 30, excludes=["k0", "k1"]))

    assert [e.idempotency_key for e in await ledger.entries()] == ["k1"]
    assert await ledger.balance("a:2", "KES") == 100
    # With the excluded key absent it posts.
    assert (await ledger.post(transfer("k3", 30, excludes=["k0"]))).created is True


async def test_repeat_of_a_posted_entry_is_returned_before_its_conditions(
    ledger: Ledger,
) -> None:
    await ledger.post(transfer("k1", 100))
    await ledger.post(transfer("k2", 30, excludes=["k3"]))
    await ledger.post(transfer("k3", 10))

    # k3 now exists, but k2 was posted before it: its repeat is still answered.
    again = await ledger.post(transfer("k2", 30, excludes=["k3"]))
    assert again.created is False


def test_an_entry_cannot_require_or_exclude_itself() -> None:
    with pytest.raises(ValueError):
        transfer("k1", requires=["k1"])
    with pytest.raises(ValueError):
        transfer("k1", excludes=["k1"])
    with pytest.raises(ValueError):
        transfer("k1", requires=["k2"], excludes=["k2"])
    with pytest.raises(ValueError):
        Requirement(key="k1", account="a:1")


# -- payouts and funding through their recipes -----------------------------------------


async def test_reserve_then_settle(ledger: Ledger) -> None:
    await fund(ledger, 1000)

    reserved = await ledger.post(recipes.reserve_payout(payout("p1", 300)))
    assert reserved.idempotency_key == "payout:p1:reserve"
    assert reserved.kind == "payout_reserve"
    assert reserved.reference == "p1"
    assert (await ledger.balance(AVAILABLE, "KES"), await ledger.balance(RESERVED, "KES")) == (
        700,
        300,
    )

    settled = await ledger.post(recipes.settle_payout(payout("p1", 300)))
    assert settled.idempotency_key == "payout:p1:settle"
    assert settled.kind == "payout_settle"
    assert await ledger.balance(RESERVED, "KES") == 0
    assert await ledger.balance(CLEARING, "KES") == 300
    assert await ledger.balance(AVAILABLE, "KES") == 700

    again = await ledger.post(recipes.settle_payout(payout("p1", 300)))
    assert again.created is False
    assert again.entry_id == settled.entry_id
    assert await ledger.balance(CLEARING, "KES") == 300
    assert [e.kind for e in await ledger.entries("p1")] == ["payout_reserve", "payout_settle"]


# Statements a warm posting sends (accounts known): reserve, then settle, which also
# checks its conditions (and takes advisory locks on PostgreSQL, and moves balances one
# row at a time there). BEGIN and COMMIT are not counted.
STATEMENTS_PER_POSTING = {"sqlite": (3, 4), "postgresql": (5, 6)}


async def test_a_posting_is_a_handful_of_statements(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    statements: list[tuple[str, str]] = []

    # On every engine: postings run on the writer's own (synchronous) engine.
    def _count(*args: Any) -> None:
        statements.append((args[2], threading.current_thread().name))

    event.listen(Engine, "before_cursor_execute", _count)
    try:
        ledger = Ledger(session_factory(engine))
        await fund(ledger, 1000)
        await ledger.post(recipes.reserve_payout(payout("warm", 100)))
        await ledger.post(recipes.settle_payout(payout("warm", 100)))

        counts = []
        for step in (recipes.reserve_payout, recipes.settle_payout):
            statements.clear()
            assert (await ledger.post(step(payout("p2", 100)))).created
            counts.append(len(statements))
            # The whole transaction in one call on a writer's thread.
            threads = {thread for _, thread in statements}
            if engine.dialect.name == "sqlite":
                assert threads == {"sqlite-writer_0"}
            else:
                assert len(threads) == 1 and threads.pop().startswith("postgres-writer_")
        assert tuple(counts) == STATEMENTS_PER_POSTING[engine.dialect.name], statements
    finally:
        event.remove(Engine, "before_cursor_execute", _count)
        await engine.dispose()


async def test_a_posting_is_one_hop_to_the_writer_thread(migrated_url: str) -> None:
    """The event loop hands the posting over once, however many statements it has."""
    engine = create_engine(migrated_url)
    try:
        ledger = Ledger(session_factory(engine))
        await fund(ledger, 1000)
        loop = asyncio.get_running_loop()
        hops: list[object] = []
        original = loop.run_in_executor

        def counting(executor: Any, func: Any, *args: Any) -> Any:
            hops.append(func)
            return original(executor, func, *args)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(loop, "run_in_executor", counting)
            assert (await ledger.post(recipes.reserve_payout(payout("p1", 100)))).created
        assert len(hops) == 1
        assert await ledger.balance(RESERVED, "KES") == 100
    finally:
        await engine.dispose()
    # Disposing the engine closed its writer: a new one serves a later posting.
    ledger = Ledger(session_factory(engine))
    assert (await ledger.post(recipes.settle_payout(payout("p1", 100)))).created
    await engine.dispose()


async def test_reserve_then_release(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.post(recipes.reserve_payout(payout("p1", 300)))

    released = await ledger.post(recipes.release_payout(payout("p1", 300)))

    assert released.idempotency_key == "payout:p1:release"
    assert released.kind == "payout_release"
    assert await ledger.balance(AVAILABLE, "KES") == 1000
    assert await ledger.balance(RESERVED, "KES") == 0
    assert await ledger.balance(CLEARING, "KES") == 0
    assert (await ledger.post(recipes.release_payout(payout("p1", 300)))).created is False
    assert await ledger.balance(AVAILABLE, "KES") == 1000


async def test_reserve_without_funds_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 100)

    with pytest.raises(InsufficientFunds) as raised:
        await ledger.post(recipes.reserve_payout(payout("p1", 101)))

    assert str(raised.value) == (
        "merchant:m1:available cannot cover 101 KES (entry 'payout:p1:reserve')"
    )
    assert await ledger.entry("payout:p1:reserve") is None
    assert await ledger.balance(AVAILABLE, "KES") == 100


async def test_settle_after_release_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.post(recipes.reserve_payout(payout("p1", 300)))
    await ledger.post(recipes.release_payout(payout("p1", 300)))

    with pytest.raises(ReferenceConflict, match="'payout:p1:release' was already posted"):
        await ledger.post(recipes.settle_payout(payout("p1", 300)))

    assert await ledger.balance(CLEARING, "KES") == 0
    assert await ledger.balance(AVAILABLE, "KES") == 1000


async def test_release_after_settle_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.post(recipes.reserve_payout(payout("p1", 300)))
    await ledger.post(recipes.settle_payout(payout("p1", 300)))

    with pytest.raises(ReferenceConflict, match="'payout:p1:settle' was already posted"):
        await ledger.post(recipes.release_payout(payout("p1", 300)))

    assert await ledger.balance(AVAILABLE, "KES") == 700
    assert await ledger.balance(CLEARING, "KES") == 300


@pytest.mark.parametrize("step", [recipes.settle_payout, recipes.release_payout])
async def test_settle_or_release_needs_a_reservation(ledger: Ledger, step: Any) -> None:
    await fund(ledger, 1000)

    with pytest.raises(LedgerError) as raised:
        await ledger.post(step(payout("p1", 300)))

    assert type(raised.value) is LedgerError
    assert await ledger.entries("p1") == []


@pytest.mark.parametrize(
    "changed",
    [
        payout("p1", 400),
        payout("p1", 300, currency="UGX"),
        payout("p1", 300).model_copy(update={"merchant_id": "m2"}),
    ],
    ids=["amount", "currency", "merchant"],
)
@pytest.mark.parametrize("step", [recipes.settle_payout, recipes.release_payout])
async def test_settle_or_release_of_another_reservation_is_a_conflict(
    ledger: Ledger, step: Any, changed: PayoutLedgerInput
) -> None:
    await fund(ledger, 1000)
    await ledger.post(recipes.reserve_payout(payout("p1", 300)))

    with pytest.raises(ReferenceConflict):
        await ledger.post(step(changed))

    assert await ledger.balance(RESERVED, "KES") == 300
    assert len(await ledger.entries("p1")) == 1


async def test_payout_amount_must_be_positive(ledger: Ledger) -> None:
    with pytest.raises(InvalidAmount):
        await ledger.post(recipes.reserve_payout(payout("p1", 0)))
    with pytest.raises(InvalidAmount):
        await ledger.post(recipes.reserve_payout(payout("p1", -5)))
    assert await ledger.entries() == []


async def test_fund_merchant_is_idempotent(ledger: Ledger) -> None:
    inp = FundMerchantInput(
        merchant_id=MERCHANT, amount=Money(amount=5000, currency="KES"), reference="bank-7"
    )

    first = await ledger.post(recipes.fund_merchant(inp))
    second = await ledger.fund_merchant(inp)  # the one-line shortcut posts the same recipe

    assert (first.created, second.created) == (True, False)
    assert first.idempotency_key == "funding:bank-7"
    assert first.kind == "funding"
    assert await ledger.balance(AVAILABLE, "KES") == 5000
    assert await ledger.balance(EXTERNAL_BANK, "KES") == -5000
    with pytest.raises(ReferenceConflict):
        await ledger.fund_merchant(
            inp.model_copy(update={"amount": Money(amount=1, currency="KES")})
        )


# -- races -----------------------------------------------------------------------------
#
# Each racer posts through its own session (Ledger.post opens one per call). With one
# engine, SQLite racers queue for its writer's single connection; with several engines
# they are separate connections contending for the database file's write lock. On
# PostgreSQL racers are real concurrent transactions, on each engine's writer
# connections (four engines: 16 at once).

RACERS = 20


@asynccontextmanager
async def racing_ledgers(url: str, engines: int) -> AsyncIterator[list[Ledger]]:
    """``engines`` ledgers on ``url``, each with its own engine (and connections)."""
    postgres = make_url(url).get_backend_name() == "postgresql"
    made: list[AsyncEngine] = [
        create_engine(url, pool_size=RACERS, max_overflow=0) if postgres else create_engine(url)
        for _ in range(engines)
    ]
    try:
        yield [Ledger(session_factory(engine)) for engine in made]
    finally:
        for engine in made:
            await engine.dispose()


async def race(calls: list[Awaitable[PostedEntry]]) -> list[PostedEntry | BaseException]:
    """Run ``calls`` at once; their results or exceptions, in order."""
    return await asyncio.gather(*calls, return_exceptions=True)


async def watch_minimum(ledger: Ledger, account: str, stop: asyncio.Event) -> list[int]:
    """The balances of ``account`` seen by polling it until ``stop`` is set."""
    seen: list[int] = []
    while not stop.is_set():
        seen.append(await ledger.balance(account, "KES"))
        await asyncio.sleep(0)
    seen.append(await ledger.balance(account, "KES"))
    return seen


@pytest.mark.parametrize("engines", [1, 4], ids=["one-engine", "four-engines"])
async def test_racing_reservations_never_overdraw(
    ledger: Ledger, migrated_url: str, engines: int
) -> None:
    amount = 150
    await fund(ledger, 10 * amount)

    async with (
        racing_ledgers(migrated_url, engines) as racers,
        racing_ledgers(migrated_url, 1) as (watcher,),
    ):
        stop = asyncio.Event()
        watching = asyncio.create_task(watch_minimum(watcher, AVAILABLE, stop))
        try:
            results = await race(
                [
                    racers[i % engines].post(recipes.reserve_payout(payout(f"p{i}", amount)))
                    for i in range(RACERS)
                ]
            )
        finally:
            stop.set()
            seen = await watching

    succeeded = [r for r in results if isinstance(r, PostedEntry)]
    refused = [r for r in results if not isinstance(r, PostedEntry)]
    assert len(succeeded) == 10
    assert all(r.created for r in succeeded)
    assert len(refused) == 10
    assert all(isinstance(r, InsufficientFunds) for r in refused), refused
    assert min(seen) >= 0
    assert await ledger.balance(AVAILABLE, "KES") == 0
    assert await ledger.balance(RESERVED, "KES") == 10 * amount
    assert len(await ledger.entries()) == 1 + 10
    assert await ledger.check_consistency() == []


@pytest.mark.parametrize("engines", [1, 4], ids=["one-engine", "four-engines"])
async def test_racing_settle_and_release_resolve_once(
    ledger: Ledger, migrated_url: str, engines: int
) -> None:
    await fund(ledger, 1000)
    await ledger.post(recipes.reserve_payout(payout("p1", 300)))

    steps = [recipes.settle_payout, recipes.release_payout] * (RACERS // 2)
    async with racing_ledgers(migrated_url, engines) as racers:
        results = await race(
            [racers[i % engines].post(step(payout("p1", 300))) for i, step in enumerate(steps)]
        )

    posted = [r for r in results if isinstance(r, PostedEntry)]
    kinds = {r.kind for r in posted}
    assert len(kinds) == 1
    assert sum(r.created for r in posted) == 1
    assert len(posted) == RACERS // 2  # the winner's step, answered to each of its callers
    assert all(
        isinstance(r, ReferenceConflict) for r in results if not isinstance(r, PostedEntry)
    ), results
    assert await ledger.balance(RESERVED, "KES") == 0
    assert len(await ledger.entries("p1")) == 2
    assert await ledger.check_consistency() == []


async def test_racing_entries_that_exclude_each_other_post_one(
    ledger: Ledger, migrated_url: str
) -> None:
    # No shared requirement or account to serialise on: only the exclusion itself.
    def entry(n: int) -> JournalEntryRequest:
        others = [f"x{m}" for m in range(4) if m != n]
        return transfer(f"x{n}", 10, source=f"src:{n}", to=f"dst:{n}", excludes=others)

    async with racing_ledgers(migrated_url, 4) as racers:
        results = await race([racers[n % 4].post(entry(n % 4)) for n in range(RACERS)])

    posted = {r.idempotency_key for r in results if isinstance(r, PostedEntry)}
    assert len(posted) == 1
    assert all(isinstance(r, ReferenceConflict) for r in results if not isinstance(r, PostedEntry))
    assert len(await ledger.entries()) == 1


async def test_two_hundred_postings_on_one_merchant_lose_no_update(
    ledger: Ledger, migrated_url: str
) -> None:
    # The hot-row case: every posting takes from the same available balance. Amounts
    # differ, so a lost update shows as a balance that is not the sum of the postings.
    amounts = [100 + (n * 37) % 400 for n in range(200)]
    funds = sum(amounts) // 2
    await fund(ledger, funds)

    async with (
        racing_ledgers(migrated_url, 4) as racers,
        racing_ledgers(migrated_url, 1) as (watcher,),
    ):
        stop = asyncio.Event()
        watching = asyncio.create_task(watch_minimum(watcher, AVAILABLE, stop))
        try:
            results = await race(
                [
                    racers[n % 4].post(recipes.reserve_payout(payout(f"h{n}", amount)))
                    for n, amount in enumerate(amounts)
                ]
            )
        finally:
            stop.set()
            seen = await watching

    reserved = sum(
        amount
        for amount, result in zip(amounts, results, strict=True)
        if isinstance(result, PostedEntry)
    )
    refused = [r for r in results if not isinstance(r, PostedEntry)]
    assert all(isinstance(r, InsufficientFunds) for r in refused), refused[:3]
    assert 0 < reserved <= funds and refused, "the race must both post and refuse"
    assert min(seen) >= 0
    assert await ledger.balance(AVAILABLE, "KES") == funds - reserved
    assert await ledger.balance(RESERVED, "KES") == reserved
    assert await ledger.check_consistency() == []


async def test_crossing_transfers_do_not_deadlock(ledger: Ledger, migrated_url: str) -> None:
    await ledger.post(transfer("fund-x", 1000, source=EXTERNAL_BANK, to="acct:x"))
    await ledger.post(transfer("fund-y", 1000, source=EXTERNAL_BANK, to="acct:y"))

    def entry(n: int) -> JournalEntryRequest:
        source, to = ("acct:x", "acct:y") if n % 2 else ("acct:y", "acct:x")
        return transfer(f"t{n}", 100, source=source, to=to, overdraw=False)

    async with racing_ledgers(migrated_url, 4) as racers:
        results = await race([racers[n % 4].post(entry(n)) for n in range(RACERS)])

    assert all(isinstance(r, PostedEntry) for r in results), results
    assert await ledger.balance("acct:x", "KES") == 1000
    assert await ledger.balance("acct:y", "KES") == 1000


# -- reading ---------------------------------------------------------------------------


async def test_balances_per_currency_and_prefix(ledger: Ledger) -> None:
    await fund(ledger, 1000, "bank-1", "KES")
    await fund(ledger, 700, "bank-2", "UGX")
    await ledger.post(transfer("k1", 5, to="merchant:mx1:available"))

    balances = await ledger.balances("merchant:m1:")
    assert [(b.account, b.currency, b.balance) for b in balances] == [
        (AVAILABLE, "KES", 1000),
        (AVAILABLE, "UGX", 700),
    ]
    # "_" is a LIKE wildcard: the prefix must match literally.
    assert await ledger.balances("merchant:m_") == []
    assert len(await ledger.balances()) == 6
    assert await ledger.trial_balance() == {"KES": 0, "UGX": 0}


async def test_check_consistency_reports_a_drifted_balance(
    ledger: Ledger, migrated_url: str
) -> None:
    await fund(ledger, 1000)
    assert await ledger.check_consistency() == []

    engine = create_engine(migrated_url)

    async def drift(by: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                update(Account)
                .where(Account.code == AVAILABLE)
                .values(balance=Account.balance + by)
            )

    try:
        await drift(+1)
        problems = await ledger.check_consistency()
        # Put it back, so the fixture's own audit sees a healthy ledger.
        await drift(-1)
    finally:
        await engine.dispose()

    assert len(problems) == 1
    assert AVAILABLE in problems[0]


# -- collections and refunds -----------------------------------------------------------

REFUNDABLE = collection_refundable("c1")
PAYABLE = merchant_refunds_payable(MERCHANT)


def collected(amount: int = 10_000, fee: int = 150) -> CollectionLedgerInput:
    """Collection ``c1`` of ``MERCHANT`` through the hub, in KES."""
    return CollectionLedgerInput(
        collection_id="c1",
        merchant_id=MERCHANT,
        provider="hub",
        amount=Money(amount=amount, currency="KES"),
        fee=Money(amount=fee, currency="KES"),
    )


def refund_of(refund_id: str, amount: int) -> RefundLedgerInput:
    """A refund of collection ``c1``."""
    return RefundLedgerInput(
        refund_id=refund_id,
        collection_id="c1",
        merchant_id=MERCHANT,
        provider="hub",
        amount=Money(amount=amount, currency="KES"),
    )


async def balances(ledger: Ledger, *accounts: str) -> list[int]:
    """The KES balances of ``accounts``, in order."""
    return [await ledger.balance(account, "KES") for account in accounts]


async def test_collection_then_refunds_up_to_what_was_paid(ledger: Ledger) -> None:
    await ledger.post(recipes.settle_collection(collected()))
    assert await balances(ledger, AVAILABLE, CLEARING, provider_fees("hub"), REFUNDABLE) == [
        9_850,
        -10_000,
        150,
        10_000,
    ]

    await ledger.post(recipes.reserve_refund(refund_of("r1", 4_000)))
    await ledger.post(recipes.settle_refund(refund_of("r1", 4_000)))
    assert await balances(ledger, AVAILABLE, PAYABLE, CLEARING, REFUNDABLE) == [
        5_850,
        0,
        -6_000,
        6_000,
    ]

    # Refundable, but the merchant has too little money: the merchant's account is named.
    with pytest.raises(InsufficientFunds) as short:
        await ledger.post(recipes.reserve_refund(refund_of("r2", 6_000)))
    assert short.value.account == AVAILABLE
    await fund(ledger, 1_000)
    await ledger.post(recipes.reserve_refund(refund_of("r2", 6_000)))

    # Everything paid is refunded (or held for a refund): one more unit is too much.
    with pytest.raises(InsufficientFunds) as exceeded:
        await ledger.post(recipes.reserve_refund(refund_of("r3", 1)))
    assert exceeded.value.account == REFUNDABLE
    assert await balances(ledger, AVAILABLE, PAYABLE, REFUNDABLE) == [850, 6_000, 0]


async def test_failed_refund_restores_the_balances_exactly(ledger: Ledger) -> None:
    await ledger.post(recipes.settle_collection(collected()))
    accounts = (AVAILABLE, PAYABLE, CLEARING, REFUNDABLE)
    before = await balances(ledger, *accounts)

    await ledger.post(recipes.reserve_refund(refund_of("r1", 2_500)))
    await ledger.post(recipes.release_refund(refund_of("r1", 2_500)))

    assert await balances(ledger, *accounts) == before
    with pytest.raises(ReferenceConflict):
        await ledger.post(recipes.settle_refund(refund_of("r1", 2_500)))


async def test_reversed_refund_gives_money_and_refundable_back(ledger: Ledger) -> None:
    await ledger.post(recipes.settle_collection(collected()))
    accounts = (AVAILABLE, PAYABLE, CLEARING, REFUNDABLE)
    before = await balances(ledger, *accounts)
    with pytest.raises(LedgerError):
        await ledger.post(recipes.reverse_refund(refund_of("r1", 3_000)))

    for step in (recipes.reserve_refund, recipes.settle_refund, recipes.reverse_refund):
        await ledger.post(step(refund_of("r1", 3_000)))

    assert await balances(ledger, *accounts) == before


async def test_refund_of_an_unsettled_collection_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 5_000)
    with pytest.raises(LedgerError) as refused:
        await ledger.post(recipes.reserve_refund(refund_of("r1", 100)))
    assert type(refused.value) is LedgerError
    assert await ledger.balance(AVAILABLE, "KES") == 5_000


@pytest.mark.parametrize("engines", [1, 4], ids=["one-engine", "four-engines"])
async def test_concurrent_partial_refunds_never_exceed_the_collection(
    ledger: Ledger, migrated_url: str, engines: int
) -> None:
    # 20 refunds of 700 against 10,000 paid: whatever the order, exactly 14 fit.
    await ledger.post(recipes.settle_collection(collected(fee=0)))
    await fund(ledger, 100_000)

    async with racing_ledgers(migrated_url, engines) as racers:
        results = await race(
            [
                racers[n % engines].post(recipes.reserve_refund(refund_of(f"r{n}", 700)))
                for n in range(RACERS)
            ]
        )

    posted = [r for r in results if isinstance(r, PostedEntry)]
    refused = [r for r in results if not isinstance(r, PostedEntry)]
    assert len(posted) == 14, refused[:3]
    assert all(isinstance(r, InsufficientFunds) and r.account == REFUNDABLE for r in refused)
    assert await balances(ledger, REFUNDABLE, PAYABLE, AVAILABLE) == [200, 9_800, 100_200]


# -- cash orders and their bank-transfer refunds ---------------------------------------

PENDING = merchant_pending_settlement(MERCHANT)
CASH_REFUNDABLE = cash_order_refundable("o1")


def cash_paid(amount: int = 10_000, fee: int | None = 290) -> CashOrderLedgerInput:
    """Cash order ``o1`` of ``MERCHANT`` paid through Efecty (KES keeps the fixtures')."""
    return CashOrderLedgerInput(
        order_id="o1",
        merchant_id=MERCHANT,
        provider="efecty",
        amount=Money(amount=amount, currency="KES"),
        fee=None if fee is None else Money(amount=fee, currency="KES"),
    )


def cash_refund_of(refund_id: str, amount: int) -> RefundLedgerInput:
    """A bank-transfer refund of cash order ``o1``."""
    return RefundLedgerInput(
        refund_id=refund_id,
        collection_id="o1",
        merchant_id=MERCHANT,
        provider="bank",
        amount=Money(amount=amount, currency="KES"),
        origin=RefundOrigin.CASH_ORDER,
    )


async def test_a_cash_payment_is_pending_until_the_network_settles_it(ledger: Ledger) -> None:
    clearing, fees = provider_clearing("efecty"), provider_fees("efecty")
    await ledger.post(recipes.book_cash_payment(cash_paid()))
    assert await balances(ledger, PENDING, AVAILABLE, clearing, CASH_REFUNDABLE) == [
        10_000,
        0,
        -10_000,
        10_000,
    ]
    again = await ledger.post(recipes.book_cash_payment(cash_paid()))
    assert not again.created

    await ledger.post(recipes.settle_cash_payment(cash_paid()))
    assert await balances(ledger, PENDING, AVAILABLE, fees, CASH_REFUNDABLE) == [
        0,
        9_710,
        290,
        10_000,
    ]


async def test_a_cash_payment_never_booked_cannot_settle(ledger: Ledger) -> None:
    with pytest.raises(LedgerError):
        await ledger.post(recipes.settle_cash_payment(cash_paid()))
    # Nor can a settlement claim another amount than was booked.
    await ledger.post(recipes.book_cash_payment(cash_paid(amount=10_000)))
    with pytest.raises(ReferenceConflict):
        await ledger.post(recipes.settle_cash_payment(cash_paid(amount=12_000)))
    assert await ledger.balance(AVAILABLE, "KES") == 0


async def test_cash_refunds_are_bounded_by_what_was_paid_for_that_order(ledger: Ledger) -> None:
    await ledger.post(recipes.book_cash_payment(cash_paid()))
    await ledger.post(recipes.settle_cash_payment(cash_paid()))
    await fund(ledger, 1_000)

    await ledger.post(recipes.reserve_refund(cash_refund_of("r1", 6_000)))
    await ledger.post(recipes.settle_refund(cash_refund_of("r1", 6_000)))
    assert await balances(ledger, CASH_REFUNDABLE, provider_clearing("bank")) == [4_000, 6_000]

    with pytest.raises(InsufficientFunds) as exceeded:
        await ledger.post(recipes.reserve_refund(cash_refund_of("r2", 4_001)))
    assert exceeded.value.account == CASH_REFUNDABLE

    # A returned transfer gives the amount back, refundable again.
    await ledger.post(recipes.reserve_refund(cash_refund_of("r3", 4_000)))
    await ledger.post(recipes.release_refund(cash_refund_of("r3", 4_000)))
    assert await ledger.balance(CASH_REFUNDABLE, "KES") == 4_000


async def test_a_cash_refund_needs_the_order_booked_not_a_collection(ledger: Ledger) -> None:
    # A collection with the same id does not make the cash order refundable.
    await ledger.post(recipes.settle_collection(collected()))
    with pytest.raises(LedgerError) as refused:
        await ledger.post(recipes.reserve_refund(cash_refund_of("r1", 100)))
    assert type(refused.value) is LedgerError
