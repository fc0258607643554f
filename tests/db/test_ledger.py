"""The ledger: balanced entries posted exactly once, payout steps, funds that never go negative.

Each test runs on SQLite and on PostgreSQL; the ``ledger`` fixture audits the ledger
(trial balance zero, cached balances equal to postings) after every test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from payments_engine.db.ledger import Ledger
from payments_engine.db.models import Account
from payments_engine.db.session import create_engine
from payments_engine.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    ReferenceConflict,
    UnbalancedEntry,
)
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    Posting,
    merchant_available,
    merchant_reserved,
    provider_clearing,
)
from payments_engine.domain.money import Money

MERCHANT = "m1"
AVAILABLE = merchant_available(MERCHANT)
RESERVED = merchant_reserved(MERCHANT)
CLEARING = provider_clearing("hub")


def transfer(
    key: str, amount: int = 100, *, kind: str = "test", to: str = "a:2"
) -> JournalEntryRequest:
    """A two-line KES entry moving ``amount`` from ``a:1`` to ``to``."""
    return JournalEntryRequest(
        idempotency_key=key,
        kind=kind,
        reference="ref-1",
        currency="KES",
        postings=[Posting(account="a:1", amount=-amount), Posting(account=to, amount=amount)],
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
    await ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=MERCHANT,
            amount=Money(amount=amount, currency=currency),
            reference=reference,
        )
    )


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


async def test_floor_check_refuses_and_rolls_back(ledger: Ledger) -> None:
    request = transfer("k1", 100).model_copy(update={"floor_checks": ["a:1"]})

    with pytest.raises(InsufficientFunds):
        await ledger.post(request)

    assert await ledger.entries() == []
    assert await ledger.balances() == []


async def test_concurrent_reservations_never_overdraw(ledger: Ledger) -> None:
    await fund(ledger, 1000)

    results = await asyncio.gather(
        *(ledger.reserve_payout(payout(f"p{i}", 150)) for i in range(10)),
        return_exceptions=True,
    )

    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(succeeded) == 6
    assert all(isinstance(r, InsufficientFunds) for r in refused)
    assert await ledger.balance(AVAILABLE, "KES") == 100
    assert await ledger.balance(RESERVED, "KES") == 900
    assert len(await ledger.entries()) == 1 + 6


async def test_reserve_then_settle(ledger: Ledger) -> None:
    await fund(ledger, 1000)

    reserved = await ledger.reserve_payout(payout("p1", 300))
    assert reserved.idempotency_key == "payout:p1:reserve"
    assert reserved.kind == "payout_reserve"
    assert reserved.reference == "p1"
    assert (await ledger.balance(AVAILABLE, "KES"), await ledger.balance(RESERVED, "KES")) == (
        700,
        300,
    )

    settled = await ledger.settle_payout(payout("p1", 300))
    assert settled.idempotency_key == "payout:p1:settle"
    assert settled.kind == "payout_settle"
    assert await ledger.balance(RESERVED, "KES") == 0
    assert await ledger.balance(CLEARING, "KES") == 300
    assert await ledger.balance(AVAILABLE, "KES") == 700

    again = await ledger.settle_payout(payout("p1", 300))
    assert again.created is False
    assert again.entry_id == settled.entry_id
    assert await ledger.balance(CLEARING, "KES") == 300
    assert [e.kind for e in await ledger.entries("p1")] == ["payout_reserve", "payout_settle"]


async def test_reserve_then_release(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.reserve_payout(payout("p1", 300))

    released = await ledger.release_payout(payout("p1", 300))

    assert released.idempotency_key == "payout:p1:release"
    assert released.kind == "payout_release"
    assert await ledger.balance(AVAILABLE, "KES") == 1000
    assert await ledger.balance(RESERVED, "KES") == 0
    assert await ledger.balance(CLEARING, "KES") == 0
    assert (await ledger.release_payout(payout("p1", 300))).created is False
    assert await ledger.balance(AVAILABLE, "KES") == 1000


async def test_reserve_without_funds_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 100)

    with pytest.raises(InsufficientFunds):
        await ledger.reserve_payout(payout("p1", 101))

    assert await ledger.entry("payout:p1:reserve") is None
    assert await ledger.balance(AVAILABLE, "KES") == 100


async def test_retried_reservation_returns_it_even_when_funds_are_gone(ledger: Ledger) -> None:
    await fund(ledger, 300)
    first = await ledger.reserve_payout(payout("p1", 300))

    retry = await ledger.reserve_payout(payout("p1", 300))

    assert retry.created is False
    assert retry.entry_id == first.entry_id
    assert await ledger.balance(RESERVED, "KES") == 300


async def test_settle_after_release_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.reserve_payout(payout("p1", 300))
    await ledger.release_payout(payout("p1", 300))

    with pytest.raises(ReferenceConflict):
        await ledger.settle_payout(payout("p1", 300))

    assert await ledger.balance(CLEARING, "KES") == 0
    assert await ledger.balance(AVAILABLE, "KES") == 1000


async def test_release_after_settle_is_refused(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.reserve_payout(payout("p1", 300))
    await ledger.settle_payout(payout("p1", 300))

    with pytest.raises(ReferenceConflict):
        await ledger.release_payout(payout("p1", 300))

    assert await ledger.balance(AVAILABLE, "KES") == 700
    assert await ledger.balance(CLEARING, "KES") == 300


async def test_concurrent_settle_and_release_resolve_once(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.reserve_payout(payout("p1", 300))

    results = await asyncio.gather(
        *(
            step(payout("p1", 300))
            for _ in range(3)
            for step in (ledger.settle_payout, ledger.release_payout)
        ),
        return_exceptions=True,
    )

    kinds = {r.kind for r in results if not isinstance(r, BaseException)}
    assert len(kinds) == 1
    assert all(isinstance(r, ReferenceConflict) for r in results if isinstance(r, BaseException))
    assert await ledger.balance(RESERVED, "KES") == 0
    assert len(await ledger.entries("p1")) == 2


@pytest.mark.parametrize("step", ["settle_payout", "release_payout"])
async def test_settle_or_release_needs_a_reservation(ledger: Ledger, step: str) -> None:
    await fund(ledger, 1000)

    with pytest.raises(LedgerError) as raised:
        await getattr(ledger, step)(payout("p1", 300))

    assert type(raised.value) is LedgerError
    assert await ledger.entries("p1") == []


async def test_settle_of_another_amount_is_a_conflict(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    await ledger.reserve_payout(payout("p1", 300))

    with pytest.raises(ReferenceConflict):
        await ledger.settle_payout(payout("p1", 400))

    assert await ledger.balance(RESERVED, "KES") == 300


async def test_payout_amount_must_be_positive(ledger: Ledger) -> None:
    with pytest.raises(InvalidAmount):
        await ledger.reserve_payout(payout("p1", 0))
    with pytest.raises(InvalidAmount):
        await ledger.reserve_payout(payout("p1", -5))
    assert await ledger.entries() == []


async def test_fund_merchant_is_idempotent(ledger: Ledger) -> None:
    inp = FundMerchantInput(
        merchant_id=MERCHANT, amount=Money(amount=5000, currency="KES"), reference="bank-7"
    )

    first = await ledger.fund_merchant(inp)
    second = await ledger.fund_merchant(inp)

    assert (first.created, second.created) == (True, False)
    assert first.idempotency_key == "funding:bank-7"
    assert first.kind == "funding"
    assert await ledger.balance(AVAILABLE, "KES") == 5000
    assert await ledger.balance(EXTERNAL_BANK, "KES") == -5000
    with pytest.raises(ReferenceConflict):
        await ledger.fund_merchant(
            inp.model_copy(update={"amount": Money(amount=1, currency="KES")})
        )


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
