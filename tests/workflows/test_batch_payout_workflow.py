"""BatchPayoutWorkflow on the time-skipping test server, with its children for real.

The batch activities are fakes registered under the real names (``describe_batch``,
``claim_lines``, ``release_lines``, ``record_outcomes``, ``cancel_pending``,
``alert_breaker``) over an in-memory store (:class:`Fakes`); the children are the real
:class:`PayoutWorkflow` with fake ledger and provider activities whose answer depends on
the recipient's number (its last digit, :func:`number`):

- ``OK`` (0): the submit answers success; the payout settles at once;
- ``FAIL`` (1): the submit answers invalid_msisdn; the payout fails at once;
- ``SLOW`` (3): the submit answers queued; the first status poll (a 30 s timer) finds it
  paid, or, while ``Fakes.gate`` is closed, pending;
- ``REVIEW`` (7): the submit answers success for another amount: the payout is held in
  needs_review (and tells its batch) until an operator resolves it.

A line's provider in ``Fakes.failing_providers`` fails whatever its number (the breaker).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payments_engine.activities.batches import BatchDescription
from payments_engine.activities.providers.hub.wire import HubStatus
from payments_engine.domain.batch import (
    BatchAlert,
    BatchBreaker,
    BatchLine,
    BatchLineState,
    BatchProgress,
    BatchRequest,
    BatchRun,
    BatchStatus,
    CancelPendingInput,
    ClaimedLine,
    ClaimedPage,
    ClaimInput,
    CurrencyTotal,
    GroupAction,
    LineOutcome,
    RecordInput,
    ReleaseInput,
    line_groups,
    payout_id_for,
)
from payments_engine.domain.ids import payout_workflow_id
from payments_engine.domain.ledger import PayoutLedgerInput, PostedEntry
from payments_engine.domain.money import Money
from payments_engine.domain.payout import (
    PayoutStatus,
    PayoutView,
    ResolvePayout,
    SubmitPayoutInput,
    SubmitPayoutResult,
    TransferStatusInput,
    TransferStatusResult,
)
from payments_engine.worker.main import WORKFLOW_RUNNER
from payments_engine.workflows.batch_payout import BatchPayoutWorkflow
from payments_engine.workflows.payout import PayoutWorkflow
from tests.workflows.test_payout_workflow import report

RESULT_TIMEOUT = 20.0
AMOUNT = Money(amount=150_00, currency="KES")
MERCHANT = "batchco"

OK, FAIL, SLOW, REVIEW = 0, 1, 3, 7


def number(line_no: int, outcome: int) -> str:
    """A Kenyan number of its own per line, ending in the outcome's digit."""
    return f"+2547{line_no:07d}{outcome}"


@dataclass
class StoredLine:
    line: BatchLine
    state: BatchLineState = BatchLineState.PENDING
    token: str | None = None
    outcome: LineOutcome | None = None

    @property
    def groups(self) -> tuple[str, str]:
        return line_groups(self.line.country, self.line.provider)


def lines(*outcomes: int, provider: str | Callable[[int], str] = "hub") -> list[BatchLine]:
    """Batch lines numbered from 2 (the header is line 1), one per outcome."""
    made = []
    for index, outcome in enumerate(outcomes):
        line_no = index + 2
        made.append(
            BatchLine(
                line_no=line_no,
                reference=f"ref{line_no}",
                amount=AMOUNT,
                msisdn=number(line_no, outcome),
                country="KE",
                provider=provider if isinstance(provider, str) else provider(line_no),
            )
        )
    return made


