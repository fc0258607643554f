"""Ledger recipes: the journal entry of each business step, as pure functions.

A recipe turns a step's input into a :class:`~payments_engine.domain.ledger.JournalEntryRequest`
that states everything the ledger must know to post it safely: its idempotency key, kind,
reference, currency and postings, and its conditions — the entries it ``requires``
(optionally with the amount they must have moved), the keys it ``excludes``, and the
accounts it ``may_go_negative``. ``Ledger.post`` enforces those conditions generically,
inside the posting transaction; no business rule lives in the database layer. Recipes do
no I/O, so workflows may import them too.

Payout and funding entries (signs as in :mod:`payments_engine.domain.ledger`)::

    fund_merchant    external:bank -X       merchant available +X   external may go < 0
    reserve_payout   merchant available -X  merchant reserved +X    available must cover X
    settle_payout    merchant reserved -X   provider clearing +X    needs reserve, not release
    release_payout   merchant reserved -X   merchant available +X   needs reserve, not settle

Settle credits the provider's clearing account, so for payouts only ``external:*``
accounts are ever allowed below zero.

Collection and refund entries (G paid by the payer, F the provider's fee, R a refund)::

    settle_collection  provider clearing -G   merchant available +(G-F)   provider fees +F
                       collection refundable +G   external:refund-capacity -G
    reserve_refund     merchant available -R  merchant refunds payable +R
                       collection refundable -R   external:refund-capacity +R
    settle_refund      refunds payable -R     provider clearing +R        needs reserve, not release
    release_refund     refunds payable -R     merchant available +R       needs reserve, not settle
                       collection refundable +R   external:refund-capacity -R
    reverse_refund     provider clearing -R   merchant available +R       needs settle
                       collection refundable +R   external:refund-capacity -R

Cash order entries (G paid at the shop, F the network's fee)::

    book_cash_payment   provider clearing -G   merchant pending settlement +G
                        cash order refundable +G   external:refund-capacity -G
    settle_cash_payment merchant pending settlement -G   merchant available +(G-F)
                        provider fees +F                  needs the booking of G

A refund of a cash order is a refund like a collection's (a bank transfer through the
bank provider): its entries name the cash order's refundable counter and require its
booking instead of a collection's (``RefundLedgerInput.origin``).

Card entries (X the step's amount, H the part of a capture its hold covers)::

    card fund      merchant available -X  card available +X         available must cover X
    card hold      card available -X      card holds +X             decided from its balance
    card capture   card holds -H          card available -(X-H)     card settlement +X
                   (X > H: an over-capture or force post; the card may go below zero)
    card release   card holds -X          card available +X         reversal, expiry, stand-in
    card refund    card settlement -X     card available +X         settlement may go < 0
    card return    card available -X      merchant available +X     at termination

The card workflow decides from its own balance and queues these steps in decision order,
so the ledger follows the card; keys are ``card:{card_id}:{step}:{key}``.

Refunds are serialised through the ledger, not through a per-collection workflow: the
collection's refundable counter may not go below zero, and ``Ledger.post`` checks that
floor in the same UPDATE that takes the amount off, under the row's lock. Concurrent
refunds of one collection therefore queue on one row for a few milliseconds each, and
the ones that would exceed what was paid fail with ``InsufficientFunds`` naming the
refundable account, with nothing written; a per-collection workflow would add a
workflow, its signals and its history to every refund for the same guarantee.

Steps that book a provider's final word (a payout's settle or release, a collection's
settle, a refund's settle, release or reverse, a cash payment's settle, a card's capture
or refund) also carry ``settlement``: the provider's transaction as the ledger records it
(``provider_transactions``), which reconciliation matches to the provider's daily report.

Adding a recipe for a later process (holds, captures, refunds):

1. Give it an input model in ``domain/ledger.py`` and a function here returning a
   ``JournalEntryRequest``; derive its key from the business id (``{process}:{id}:{step}``)
   and never change a key once released: recorded histories and stored entries use it.
2. State its conditions instead of writing checks: ``requires`` for earlier steps
   (with ``Requirement(key, account, amount, currency)`` when the amount must match),
   ``excludes`` for steps it is mutually exclusive with (name it on both sides), and
   ``may_go_negative`` only for ``external:*`` accounts.
3. Post it with ``await ledger.post(recipes.your_step(inp))``, unit-test it here, and
   cover its conditions against the ledger in ``tests/db``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from payments_engine.domain.card import CardLedgerInput, CardLedgerStepKind
from payments_engine.domain.cash import cash_order_workflow_id
from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.ids import (
    collection_workflow_id,
    payout_workflow_id,
    refund_workflow_id,
)
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    EXTERNAL_REFUND_CAPACITY,
    CashOrderLedgerInput,
    CollectionLedgerInput,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    Posting,
    RefundLedgerInput,
    RefundOrigin,
    Requirement,
    card_available,
    card_holds,
    card_settlement,
    cash_order_refundable,
    collection_refundable,
    merchant_available,
    merchant_pending_settlement,
    merchant_refunds_payable,
    merchant_reserved,
    provider_clearing,
    provider_fees,
    refundable_account,
)
from payments_engine.domain.money import Money
from payments_engine.domain.reconciliation import LineKind, LineStatus, ProviderTransaction

KIND_FUNDING = "funding"
KIND_PAYOUT_RESERVE = "payout_reserve"
KIND_PAYOUT_SETTLE = "payout_settle"
KIND_PAYOUT_RELEASE = "payout_release"
KIND_COLLECTION_SETTLE = "collection_settle"
KIND_REFUND_RESERVE = "refund_reserve"
KIND_REFUND_SETTLE = "refund_settle"
KIND_REFUND_RELEASE = "refund_release"
KIND_REFUND_REVERSE = "refund_reverse"
KIND_CASH_PAID = "cash_order_paid"
KIND_CASH_SETTLE = "cash_order_settle"
KIND_CARD = {
    CardLedgerStepKind.FUND: "card_fund",
    CardLedgerStepKind.HOLD: "card_hold",
    CardLedgerStepKind.CAPTURE: "card_capture",
    CardLedgerStepKind.RELEASE: "card_release",
    CardLedgerStepKind.REFUND: "card_refund",
    CardLedgerStepKind.RETURN: "card_return",
}


def payout_key(payout_id: str, step: str) -> str:
    """Idempotency key of a payout's ledger step (``reserve``, ``settle``, ``release``)."""
    return f"payout:{payout_id}:{step}"


