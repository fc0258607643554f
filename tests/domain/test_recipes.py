"""Ledger recipes: pure functions from a step's input to the entry it posts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from payments_engine.domain import recipes
from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    Posting,
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