@dataclass
class Fakes:
    """The batch store and the children's provider and ledger, in memory.

    ``lose_claim`` makes the first ``claim_lines`` that takes lines commit them and then
    fail (its answer lost); the retry must get the same lines back (its token).
    """

    batch_id: str
    stored: list[BatchLine]
    lose_claim: bool = False
    failing_providers: set[str] = field(default_factory=set)
    gate: bool = True
    store: dict[int, StoredLine] = field(init=False)
    claims: list[ClaimInput] = field(default_factory=list)
    releases: list[list[int]] = field(default_factory=list)
    recorded: list[LineOutcome] = field(default_factory=list)
    cancels: list[list[str] | None] = field(default_factory=list)
    alerts: list[BatchAlert] = field(default_factory=list)
    submits: Counter[str] = field(default_factory=Counter)
    reserves: Counter[str] = field(default_factory=Counter)
    open: set[str] = field(default_factory=set)
    most_open: int = 0

    def __post_init__(self) -> None:
        self.store = {line.line_no: StoredLine(line) for line in self.stored}

    def states(self) -> Counter[BatchLineState]:
        return Counter(stored.state for stored in self.store.values())

    def payout_id(self, line_no: int) -> str:
        return payout_id_for(self.batch_id, self.store[line_no].line.reference)

    def activities(self) -> list[Callable[..., Any]]:
        return self._batch_activities() + self._payout_activities()

    def _batch_activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="describe_batch")
        async def describe_batch(batch_id: str) -> BatchDescription:
            assert batch_id == self.batch_id
            return BatchDescription(
                batch_id=batch_id,
                merchant_id=MERCHANT,
                lines=len(self.store),
                totals=[
                    CurrencyTotal(
                        currency="KES",
                        lines=len(self.store),
                        amount=AMOUNT.amount * len(self.store),
                    )
                ],
            )

        def claimed(stored: StoredLine, inp: ClaimInput) -> ClaimedLine:
            return ClaimedLine(
                line_no=stored.line.line_no,
                groups=stored.groups,
                request=stored.line.payout_request(inp.batch_id, inp.merchant_id),
            )

        @activity.defn(name="claim_lines")
        async def claim_lines(inp: ClaimInput) -> ClaimedPage:
            self.claims.append(inp)
            again = [
                s
                for s in self.store.values()
                if s.token == inp.token and s.state is BatchLineState.RUNNING
            ]
            if again:
                return ClaimedPage(
                    lines=[claimed(s, inp) for s in again],
                    last_line=again[-1].line.line_no,
                    exhausted=False,
                )
            rows = [
                s
                for s in sorted(self.store.values(), key=lambda s: s.line.line_no)
                if s.line.line_no > inp.after_line
                and s.state is BatchLineState.PENDING
                and not set(s.groups) & set(inp.skip_groups)
            ][: inp.limit]
            for stored in rows:
                stored.state = BatchLineState.RUNNING
                stored.token = inp.token
            if rows and self.lose_claim:
                self.lose_claim = False
                raise ApplicationError("connection reset after commit", type="Transient")
            return ClaimedPage(
                lines=[claimed(s, inp) for s in rows],
                last_line=rows[-1].line.line_no if rows else inp.after_line,
                exhausted=len(rows) < inp.limit,
            )

        @activity.defn(name="release_lines")
        async def release_lines(inp: ReleaseInput) -> int:
            self.releases.append(list(inp.line_nos))
            moved = 0
            for line_no in inp.line_nos:
                if self.store[line_no].state is BatchLineState.RUNNING:
                    self.store[line_no].state = BatchLineState.PENDING
                    moved += 1
            return moved

        @activity.defn(name="record_outcomes")
        async def record_outcomes(inp: RecordInput) -> int:
            for outcome in inp.outcomes:
                self.recorded.append(outcome)
                self.store[outcome.line_no].state = outcome.state
                self.store[outcome.line_no].outcome = outcome
            return len(inp.outcomes)

        @activity.defn(name="cancel_pending")
        async def cancel_pending(inp: CancelPendingInput) -> int:
            self.cancels.append(None if inp.groups is None else list(inp.groups))
            cancelled = 0
            for stored in self.store.values():
                if stored.state is not BatchLineState.PENDING:
                    continue
                if inp.groups is None or set(stored.groups) & set(inp.groups):
                    stored.state = BatchLineState.CANCELLED
                    cancelled += 1
            return cancelled

        @activity.defn(name="alert_breaker")
        async def alert_breaker(alert: BatchAlert) -> bool:
            self.alerts.append(alert)
            return True

        return [
            describe_batch,
            claim_lines,
            release_lines,
            record_outcomes,
            cancel_pending,
            alert_breaker,
        ]

    def _payout_activities(self) -> list[Callable[..., Any]]:
        def entry(kind: str, inp: PayoutLedgerInput) -> PostedEntry:
            return PostedEntry(
                entry_id=1,
                idempotency_key=f"payout:{inp.payout_id}:{kind}",
                kind=kind,
                reference=inp.payout_id,
                currency=inp.amount.currency,
                postings=[],
                created=True,
                created_at=datetime.now(UTC),
            )

        @activity.defn(name="reserve_funds")
        async def reserve_funds(inp: PayoutLedgerInput) -> PostedEntry:
            if inp.payout_id not in self.open:
                self.reserves[inp.payout_id] += 1
            self.open.add(inp.payout_id)
            self.most_open = max(self.most_open, len(self.open))
            return entry("reserve", inp)

        @activity.defn(name="settle_payout")
        async def settle_payout(inp: PayoutLedgerInput) -> PostedEntry:
            self.open.discard(inp.payout_id)
            return entry("settle", inp)

        @activity.defn(name="release_funds")
        async def release_funds(inp: PayoutLedgerInput) -> PostedEntry:
            self.open.discard(inp.payout_id)
            return entry("release", inp)

        @activity.defn(name="submit_payout")
        async def submit_payout(inp: SubmitPayoutInput) -> SubmitPayoutResult:
            self.submits[inp.reference] += 1
            outcome = int(inp.msisdn[-1])
            if inp.provider in self.failing_providers or outcome == FAIL:
                return SubmitPayoutResult(report=report(inp.reference, HubStatus.INVALID_MSISDN))
            if outcome == SLOW:
                return SubmitPayoutResult(report=report(inp.reference, HubStatus.QUEUED))
            if outcome == REVIEW:
                wrong = Money(amount=AMOUNT.amount - 1, currency=AMOUNT.currency)
                return SubmitPayoutResult(
                    report=report(inp.reference, HubStatus.SUCCESS, amount=wrong)
                )
            return SubmitPayoutResult(report=report(inp.reference, HubStatus.SUCCESS))

        @activity.defn(name="get_payout_status")
        async def get_payout_status(inp: TransferStatusInput) -> TransferStatusResult:
            status = HubStatus.SUCCESS if self.gate else HubStatus.PENDING
            return TransferStatusResult(
                report=report(inp.reference, status, event_id=f"status:{status.value}")
            )

        return [reserve_funds, settle_payout, release_funds, submit_payout, get_payout_status]