def collection_key(collection_id: str, step: str) -> str:
    """Idempotency key of a collection's ledger step (``settle``)."""
    return f"collection:{collection_id}:{step}"


def refund_key(refund_id: str, step: str) -> str:
    """Idempotency key of a refund's step (``reserve``, ``settle``, ``release``, ``reverse``)."""
    return f"refund:{refund_id}:{step}"


def cash_order_key(order_id: str, step: str) -> str:
    """``cash_order:{order_id}:{step}``: the idempotency key of a cash order's ledger step."""
    return f"cash_order:{order_id}:{step}"


def funding_key(reference: str) -> str:
    """Idempotency key of a merchant funding, from the bank transfer's reference."""
    return f"funding:{reference}"


def fund_merchant(inp: FundMerchantInput) -> JournalEntryRequest:
    """Credit a merchant's available balance from a bank transfer, once per reference."""
    return JournalEntryRequest(
        idempotency_key=funding_key(inp.reference),
        kind=KIND_FUNDING,
        reference=inp.reference,
        currency=inp.amount.currency,
        postings=[
            Posting(account=EXTERNAL_BANK, amount=-inp.amount.amount),
            Posting(account=merchant_available(inp.merchant_id), amount=inp.amount.amount),
        ],
        may_go_negative=[EXTERNAL_BANK],
    )


