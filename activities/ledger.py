"""Ledger activities: a payout's reserve, settle and release; a collection's settle; a
refund's reserve, settle, release and reverse.

Each activity posts the entry of one recipe of ``domain/recipes.py`` through
``Ledger.post``; its idempotency key derives from the payout id
(``payout:{payout_id}:reserve|settle|release``), so a retry after a crash, a timeout or a
lost completion finds the entry already posted and returns it (``created=False``) instead
of moving money twice. The rules (funds cover the reservation, settle and release need
the reservation and exclude each other) are the recipes' conditions, which the ledger
enforces.

Activities:
    reserve_funds: merchant available -> merchant reserved. Fails for good with
        ``InsufficientFunds`` when the available balance cannot cover the amount.
    settle_payout: merchant reserved -> provider clearing, once the provider paid out.
        Fails for good with ``ReferenceConflict`` if the payout was released, and with
        ``LedgerError`` if it was never reserved.
    release_funds: merchant reserved -> merchant available, when the payout failed.
        Fails for good with ``ReferenceConflict`` if the payout was settled, and with
        ``LedgerError`` if it was never reserved.

``post_card_entries`` posts the steps a card's workflow decided, keyed
``card:{card_id}:{step}:{key}`` (``recipes.card_entry``).

``book_cash_payment`` and ``settle_cash_payment`` book a cash order's payment when the
network confirms it and release the merchant's share when it settles
(``cash_order:{id}:paid|settle``).

The collection and refund activities follow the same rules with their own recipes
(``collection:{id}:settle``, ``refund:{id}:reserve|settle|release|reverse``).
``reserve_refund`` fails for good with ``RefundAmountExceeded`` when the refunds of the
collection would exceed what was paid, and with ``InsufficientFunds`` when the merchant
has too little money.

Settling, releasing and reversing steps also record the provider's transaction they book
(``provider_transactions``, for reconciliation) in the same database transaction, at the
provider's time from the input or, without one, the posting's.

Retry semantics: domain errors (``PaymentsError`` that are not ``retryable``) become
``ApplicationError(type=<error type>, non_retryable=True)``; retrying cannot change
their outcome. Everything else (database unreachable, lock timeout, deadlock) propagates
unchanged so the activity's retry policy retries it, which the idempotency keys make safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.db.ledger import Ledger
from payments_engine.domain import recipes
from payments_engine.domain.card import CardLedgerBatch, CardLedgerInput
from payments_engine.domain.errors import InsufficientFunds, PaymentsError, RefundAmountExceeded
from payments_engine.domain.ledger import (
    CashOrderLedgerInput,
    CollectionLedgerInput,
    JournalEntryRequest,
    PayoutLedgerInput,
    PostedEntry,
    RefundLedgerInput,
    fee_at_rate,
    refundable_account,
)

LedgerInput = TypeVar(
    "LedgerInput",
    PayoutLedgerInput,
    CollectionLedgerInput,
    RefundLedgerInput,
    CardLedgerInput,
    CashOrderLedgerInput,
)


class LedgerActivities:
    """The ledger activities, bound to one :class:`~db.ledger.Ledger`.

    Args:
        ledger: the ledger to post to; built (with its engine) by the worker.
        collection_fee_bps: provider name -> its collection fee in basis points, for
            collections whose provider stated no fee.
    """

    def __init__(self, ledger: Ledger, collection_fee_bps: Mapping[str, int] | None = None) -> None:
        self._ledger = ledger
        self._collection_fee_bps = collection_fee_bps or {}

    @activity.defn
    async def reserve_funds(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Hold the payout's amount on the merchant's reserved account.

        Raises:
            ApplicationError: non-retryable, type ``InsufficientFunds``, ``InvalidAmount``
                or ``ReferenceConflict``.
        """
        return await self._post(recipes.reserve_payout, inp, inp.payout_id)

    @activity.defn
    async def settle_payout(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Move the reserved amount to the provider's clearing account.

        Raises:
            ApplicationError: non-retryable, type ``ReferenceConflict``, ``LedgerError``
                or ``InvalidAmount``.
        """
        return await self._post(recipes.settle_payout, inp, inp.payout_id)

    @activity.defn
    async def release_funds(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Give the reserved amount back to the merchant's available balance.

        Raises:
            ApplicationError: non-retryable, type ``ReferenceConflict``, ``LedgerError``
                or ``InvalidAmount``.
        """
        return await self._post(recipes.release_payout, inp, inp.payout_id)

    @activity.defn
    async def settle_collection(self, inp: CollectionLedgerInput) -> PostedEntry:
        """Book a confirmed collection: merchant's share, provider's fee, refundable.

        Raises:
            ApplicationError: non-retryable, type ``InvalidAmount`` or ``ReferenceConflict``.
        """
        if inp.fee is None:
            # The provider's answer stated no fee: its configured rate applies.
            rate = self._collection_fee_bps.get(inp.provider, 0)
            inp = inp.model_copy(update={"fee": fee_at_rate(inp.amount, rate)})
        return await self._post(recipes.settle_collection, inp, inp.collection_id)

    @activity.defn
    async def book_cash_payment(self, inp: CashOrderLedgerInput) -> PostedEntry:
        """Book a confirmed cash payment: owed by the network, pending settlement.

        Raises:
            ApplicationError: non-retryable, type ``InvalidAmount`` or ``ReferenceConflict``.
        """
        return await self._post(recipes.book_cash_payment, inp, inp.order_id)

    @activity.defn
    async def settle_cash_payment(self, inp: CashOrderLedgerInput) -> PostedEntry:
        """The network settled: the merchant's share becomes available, its fee taken.

        Raises:
            ApplicationError: non-retryable, type ``InvalidAmount``, ``LedgerError`` (never
                booked) or ``ReferenceConflict``.
        """
        if inp.fee is None:
            rate = self._collection_fee_bps.get(inp.provider, 0)
            inp = inp.model_copy(update={"fee": fee_at_rate(inp.amount, rate)})
        return await self._post(recipes.settle_cash_payment, inp, inp.order_id)

    @activity.defn
    async def reserve_refund(self, inp: RefundLedgerInput) -> PostedEntry:
        """Hold a refund's amount before it is sent, within what the payer paid.

        Raises:
            ApplicationError: non-retryable, type ``RefundAmountExceeded``,
                ``InsufficientFunds``, ``LedgerError`` (collection not settled),
                ``ReferenceConflict`` or ``InvalidAmount``.
        """
        try:
            return await self._ledger.post(recipes.reserve_refund(inp))
        except InsufficientFunds as exc:
            if exc.account != refundable_account(inp.origin, inp.collection_id):
                raise self._refused(exc, inp.refund_id) from exc
            exceeded = RefundAmountExceeded(
                f"refund {inp.refund_id} of {inp.amount} would take the refunds of "
                f"{inp.origin.value.replace('_', ' ')} {inp.collection_id} above what was paid"
            )
            raise self._refused(exceeded, inp.refund_id) from exc
        except PaymentsError as exc:
            if exc.retryable:
                raise
            raise self._refused(exc, inp.refund_id) from exc

    @activity.defn
    async def settle_refund(self, inp: RefundLedgerInput) -> PostedEntry:
        """Hand a processed refund's amount to the provider's clearing account."""
        return await self._post(recipes.settle_refund, inp, inp.refund_id)

    @activity.defn
    async def release_refund(self, inp: RefundLedgerInput) -> PostedEntry:
        """Give a failed refund's amount back to the merchant, refundable again."""
        return await self._post(recipes.release_refund, inp, inp.refund_id)

    @activity.defn
    async def reverse_refund(self, inp: RefundLedgerInput) -> PostedEntry:
        """Undo a refund the provider reversed: the money is the merchant's again."""
        return await self._post(recipes.reverse_refund, inp, inp.refund_id)

    @activity.defn
    async def post_card_entries(self, batch: CardLedgerBatch) -> int:
        """Post the steps a card decided (fund, hold, capture, release, refund, return), in order.

        Each step is its own idempotent entry, so a retried batch skips what an earlier
        attempt posted; batching only saves the card's history an activity per step.

        Returns:
            How many entries this attempt created.

        Raises:
            ApplicationError: non-retryable, type ``InsufficientFunds`` (a funding the
                platform's balance cannot cover), ``ReferenceConflict`` or ``InvalidAmount``.
        """
        created = 0
        for step in batch.steps:
            inp = CardLedgerInput(
                card_id=batch.card_id,
                merchant_id=batch.merchant_id,
                provider=batch.provider,
                currency=batch.currency,
                step=step,
            )
            posted = await self._post(recipes.card_entry, inp, batch.card_id)
            created += posted.created
        return created

    async def _post(
        self,
        recipe: Callable[[LedgerInput], JournalEntryRequest],
        inp: LedgerInput,
        business_id: str,
    ) -> PostedEntry:
        """Post the recipe's entry; business failures become final ApplicationErrors."""
        if getattr(inp, "occurred_at", False) is None:
            # The provider stated no time: the transaction is on the books from now.
            inp = inp.model_copy(update={"occurred_at": datetime.now(UTC)})
        try:
            return await self._ledger.post(recipe(inp))
        except PaymentsError as exc:
            if exc.retryable:
                raise
            raise self._refused(exc, business_id) from exc

    @staticmethod
    def _refused(exc: PaymentsError, business_id: str) -> ApplicationError:
        """An expected outcome (e.g. too little money): one line here, and BENIGN so the
        SDK does not log it again as a failure with a traceback."""
        info = activity.info()
        activity.logger.info("%s of %s refused: %s", info.activity_type, business_id, exc.type)
        return ApplicationError(
            str(exc),
            type=exc.type,
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,
        )