def batch_request(**overrides: Any) -> BatchRequest:
    fields: dict[str, Any] = {"batch_id": f"b{uuid.uuid4().hex[:10]}", "merchant_id": MERCHANT}
    fields.update(overrides)
    return BatchRequest.model_validate(fields)


def worker(client: Client, fakes: Fakes, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BatchPayoutWorkflow, PayoutWorkflow],
        activities=fakes.activities(),
        workflow_runner=WORKFLOW_RUNNER,
    )


def queue() -> str:
    return f"batch-{uuid.uuid4().hex[:8]}"


async def start(
    client: Client, req: BatchRequest, task_queue: str
) -> WorkflowHandle[Any, BatchProgress]:
    return await client.start_workflow(
        BatchPayoutWorkflow.run, BatchRun(request=req), id=req.workflow_id, task_queue=task_queue
    )


async def result_of(handle: WorkflowHandle[Any, BatchProgress]) -> BatchProgress:
    return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)


async def progress_when(
    handle: WorkflowHandle[Any, BatchProgress], accept: Callable[[BatchProgress], bool]
) -> BatchProgress:
    """Query the batch until ``accept(progress)`` holds (wall-clock bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESULT_TIMEOUT
    while True:
        progress: BatchProgress = await handle.query(BatchPayoutWorkflow.get_progress)
        if accept(progress):
            return progress
        assert loop.time() < deadline, f"never reached the expected state: {progress!r}"
        await asyncio.sleep(0.05)


async def payout_when(
    client: Client, payout_id: str, accept: Callable[[PayoutView], bool]
) -> PayoutView:
    handle = client.get_workflow_handle(payout_workflow_id(payout_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESULT_TIMEOUT
    while True:
        try:
            view: PayoutView = await handle.query(PayoutWorkflow.get_status)
        except Exception:  # noqa: BLE001 - not started yet
            view = None  # type: ignore[assignment]
        if view is not None and accept(view):
            return view
        assert loop.time() < deadline, f"payout {payout_id} never reached the state: {view!r}"
        await asyncio.sleep(0.05)


async def resolve(client: Client, payout_id: str, outcome: PayoutStatus) -> PayoutView:
    """An operator's decision on a payout held in needs_review."""
    await payout_when(client, payout_id, lambda v: v.status is PayoutStatus.NEEDS_REVIEW)
    handle = client.get_workflow_handle(payout_workflow_id(payout_id))
    return await handle.execute_update(
        PayoutWorkflow.resolve, ResolvePayout(outcome=outcome, note="checked by hand")
    )