def reserve_payout(inp: PayoutLedgerInput) -> JournalEntryRequest:
    """Hold a payout's amount: merchant available -> merchant reserved.

    Posting it raises ``InsufficientFunds`` when the available balance cannot cover it.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _payout_move(
        inp,
        "reserve",
        KIND_PAYOUT_RESERVE,
        merchant_available(inp.merchant_id),
        merchant_reserved(inp.merchant_id),
    )


def settle_payout(inp: PayoutLedgerInput) -> JournalEntryRequest:
    """Hand a reserved payout's amount to the provider: reserved -> provider clearing.

    Posting it raises ``LedgerError`` without the reservation, and ``ReferenceConflict``
    if the payout was released or reserved for another amount, currency or merchant.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _payout_move(
        inp,
        "settle",
        KIND_PAYOUT_SETTLE,
        merchant_reserved(inp.merchant_id),
        provider_clearing(inp.provider),
        requires=[_reservation(inp)],
        excludes=[payout_key(inp.payout_id, "release")],
        status=LineStatus.SUCCEEDED,
    )


def release_payout(inp: PayoutLedgerInput) -> JournalEntryRequest:
    """Give a failed payout's reservation back: reserved -> merchant available.

    Posting it raises ``LedgerError`` without the reservation, and ``ReferenceConflict``
    if the payout was settled or reserved for another amount, currency or merchant.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _payout_move(
        inp,
        "release",
        KIND_PAYOUT_RELEASE,
        merchant_reserved(inp.merchant_id),
        merchant_available(inp.merchant_id),
        requires=[_reservation(inp)],
        excludes=[payout_key(inp.payout_id, "settle")],
        status=LineStatus.FAILED,
    )


def _reservation(inp: PayoutLedgerInput) -> Requirement:
    """The payout's reserve entry, which must have put this very amount on reserved."""
    return Requirement(
        key=payout_key(inp.payout_id, "reserve"),
        account=merchant_reserved(inp.merchant_id),
        amount=inp.amount.amount,
        currency=inp.amount.currency,
    )


def _payout_move(
    inp: PayoutLedgerInput,
    step: str,
    kind: str,
    source: str,
    destination: str,
    *,
    requires: list[Requirement] | None = None,
    excludes: list[str] | None = None,
    status: LineStatus | None = None,
) -> JournalEntryRequest:
    """The entry of one payout step: its amount from ``source`` to ``destination``.

    ``status``: the final status at the provider this step books (settle, release).
    """
    if inp.amount.amount <= 0:
        raise InvalidAmount(f"a payout amount must be greater than zero, got {inp.amount.amount}")
    return JournalEntryRequest(
        idempotency_key=payout_key(inp.payout_id, step),
        kind=kind,
        reference=inp.payout_id,
        currency=inp.amount.currency,
        postings=[
            Posting(account=source, amount=-inp.amount.amount),
            Posting(account=destination, amount=inp.amount.amount),
        ],
        requires=requires or [],
        excludes=excludes or [],
        settlement=None
        if status is None
        else provider_transaction(
            inp.provider,
            LineKind.PAYOUT,
            payout_workflow_id(inp.payout_id),
            status,
            inp.amount,
            0,
            inp.provider_transaction_id,
            inp.occurred_at,
        ),
    )


def provider_transaction(
    provider: str,
    kind: LineKind,
    reference: str,
    status: LineStatus,
    amount: Money,
    fee: int,
    provider_transaction_id: str | None,
    occurred_at: datetime | None,
) -> ProviderTransaction | None:
    """The provider's transaction an entry books, for reconciliation; None without a time.

    It belongs in the provider's report of the UTC date it became final.
    """
    if occurred_at is None:
        return None
    return ProviderTransaction(
        provider=provider,
        kind=kind,
        reference=reference,
        provider_transaction_id=provider_transaction_id,
        status=status,
        gross=amount.amount,
        fee=fee,
        currency=amount.currency,
        occurred_at=occurred_at,
        settlement_date=occurred_at.astimezone(UTC).date(),
    )


# -- collections and refunds -----------------------------------------------------------


