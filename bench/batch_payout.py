"""Batch payouts: throughput, the worker's peak memory and history size, exactly once.

Run from the repository root::

    python -m bench.batch_payout [--lines 10000] [--concurrency 50] [--compare-lines 1000]
        [--single-lines 2000] [--kill-worker] [--database-url URL]

One Temporal dev server (started by the SDK), the engine stack around it (relay, sandbox
hub, a SQLite ledger in a temporary directory or ``--database-url``) in this process,
and the worker as a process of its own (``python -m payments_engine.worker``, as
``payments worker`` runs it), so its peak RSS (``VmHWM`` in ``/proc``) is its own. Each
measurement gets a fresh worker process:

* compare: a batch of ``--compare-lines`` lines (memory flatness: its peak against the
  big batch's);
* batch: a batch of ``--lines`` KES lines through ``client.batches.submit(...,
  concurrency=C)``, timed from the submit call to the batch's completion; the runs it
  went through (continue-as-new) and the history events of each run of ``batch-{id}``;
  with ``--kill-worker`` the worker is SIGKILLed once a third of the lines are done and
  a new one is started;
* single payouts: ``--single-lines`` payouts through ``client.create_payout`` /
  ``wait_payout``, at most C in flight (the floor a batch should reach).

The big batch counts only if every line ended succeeded, the sandbox hub recorded one
transfer per line, executed, submitted once (``submit_count == 1``), and the merchant's
available balance dropped by exactly the sum paid, nothing left reserved, the ledger
consistent. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.client import Client

    from payments_engine.starter.client import PaymentsClient
    from payments_engine.starter.stack import EngineStack

TASK_QUEUE = "bench-batches"
CURRENCY = "KES"
AMOUNT_MINOR = 10_000  # KES 100.00 a line
AMOUNT_MAJOR = "100.00"
COUNTRY = "KE"
# Any number whose last six digits are not a magic value succeeds in the sandbox.
SUCCESS_MSISDN = "+254712345678"
HEADER = "reference,amount,currency,msisdn,country,name,narration\n"
# The sandbox resolves transfers and sends webhooks once per tick; settles at once.
SANDBOX_OVERRIDES = {"tick_seconds": 0.01}
# Far more than any run draws (the hub's float is set to this before the first batch).
HUB_FLOAT_MINOR = 10**14
DEFAULT_SINGLE_LINES = 2_000
PROGRESS_EVERY = 1.0
SHOW_EVERY = 60  # progress samples between two progress lines
RSS_EVERY = 0.5
KILL_AT = 1 / 3

log = logging.getLogger("bench.batch_payout")


# -- the worker processes --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the process used so far; 0 once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set (``VmHWM``), KiB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


class Workers:
    """``python -m payments_engine.worker`` processes on the stack's task queue.

    Built like a user's ``payments worker``: the settings reach the process through the
    environment (the stack's database, Temporal address, codec keys, every provider's
    base URL and key). A sampler keeps the peak RSS of each process, so the peak of a
    killed one is known too.
    """

    def __init__(self, stack: EngineStack, log_path: Path) -> None:
        """Prepare the environment of the processes; none starts here."""
        from payments_engine.activities.providers.registry import PROVIDERS

        settings = stack.settings
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
        self._env.update(
            {
                "PAYMENTS_TEMPORAL_ADDRESS": settings.temporal_address,
                "PAYMENTS_TASK_QUEUE": settings.task_queue,
                "PAYMENTS_DATABASE_URL": settings.resolved_database_url,
                "PAYMENTS_MERCHANT_HOOKS_URL": settings.resolved_merchant_hooks_url,
            }
        )
        if settings.codec_keys is not None:
            self._env["PAYMENTS_CODEC_KEYS"] = settings.codec_keys.get_secret_value()
        if settings.fingerprint_key is not None:
            self._env["PAYMENTS_FINGERPRINT_KEY"] = settings.fingerprint_key.get_secret_value()
        for name in PROVIDERS:
            key = settings.provider(name).api_key
            if key is None:
                continue
            prefix = f"PAYMENTS_{name.upper()}_"
            self._env[prefix + "BASE_URL"] = settings.provider_base_url(name)
            self._env[prefix + "API_KEY"] = key.get_secret_value()
        self._client = stack.client
        self._task_queue = settings.task_queue
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.processes: list[subprocess.Popen[bytes]] = []
        self.peaks: dict[int, int] = {}  # pid -> peak RSS, KiB
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds, last seen

    async def start(self) -> subprocess.Popen[bytes]:
        """Start one worker process and wait until it polls the task queue."""
        process = subprocess.Popen(
            [sys.executable, "-m", "payments_engine.worker"],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        await self._polling(process)
        return process

    async def _polling(self, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        """Wait until a workflow poller of ``process`` (identity ``pid@host``) is seen."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        request = DescribeTaskQueueRequest(
            namespace=self._client.namespace,
            task_queue=TaskQueue(name=self._task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited ({process.returncode}); see {self.log_path}")
            answer = await self._client.workflow_service.describe_task_queue(request)
            if any(p.identity.startswith(f"{process.pid}@") for p in answer.pollers):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the worker did not poll within {timeout:.0f} s; see {self.log_path}")

    def sample(self) -> None:
        """Record the peak RSS of every worker process still alive."""
        for process in self.processes:
            if process.poll() is None and (kib := peak_rss_kib(process.pid)) is not None:
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), kib)
                self.cpu[process.pid] = max(self.cpu.get(process.pid, 0), cpu_seconds(process.pid))

    def cpu_of(self, processes: Sequence[subprocess.Popen[bytes]]) -> float:
        """CPU seconds ``processes`` used in all (sampled last before each ended)."""
        self.sample()
        return sum(self.cpu.get(p.pid, 0.0) for p in processes)

    def peak_mib(self, processes: Sequence[subprocess.Popen[bytes]]) -> float:
        """The largest peak RSS among ``processes``, MiB."""
        self.sample()
        return max((self.peaks.get(p.pid, 0) for p in processes), default=0) / 1024

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL ``process`` (its peak is sampled just before)."""
        self.sample()
        process.kill()
        process.wait()

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM ``process`` and wait for it (SIGKILL after 20 s)."""
        self.sample()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        """Stop whatever still runs."""
        for process in self.processes:
            self.stop(process)
        self._log.close()