def assert_each_line_paid_once(fakes: Fakes, line_nos: list[int] | None = None) -> None:
    wanted = line_nos if line_nos is not None else list(fakes.store)
    ids = {fakes.payout_id(n) for n in wanted}
    assert set(fakes.reserves) == ids
    assert all(count == 1 for count in fakes.reserves.values()), fakes.reserves
    assert all(count == 1 for count in fakes.submits.values()), fakes.submits


# -- the whole batch -------------------------------------------------------------------


async def test_every_line_started_once_and_its_outcome_recorded(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=3)
    fakes = Fakes(req.batch_id, lines(OK, FAIL, OK, OK, FAIL, SLOW, OK))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        result = await result_of(await start(env.client, req, task_queue))
    assert result.status is BatchStatus.COMPLETED
    assert (result.lines, result.started, result.succeeded, result.failed) == (7, 7, 5, 2)
    assert (result.needs_review, result.cancelled, result.running, result.runs) == (0, 0, 0, 1)
    assert_each_line_paid_once(fakes)
    assert sorted(o.line_no for o in fakes.recorded) == sorted(fakes.store)
    assert fakes.states() == {BatchLineState.SUCCEEDED: 5, BatchLineState.FAILED: 2}
    failed = {o.line_no for o in fakes.recorded if o.state is BatchLineState.FAILED}
    assert failed == {3, 6}
    assert {o.failure_code for o in fakes.recorded if o.line_no in failed} == {"invalid_msisdn"}
    assert fakes.cancels == [] and fakes.alerts == []


async def test_continue_as_new_between_pages_starts_nothing_twice(
    env: WorkflowEnvironment,
) -> None:
    req = batch_request(concurrency=4, lines_per_run=5, page_size=5)
    fakes = Fakes(req.batch_id, lines(*([OK, OK, FAIL, SLOW] * 4), OK))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        result = await result_of(handle)
    assert result.status is BatchStatus.COMPLETED
    assert result.runs >= 4
    assert (result.lines, result.started, result.succeeded, result.failed) == (17, 17, 13, 4)
    assert_each_line_paid_once(fakes)
    assert fakes.states() == {BatchLineState.SUCCEEDED: 13, BatchLineState.FAILED: 4}
    # Each run claims with its own run id in the token.
    assert len({claim.token.split(":")[0] for claim in fakes.claims}) == result.runs


async def test_a_run_starts_at_most_lines_per_run(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=4, lines_per_run=5)
    fakes = Fakes(req.batch_id, lines(*([OK] * 17)))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        result = await result_of(await start(env.client, req, task_queue))
    assert result.started == 17
    assert result.runs >= 4