def settle_collection(inp: CollectionLedgerInput) -> JournalEntryRequest:
    """Book a collection the provider confirmed: the merchant's share, the fee, refundable.

    Raises:
        InvalidAmount: the amount is not positive, the fee is negative, not below the
            amount, or in another currency.
    """
    if inp.fee is None:
        raise InvalidAmount("a collection's fee must be known before it is booked")
    gross, fee = inp.amount.amount, inp.fee.amount
    if gross <= 0:
        raise InvalidAmount(f"a collection amount must be greater than zero, got {gross}")
    if inp.fee.currency != inp.amount.currency or not 0 <= fee < gross:
        raise InvalidAmount(
            f"a collection's fee must be in {inp.amount.currency}, at least zero and below "
            f"the amount {gross}, got {fee} {inp.fee.currency}"
        )
    clearing = provider_clearing(inp.provider)
    postings = [
        Posting(account=clearing, amount=-gross),
        Posting(account=merchant_available(inp.merchant_id), amount=gross - fee),
        Posting(account=collection_refundable(inp.collection_id), amount=gross),
        Posting(account=EXTERNAL_REFUND_CAPACITY, amount=-gross),
    ]
    if fee:
        postings.append(Posting(account=provider_fees(inp.provider), amount=fee))
    return JournalEntryRequest(
        idempotency_key=collection_key(inp.collection_id, "settle"),
        kind=KIND_COLLECTION_SETTLE,
        reference=inp.collection_id,
        currency=inp.amount.currency,
        postings=postings,
        may_go_negative=[clearing, EXTERNAL_REFUND_CAPACITY],
        settlement=provider_transaction(
            inp.provider,
            LineKind.COLLECTION,
            collection_workflow_id(inp.collection_id),
            LineStatus.SUCCEEDED,
            inp.amount,
            fee,
            inp.provider_transaction_id,
            inp.occurred_at,
        ),
    )