async def sample_rss(workers: Workers) -> None:
    """Sample the workers' peak RSS every RSS_EVERY seconds until cancelled."""
    while True:
        workers.sample()
        await asyncio.sleep(RSS_EVERY)


# -- measurements ----------------------------------------------------------------------------


@dataclass
class Result:
    """One measured side: lines, wall time, the worker's peak, runs and history size."""

    name: str
    lines: int
    seconds: float
    peak_mib: float
    runs: int | None = None
    max_events_per_run: int | None = None
    events_per_run: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kill_note: str | None = None
    worker_cores: float = 0.0
    """CPU seconds of the worker process(es) / wall seconds."""
    mean_running: float | None = None
    """Mean of the batch's ``progress.running``, sampled every PROGRESS_EVERY seconds."""

    @property
    def rate(self) -> float:
        """Payouts per second."""
        return self.lines / self.seconds


def batch_file(tag: str, lines: int) -> tuple[bytes, list[str]]:
    """A CSV of ``lines`` KES 100.00 lines to the success number, with their references."""
    refs = [f"{tag}-{n:06d}" for n in range(lines)]
    rows = [
        f"{ref},{AMOUNT_MAJOR},{CURRENCY},{SUCCESS_MSISDN},{COUNTRY},Bench Person,bench"
        for ref in refs
    ]
    return (HEADER + "\n".join(rows) + "\n").encode(), refs


