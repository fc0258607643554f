"""Payout throughput and latency, end to end, against a no-op workflow of the same shape.

Run from the repository root::

    python bench/payout_throughput.py [--payouts N] [--concurrency C] [--merchants K]
        [--database-url URL] [--sandbox-in-process]

One Temporal dev server (started by the SDK) serves both sides:

* engine: ``PaymentsClient.create_payout`` -> PayoutWorkflow -> reserve (ledger) ->
  submit (sandbox hub over real HTTP) -> sandbox webhook -> relay (verify, store) ->
  signal -> status query confirming the webhook -> settle (ledger) -> result, timed
  from start to ``wait_payout``. Worker and relay run in this process; the sandbox,
  which stands for the provider, runs in its own process unless
  ``--sandbox-in-process`` (as ``payments dev`` runs it);
* baseline: ``bench.baseline.BaselinePayoutWorkflow``, the same steps (reserve, submit,
  a wait for a signal, confirm, settle, a result) as no-op regular activities, on its
  own worker and task queue in this process; the driver signals right after the start,
  like an instant webhook.

Both sides run N payouts with at most C in flight, after a few uncounted warm-up
payouts. The engine's run only counts if every payout succeeded, the sandbox executed
exactly one transfer per payout and the ledger is consistent: a benchmark that moves
money twice is not a result.

After the table: the cores each process kept busy during each batch, and a median per
phase read from the workflows' histories (first workflow task, each step, the webhook
leg, the closing task), with the history events per payout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from temporalio.client import Client

    from payments_engine.starter.stack import EngineStack

T = TypeVar("T")

ENGINE_TASK_QUEUE = "bench-payouts"
BASELINE_TASK_QUEUE = "bench-baseline"
MERCHANT_PREFIX = "bench-merchant"


def merchant_of(index: int, merchants: int) -> str:
    """The merchant paying payout ``index`` when payouts are spread over ``merchants``."""
    return f"{MERCHANT_PREFIX}-{index % merchants}"


CURRENCY = "KES"
AMOUNT_MINOR = 10_000  # KES 100.00
COUNTRY = "KE"
# Any number whose last six digits are not a magic value succeeds in the sandbox.
SUCCESS_MSISDN = "+254712345678"
WARMUP_PAYOUTS = 5
# The sandbox's scheduler resolves transfers and sends webhooks once per tick.
SANDBOX_OVERRIDES = {"tick_seconds": 0.01}

# -- measurement ---------------------------------------------------------------------------


@dataclass
class Measurement:
    """Latencies (seconds) of one batch, its wall time and what went wrong in it."""

    name: str
    latencies: list[float]
    wall_seconds: float
    problems: list[str]
    cores: dict[str, float] = field(default_factory=dict)
    """Cores kept busy during the batch, per CPU source (see :func:`cpu_seconds`)."""
    loop_lag_ms: tuple[float, float] = (0.0, 0.0)
    """Median and p99 of how late this process's event loop ran a due timer."""

    @property
    def throughput(self) -> float:
        """Payouts per second over the whole batch."""
        return len(self.latencies) / self.wall_seconds

    def percentile_ms(self, pct: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(pct / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def max_ms(self) -> float:
        """Slowest payout, in milliseconds."""
        return max(self.latencies) * 1000


async def run_batch(
    name: str, count: int, concurrency: int, one: Callable[[int], Awaitable[str | None]]
) -> Measurement:
    """Run ``one(i)`` for i in range(count), at most ``concurrency`` at a time.

    ``one`` returns None, or what was wrong with that payout; an exception is recorded
    as a problem too, so one bad payout does not hide the figures of the others.
    """
    gate = asyncio.Semaphore(concurrency)
    latencies = [0.0] * count
    problems: list[str] = []

    async def timed(index: int) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                problem = await one(index)
            except Exception as exc:
                problem = f"#{index}: {type(exc).__name__}: {exc}"
            latencies[index] = time.perf_counter() - started
            if problem is not None:
                problems.append(problem)

    started = time.perf_counter()
    await asyncio.gather(*(timed(index) for index in range(count)))
    return Measurement(name, latencies, time.perf_counter() - started, problems)


CPU_SOURCES = (
    "bench process",
    "worker processes",
    "relay process",
    "sandbox (the provider)",
    "Temporal server",
    "PostgreSQL",
)


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process, the Temporal server and PostgreSQL.

    This process holds the engine (worker and relay; the sandbox too with
    ``--sandbox-in-process``) or the baseline's worker, and the driver; the Temporal dev
    server and the sandbox are its child processes. Read from ``/proc``: zeros where
    there is none.
    """
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[str, int, float]] = {}  # pid -> (name, parent, cpu seconds)
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # gone since the listing
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # After the name: state, ppid, ... utime and stime are the 12th and 13th.
        stats[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    me = os.getpid()
    totals = dict.fromkeys(CPU_SOURCES, 0.0)
    for pid, (name, parent, seconds) in stats.items():
        if pid == me:
            totals["bench process"] += seconds
        elif name.startswith("postgres"):
            totals["PostgreSQL"] += seconds
        elif parent == me:
            # The dev server, or a service started by child_process (its own children,
            # if any, are negligible).
            source = "Temporal server" if name.startswith("temporal") else CHILD_ROLES.get(pid)
            if source is not None:
                totals[source] += seconds
    return totals


LAG_TICK = 0.01


async def _watch_loop(lags: list[float]) -> None:
    """Append, every LAG_TICK, how late this event loop woke a sleeping task."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_TICK
        await asyncio.sleep(LAG_TICK)
        lags.append(loop.time() - due)


async def with_cpu(run: Awaitable[Measurement]) -> Measurement:
    """Await a batch; attach the cores each CPU source kept busy and the loop's lag."""
    before = cpu_seconds()
    lags: list[float] = []
    watcher = asyncio.create_task(_watch_loop(lags))
    try:
        measurement = await run
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    after = cpu_seconds()
    if lags:
        ordered = sorted(lags)
        measurement.loop_lag_ms = (
            statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        )
    measurement.cores = {
        source: (after[source] - before[source]) / measurement.wall_seconds
        for source in CPU_SOURCES
    }
    return measurement


class WarningCounter(logging.Handler):
    """Counts warnings and errors per logger: retries and refusals show up here."""

    def __init__(self) -> None:
        """Count from WARNING up."""
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record under its logger and level."""
        self.counts[f"{record.name} {record.levelname}"] += 1


# -- engine side ---------------------------------------------------------------------------


def serve_sandbox(config: Any, port: int) -> None:
    """Serve the sandbox hub on ``port`` until terminated (a child process's target)."""
    import uvicorn

    from payments_engine.sandbox.app import create_sandbox_app

    uvicorn.run(create_sandbox_app(config), host="127.0.0.1", port=port, log_level="warning")


def _until_terminated(service: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``service(stop)`` in this (child) process; SIGTERM sets ``stop``."""
    from payments_engine.runtime.temporal import run

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await service(stop)

    run(main())


def serve_engine_worker(settings: Any) -> None:
    """Run the engine's worker as ``payments worker`` does (a child's target)."""
    from payments_engine.worker.main import run_worker

    _until_terminated(lambda stop: run_worker(settings, stop))


def serve_baseline_worker(settings: Any) -> None:
    """Run a baseline worker until terminated (a child's target)."""

    async def service(stop: asyncio.Event) -> None:
        from payments_engine.runtime.temporal import connect

        async with baseline_worker(await connect(settings)):
            await stop.wait()

    _until_terminated(service)


def baseline_worker(client: Client) -> Any:
    """The baseline's worker on ``client`` (use it as ``async with``)."""
    from temporalio.worker import Worker

    from bench import baseline as noop
    from payments_engine.worker.main import WORKFLOW_RUNNER, WORKFLOW_TASK_POLLERS

    return Worker(
        client,
        task_queue=BASELINE_TASK_QUEUE,
        workflows=[noop.BaselinePayoutWorkflow],
        activities=[
            noop.baseline_reserve_funds,
            noop.baseline_submit_payout,
            noop.baseline_confirm_status,
            noop.baseline_settle_payout,
        ],
        workflow_runner=WORKFLOW_RUNNER,
        workflow_task_poller_behavior=WORKFLOW_TASK_POLLERS,
    )


@contextlib.asynccontextmanager
async def baseline_workers(stack: EngineStack, processes: int) -> AsyncIterator[None]:
    """The baseline's worker in this process, or in ``processes`` processes like the engine's."""
    if not processes:
        async with baseline_worker(stack.client):
            yield
        return
    with contextlib.ExitStack() as children:
        for _ in range(processes):
            children.enter_context(
                child_process("worker processes", serve_baseline_worker, stack.settings)
            )
        yield


def serve_relay(settings: Any) -> None:
    """Run the relay as ``payments relay`` does, until terminated (a child's target)."""
    from payments_engine.relay.__main__ import serve
    from payments_engine.runtime.temporal import run

    run(serve(settings))


async def wait_until_serving(process: Any, url: str, path: str, what: str) -> None:
    """Poll ``url + path`` until it answers, failing fast if ``process`` exits."""
    import httpx

    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(300):
            if not process.is_alive():
                raise RuntimeError(f"the {what} process exited ({process.exitcode})")
            with contextlib.suppress(httpx.TransportError):
                await http.get(path)
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the {what} process did not answer within 30 s")


CHILD_ROLES: dict[int, str] = {}
"""pid -> CPU source of each service process started by :func:`child_process`."""


@contextlib.contextmanager
def child_process(role: str, target: Callable[..., None], *args: Any) -> Iterator[Any]:
    """Start ``target(*args)`` in a fresh (spawned) process; terminate it on exit.

    Args:
        role: the CPU source (one of CPU_SOURCES) its CPU time counts under.
        target: the process's function; ``args`` its arguments.
    """
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    assert process.pid is not None
    CHILD_ROLES[process.pid] = role
    try:
        yield process
    finally:
        process.terminate()
        process.join(15)


@contextlib.asynccontextmanager
async def relay_process(stack: EngineStack) -> AsyncIterator[str]:
    """Run a relay in its own process on the stack's database and Temporal server.

    The production topology: the relay is a service of its own, beside the workers.
    Yields its base URL; the stack's own (in-process) relay then receives nothing.
    """
    settings = stack.settings.model_copy(update={"relay_port": unused_port()})
    with child_process("relay process", serve_relay, settings) as process:
        await wait_until_serving(process, settings.relay_url, "/healthz", "relay")
        yield settings.relay_url


def unused_port() -> int:
    """A loopback port free right now (the sandbox process binds it a moment later)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def sandbox_process(stack: EngineStack, port: int, relay_url: str) -> AsyncIterator[str]:
    """Run the sandbox hub in its own process, sending webhooks to ``relay_url``.

    The provider is not the engine: in production it runs elsewhere, so its simulator's
    CPU is kept out of the engine's process. Yields the sandbox's base URL.
    """
    from payments_engine.sandbox.hub.config import SandboxConfig

    hub = stack.settings.provider("hub")
    assert hub.api_key is not None and hub.webhook_secret is not None
    config = SandboxConfig(
        api_key=hub.api_key.get_secret_value(),
        webhook_secret=hub.webhook_secret.get_secret_value(),
        webhook_url=f"{relay_url}/webhooks/hub",
        settle_seconds=0.0,
        **SANDBOX_OVERRIDES,
    )
    url = f"http://127.0.0.1:{port}"
    with child_process("sandbox (the provider)", serve_sandbox, config, port) as process:
        await wait_until_serving(process, url, "/admin/transfers", "sandbox")
        yield url


def payout_requests(run_tag: str, prefix: str, count: int, merchants: int) -> list[Any]:
    """``count`` distinct successful payout requests, unique to this run, round-robin
    over ``merchants`` merchants (one merchant: every posting hits the same rows)."""
    from payments_engine.domain.money import Money
    from payments_engine.domain.payout import PayoutRequest

    return [
        PayoutRequest(
            payout_id=f"bench-{run_tag}-{prefix}-{index:05d}",
            merchant_id=merchant_of(index, merchants),
            amount=Money(amount=AMOUNT_MINOR, currency=CURRENCY),
            recipient_msisdn=SUCCESS_MSISDN,
            country=COUNTRY,
            description="benchmark payout",
        )
        for index in range(count)
    ]


async def run_engine(
    stack: EngineStack, requests: Sequence[Any], concurrency: int, name: str = "engine"
) -> Measurement:
    """Create each payout and wait for it; every one must succeed."""
    from payments_engine.domain.payout import PayoutStatus
    from payments_engine.starter.client import PaymentsClient

    payments = PaymentsClient(stack.client, stack.settings.task_queue, stack.ledger)

    async def one(index: int) -> str | None:
        request = requests[index]
        await payments.create_payout(request)
        view = await payments.wait_payout(request.payout_id)
        if view.status is not PayoutStatus.SUCCEEDED:
            return (
                f"payout {request.payout_id} ended {view.status} "
                f"({view.failure_code}: {view.failure_message})"
            )
        if view.events_applied < 1:
            return f"payout {request.payout_id} succeeded without a webhook"
        return None

    return await run_batch(name, len(requests), concurrency, one)


@dataclass
class EngineChecks:
    """The engine run's audit: problems void the run, notes are worth knowing."""

    executed: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def verify_engine(
    stack: EngineStack, sandbox_url: str, measured: Sequence[Any], all_requests: Sequence[Any]
) -> EngineChecks:
    """Exactly one executed transfer per payout, a consistent ledger, webhooks accounted."""
    import httpx
    from sqlalchemy import func, select

    from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
    from payments_engine.db.models import WebhookEvent
    from payments_engine.domain.ledger import merchant_reserved, provider_clearing

    checks = EngineChecks()
    problems, notes = checks.problems, checks.notes
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as http:
        transfers = (await http.get("/admin/transfers")).raise_for_status().json()
        # A payout can complete before the relay has answered the webhook that finished
        # it (the relay records the delivery after signalling): let the hub's deliveries
        # settle before reading the relay's table.
        for _ in range(600):
            deliveries = (await http.get("/admin/webhooks")).raise_for_status().json()
            if all(d["delivered"] or d["gave_up"] for d in deliveries):
                break
            await asyncio.sleep(0.1)
        else:
            notes.append("some webhook deliveries were still in progress after 60 s")

    executed = [t for t in transfers if t["executed"]]
    executions = Counter(t["thirdPartyTransId"] for t in executed)
    measured_refs = {r.workflow_id for r in measured}
    measured_executed = [t for t in executed if t["thirdPartyTransId"] in measured_refs]
    checks.executed = len(measured_executed)
    if {t["thirdPartyTransId"] for t in measured_executed} != measured_refs:
        problems.append(
            f"the sandbox executed {len(measured_executed)} transfers for {len(measured)} payouts"
        )
    if len(executed) != len(all_requests):
        problems.append(
            f"the sandbox executed {len(executed)} transfers in all "
            f"for {len(all_requests)} payouts (warm-up included)"
        )
    if twice := [ref for ref, count in executions.items() if count != 1]:
        problems.append(f"references executed more than once: {twice[:5]}")
    if not_success := [t["thirdPartyTransId"] for t in measured_executed if t["status"] != "MR101"]:
        problems.append(f"transfers not successful at the hub: {not_success[:5]}")
    if resubmitted := sum(1 for t in measured_executed if t["submit_count"] != 1):
        notes.append(f"{resubmitted} payouts submitted more than once (same reference)")

    problems += [f"ledger: {p}" for p in await stack.ledger.check_consistency()]
    paid = AMOUNT_MINOR * len(all_requests)
    reserved = 0
    for merchant_id in {r.merchant_id for r in all_requests}:
        reserved += await stack.ledger.balance(merchant_reserved(merchant_id), CURRENCY)
    clearing = await stack.ledger.balance(provider_clearing(PROVIDER_NAME), CURRENCY)
    if reserved != 0:
        problems.append(f"ledger: {reserved} still reserved after every payout settled")
    if clearing != paid:
        problems.append(f"ledger: provider clearing holds {clearing}, expected {paid}")

    retried = [d for d in deliveries if d["attempts"] > 1]
    if retried:
        notes.append(
            f"{len(retried)} of {len(deliveries)} webhooks needed more than one delivery "
            f"attempt ({sum(d['attempts'] - 1 for d in retried)} extra attempts)"
        )
    if gave_up := sum(1 for d in deliveries if d["gave_up"]):
        problems.append(f"the sandbox gave up on {gave_up} webhooks")
    async with stack.sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(WebhookEvent.state, func.count()).group_by(WebhookEvent.state)
                )
            ).all()
        )
    if states.get("delivered", 0) != len(all_requests):
        notes.append(f"relay: stored webhook events by state {states}")
    return checks


# -- baseline side -------------------------------------------------------------------------


def baseline_payout_id(run_tag: str, prefix: str, index: int) -> str:
    """The payout id of the index-th baseline payout of a batch."""
    return f"bench-{run_tag}-{prefix}-{index:05d}"


async def run_baseline(
    client: Client, run_tag: str, prefix: str, count: int, concurrency: int, name: str
) -> Measurement:
    """Start each baseline workflow, signal it at once and wait for its result."""
    from bench.baseline import BaselineEvent, BaselinePayoutInput, BaselinePayoutWorkflow

    async def one(index: int) -> str | None:
        payout_id = baseline_payout_id(run_tag, prefix, index)
        handle = await client.start_workflow(
            BaselinePayoutWorkflow.run,
            BaselinePayoutInput(payout_id=payout_id, amount_minor=AMOUNT_MINOR, currency=CURRENCY),
            id=f"baseline-{payout_id}",
            task_queue=BASELINE_TASK_QUEUE,
        )
        await handle.signal(
            BaselinePayoutWorkflow.provider_event,
            BaselineEvent(event_id=f"evt-{payout_id}", outcome="succeeded"),
        )
        result = await handle.result()
        if result.status != "succeeded":
            return f"baseline {payout_id} ended {result.status}"
        return None

    return await run_batch(name, count, concurrency, one)


# -- where the time goes ------------------------------------------------------------------

HISTORY_EVENTS = "events"
ACTIVITY_QUEUE = "queued"
PHASES = (
    ("first task", "start -> reserve scheduled (first workflow task)"),
    ("reserve", "reserve scheduled -> completed (all attempts)"),
    ("next task", "reserve completed -> submit scheduled"),
    ("submit", "submit scheduled -> completed"),
    ("webhook", "submit completed -> signal in history (<0: before)"),
    ("confirm task", "later of the two -> status query scheduled"),
    ("confirm", "status query (confirms the webhook) scheduled -> completed"),
    ("settle task", "later of the two (or the query) -> settle scheduled"),
    ("settle", "settle scheduled -> completed"),
    ("close task", "settle completed -> workflow completed"),
)
PHASE_SAMPLE = 100
# The marker the SDK records for a completed local activity.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def sample(items: Sequence[T]) -> list[T]:
    """At most PHASE_SAMPLE items, evenly spread over ``items``."""
    step = max(1, math.ceil(len(items) / PHASE_SAMPLE))
    return list(items[::step])


async def phase_breakdown(client: Client, workflow_ids: Sequence[str]) -> dict[str, float]:
    """Median milliseconds of each phase in PHASES, read from the workflows' histories.

    Steps are taken in the order they were scheduled (reserve, submit, confirm, settle),
    so the same code reads the engine's and the baseline's histories. A local activity
    (the engine's ledger steps) runs inside a workflow task: it counts from that task's
    start to its marker.
    """
    from temporalio.api.enums.v1 import EventType

    samples: dict[str, list[float]] = {name: [] for name, _ in PHASES}
    samples[HISTORY_EVENTS] = []
    samples[ACTIVITY_QUEUE] = []

    async def one(workflow_id: str) -> None:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        samples[HISTORY_EVENTS].append(len(history.events))
        started = signaled = completed = task_started = 0.0
        position: dict[int, int] = {}  # scheduled event id -> index in ``activities``
        activities: list[list[float]] = []  # [scheduled, completed], in schedule order
        queued: list[float] = []  # scheduled -> started of each (regular) activity
        for event in history.events:
            at = event.event_time.ToMicroseconds() / 1e6
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                task_started = at
            elif (
                kind == EventType.EVENT_TYPE_MARKER_RECORDED
                and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
            ):
                activities.append([task_started, at])
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = at
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and not signaled:
                signaled = at
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                completed = at
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                position[event.event_id] = len(activities)
                activities.append([at, at])
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                scheduled_id = event.activity_task_started_event_attributes.scheduled_event_id
                queued.append(at - activities[position[scheduled_id]][0])
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                scheduled_id = event.activity_task_completed_event_attributes.scheduled_event_id
                activities[position[scheduled_id]][1] = at
        if len(activities) not in (3, 4) or not (started and signaled and completed):
            return
        (reserve_at, reserved), (submit_at, submitted) = activities[:2]
        settle_at, settled = activities[-1]
        durations = {
            "first task": reserve_at - started,
            "reserve": reserved - reserve_at,
            "next task": submit_at - reserved,
            "submit": submitted - submit_at,
            "webhook": signaled - submitted,
            "settle task": settle_at - max(submitted, signaled),
            "settle": settled - settle_at,
            "close task": completed - settled,
        }
        if len(activities) == 4:
            confirm_at, confirmed = activities[2]
            durations["confirm task"] = confirm_at - max(submitted, signaled)
            durations["confirm"] = confirmed - confirm_at
            durations["settle task"] = settle_at - confirmed
        for name, seconds in durations.items():
            samples[name].append(seconds * 1000)
        samples[ACTIVITY_QUEUE].extend(seconds * 1000 for seconds in queued)

    gate = asyncio.Semaphore(20)

    async def gated(workflow_id: str) -> None:
        async with gate:
            await one(workflow_id)

    await asyncio.gather(*(gated(workflow_id) for workflow_id in workflow_ids))
    return {name: statistics.median(values) for name, values in samples.items() if values}


# -- report --------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    backend: str,
    engine: Measurement,
    baseline: Measurement,
    checks: EngineChecks,
    warnings: Counter[str],
    phases: tuple[dict[str, float], dict[str, float]],
) -> list[str]:
    """Print the environment, the table, the ratios and the audit; return the problems."""
    import temporalio

    print()
    print(
        f"python {platform.python_version()} | temporalio {temporalio.__version__} | "
        f"ledger {backend} | N={args.payouts} C={args.concurrency} M={args.merchants} | "
        f"sandbox {'in process' if args.sandbox_in_process else 'own process'}, "
        f"relay {'own process' if args.relay_process else 'in process'}, "
        f"workers {args.worker_processes or 'in process'} | "
        f"cores {os.cpu_count()} | {platform.system()} {platform.machine()}"
    )
    header = f"{'':<10}{'payouts/s':>11}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    print(header)
    print("-" * len(header))
    for m in (engine, baseline):
        print(
            f"{m.name:<10}{m.throughput:>11.1f}{m.percentile_ms(50):>10.0f}"
            f"{m.percentile_ms(99):>10.0f}{m.max_ms:>10.0f}"
        )
    print("-" * len(header))
    print(
        f"engine/baseline: throughput x{engine.throughput / baseline.throughput:.2f}, "
        f"p50 latency x{engine.percentile_ms(50) / baseline.percentile_ms(50):.2f}"
    )
    print()
    print(f"{'cores busy during the batch':<77}engine  baseline")
    for source in CPU_SOURCES:
        cells = "".join(
            f"{m.cores[source]:>8.2f}" if source in m.cores else f"{'-':>8}"
            for m in (engine, baseline)
        )
        print(f"  {source:<75}{cells}")
    for label, index in (("median", 0), ("p99", 1)):
        cells = "".join(f"{m.loop_lag_ms[index]:>8.0f}" for m in (engine, baseline))
        print(f"  {'event loop lag of the bench process, ms, ' + label:<75}{cells}")
    print()
    print(f"{'median ms per phase (<= ' + str(PHASE_SAMPLE) + ' histories)':<77}engine  baseline")
    for name, meaning in [
        *PHASES,
        (ACTIVITY_QUEUE, "a regular activity, scheduled -> started (in the queue)"),
        (HISTORY_EVENTS, "workflow history events per payout"),
    ]:
        cells = [f"{p[name]:>8.0f}" if name in p else f"{'-':>8}" for p in phases]
        print(f"  {name:<13}{meaning:<62}{''.join(cells)}")
    print()
    problems = [*engine.problems, *checks.problems, *baseline.problems]
    if not problems:
        print(
            f"checks: {len(engine.latencies)} payouts succeeded by webhook, "
            f"{checks.executed} transfers executed once each, ledger consistent"
        )
    for note in checks.notes:
        print(f"note: {note}")
    if warnings:
        listed = ", ".join(f"{name} x{count}" for name, count in warnings.most_common())
        print(f"note: warnings logged: {listed}")
    return problems