async def test_never_more_children_than_the_concurrency(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=3, page_size=4)
    fakes = Fakes(req.batch_id, lines(*([SLOW] * 11)))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        result = await result_of(await start(env.client, req, task_queue))
    assert (result.status, result.succeeded) == (BatchStatus.COMPLETED, 11)
    # Each child waits on a poll timer: the bound is reached, and never passed.
    assert fakes.most_open == 3
    assert_each_line_paid_once(fakes)


async def test_a_claim_whose_answer_was_lost_leaves_no_line_unstarted(
    env: WorkflowEnvironment,
) -> None:
    req = batch_request(concurrency=2, page_size=3)
    fakes = Fakes(req.batch_id, lines(OK, OK, FAIL, OK, OK, OK, OK), lose_claim=True)
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        result = await result_of(await start(env.client, req, task_queue))
    assert (result.status, result.started, result.succeeded, result.failed) == (
        BatchStatus.COMPLETED,
        7,
        6,
        1,
    )
    assert fakes.lose_claim is False
    # The retry carried the same token and got the lines the lost answer had taken.
    assert fakes.claims[0].token == fakes.claims[1].token
    assert_each_line_paid_once(fakes)
    assert BatchLineState.RUNNING not in fakes.states()
    assert BatchLineState.PENDING not in fakes.states()


async def test_a_line_whose_payout_already_ran_is_not_paid_again(
    env: WorkflowEnvironment,
) -> None:
    req = batch_request()
    fakes = Fakes(req.batch_id, lines(OK))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        earlier = fakes.store[2].line.payout_request(req.batch_id, MERCHANT)
        await env.client.execute_workflow(
            PayoutWorkflow.run, earlier, id=earlier.workflow_id, task_queue=task_queue
        )
        result = await result_of(await start(env.client, req, task_queue))
    assert fakes.submits[earlier.workflow_id] == 1
    assert (result.started, result.needs_review) == (1, 1)
    assert fakes.recorded[-1].failure_code == "payout_id_taken"


# -- the breaker -----------------------------------------------------------------------


def breaker_batch() -> tuple[BatchRequest, Fakes]:
    """Ten lines alternating provider ``bad`` (failing) and ``hub``, one at a time.

    With a window of 2 at threshold 1.0, ``provider:bad`` trips when line 4 fails (lines
    2 and 4 failed, 3 ended: done = 3); ``country:KE`` never sees two failures in a row.
    """
    req = batch_request(concurrency=1, breaker=BatchBreaker(window=2, threshold=1.0))
    stored = lines(*([OK] * 10), provider=lambda n: "bad" if n % 2 == 0 else "hub")
    return req, Fakes(req.batch_id, stored, failing_providers={"bad"})


async def tripped(handle: WorkflowHandle[Any, BatchProgress], fakes: Fakes) -> BatchProgress:
    progress = await progress_when(
        handle, lambda p: p.succeeded == 5 and p.running == 0 and bool(fakes.alerts)
    )
    assert (progress.status, progress.started, progress.failed) == (BatchStatus.RUNNING, 7, 2)
    groups = {group.group: group for group in progress.groups}
    assert groups["provider:bad"].paused and not groups["provider:hub"].paused
    assert not groups["country:KE"].paused
    [alert] = fakes.alerts
    assert alert.key == f"batch-{fakes.batch_id}:provider:bad:3"
    assert (alert.group, alert.failed, alert.window) == ("provider:bad", 2, 2)
    # The bad lines after the trip were never started and went back to pending.
    assert {n for n, s in fakes.store.items() if s.state is BatchLineState.PENDING} == {6, 8, 10}
    assert {fakes.payout_id(n) for n in (6, 8, 10)}.isdisjoint(fakes.reserves)
    return progress