async def run_histories(client: Client, workflow_id: str) -> list[int]:
    """Events of each run of ``workflow_id``, first run first.

    From the latest run back: each run's first event names the run it continued.
    """
    handle = client.get_workflow_handle(workflow_id)
    run_id: str | None = (await handle.describe()).run_id
    sizes: list[int] = []
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        sizes.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
    return sizes[::-1]


async def run_batch(
    payments: PaymentsClient,
    workers: Workers,
    name: str,
    tag: str,
    lines: int,
    merchant: str,
    concurrency: int,
    kill: bool,
) -> tuple[Result, str, list[str]]:
    """Submit a batch on a fresh worker, wait for it; its Result, batch id and references."""
    from payments_engine.domain.batch import BatchStatus, batch_workflow_id

    data, refs = batch_file(tag, lines)
    worker = await workers.start()
    used = [worker]
    kill_note: str | None = None
    print(f"{name}: {lines} lines, concurrency {concurrency} ...", flush=True)
    started = time.perf_counter()
    submitted = await payments.batches.submit(
        data, batch_reference=tag, merchant_id=merchant, concurrency=concurrency
    )
    batch_id = submitted.batch_id
    finished = asyncio.ensure_future(payments.batches.wait(batch_id))
    killed = False
    running: list[int] = []
    while not finished.done():
        await asyncio.wait({finished}, timeout=PROGRESS_EVERY)
        if finished.done():
            continue
        try:
            progress = await payments.batches.progress(batch_id)
        except Exception:  # a run continuing as new, a worker gone: sample next time
            continue
        running.append(progress.running)
        if len(running) % SHOW_EVERY == 0:
            print(
                f"  {time.perf_counter() - started:.0f} s: {progress.done} of {lines} done, "
                f"{progress.running} running, run {progress.runs}",
                flush=True,
            )
        if kill and not killed and progress.done >= lines * KILL_AT:
            workers.kill(worker)
            killed = True
            at = time.perf_counter() - started
            replacement = await workers.start()
            used.append(replacement)
            kill_note = (
                f"SIGKILLed worker {worker.pid} at {at:.1f} s with {progress.done} of "
                f"{lines} lines done ({progress.running} running); worker "
                f"{replacement.pid} polling {time.perf_counter() - started - at:.1f} s later"
            )
            print(f"  {kill_note}", flush=True)
    final = finished.result()
    seconds = time.perf_counter() - started
    peak = workers.peak_mib(used)
    cores = workers.cpu_of(used) / seconds
    for process in used:
        workers.stop(process)
    problems = []
    if final.status is not BatchStatus.COMPLETED or final.succeeded != lines:
        problems.append(
            f"{name}: batch ended {final.status} with {final.succeeded} of {lines} succeeded "
            f"({final.failed} failed, {final.needs_review} needs review, "
            f"{final.cancelled} cancelled)"
        )
    if kill and not killed:
        problems.append(f"{name}: the batch ended before the worker could be killed")
    sizes = await run_histories(payments.batches._temporal, batch_workflow_id(batch_id))  # noqa: SLF001
    result = Result(
        name=name,
        lines=lines,
        seconds=seconds,
        peak_mib=peak,
        runs=final.runs,
        max_events_per_run=max(sizes),
        events_per_run=sizes,
        problems=problems,
        kill_note=kill_note,
        worker_cores=cores,
        mean_running=sum(running) / len(running) if running else None,
    )
    return result, batch_id, refs


