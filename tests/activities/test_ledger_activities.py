"""Ledger activities: payout steps on the ledger, business failures final, the rest retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from payments_engine.activities.ledger import LedgerActivities
from payments_engine.db.ledger import Ledger
from payments_engine.db.session import create_engine, session_factory
from payments_engine.domain.errors import ProviderUnavailable
from payments_engine.domain.ledger import (
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    PostedEntry,
    merchant_available,
    merchant_reserved,
    provider_clearing,
)
from payments_engine.domain.money import Money

MERCHANT = "m1"


@pytest.fixture
async def ledger(migrated_url: str) -> AsyncIterator[Ledger]:
    """A ledger on a fresh migrated database (SQLite and PostgreSQL), audited afterwards."""
    engine = create_engine(migrated_url)
    try:
        ledger = Ledger(session_factory(engine))
        yield ledger
        assert await ledger.check_consistency() == []
    finally:
        await engine.dispose()


def payout(payout_id: str = "p1", amount: int = 300) -> PayoutLedgerInput:
    """A KES payout ledger input of ``MERCHANT`` through the hub."""
    return PayoutLedgerInput(
        payout_id=payout_id,
        merchant_id=MERCHANT,
        provider="hub",
        amount=Money(amount=amount, currency="KES"),
    )


async def fund(ledger: Ledger, amount: int) -> None:
    """Credit ``MERCHANT``'s available balance."""
    await ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=MERCHANT, amount=Money(amount=amount, currency="KES"), reference="bank-1"
        )
    )


async def test_reserve_and_settle_through_the_activities(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    acts = LedgerActivities(ledger)
    env = ActivityEnvironment()

    reserved = await env.run(acts.reserve_funds, payout())
    retried = await env.run(acts.reserve_funds, payout())
    settled = await env.run(acts.settle_payout, payout())

    assert isinstance(reserved, PostedEntry)
    assert (reserved.created, retried.created) == (True, False)
    assert retried.entry_id == reserved.entry_id
    assert settled.kind == "payout_settle"
    assert await ledger.balance(merchant_available(MERCHANT), "KES") == 700
    assert await ledger.balance(merchant_reserved(MERCHANT), "KES") == 0
    assert await ledger.balance(provider_clearing("hub"), "KES") == 300


async def test_release_funds_returns_the_reservation(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    acts = LedgerActivities(ledger)
    env = ActivityEnvironment()
    await env.run(acts.reserve_funds, payout())

    released = await env.run(acts.release_funds, payout())

    assert released.kind == "payout_release"
    assert await ledger.balance(merchant_available(MERCHANT), "KES") == 1000


async def test_insufficient_funds_is_a_final_application_error(ledger: Ledger) -> None:
    await fund(ledger, 100)
    acts = LedgerActivities(ledger)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(acts.reserve_funds, payout(amount=101))

    assert raised.value.type == "InsufficientFunds"
    assert raised.value.non_retryable is True
    # An expected outcome: the SDK logs a BENIGN failure without a traceback.
    assert raised.value.category is ApplicationErrorCategory.BENIGN
    assert await ledger.balance(merchant_available(MERCHANT), "KES") == 100


async def test_settle_after_release_is_a_final_conflict(ledger: Ledger) -> None:
    await fund(ledger, 1000)
    acts = LedgerActivities(ledger)
    env = ActivityEnvironment()
    await env.run(acts.reserve_funds, payout())
    await env.run(acts.release_funds, payout())

    with pytest.raises(ApplicationError) as raised:
        await env.run(acts.settle_payout, payout())

    assert raised.value.type == "ReferenceConflict"
    assert raised.value.non_retryable is True


async def test_settle_without_reservation_is_a_final_ledger_error(ledger: Ledger) -> None:
    acts = LedgerActivities(ledger)

    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(acts.settle_payout, payout())

    assert raised.value.type == "LedgerError"
    assert raised.value.non_retryable is True


class _BrokenLedger(Ledger):
    """A ledger whose postings fail with a given exception, without a database."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    async def post(self, entry: JournalEntryRequest) -> PostedEntry:
        raise self._error


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("database went away"), ProviderUnavailable("retry me")],
    ids=["infrastructure", "retryable-domain"],
)
async def test_transient_errors_propagate_for_temporal_to_retry(error: Exception) -> None:
    acts = LedgerActivities(_BrokenLedger(error))

    with pytest.raises(type(error)) as raised:
        await ActivityEnvironment().run(acts.reserve_funds, payout())

    assert raised.value is error