async def test_breaker_pauses_a_failing_group_until_resumed(env: WorkflowEnvironment) -> None:
    req, fakes = breaker_batch()
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await tripped(handle, fakes)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                BatchPayoutWorkflow.resume_group, GroupAction(group="provider:hub")
            )
        fakes.failing_providers.clear()  # the provider is back
        resumed = await handle.execute_update(
            BatchPayoutWorkflow.resume_group, GroupAction(group="provider:bad")
        )
        assert resumed.status is BatchStatus.RUNNING
        result = await result_of(handle)
    assert result.status is BatchStatus.COMPLETED
    assert (result.started, result.succeeded, result.failed, result.cancelled) == (10, 8, 2, 0)
    assert_each_line_paid_once(fakes)
    assert fakes.cancels == [] and len(fakes.alerts) == 1


async def test_breaker_group_cancelled_by_an_operator(env: WorkflowEnvironment) -> None:
    req, fakes = breaker_batch()
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await tripped(handle, fakes)
        await handle.execute_update(
            BatchPayoutWorkflow.cancel_group, GroupAction(group="provider:bad")
        )
        result = await result_of(handle)
    assert result.status is BatchStatus.COMPLETED
    assert (result.started, result.succeeded, result.failed, result.cancelled) == (7, 5, 2, 3)
    assert fakes.cancels == [["provider:bad"]]
    assert {n for n, s in fakes.store.items() if s.state is BatchLineState.CANCELLED} == {6, 8, 10}
    assert_each_line_paid_once(fakes, [2, 3, 4, 5, 7, 9, 11])
    [group] = [g for g in result.groups if g.group == "provider:bad"]
    assert group.cancelled and not group.paused


# -- operators -------------------------------------------------------------------------


async def test_pause_stops_new_payouts_until_resumed(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=2)
    fakes = Fakes(req.batch_id, lines(*([SLOW] * 6)))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await progress_when(handle, lambda p: p.started == 2)
        paused = await handle.execute_update(BatchPayoutWorkflow.pause)
        assert paused.status is BatchStatus.PAUSED
        await env.sleep(timedelta(minutes=5))  # the two running payouts poll and end
        progress = await progress_when(handle, lambda p: p.succeeded == 2)
        assert (progress.status, progress.started, progress.running) == (BatchStatus.PAUSED, 2, 0)
        await env.sleep(timedelta(minutes=5))
        assert (await handle.query(BatchPayoutWorkflow.get_progress)).started == 2
        assert len(fakes.reserves) == 2
        resumed = await handle.execute_update(BatchPayoutWorkflow.resume)
        assert resumed.status is BatchStatus.RUNNING
        result = await result_of(handle)
    assert (result.status, result.started, result.succeeded) == (BatchStatus.COMPLETED, 6, 6)
    assert_each_line_paid_once(fakes)


async def test_cancel_lets_started_payouts_finish_and_cancels_the_rest(
    env: WorkflowEnvironment,
) -> None:
    req = batch_request(concurrency=2, page_size=4)
    fakes = Fakes(req.batch_id, lines(*([SLOW] * 8)))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await progress_when(handle, lambda p: p.started == 2)
        cancelling = await handle.execute_update(BatchPayoutWorkflow.cancel)
        assert cancelling.status is BatchStatus.CANCELLING
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(BatchPayoutWorkflow.resume)
        result = await result_of(handle)
    assert result.status is BatchStatus.CANCELLED
    assert (result.started, result.succeeded, result.cancelled, result.running) == (2, 2, 6, 0)
    assert fakes.cancels == [None]
    assert fakes.states() == {BatchLineState.SUCCEEDED: 2, BatchLineState.CANCELLED: 6}
    assert_each_line_paid_once(fakes, [2, 3])


async def test_validators_refuse_what_cannot_be_done(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=1)
    fakes = Fakes(req.batch_id, lines(SLOW, SLOW))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        await progress_when(handle, lambda p: p.started == 1)
        with pytest.raises(WorkflowUpdateFailedError) as not_paused:
            await handle.execute_update(
                BatchPayoutWorkflow.resume_group, GroupAction(group="country:KE")
            )
        assert "is not paused" in str(not_paused.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                BatchPayoutWorkflow.cancel_group, GroupAction(group="everything")
            )
        await handle.execute_update(BatchPayoutWorkflow.cancel)
        with pytest.raises(WorkflowUpdateFailedError) as after_cancel:
            await handle.execute_update(BatchPayoutWorkflow.resume)
        assert "cannot be resumed" in str(after_cancel.value.cause)
        result = await result_of(handle)
    assert (result.status, result.started, result.cancelled) == (BatchStatus.CANCELLED, 1, 1)