async def run_singles(
    payments: PaymentsClient,
    workers: Workers,
    tag: str,
    count: int,
    merchant: str,
    concurrency: int,
) -> Result:
    """``count`` payouts created one by one, at most ``concurrency`` in flight."""
    from payments_engine.domain.money import Money
    from payments_engine.domain.payout import PayoutRequest, PayoutStatus

    worker = await workers.start()
    print(f"single payouts: {count}, at most {concurrency} in flight ...", flush=True)
    gate = asyncio.Semaphore(concurrency)
    problems: list[str] = []

    async def one(index: int) -> None:
        request = PayoutRequest(
            payout_id=f"{tag}-{index:06d}",
            merchant_id=merchant,
            amount=Money(amount=AMOUNT_MINOR, currency=CURRENCY),
            recipient_msisdn=SUCCESS_MSISDN,
            country=COUNTRY,
            description="bench",
        )
        async with gate:
            try:
                await payments.create_payout(request)
                view = await payments.wait_payout(request.payout_id)
            except Exception as exc:
                problems.append(f"single {request.payout_id}: {type(exc).__name__}: {exc}")
                return
            if view.status is not PayoutStatus.SUCCEEDED:
                problems.append(f"single {request.payout_id} ended {view.status}")

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    seconds = time.perf_counter() - started
    peak = workers.peak_mib([worker])
    cores = workers.cpu_of([worker]) / seconds
    workers.stop(worker)
    return Result(
        "single payouts", count, seconds, peak, problems=problems[:10], worker_cores=cores
    )


# -- exactly once ----------------------------------------------------------------------------


async def check_batch(
    stack: EngineStack,
    payments: PaymentsClient,
    batch_id: str,
    refs: Sequence[str],
    merchant: str,
    available_before: int,
) -> tuple[list[str], list[str]]:
    """Each line final, one transfer per line submitted once, the ledger's drop exact.

    Returns:
        The checks passed (as lines to print) and the problems found.
    """
    import httpx

    from payments_engine.domain.batch import BatchLineState, payout_id_for
    from payments_engine.domain.ids import payout_workflow_id
    from payments_engine.domain.ledger import merchant_available, merchant_reserved

    passed: list[str] = []
    problems: list[str] = []
    rows = [row async for row in payments.batches.results(batch_id)]
    states: dict[str, int] = {}
    for _, state, _, _ in rows:
        states[state] = states.get(state, 0) + 1
    not_final = sum(n for s, n in states.items() if not BatchLineState(s).is_final)
    succeeded = states.get(BatchLineState.SUCCEEDED.value, 0)
    if len(rows) == len(refs) and not not_final:
        passed.append(f"every one of {len(rows)} lines in a final state: {states}")
    else:
        problems.append(f"{len(rows)} result rows for {len(refs)} lines, by state {states}")

    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=120) as http:
        listed = (await http.get("/admin/transfers")).raise_for_status().json()
    by_reference: dict[str, list[dict[str, Any]]] = {}
    for transfer in listed:
        by_reference.setdefault(transfer["thirdPartyTransId"], []).append(transfer)
    wanted = [payout_workflow_id(payout_id_for(batch_id, ref)) for ref in refs]
    missing = [r for r in wanted if r not in by_reference]
    twice = [r for r in wanted if len(by_reference.get(r, [])) > 1]
    resubmitted = [
        r for r in wanted if any(t["submit_count"] != 1 for t in by_reference.get(r, []))
    ]
    not_paid = [
        r
        for r in wanted
        if any(not t["executed"] or t["status"] != "MR101" for t in by_reference.get(r, []))
    ]
    if missing or twice or resubmitted or not_paid:
        problems.append(
            f"sandbox: {len(missing)} lines without a transfer {missing[:3]}, "
            f"{len(twice)} with several {twice[:3]}, {len(resubmitted)} with submit_count != 1 "
            f"{resubmitted[:3]}, {len(not_paid)} not executed/MR101 {not_paid[:3]}"
        )
    else:
        passed.append(
            f"sandbox: {len(wanted)} transfers, one per line, each executed (MR101) "
            "with submit_count == 1"
        )

    ledger = stack.ledger
    available_after = await ledger.balance(merchant_available(merchant), CURRENCY)
    reserved = await ledger.balance(merchant_reserved(merchant), CURRENCY)
    dropped = available_before - available_after
    paid = succeeded * AMOUNT_MINOR
    if dropped == paid and reserved == 0:
        passed.append(
            f"ledger: the merchant's available balance dropped by {dropped} = {succeeded} x "
            f"{AMOUNT_MINOR} (the sum paid), nothing reserved"
        )
    else:
        problems.append(
            f"ledger: available dropped by {dropped}, the sum paid is {paid}; "
            f"{reserved} still reserved"
        )
    inconsistent = await ledger.check_consistency()
    if inconsistent:
        problems += [f"ledger: {p}" for p in inconsistent[:5]]
    else:
        passed.append("ledger: consistent (postings balance, cached balances match)")
    return passed, problems


