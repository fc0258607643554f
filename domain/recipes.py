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

Settle credits the provider's clearing account, so only ``external:*`` accounts are ever
allowed below zero.

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

from payments_engine.domain.errors import InvalidAmount
from payments_engine.domain.ledger import (
    EXTERNAL_BANK,
    FundMerchantInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    Posting,
    Requirement,
    merchant_available,
    merchant_reserved,
    provider_clearing,
)

KIND_FUNDING = "funding"
KIND_PAYOUT_RESERVE = "payout_reserve"
KIND_PAYOUT_SETTLE = "payout_settle"
KIND_PAYOUT_RELEASE = "payout_release"


def payout_key(payout_id: str, step: str) -> str:
    """Idempotency key of a payout's ledger step (``reserve``, ``settle``, ``release``)."""
    return f"payout:{payout_id}:{step}"


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
) -> JournalEntryRequest:
    """The entry of one payout step: its amount from ``source`` to ``destination``."""
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
    )