# -- needs_review ----------------------------------------------------------------------


async def test_a_payout_in_review_does_not_hold_the_batch(env: WorkflowEnvironment) -> None:
    req = batch_request(concurrency=2)
    fakes = Fakes(req.batch_id, lines(OK, REVIEW, FAIL, OK))
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        result = await result_of(await start(env.client, req, task_queue))
        assert result.status is BatchStatus.COMPLETED
        assert (result.started, result.succeeded, result.failed, result.needs_review) == (
            4,
            2,
            1,
            1,
        )
        [review] = [o for o in fakes.recorded if o.line_no == 3]
        assert review.state is BatchLineState.NEEDS_REVIEW
        assert fakes.store[3].state is BatchLineState.NEEDS_REVIEW
        # The payout still waits for its operator, alone. (Ended here without an update:
        # on the time-skipping server, updates on payouts of earlier tests keep later
        # result waits from skipping time.)
        child = env.client.get_workflow_handle(payout_workflow_id(fakes.payout_id(3)))
        view = await child.query(PayoutWorkflow.get_status)
        assert view.status is PayoutStatus.NEEDS_REVIEW
        await child.terminate("test over")
    assert_each_line_paid_once(fakes)


async def webhook(
    client: Client, fakes: Fakes, line_no: int, status: HubStatus, amount: Money = AMOUNT
) -> None:
    """The provider's webhook about a line's payout (a hint the payout checks)."""
    workflow_id = payout_workflow_id(fakes.payout_id(line_no))
    await payout_when(
        client, fakes.payout_id(line_no), lambda v: v.status is PayoutStatus.SUBMITTED
    )
    await client.get_workflow_handle(workflow_id).signal(
        PayoutWorkflow.provider_event, report(workflow_id, status, amount=amount)
    )


async def test_a_review_decided_in_the_same_run_moves_the_counts(
    env: WorkflowEnvironment,
) -> None:
    req = batch_request(concurrency=2)
    fakes = Fakes(req.batch_id, lines(SLOW, SLOW), gate=False)
    task_queue = queue()
    async with worker(env.client, fakes, task_queue):
        handle = await start(env.client, req, task_queue)
        # A success webhook for another amount: line 2's payout moves to needs_review.
        wrong = Money(amount=AMOUNT.amount + 1, currency=AMOUNT.currency)
        await webhook(env.client, fakes, 2, HubStatus.SUCCESS, amount=wrong)
        progress = await progress_when(handle, lambda p: p.needs_review == 1)
        assert (progress.running, progress.succeeded, progress.status) == (
            1,
            0,
            BatchStatus.RUNNING,
        )
        # The provider pays it after all (the webhook is confirmed by a status query).
        fakes.gate = True
        child = env.client.get_workflow_handle(payout_workflow_id(fakes.payout_id(2)))
        await child.signal(
            PayoutWorkflow.provider_event,
            report(child.id, HubStatus.SUCCESS, event_id="evt-paid"),
        )
        progress = await progress_when(handle, lambda p: p.succeeded == 1)
        assert (progress.needs_review, progress.running) == (0, 1)
        await webhook(env.client, fakes, 3, HubStatus.SUCCESS)
        result = await result_of(handle)
    assert result.status is BatchStatus.COMPLETED
    assert (result.started, result.succeeded, result.needs_review, result.failed) == (2, 2, 0, 0)
    assert [o.state for o in fakes.recorded if o.line_no == 2] == [
        BatchLineState.NEEDS_REVIEW,
        BatchLineState.SUCCEEDED,
    ]
    assert fakes.states() == {BatchLineState.SUCCEEDED: 2}
    assert_each_line_paid_once(fakes)
