"""The wait for a provider's final, verified answer, shared by every money-moving workflow.

A webhook is a hint; the provider's status API is the truth. :class:`ProviderWait` is
the loop every process runs between submitting to a provider and moving money:

* webhooks arrive through :meth:`ProviderWait.receive` (the workflow's signal handler)
  and are queued, never applied inside the handler;
* a webhook whose reference, amount or currency differs from ours is refused (flag
  ``provider_mismatch``) and never moves money;
* a final (or "something changed") webhook is confirmed by a status query, and what the
  query says is applied; a webhook the query contradicts is refused (flag
  ``provider_contradiction``) and the wait goes on;
* answers of the status API and of the submit call are authoritative; a final one whose
  amount or currency differs from ours holds the payment for an operator;
* without news it polls on a backoff timer; at the deadline it flags
  ``deadline_passed`` and polls slowly until the provider or an operator decides.

A refused report is kept as :class:`~domain.events.Evidence` and logged in one line
without personal data. Deterministic: no I/O here, only timers and the status-query
callback the workflow passes in (an activity).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from payments_engine.domain.events import (
        EventSource,
        Evidence,
        ProviderEvent,
        ReviewFlag,
        TransferOutcome,
    )
    from payments_engine.domain.money import Money

FIRST_POLL_INTERVAL = timedelta(seconds=30)
MAX_POLL_INTERVAL = timedelta(minutes=15)
REVIEW_POLL_INTERVAL = timedelta(hours=6)
# A flood of refused webhooks must not grow the workflow's state without bound.
MAX_EVIDENCE = 20


def failure_cause(err: ActivityError | ApplicationError) -> ApplicationError | None:
    """The ApplicationError an activity failed with: a failed local activity raises it
    itself, a regular one wraps it in an ActivityError."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause if isinstance(cause, ApplicationError) else None


StatusQuery = Callable[[], Awaitable[ProviderEvent | None]]
"""Asks the provider's status API; None when it has no record. Raises ActivityError."""