# -- the run ---------------------------------------------------------------------------------


def compile_sources() -> None:
    """Byte-compile the engine's modules once, as ``pip install`` does.

    The workflow sandbox re-imports a workflow's module for every new workflow; under
    ``PYTHONDONTWRITEBYTECODE`` each worker would otherwise compile them every time.
    """
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
        compileall.compile_dir(folder, quiet=1)


async def fund(stack: EngineStack, merchant: str, amount: int) -> None:
    """Fund ``merchant`` with ``amount`` KES minor units and top up the hub's float."""
    import httpx

    from payments_engine.domain.ledger import FundMerchantInput
    from payments_engine.domain.money import Money

    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant,
            amount=Money(amount=amount, currency=CURRENCY),
            reference=f"fund-{merchant}",
        )
    )
    async with httpx.AsyncClient(base_url=stack.sandbox_url) as http:
        answer = await http.put(
            "/admin/float", json={"currency": CURRENCY, "amount": HUB_FLOAT_MINOR}
        )
        answer.raise_for_status()


@dataclass
class Outcome:
    """Everything the report needs."""

    compare: Result
    batch: Result
    singles: Result
    passed: list[str]
    problems: list[str]


async def bench(args: argparse.Namespace) -> Outcome:
    """Start the stack, run compare, batch and single payouts; check the batch."""
    from payments_engine.domain.ledger import merchant_available
    from payments_engine.starter.client import PaymentsClient
    from payments_engine.starter.stack import engine_stack, local_temporal, throwaway_settings

    compile_sources()
    tag = uuid.uuid4().hex[:6]
    merchant = f"bench-batch-{tag}"
    with tempfile.TemporaryDirectory(prefix="bench-batches-") as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        print("starting Temporal dev server, engine stack, worker process ...", flush=True)
        async with await local_temporal() as env:
            settings = throwaway_settings(
                env.client,
                database_url,
                data_dir=Path(tmp),
                task_queue=TASK_QUEUE,
                sandbox_settle_seconds=0.0,
            )
            async with engine_stack(
                settings, env.client, with_worker=False, sandbox_overrides=SANDBOX_OVERRIDES
            ) as stack:
                payments = PaymentsClient(
                    stack.client,
                    stack.settings.task_queue,
                    stack.ledger,
                    fingerprint_key=stack.settings.fingerprint_key,
                )
                total = args.lines + args.compare_lines + args.single_lines
                await fund(stack, merchant, 2 * total * AMOUNT_MINOR)
                workers = Workers(stack, Path(tmp) / "worker.log")
                sampler = asyncio.ensure_future(sample_rss(workers))
                try:
                    compare, _, _ = await run_batch(
                        payments,
                        workers,
                        "compare batch",
                        f"c{tag}",
                        args.compare_lines,
                        merchant,
                        args.concurrency,
                        kill=False,
                    )
                    before = await stack.ledger.balance(merchant_available(merchant), CURRENCY)
                    batch, batch_id, refs = await run_batch(
                        payments,
                        workers,
                        "batch",
                        f"b{tag}",
                        args.lines,
                        merchant,
                        args.concurrency,
                        kill=args.kill_worker,
                    )
                    passed, problems = await check_batch(
                        stack, payments, batch_id, refs, merchant, before
                    )
                    singles = await run_singles(
                        payments, workers, f"s{tag}", args.single_lines, merchant, args.concurrency
                    )
                except BaseException:
                    tail = workers.log_path.read_text(errors="replace")[-3000:]
                    print(f"worker log (tail):\n{tail}", file=sys.stderr)
                    raise
                finally:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                    workers.close()
    problems = [*problems, *compare.problems, *batch.problems, *singles.problems]
    return Outcome(compare, batch, singles, passed, problems)