# -- main ----------------------------------------------------------------------------------


def compile_sources() -> None:
    """Byte-compile the engine's and the benchmark's modules, as ``pip install`` does.

    The Temporal sandbox re-imports each workflow's module for every new workflow; from
    an editable checkout under ``PYTHONDONTWRITEBYTECODE`` that means compiling the
    source every time, on both sides. Compiled once here, both load bytecode, as an
    installed engine would.
    """
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
        compileall.compile_dir(folder, quiet=1)


async def bench(args: argparse.Namespace) -> list[str]:
    """Start the dev server, the engine and the baseline worker; measure, verify, report.

    Returns:
        What makes the run invalid; empty for a valid run.
    """
    from sqlalchemy.engine import make_url

    from payments_engine.domain.ledger import FundMerchantInput
    from payments_engine.domain.money import Money
    from payments_engine.starter.stack import engine_stack, local_temporal, throwaway_settings

    compile_sources()
    warnings = WarningCounter()
    logging.getLogger().addHandler(warnings)
    run_tag = uuid.uuid4().hex[:8]

    with tempfile.TemporaryDirectory(prefix="bench-payouts-") as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        is_postgres = make_url(database_url).get_backend_name() == "postgresql"
        backend = "PostgreSQL" if is_postgres else "SQLite"
        print(f"starting Temporal dev server, engine stack ({backend} ledger) ...", flush=True)
        async with await local_temporal() as env:
            settings = throwaway_settings(
                env.client,
                database_url,
                data_dir=Path(tmp),
                task_queue=ENGINE_TASK_QUEUE,
                sandbox_settle_seconds=0.0,
                sandbox_enabled=args.sandbox_in_process,
                sandbox_port=0 if args.sandbox_in_process else unused_port(),
            )
            # Workers and stack are closed before the environment, which is closed
            # before the loop: anything else can abort the interpreter at exit.
            async with (
                engine_stack(
                    settings,
                    env.client,
                    with_worker=not args.worker_processes,
                    sandbox_overrides=SANDBOX_OVERRIDES,
                ) as stack,
                contextlib.AsyncExitStack() as services,
            ):
                relay_url = (
                    await services.enter_async_context(relay_process(stack))
                    if args.relay_process
                    else stack.relay.url
                )
                sandbox_url = (
                    stack.sandbox_url
                    if args.sandbox_in_process
                    else await services.enter_async_context(
                        sandbox_process(stack, settings.sandbox_port, relay_url)
                    )
                )
                warmup = payout_requests(run_tag, "warm", WARMUP_PAYOUTS, args.merchants)
                measured = payout_requests(run_tag, "run", args.payouts, args.merchants)
                for k in range(args.merchants):
                    await stack.ledger.fund_merchant(
                        FundMerchantInput(
                            merchant_id=merchant_of(k, args.merchants),
                            amount=Money(
                                amount=AMOUNT_MINOR * (len(warmup) + len(measured)) * 2,
                                currency=CURRENCY,
                            ),
                            reference=f"bench-{run_tag}-funding-{k}",
                        )
                    )

                for _ in range(args.worker_processes):
                    services.enter_context(
                        child_process("worker processes", serve_engine_worker, stack.settings)
                    )
                print(f"engine: warm-up {len(warmup)}, then {args.payouts} payouts ...", flush=True)
                await run_engine(stack, warmup, args.concurrency, "warm-up")
                engine = await with_cpu(run_engine(stack, measured, args.concurrency))
                checks = await verify_engine(stack, sandbox_url, measured, [*warmup, *measured])
                engine_phases = await phase_breakdown(
                    env.client, [r.workflow_id for r in sample(measured)]
                )

                print(f"baseline: warm-up {WARMUP_PAYOUTS}, then {args.payouts} ...", flush=True)
                async with baseline_workers(stack, args.worker_processes):
                    await run_baseline(
                        env.client, run_tag, "warm", WARMUP_PAYOUTS, args.concurrency, "warm-up"
                    )
                    baseline = await with_cpu(
                        run_baseline(
                            env.client, run_tag, "run", args.payouts, args.concurrency, "baseline"
                        )
                    )
                baseline_phases = await phase_breakdown(
                    env.client,
                    [
                        f"baseline-{baseline_payout_id(run_tag, 'run', index)}"
                        for index in sample(range(args.payouts))
                    ],
                )
    logging.getLogger().removeHandler(warnings)
    return report(
        args, backend, engine, baseline, checks, warnings.counts, (engine_phases, baseline_phases)
    )