class ProviderWait:
    """Waits for a provider's final, verified answer about one transfer.

    Args:
        subject: how logs name the payment (its business id, never personal data).
        reference: our reference at the provider (the workflow id).
        expected: the amount and currency we asked the provider to move.
        query: the status query (an activity call with its timeouts and retries).
        on_change: called after every change of state, to refresh the workflow's view.
    """

    def __init__(
        self,
        *,
        subject: str,
        reference: str,
        expected: Money,
        query: StatusQuery,
        on_change: Callable[[], None],
    ) -> None:
        """Start with nothing received."""
        self._subject = subject
        self._reference = reference
        self._expected = expected
        self._query_provider = query
        self._on_change = on_change
        self._inbox: list[ProviderEvent] = []
        self._seen: set[str] = set()
        self.final: ProviderEvent | None = None
        """The verified final report, once there is one."""
        self.latest: ProviderEvent | None = None
        """The last report applied (pending or final), for the view."""
        self.flags: list[ReviewFlag] = []
        self.evidence: list[Evidence] = []
        self.webhooks_received = 0
        self.status_queries = 0
        self.held = False
        """The provider's own API reported a final status for another amount or
        currency: nothing moves until an operator decides."""
        self.no_record = False
        """The provider's status API answered that it has no record of the transfer (at
        its latest answer): an operator may then decide without waiting for the
        deadline."""

    def view_fields(
        self, transaction_id_field: str = "provider_transaction_id"
    ) -> dict[str, object]:
        """What a payment's view shows of this wait, as a ``model_copy`` update.

        Counts, review flags and evidence, and from the latest report its provider status,
        the provider's id (under ``transaction_id_field``) and, if it failed, the failure.
        """
        fields: dict[str, object] = {
            "status_queries": self.status_queries,
            "events_applied": self.webhooks_received,
            "review_flags": list(self.flags),
            "evidence": list(self.evidence),
        }
        report = self.latest
        if report is not None:
            fields["provider_status"] = report.provider_status
            if report.provider_transaction_id:
                fields[transaction_id_field] = report.provider_transaction_id
            if report.outcome is TransferOutcome.FAILED:
                fields["failure_code"] = report.failure_code
                fields["failure_message"] = report.message
        return fields

    @property
    def needs_review(self) -> bool:
        """True when a person should look: a deadline passed or a report was refused."""
        return bool(self.flags) and self.final is None

    def receive(self, event: ProviderEvent) -> None:
        """Queue a webhook for the loop; repeats of an event id are dropped here."""
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        self.webhooks_received += 1
        self._inbox.append(event)
        self._on_change()

    def accept(self, report: ProviderEvent, source: EventSource) -> None:
        """Apply an authoritative report (status API or submit answer) if it is ours.

        A final report for another amount or currency holds the payment for an
        operator; a pending one is only flagged.
        """
        if self.final is not None:
            if report.outcome.is_final and report.outcome != self.final.outcome:
                workflow.logger.error(
                    "%s: provider reported %s after %s",
                    self._subject,
                    report.provider_status,
                    self.final.provider_status,
                )
            return
        problem = report.mismatch(self._reference, self._expected)
        if problem is not None:
            if report.outcome.is_final:
                self.held = True
            self._refuse(report, source, ReviewFlag.PROVIDER_MISMATCH, problem)
            return
        if report.outcome is TransferOutcome.CHANGED:
            return
        self.latest = report
        if report.outcome.is_final:
            self.final = report
        self._on_change()

    async def run(
        self,
        deadline: datetime,
        decided: Callable[[], bool],
        *,
        stop_at_deadline: bool = False,
        first_interval: timedelta = FIRST_POLL_INTERVAL,
        max_interval: timedelta = MAX_POLL_INTERVAL,
    ) -> None:
        """Wait until the provider's verified final answer, or an operator's decision.

        Args:
            deadline: after it, the payment is flagged ``deadline_passed`` and polled
                every 6 h instead of on the backoff.
            decided: True once an operator has decided (the loop then returns).
            stop_at_deadline: return at the deadline instead (a collection's approval
                window), after asking the provider once more: an answer can race it.
            first_interval: the first poll's delay without news; it doubles each time.
            max_interval: the longest delay between polls before the deadline.
        """
        interval = first_interval
        while True:
            await self._drain()
            if self.final is not None or decided():
                return
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0) and stop_at_deadline:
                if not self.held:
                    await self._poll()
                return
            if remaining <= timedelta(0) and ReviewFlag.DEADLINE_PASSED not in self.flags:
                self.flags.append(ReviewFlag.DEADLINE_PASSED)
                workflow.logger.warning("%s needs review: deadline passed", self._subject)
                self._on_change()
            late = remaining <= timedelta(0)
            timeout = REVIEW_POLL_INTERVAL if late or self.held else min(interval, remaining)
            if await self._wait(timeout, decided):
                continue
            if not self.held:
                await self._poll()
            if not late:
                interval = min(interval * 2, max_interval)

    async def recheck(self) -> None:
        """Ask the provider now (an operator's request) and apply a verified answer.

        The loop in :meth:`run` wakes up when this finds a final answer.
        """
        await self._poll()

    async def _wait(self, timeout: timedelta, decided: Callable[[], bool]) -> bool:
        """Wait for a webhook, a decision or a recheck's answer; False when the timer fired."""
        try:
            await workflow.wait_condition(
                lambda: bool(self._inbox) or decided() or self.final is not None,
                timeout=timeout,
            )
        except TimeoutError:
            return False
        return True

    async def _drain(self) -> None:
        while self._inbox and self.final is None and not self.held:
            await self._consider(self._inbox.pop(0))
        if self.final is not None or self.held:
            # Nothing queued can change a verified answer or a hold any more.
            self._inbox.clear()

    async def _consider(self, hint: ProviderEvent) -> None:
        """Act on one webhook: refuse it, note it, or confirm it with a status query."""
        problem = hint.mismatch(self._reference, self._expected)
        if problem is not None:
            self._refuse(hint, EventSource.WEBHOOK, ReviewFlag.PROVIDER_MISMATCH, problem)
            return
        if hint.outcome is TransferOutcome.PENDING:
            self.accept(hint, EventSource.WEBHOOK)
            return
        if not hint.needs_confirmation and hint.outcome.is_final:
            # The provider's adapter vouches for its webhooks (its policy).
            self.accept(hint, EventSource.WEBHOOK)
            return
        asked, truth = await self._ask()
        if not asked:
            # Could not ask now: the poll timer asks again, and the hint is not applied.
            return
        if truth is None:
            self._refuse(
                hint,
                EventSource.WEBHOOK,
                ReviewFlag.PROVIDER_CONTRADICTION,
                "the provider's status API has no record of the transfer",
            )
            return
        self.accept(truth, EventSource.STATUS_QUERY)
        if not hint.outcome.is_final or self.held:
            return
        if self.final is None or self.final.outcome != hint.outcome:
            self._refuse(
                hint,
                EventSource.WEBHOOK,
                ReviewFlag.PROVIDER_CONTRADICTION,
                f"webhook says {hint.provider_status}; "
                f"the provider's status API says {truth.provider_status}",
            )

    async def _poll(self) -> None:
        asked, truth = await self._ask()
        if asked and truth is not None:
            self.accept(truth, EventSource.STATUS_QUERY)

    async def _ask(self) -> tuple[bool, ProviderEvent | None]:
        """Query the provider; (False, None) when the query failed after its retries."""
        try:
            truth = await self._query_provider()
        except ActivityError as err:
            # One failed query is not a verdict: the next timer asks again.
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(err)
            workflow.logger.warning("%s: status query failed: %s", self._subject, reason)
            self.status_queries += 1
            self._on_change()
            return False, None
        self.status_queries += 1
        self.no_record = truth is None
        self._on_change()
        return True, truth

    def _refuse(
        self, report: ProviderEvent, source: EventSource, flag: ReviewFlag, detail: str
    ) -> None:
        """Keep a report that must not move money as evidence, and flag the payment."""
        if flag not in self.flags:
            self.flags.append(flag)
        seen = any(e.event_id == report.event_id and e.flag is flag for e in self.evidence)
        if not seen and len(self.evidence) < MAX_EVIDENCE:
            self.evidence.append(
                Evidence(
                    flag=flag,
                    source=source,
                    event_id=report.event_id,
                    provider_status=report.provider_status,
                    detail=detail,
                    at=workflow.now(),
                )
            )
        workflow.logger.warning(
            "%s: %s %s (%s) not applied: %s: %s",
            self._subject,
            source.value,
            report.event_id,
            report.provider_status,
            flag.value,
            detail,
        )
        self._on_change()