def report(args: argparse.Namespace, outcome: Outcome) -> None:
    """Print the table, the 1k vs 10k peaks, the runs' histories and the checks."""
    import temporalio

    compare, batch, singles = outcome.compare, outcome.batch, outcome.singles
    print()
    print(
        f"python {platform.python_version()} | temporalio {temporalio.__version__} | "
        f"ledger {'SQLite' if args.database_url is None else args.database_url.split(':')[0]}"
        f" | C={args.concurrency} | worker in its own process, fresh per measurement | "
        f"cores {os.cpu_count()} | {platform.system()} {platform.machine()}"
    )
    header = (
        f"{'':<16}{'lines':>8}{'seconds':>10}{'payouts/s':>11}{'worker peak MiB':>17}"
        f"{'runs':>6}{'max events/run':>16}{'worker cores':>14}{'in flight':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in (batch, singles, compare):
        runs = "-" if r.runs is None else str(r.runs)
        events = "-" if r.max_events_per_run is None else str(r.max_events_per_run)
        flight = "-" if r.mean_running is None else f"{r.mean_running:.1f}"
        print(
            f"{r.name:<16}{r.lines:>8}{r.seconds:>10.1f}{r.rate:>11.1f}{r.peak_mib:>17.0f}"
            f"{runs:>6}{events:>16}{r.worker_cores:>14.2f}{flight:>11}"
        )
    print("-" * len(header))
    print(
        f"batch / single payouts: throughput x{batch.rate / singles.rate:.2f}, "
        f"worker peak x{batch.peak_mib / singles.peak_mib:.2f}"
    )
    if singles.lines != batch.lines:
        print(
            f"note: single payouts ran {singles.lines} payouts, not {batch.lines} "
            "(--single-lines; rates compare, wall times do not)"
        )
    print(
        f"worker peak RSS, batch of {compare.lines} vs {batch.lines} lines: "
        f"{compare.peak_mib:.0f} MiB vs {batch.peak_mib:.0f} MiB "
        f"(x{batch.peak_mib / compare.peak_mib:.2f} for x{batch.lines / compare.lines:.0f} lines)"
    )
    for r in (batch, compare):
        print(f"history events per run of {r.name}: {r.events_per_run}")
    if batch.kill_note:
        print(f"kill: {batch.kill_note}")
    print()
    for line in outcome.passed:
        print(f"check passed: {line}")
    for problem in outcome.problems:
        print(f"check FAILED: {problem}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Batch payouts against single payouts: payouts/s, the worker's peak "
        "RSS, continue-as-new runs and history size; exactly once under a worker kill."
    )
    parser.add_argument("--lines", type=int, default=10_000, help="lines of the batch (10000)")
    parser.add_argument("--concurrency", type=int, default=50, help="payouts in flight (50)")
    parser.add_argument(
        "--compare-lines",
        type=int,
        default=1_000,
        help="lines of the smaller batch whose worker peak is compared (1000)",
    )
    parser.add_argument(
        "--single-lines",
        type=int,
        default=None,
        help=f"single payouts of the floor (default {DEFAULT_SINGLE_LINES}, at most --lines)",
    )
    parser.add_argument(
        "--kill-worker",
        action="store_true",
        help="SIGKILL the worker a third of the way through the batch and start another",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy async URL of an empty ledger database; default a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    if args.single_lines is None:
        args.single_lines = min(args.lines, DEFAULT_SINGLE_LINES)
    if min(args.lines, args.concurrency, args.compare_lines, args.single_lines) < 1:
        parser.error("--lines, --concurrency, --compare-lines and --single-lines must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1 unless every exactly-once check passed)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    outcome = asyncio.run(bench(args))
    report(args, outcome)
    if outcome.problems:
        print(f"benchmark INVALID ({len(outcome.problems)} problems)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.batch_payout import main as _main

    raise SystemExit(_main())
