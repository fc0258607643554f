"""The ledger's record of provider transactions: written with the entry that books them.

Reconciliation reads ``provider_transactions``; these tests show each booking step
writes its row in the same transaction as its entry, once, and that a later status of
the same transaction replaces the earlier. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from payments_engine.db.ledger import Ledger
from payments_engine.db.models import ProviderTransactionRow
from payments_engine.domain import recipes
from payments_engine.domain.card import CardLedgerInput, CardLedgerStep, CardLedgerStepKind
from payments_engine.domain.errors import InsufficientFunds
from payments_engine.domain.ledger import (
    CollectionLedgerInput,
    FundMerchantInput,
    PayoutLedgerInput,
    RefundLedgerInput,
)
from payments_engine.domain.money import Money

KES = "KES"
AT = datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC)


async def rows(ledger: Ledger) -> list[tuple[object, ...]]:
    async with ledger.engine.connect() as conn:
        result = await conn.execute(
            select(
                ProviderTransactionRow.provider,
                ProviderTransactionRow.kind,
                ProviderTransactionRow.reference,
                ProviderTransactionRow.provider_transaction_id,
                ProviderTransactionRow.status,
                ProviderTransactionRow.gross,
                ProviderTransactionRow.fee,
                ProviderTransactionRow.currency,
                ProviderTransactionRow.settlement_date,
                ProviderTransactionRow.entry_key,
            ).order_by(ProviderTransactionRow.reference, ProviderTransactionRow.kind)
        )
        return [tuple(row) for row in result]


async def fund(ledger: Ledger, amount: int) -> None:
    await ledger.fund_merchant(
        FundMerchantInput(
            merchant_id="m1", amount=Money(amount=amount, currency=KES), reference="f"
        )
    )


def payout(payout_id: str, **extra: object) -> PayoutLedgerInput:
    return PayoutLedgerInput(
        payout_id=payout_id,
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=1_000, currency=KES),
        **extra,  # type: ignore[arg-type]
    )


async def test_a_settled_and_a_released_payout_are_recorded_once_with_their_entry(
    ledger: Ledger,
) -> None:
    await fund(ledger, 5_000)
    paid = payout("p1", provider_transaction_id="TX1", occurred_at=AT)
    failed = payout("p2", occurred_at=AT)
    for step in (recipes.reserve_payout, recipes.settle_payout):
        await ledger.post(step(paid))
    await ledger.post(recipes.reserve_payout(failed))
    await ledger.post(recipes.release_payout(failed))
    # A retried step posts nothing and records nothing again.
    assert not (await ledger.post(recipes.settle_payout(paid))).created

    assert await rows(ledger) == [
        ("hub", "payout", "payout-p1", "TX1", "succeeded", 1_000, 0, KES, date(2026, 11, 24),
         "payout:p1:settle"),
        ("hub", "payout", "payout-p2", None, "failed", 1_000, 0, KES, date(2026, 11, 24),
         "payout:p2:release"),
    ]  # fmt: skip


async def test_a_step_refused_by_its_conditions_records_nothing(ledger: Ledger) -> None:
    await fund(ledger, 500)
    try:
        await ledger.post(recipes.reserve_payout(payout("p1", occurred_at=AT)))
    except InsufficientFunds:
        pass
    collection = CollectionLedgerInput(
        collection_id="c1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=2_000, currency=KES),
        fee=Money(amount=30, currency=KES),
        provider_transaction_id="TXC",
        occurred_at=AT,
    )
    await ledger.post(recipes.settle_collection(collection))
    refund = RefundLedgerInput(
        refund_id="r1",
        collection_id="c1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=5_000, currency=KES),
        occurred_at=AT,
    )
    try:  # more than was paid: refused, so no refund row either
        await ledger.post(recipes.reserve_refund(refund))
    except InsufficientFunds:
        pass
    assert [(r[1], r[2], r[4], r[5], r[6]) for r in await rows(ledger)] == [
        ("collection", "collection-c1", "succeeded", 2_000, 30)
    ]


async def test_a_reversed_refund_replaces_its_processed_record(ledger: Ledger) -> None:
    collection = CollectionLedgerInput(
        collection_id="c1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=2_000, currency=KES),
        fee=Money(amount=0, currency=KES),
        occurred_at=AT,
    )
    await ledger.post(recipes.settle_collection(collection))
    refund = RefundLedgerInput(
        refund_id="r1",
        collection_id="c1",
        merchant_id="m1",
        provider="hub",
        amount=Money(amount=700, currency=KES),
        provider_transaction_id="RF1",
        occurred_at=AT,
    )
    await ledger.post(recipes.reserve_refund(refund))
    await ledger.post(recipes.settle_refund(refund))
    later = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    await ledger.post(recipes.reverse_refund(refund.model_copy(update={"occurred_at": later})))
    refunds = [r for r in await rows(ledger) if r[1] == "refund"]
    assert refunds == [
        ("hub", "refund", "refund-r1", "RF1", "reversed", 700, 0, KES, date(2026, 11, 26),
         "refund:r1:reverse"),
    ]  # fmt: skip


async def test_a_card_capture_and_refund_are_the_issuers_transactions_by_token(
    ledger: Ledger,
) -> None:
    await fund(ledger, 10_000)

    def step(kind: CardLedgerStepKind, key: str, amount: int, **extra: int) -> CardLedgerInput:
        return CardLedgerInput(
            card_id="k1",
            merchant_id="m1",
            provider="issuer",
            currency=KES,
            step=CardLedgerStep(kind=kind, key=key, amount=amount, **extra),
            occurred_at=AT,
        )

    await ledger.post(recipes.card_entry(step(CardLedgerStepKind.FUND, "f1", 5_000)))
    await ledger.post(recipes.card_entry(step(CardLedgerStepKind.HOLD, "a1", 1_200)))
    await ledger.post(
        recipes.card_entry(step(CardLedgerStepKind.CAPTURE, "tok_c1", 1_200, from_hold=1_200))
    )
    await ledger.post(recipes.card_entry(step(CardLedgerStepKind.REFUND, "tok_r1", 200)))
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in await rows(ledger)] == [
        ("issuer", "card_capture", "card-k1:tok_c1", "tok_c1", 1_200),
        ("issuer", "card_refund", "card-k1:tok_r1", "tok_r1", 200),
    ]
