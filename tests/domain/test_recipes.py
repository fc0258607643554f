"""Ledger recipes: pure functions from a step's input to the entry it posts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from payments_engine.domain import recipes
from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    EXTERNAL_REFUND_CAPACITY,
    CollectionLedgerInput,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    Posting,
    RefundLedgerInput,
    Requirement,
)
from payments_engine.domain.money import Money

Recipe = Callable[[PayoutLedgerInput], JournalEntryRequest]
PAYOUT_RECIPES: list[Recipe] = [
    recipes.reserve_payout,
    recipes.settle_payout,
    recipes.release_payout,
]


def payout(amount: int = 300, currency: str = "KES") -> PayoutLedgerInput:
    return PayoutLedgerInput(
        payout_id="po-1",
        merchant_id="m-1",
        provider="hub",
        amount=Money(amount=amount, currency=currency),
    )


def funding() -> FundMerchantInput:
    return FundMerchantInput(
        merchant_id="m-1", amount=Money(amount=5000, currency="UGX"), reference="BANK-7"
    )


def test_fund_merchant() -> None:
    entry = recipes.fund_merchant(funding())

    assert entry.idempotency_key == "funding:BANK-7"
    assert entry.kind == "funding"
    assert entry.reference == "BANK-7"
    assert entry.currency == "UGX"
    assert entry.postings == [
        Posting(account=EXTERNAL_BANK, amount=-5000),
        Posting(account="merchant:m-1:available", amount=5000),
    ]
    assert entry.requires == []
    assert entry.excludes == []
    assert entry.may_go_negative == [EXTERNAL_BANK]


def test_reserve_payout() -> None:
    entry = recipes.reserve_payout(payout())

    assert entry.idempotency_key == "payout:po-1:reserve"
    assert entry.kind == "payout_reserve"
    assert entry.reference == "po-1"
    assert entry.currency == "KES"
    assert entry.postings == [
        Posting(account="merchant:m-1:available", amount=-300),
        Posting(account="merchant:m-1:reserved", amount=300),
    ]
    assert entry.requires == []
    assert entry.excludes == []
    # The available balance is what must cover the payout: it may not go negative.
    assert entry.may_go_negative == []


@pytest.mark.parametrize(
    ("recipe", "step", "destination", "excluded"),
    [
        (recipes.settle_payout, "settle", "provider:hub:clearing", "release"),
        (recipes.release_payout, "release", "merchant:m-1:available", "settle"),
    ],
)
def test_settle_and_release_need_the_reservation_and_exclude_each_other(
    recipe: Recipe, step: str, destination: str, excluded: str
) -> None:
    entry = recipe(payout())

    assert entry.idempotency_key == f"payout:po-1:{step}"
    assert entry.kind == f"payout_{step}"
    assert entry.reference == "po-1"
    assert entry.postings == [
        Posting(account="merchant:m-1:reserved", amount=-300),
        Posting(account=destination, amount=300),
    ]
    assert entry.requires == [
        Requirement(
            key="payout:po-1:reserve",
            account="merchant:m-1:reserved",
            amount=300,
            currency="KES",
        )
    ]
    assert entry.excludes == [f"payout:po-1:{excluded}"]
    # Settle credits the provider's clearing account: nothing here may overdraw.
    assert entry.may_go_negative == []


@pytest.mark.parametrize(
    "recipe", [*PAYOUT_RECIPES, None], ids=lambda r: getattr(r, "__name__", "fund")
)
def test_postings_sum_to_zero_and_only_external_accounts_may_go_negative(
    recipe: Recipe | None,
) -> None:
    entry = recipes.fund_merchant(funding()) if recipe is None else recipe(payout())

    assert sum(p.amount for p in entry.postings) == 0
    assert all(a.startswith("external:") for a in entry.may_go_negative)
    assert {a for a in entry.may_go_negative} <= {p.account for p in entry.postings}


def test_keys_are_the_recorded_ones() -> None:
    # Recorded workflow histories and stored entries depend on these exact keys.
    assert recipes.payout_key("po-1", "reserve") == "payout:po-1:reserve"
    assert recipes.funding_key("BANK-7") == "funding:BANK-7"
    assert [r(payout()).idempotency_key for r in PAYOUT_RECIPES] == [
        "payout:po-1:reserve",
        "payout:po-1:settle",
        "payout:po-1:release",
    ]


@pytest.mark.parametrize("recipe", PAYOUT_RECIPES)
@pytest.mark.parametrize("amount", [0, -5])
def test_payout_amount_must_be_positive(recipe: Recipe, amount: int) -> None:
    with pytest.raises(InvalidAmount):
        recipe(payout(amount))


def test_recipes_are_pure() -> None:
    inp = payout()

    assert recipes.settle_payout(inp) == recipes.settle_payout(inp)
    assert inp == payout()


def test_a_plain_key_is_a_requirement_without_amount() -> None:
    entry = JournalEntryRequest(
        idempotency_key="k2",
        kind="test",
        currency="KES",
        postings=[Posting(account="a:1", amount=-1), Posting(account="a:2", amount=1)],
        requires=["k1"],
    )

    assert entry.requires == [Requirement(key="k1")]


# -- collections and refunds -----------------------------------------------------------


def collection(
    amount: int = 10_000, fee: int = 150, currency: str = "KES"
) -> CollectionLedgerInput:
    return CollectionLedgerInput(
        collection_id="co-1",
        merchant_id="m-1",
        provider="hub",
        amount=Money(amount=amount, currency=currency),
        fee=Money(amount=fee, currency=currency),
    )


def refund(amount: int = 400, currency: str = "KES") -> RefundLedgerInput:
    return RefundLedgerInput(
        refund_id="rf-1",
        collection_id="co-1",
        merchant_id="m-1",
        provider="hub",
        amount=Money(amount=amount, currency=currency),
    )


def test_settle_collection_books_share_fee_and_refundable() -> None:
    entry = recipes.settle_collection(collection())

    assert entry.idempotency_key == "collection:co-1:settle"
    assert entry.kind == "collection_settle"
    assert entry.reference == "co-1"
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        ("collection:co-1:refundable", 10_000),
        (EXTERNAL_REFUND_CAPACITY, -10_000),
        ("merchant:m-1:available", 9_850),
        ("provider:hub:clearing", -10_000),
        ("provider:hub:fees", 150),
    ]
    # The provider's clearing is two-sided: a collection takes from it.
    assert set(entry.may_go_negative) == {"provider:hub:clearing", EXTERNAL_REFUND_CAPACITY}


def test_settle_collection_without_fee_has_no_fee_posting() -> None:
    entry = recipes.settle_collection(collection(fee=0))
    assert "provider:hub:fees" not in {p.account for p in entry.postings}


@pytest.mark.parametrize(
    "bad",
    [
        collection(amount=0, fee=0),
        collection(fee=-1),
        collection(fee=10_000),
        CollectionLedgerInput(
            collection_id="co-1",
            merchant_id="m-1",
            provider="hub",
            amount=Money(amount=10_000, currency="KES"),
            fee=Money(amount=100, currency="UGX"),
        ),
    ],
    ids=["zero", "negative-fee", "fee-is-everything", "fee-in-other-currency"],
)
def test_settle_collection_refuses_bad_amounts(bad: CollectionLedgerInput) -> None:
    with pytest.raises(InvalidAmount):
        recipes.settle_collection(bad)


def test_reserve_refund_takes_from_available_and_refundable() -> None:
    entry = recipes.reserve_refund(refund())

    assert entry.idempotency_key == "refund:rf-1:reserve"
    assert entry.reference == "rf-1"
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        ("collection:co-1:refundable", -400),
        (EXTERNAL_REFUND_CAPACITY, 400),
        ("merchant:m-1:available", -400),
        ("merchant:m-1:refunds_payable", 400),
    ]
    assert entry.requires == [Requirement(key="collection:co-1:settle")]
    # The refundable counter and the merchant's money both have a floor.
    assert "collection:co-1:refundable" not in entry.may_go_negative
    assert "merchant:m-1:available" not in entry.may_go_negative


def test_settle_and_release_of_a_refund_exclude_each_other() -> None:
    settle = recipes.settle_refund(refund())
    release = recipes.release_refund(refund())
    held = Requirement(
        key="refund:rf-1:reserve",
        account="merchant:m-1:refunds_payable",
        amount=400,
        currency="KES",
    )

    assert settle.requires == [held] and release.requires == [held]
    assert settle.excludes == ["refund:rf-1:release"]
    assert release.excludes == ["refund:rf-1:settle"]
    assert sorted((p.account, p.amount) for p in settle.postings) == [
        ("merchant:m-1:refunds_payable", -400),
        ("provider:hub:clearing", 400),
    ]
    # A failed refund gives back exactly what its reserve took.
    reserve = recipes.reserve_refund(refund())
    assert sorted((p.account, -p.amount) for p in release.postings) == sorted(
        (p.account, p.amount) for p in reserve.postings
    )


def test_reverse_refund_needs_the_settle_and_restores_refundable() -> None:
    entry = recipes.reverse_refund(refund())

    assert entry.idempotency_key == "refund:rf-1:reverse"
    assert entry.requires == [
        Requirement(
            key="refund:rf-1:settle", account="provider:hub:clearing", amount=400, currency="KES"
        )
    ]
    assert sorted((p.account, p.amount) for p in entry.postings) == [
        ("collection:co-1:refundable", 400),
        (EXTERNAL_REFUND_CAPACITY, -400),
        ("merchant:m-1:available", 400),
        ("provider:hub:clearing", -400),
    ]


@pytest.mark.parametrize(
    "step",
    [
        recipes.reserve_refund,
        recipes.settle_refund,
        recipes.release_refund,
        recipes.reverse_refund,
    ],
)
def test_refund_amount_must_be_positive(step: Callable[[RefundLedgerInput], object]) -> None:
    with pytest.raises(InvalidAmount):
        step(refund(amount=0))