def book_cash_payment(inp: CashOrderLedgerInput) -> JournalEntryRequest:
    """Book a cash payment the network confirmed: owed by the network, pending settlement.

    The merchant's money waits in ``pending_settlement`` until the network settles it;
    the order becomes refundable (by bank transfer) for what was paid.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    gross = inp.amount.amount
    if gross <= 0:
        raise InvalidAmount(f"a cash payment must be greater than zero, got {gross}")
    clearing = provider_clearing(inp.provider)
    return JournalEntryRequest(
        idempotency_key=cash_order_key(inp.order_id, "paid"),
        kind=KIND_CASH_PAID,
        reference=inp.order_id,
        currency=inp.amount.currency,
        postings=[
            Posting(account=clearing, amount=-gross),
            Posting(account=merchant_pending_settlement(inp.merchant_id), amount=gross),
            Posting(account=cash_order_refundable(inp.order_id), amount=gross),
            Posting(account=EXTERNAL_REFUND_CAPACITY, amount=-gross),
        ],
        may_go_negative=[clearing, EXTERNAL_REFUND_CAPACITY],
    )


def settle_cash_payment(inp: CashOrderLedgerInput) -> JournalEntryRequest:
    """The network settled a booked cash payment: the merchant's share is available.

    Raises:
        InvalidAmount: the fee is unknown, negative, not below the amount, or in another
            currency.
    """
    if inp.fee is None:
        raise InvalidAmount("a cash payment's fee must be known before it settles")
    gross, fee = inp.amount.amount, inp.fee.amount
    if inp.fee.currency != inp.amount.currency or not 0 <= fee < gross:
        raise InvalidAmount(
            f"a cash payment's fee must be in {inp.amount.currency}, at least zero and below "
            f"the amount {gross}, got {fee} {inp.fee.currency}"
        )
    pending = merchant_pending_settlement(inp.merchant_id)
    postings = [
        Posting(account=pending, amount=-gross),
        Posting(account=merchant_available(inp.merchant_id), amount=gross - fee),
    ]
    if fee:
        postings.append(Posting(account=provider_fees(inp.provider), amount=fee))
    return JournalEntryRequest(
        idempotency_key=cash_order_key(inp.order_id, "settle"),
        kind=KIND_CASH_SETTLE,
        reference=inp.order_id,
        currency=inp.amount.currency,
        postings=postings,
        requires=[
            Requirement(
                key=cash_order_key(inp.order_id, "paid"),
                account=pending,
                amount=gross,
                currency=inp.amount.currency,
            )
        ],
        settlement=provider_transaction(
            inp.provider,
            LineKind.CASH_PAYMENT,
            cash_order_workflow_id(inp.order_id),
            LineStatus.SUCCEEDED,
            inp.amount,
            fee,
            inp.provider_transaction_id,
            inp.occurred_at,
        ),
    )


def reserve_refund(inp: RefundLedgerInput) -> JournalEntryRequest:
    """Hold a refund's amount before it is sent: available -> refunds payable.

    It also takes the amount off the collection's refundable counter. Posting it raises
    ``LedgerError`` unless the collection was settled, and ``InsufficientFunds`` naming
    the refundable account when the refunds would exceed what was paid (or naming the
    merchant's available account when the merchant has too little money).

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _refund_entry(
        inp,
        "reserve",
        KIND_REFUND_RESERVE,
        merchant_available(inp.merchant_id),
        merchant_refunds_payable(inp.merchant_id),
        refundable=-1,
        requires=[Requirement(key=_original_booking(inp))],
    )


def settle_refund(inp: RefundLedgerInput) -> JournalEntryRequest:
    """Hand a processed refund to the provider: refunds payable -> provider clearing.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _refund_entry(
        inp,
        "settle",
        KIND_REFUND_SETTLE,
        merchant_refunds_payable(inp.merchant_id),
        provider_clearing(inp.provider),
        requires=[_refund_reservation(inp)],
        excludes=[refund_key(inp.refund_id, "release")],
        status=LineStatus.SUCCEEDED,
    )


def release_refund(inp: RefundLedgerInput) -> JournalEntryRequest:
    """Give a failed refund back exactly: refunds payable -> available, refundable again.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    return _refund_entry(
        inp,
        "release",
        KIND_REFUND_RELEASE,
        merchant_refunds_payable(inp.merchant_id),
        merchant_available(inp.merchant_id),
        refundable=+1,
        requires=[_refund_reservation(inp)],
        excludes=[refund_key(inp.refund_id, "settle")],
        status=LineStatus.FAILED,
    )


def reverse_refund(inp: RefundLedgerInput) -> JournalEntryRequest:
    """Undo a processed refund the provider reversed: the money is the merchant's again.

    Raises:
        InvalidAmount: the amount is not positive.
    """
    clearing = provider_clearing(inp.provider)
    return _refund_entry(
        inp,
        "reverse",
        KIND_REFUND_REVERSE,
        clearing,
        merchant_available(inp.merchant_id),
        refundable=+1,
        requires=[
            Requirement(
                key=refund_key(inp.refund_id, "settle"),
                account=clearing,
                amount=inp.amount.amount,
                currency=inp.amount.currency,
            )
        ],
        may_go_negative=[clearing],
        status=LineStatus.REVERSED,
    )


def _original_booking(inp: RefundLedgerInput) -> str:
    """The key of the entry that booked the refund's original (it must exist)."""
    if inp.origin is RefundOrigin.CASH_ORDER:
        return cash_order_key(inp.collection_id, "paid")
    return collection_key(inp.collection_id, "settle")


def _refund_reservation(inp: RefundLedgerInput) -> Requirement:
    """The refund's reserve entry, which must have held this very amount."""
    return Requirement(
        key=refund_key(inp.refund_id, "reserve"),
        account=merchant_refunds_payable(inp.merchant_id),
        amount=inp.amount.amount,
        currency=inp.amount.currency,
    )


def _refund_entry(
    inp: RefundLedgerInput,
    step: str,
    kind: str,
    source: str,
    destination: str,
    *,
    refundable: int = 0,
    requires: list[Requirement] | None = None,
    excludes: list[str] | None = None,
    may_go_negative: list[str] | None = None,
    status: LineStatus | None = None,
) -> JournalEntryRequest:
    """One refund step: its amount from ``source`` to ``destination``.

    ``refundable`` -1 takes the amount off the collection's refundable counter, +1 puts
    it back, 0 leaves it. ``status``: the final status at the provider this step books.
    """
    amount = inp.amount.amount
    if amount <= 0:
        raise InvalidAmount(f"a refund amount must be greater than zero, got {amount}")
    postings = [
        Posting(account=source, amount=-amount),
        Posting(account=destination, amount=amount),
    ]
    negative = list(may_go_negative or [])
    if refundable:
        postings += [
            Posting(
                account=refundable_account(inp.origin, inp.collection_id),
                amount=refundable * amount,
            ),
            Posting(account=EXTERNAL_REFUND_CAPACITY, amount=-refundable * amount),
        ]
        negative.append(EXTERNAL_REFUND_CAPACITY)
    return JournalEntryRequest(
        idempotency_key=refund_key(inp.refund_id, step),
        kind=kind,
        reference=inp.refund_id,
        currency=inp.amount.currency,
        postings=postings,
        requires=requires or [],
        excludes=excludes or [],
        may_go_negative=negative,
        settlement=None
        if status is None
        else provider_transaction(
            inp.provider,
            LineKind.REFUND,
            refund_workflow_id(inp.refund_id),
            status,
            inp.amount,
            0,
            inp.provider_transaction_id,
            inp.occurred_at,
        ),
    )


def card_key(card_id: str, step: CardLedgerStepKind, key: str) -> str:
    """Idempotency key of a card's ledger step: ``card:{card_id}:{step}:{key}``."""
    return f"card:{card_id}:{step.value}:{key}"


def card_entry(inp: CardLedgerInput) -> JournalEntryRequest:
    """The entry of one card step (see the module docstring's table).

    Raises:
        InvalidAmount: the amount is not positive, or a capture's hold part is outside
            0..amount.
    """
    step = inp.step
    amount = step.amount
    if amount <= 0:
        raise InvalidAmount("a card ledger step moves a positive amount")
    available, holds = card_available(inp.card_id), card_holds(inp.card_id)
    settlement = card_settlement(inp.provider)
    may_go_negative: list[str] = []
    moves: list[tuple[str, int]]
    match step.kind:
        case CardLedgerStepKind.FUND:
            moves = [(merchant_available(inp.merchant_id), -amount), (available, amount)]
        case CardLedgerStepKind.HOLD:
            moves = [(available, -amount), (holds, amount)]
        case CardLedgerStepKind.CAPTURE:
            if not 0 <= step.from_hold <= amount:
                raise InvalidAmount("a capture takes between nothing and all of it from its hold")
            moves = [
                (holds, -step.from_hold),
                (available, -(amount - step.from_hold)),
                (settlement, amount),
            ]
            if step.from_hold < amount:
                may_go_negative.append(available)
        case CardLedgerStepKind.RELEASE:
            moves = [(holds, -amount), (available, amount)]
        case CardLedgerStepKind.REFUND:
            moves = [(settlement, -amount), (available, amount)]
            may_go_negative.append(settlement)
        case CardLedgerStepKind.RETURN:
            moves = [(available, -amount), (merchant_available(inp.merchant_id), amount)]
    return JournalEntryRequest(
        idempotency_key=card_key(inp.card_id, step.kind, step.key),
        kind=KIND_CARD[step.kind],
        reference=inp.card_id,
        currency=inp.currency,
        # A part of zero (a capture wholly from its hold) is left out: the ledger refuses it.
        postings=[Posting(account=account, amount=value) for account, value in moves if value],
        may_go_negative=may_go_negative,
        settlement=_card_transaction(inp),
    )


def _card_transaction(inp: CardLedgerInput) -> ProviderTransaction | None:
    """A capture or refund is the issuer's transaction (its token), for reconciliation.

    The issuer's report names the card, not the transaction, as its reference: the two
    are matched by the token, so our reference only has to be unique.
    """
    kind = {
        CardLedgerStepKind.CAPTURE: LineKind.CARD_CAPTURE,
        CardLedgerStepKind.REFUND: LineKind.CARD_REFUND,
    }.get(inp.step.kind)
    if kind is None:
        return None
    return provider_transaction(
        inp.provider,
        kind,
        f"card-{inp.card_id}:{inp.step.key}",
        LineStatus.SUCCEEDED,
        Money(amount=inp.step.amount, currency=inp.currency),
        0,
        inp.step.key,
        inp.occurred_at,
    )
