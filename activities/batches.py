"""Batch payout activities: the batch's lines, claimed a page at a time, and its alerts.

The lines are in the database (``BatchStore``), written once when the batch is
submitted; the workflow keeps none of them in its history. ``claim_lines`` marks the
lines it returns running in the same transaction, so a line is started by one run of
the batch only; ``release_lines`` puts back lines claimed but not started (their group
paused meanwhile); ``record_outcomes`` writes how lines ended (the result file);
``cancel_pending`` cancels the lines never started. ``alert_breaker`` tells the
merchant's people a group of the batch was paused by its breaker.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from payments_engine.activities.hooks import raise_alert
from payments_engine.db.batches import BatchStore
from payments_engine.domain.batch import (
    BatchAlert,
    CancelPendingInput,
    ClaimedLine,
    ClaimedPage,
    ClaimInput,
    CurrencyTotal,
    RecordInput,
    ReleaseInput,
    line_groups,
)
from payments_engine.domain.errors import PaymentsError

ALERT_KIND = "batch_breaker"


class BatchDescription(BaseModel):
    """Output of ``describe_batch``: its size and totals."""

    batch_id: str
    merchant_id: str
    lines: int
    totals: list[CurrencyTotal]


class BatchActivities:
    """The batch activities, on the store and the merchant's hooks the worker built.

    Args:
        store: the batches and their lines.
        hooks: the merchant's alert hook; None raises no alert.
    """

    def __init__(self, store: BatchStore, hooks: httpx.AsyncClient | None = None) -> None:
        self._store = store
        self._hooks = hooks

    @activity.defn
    async def describe_batch(self, batch_id: str) -> BatchDescription:
        """The stored batch's size and totals.

        Raises:
            ApplicationError: final, type ``BatchNotFound``, if no such batch is stored.
        """
        stored = await self._store.get(batch_id)
        if stored is None:
            raise ApplicationError(
                f"no batch {batch_id!r} is stored", type="BatchNotFound", non_retryable=True
            )
        return BatchDescription(
            batch_id=stored.batch_id,
            merchant_id=stored.merchant_id,
            lines=stored.lines,
            totals=list(stored.totals),
        )

    @activity.defn
    async def claim_lines(self, inp: ClaimInput) -> ClaimedPage:
        """The next pending lines after ``after_line``, none of ``skip_groups``, now running."""
        claimed = await self._store.claim(
            inp.batch_id, inp.after_line, inp.limit, skip_groups=inp.skip_groups, token=inp.token
        )
        try:
            lines = [
                ClaimedLine(
                    line_no=line.line_no,
                    groups=line_groups(line.country, line.provider),
                    request=line.payout_request(inp.batch_id, inp.merchant_id),
                )
                for line in claimed.lines
            ]
        except (PaymentsError, ValueError) as exc:
            # Lines were validated when stored: a line that no longer validates is a bug
            # or a tampered row, never paid on a guess.
            raise ApplicationError(
                f"batch {inp.batch_id}: a stored line no longer validates: {type(exc).__name__}",
                type="BatchLineInvalid",
                non_retryable=True,
            ) from None
        return ClaimedPage(lines=lines, last_line=claimed.last_line, exhausted=claimed.exhausted)

    @activity.defn
    async def release_lines(self, inp: ReleaseInput) -> int:
        """Lines claimed but never started go back to pending."""
        return await self._store.release(inp.batch_id, inp.line_nos)

    @activity.defn
    async def record_outcomes(self, inp: RecordInput) -> int:
        """Write how lines ended (idempotent)."""
        return await self._store.record(inp.batch_id, inp.outcomes)

    @activity.defn
    async def cancel_pending(self, inp: CancelPendingInput) -> int:
        """Cancel the lines never started (all, or those of some groups); how many."""
        return await self._store.cancel_pending(inp.batch_id, inp.groups)

    @activity.defn
    async def alert_breaker(self, alert: BatchAlert) -> bool:
        """Tell the merchant's alert hook a group of the batch paused itself.

        Returns:
            False when no hook is configured.

        Raises:
            ApplicationError: retryable while the hook is unreachable or answers 5xx;
                final when it refuses (4xx).
        """
        if self._hooks is None:
            return False
        await raise_alert(
            self._hooks,
            alert.key,
            ALERT_KIND,
            f"batch {alert.batch_id}: {alert.group} paused",
            f"{alert.failed} of the last {alert.window} payouts of {alert.group} in batch "
            f"{alert.batch_id} failed: its remaining lines wait for an operator "
            f"(payments payout batch-resume {alert.batch_id} --group {alert.group})",
            alert.model_dump(mode="json"),
        )
        return True
