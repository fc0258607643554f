"""Ledger activities of a payout: reserve its funds, settle it, or release the reservation.

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

Retry semantics: domain errors (``PaymentsError`` that are not ``retryable``) become
``ApplicationError(type=<error type>, non_retryable=True)``; retrying cannot change
their outcome. Everything else (database unreachable, lock timeout, deadlock) propagates
unchanged so the activity's retry policy retries it, which the idempotency keys make safe.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from payments_engine.db.ledger import Ledger
from payments_engine.domain import recipes
from payments_engine.domain.errors import PaymentsError
from payments_engine.domain.ledger import JournalEntryRequest, PayoutLedgerInput, PostedEntry


class LedgerActivities:
    """The payout ledger activities, bound to one :class:`~db.ledger.Ledger`.

    Args:
        ledger: the ledger to post to; built (with its engine) by the worker.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn
    async def reserve_funds(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Hold the payout's amount on the merchant's reserved account.

        Raises:
            ApplicationError: non-retryable, type ``InsufficientFunds``, ``InvalidAmount``
                or ``ReferenceConflict``.
        """
        return await self._post(recipes.reserve_payout, inp)

    @activity.defn
    async def settle_payout(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Move the reserved amount to the provider's clearing account.

        Raises:
            ApplicationError: non-retryable, type ``ReferenceConflict``, ``LedgerError``
                or ``InvalidAmount``.
        """
        return await self._post(recipes.settle_payout, inp)

    @activity.defn
    async def release_funds(self, inp: PayoutLedgerInput) -> PostedEntry:
        """Give the reserved amount back to the merchant's available balance.

        Raises:
            ApplicationError: non-retryable, type ``ReferenceConflict``, ``LedgerError``
                or ``InvalidAmount``.
        """
        return await self._post(recipes.release_payout, inp)

    async def _post(
        self, recipe: Callable[[PayoutLedgerInput], JournalEntryRequest], inp: PayoutLedgerInput
    ) -> PostedEntry:
        """Post the recipe's entry; business failures become final ApplicationErrors."""
        try:
            return await self._ledger.post(recipe(inp))
        except PaymentsError as exc:
            if exc.retryable:
                raise
            # An expected outcome (e.g. too little money): one line here, and BENIGN so
            # the SDK does not log it again as a failure with a traceback.
            info = activity.info()
            activity.logger.info(
                "%s of %s refused: %s", info.activity_type, inp.payout_id, exc.type
            )
            raise ApplicationError(
                str(exc),
                type=exc.type,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from exc