class OneLineFormatter(logging.Formatter):
    """Log lines without tracebacks: the exception's type and message end the line."""

    def format(self, record: logging.LogRecord) -> str:
        """The message, then `` | Type: message`` of the exception, if any."""
        exc_info = record.exc_info
        record.exc_info, record.exc_text = None, None
        try:
            line = super().format(record)
        finally:
            record.exc_info = exc_info
        if exc_info and exc_info[1] is not None:
            line += f" | {type(exc_info[1]).__name__}: {exc_info[1]}"
        return line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Payouts per second and latency of the engine, end to end, "
        "against a no-op workflow of the same shape on the same Temporal server."
    )
    parser.add_argument("--payouts", type=int, default=200, help="payouts per side (200)")
    parser.add_argument("--concurrency", type=int, default=50, help="payouts in flight (50)")
    parser.add_argument(
        "--merchants",
        type=int,
        default=1,
        help="merchants the payouts are spread over (1: every posting on the same rows)",
    )
    parser.add_argument(
        "--sandbox-in-process",
        action="store_true",
        help="run the sandbox (the provider) in the engine's process, as `payments dev`"
        " does, instead of its own",
    )
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        metavar="N",
        help="run each side's worker in N processes of its own (0: in this process, the default)",
    )
    parser.add_argument(
        "--relay-process",
        action="store_true",
        help="run the relay in its own process, as in production (on SQLite it then"
        " shares the database file with the worker's process)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy async URL of an empty ledger database; default a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    if args.relay_process and args.sandbox_in_process:
        parser.error("--relay-process needs the sandbox in its own process")
    if args.worker_processes < 0:
        parser.error("--worker-processes must be 0 or more")
    if args.payouts < 1 or args.concurrency < 1 or args.merchants < 1:
        parser.error("--payouts, --concurrency and --merchants must be at least 1")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    # SIGTERM stops the bench as Ctrl-C does: its child processes and Temporal server are
    # stopped on the way out instead of being left running.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        problems = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("benchmark interrupted", file=sys.stderr)
        return 130
    if problems:
        print(f"benchmark INVALID ({len(problems)} problems):", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Run as a script or with -m, this module is __main__, which the Temporal sandbox
    # cannot import: hand over to the module imported under its real name.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.payout_throughput import main as _main

    raise SystemExit(_main())
