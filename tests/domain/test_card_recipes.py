"""``recipes.card_entry``: the ledger entry of each card step (see the recipes module's
table): balanced postings, stable keys, and who may go below zero."""

from __future__ import annotations

import pytest

from payments_engine.domain import recipes
from payments_engine.domain.card import CardLedgerInput, CardLedgerStep, CardLedgerStepKind
from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.ledger import (
    JournalEntryRequest,
    Posting,
    card_available,
    card_holds,
    card_settlement,
    merchant_available,
)

AVAILABLE = card_available("c-1")
HOLDS = card_holds("c-1")
SETTLEMENT = card_settlement("issuer")
PLATFORM = merchant_available("platform")


def step_input(
    kind: CardLedgerStepKind, amount: int = 700, key: str = "k-1", from_hold: int = 0
) -> CardLedgerInput:
    return CardLedgerInput(
        card_id="c-1",
        merchant_id="platform",
        provider="issuer",
        currency="KES",
        step=CardLedgerStep(kind=kind, key=key, amount=amount, from_hold=from_hold),
    )


def entry(kind: CardLedgerStepKind, amount: int = 700, **kw: object) -> JournalEntryRequest:
    return recipes.card_entry(step_input(kind, amount, **kw))  # type: ignore[arg-type]


def moves(entry_: JournalEntryRequest) -> dict[str, int]:
    return {posting.account: posting.amount for posting in entry_.postings}


@pytest.mark.parametrize(
    ("kind", "from_hold", "expected", "may_go_negative"),
    [
        (CardLedgerStepKind.FUND, 0, {PLATFORM: -700, AVAILABLE: 700}, []),
        (CardLedgerStepKind.HOLD, 0, {AVAILABLE: -700, HOLDS: 700}, []),
        (CardLedgerStepKind.CAPTURE, 700, {HOLDS: -700, SETTLEMENT: 700}, []),
        (
            CardLedgerStepKind.CAPTURE,
            500,  # an over-capture: 200 beyond the hold, from the balance
            {HOLDS: -500, AVAILABLE: -200, SETTLEMENT: 700},
            [AVAILABLE],
        ),
        (
            CardLedgerStepKind.CAPTURE,
            0,  # a force post: no hold at all
            {AVAILABLE: -700, SETTLEMENT: 700},
            [AVAILABLE],
        ),
        (CardLedgerStepKind.RELEASE, 0, {HOLDS: -700, AVAILABLE: 700}, []),
        (CardLedgerStepKind.REFUND, 0, {SETTLEMENT: -700, AVAILABLE: 700}, [SETTLEMENT]),
        (CardLedgerStepKind.RETURN, 0, {AVAILABLE: -700, PLATFORM: 700}, []),
    ],
    ids=[
        "fund",
        "hold",
        "capture-from-hold",
        "over-capture",
        "force-post",
        "release",
        "refund",
        "return",
    ],
)
def test_each_step_posts_its_moves(
    kind: CardLedgerStepKind,
    from_hold: int,
    expected: dict[str, int],
    may_go_negative: list[str],
) -> None:
    posted = entry(kind, 700, from_hold=from_hold)

    assert moves(posted) == expected
    assert len(posted.postings) == len(expected)  # one posting per account, none of zero
    assert sum(posting.amount for posting in posted.postings) == 0
    assert all(posting.amount for posting in posted.postings)
    assert posted.may_go_negative == may_go_negative
    assert posted.idempotency_key == f"card:c-1:{kind.value}:k-1"
    assert posted.kind == f"card_{kind.value}"
    assert posted.reference == "c-1"
    assert posted.currency == "KES"
    assert posted.requires == [] and posted.excludes == []


def test_every_kind_is_covered() -> None:
    assert set(recipes.KIND_CARD) == set(CardLedgerStepKind)
    assert len(set(recipes.KIND_CARD.values())) == len(CardLedgerStepKind)


def test_keys_are_per_card_step_and_key() -> None:
    keys = {
        entry(kind, key=key).idempotency_key
        for kind in CardLedgerStepKind
        for key in ("auth-1", "auth-2")
    }

    assert len(keys) == 2 * len(CardLedgerStepKind)
    assert recipes.card_key("c-1", CardLedgerStepKind.RELEASE, "expire:auth-1") == (
        "card:c-1:release:expire:auth-1"
    )
    other_card = recipes.card_entry(
        step_input(CardLedgerStepKind.HOLD).model_copy(update={"card_id": "c-2"})
    )
    assert other_card.idempotency_key == "card:c-2:hold:k-1"
    assert moves(other_card) == {card_available("c-2"): -700, card_holds("c-2"): 700}


def test_the_same_step_gives_the_same_entry() -> None:
    assert entry(CardLedgerStepKind.CAPTURE, from_hold=300) == entry(
        CardLedgerStepKind.CAPTURE, from_hold=300
    )


def test_only_overcaptures_force_posts_and_refunds_may_go_negative() -> None:
    for kind in CardLedgerStepKind:
        plain = entry(kind, 700, from_hold=700 if kind is CardLedgerStepKind.CAPTURE else 0)
        expected = [SETTLEMENT] if kind is CardLedgerStepKind.REFUND else []
        assert plain.may_go_negative == expected, kind
    # The platform's available balance never may: a funding it cannot cover is refused.
    assert PLATFORM not in entry(CardLedgerStepKind.FUND).may_go_negative


@pytest.mark.parametrize("kind", list(CardLedgerStepKind))
@pytest.mark.parametrize("amount", [0, -1, -700])
def test_a_step_moves_a_positive_amount(kind: CardLedgerStepKind, amount: int) -> None:
    with pytest.raises(InvalidAmount, match="positive amount"):
        entry(kind, amount)


@pytest.mark.parametrize("from_hold", [-1, 701])
def test_a_capture_takes_between_nothing_and_all_of_it_from_its_hold(from_hold: int) -> None:
    with pytest.raises(InvalidAmount, match="between nothing and all"):
        entry(CardLedgerStepKind.CAPTURE, 700, from_hold=from_hold)


def test_postings_are_plain_postings() -> None:
    posted = entry(CardLedgerStepKind.HOLD, 1)

    assert posted.postings == [
        Posting(account=AVAILABLE, amount=-1),
        Posting(account=HOLDS, amount=1),
    ]
