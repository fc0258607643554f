"""Card authorization latency: issuer sandbox -> relay -> Update -> answer, on the embedded stack.

Run from the repository root::

    python bench/card_authorization.py [--purchases N] [--cards K] [--levels 1,10,50]

One Temporal dev server (started by the SDK) and the engine stack (``engine_stack``:
relay, worker, SQLite ledger) in this process, as ``payments dev`` runs them; the
sandbox (the issuer and its network) in a process of its own, since the issuer is not
the engine (``--sandbox-in-process`` keeps it in, as ``payments dev`` does). K cards
are issued and funded, then at each concurrency level
N purchases are sent to the sandbox's network (``POST /admin/issuer/purchases``), which
signs an authorization request, POSTs it to the relay and times the answer; the relay
verifies it and sends the ``authorize`` Update to the card's workflow, which decides from
memory. Latency is the network's: from sending the request to reading the answer. The
purchases are sent from a process of its own too (the network's load, not the engine's).

Beside it, on the same server in the same run, the floor of this design: a bare Update
round trip (``bench.update_baseline.UpdateEchoWorkflow``) from a client in this process,
with the same count and concurrency over K workflows. ``--worker-process`` runs each
side's worker in a process of its own (the production topology).

Every purchase must be answered by the engine (not the network's own timeout decline)
and inside the deadline; afterwards each card's balance and holds must equal the
ledger's. A run where either fails prints why and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CURRENCY = "KES"
PURCHASE_MINOR = 100  # KES 1.00
TASK_QUEUE = "bench-cards"
BASELINE_TASK_QUEUE = "bench-update-echo"
DEADLINE_SECONDS = 2.0


@dataclass
class Level:
    """The latencies of one concurrency level on one path."""

    path: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)

    def pct(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the latencies, nearest rank."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    @property
    def rate(self) -> float:
        """Decisions per second."""
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else 0.0


async def bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``one(i)`` for every i < count, at most ``concurrency`` at once; wall seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(count)))
    return time.perf_counter() - started


async def engine_level(
    sandbox: Any, cards: Sequence[str], count: int, concurrency: int, tag: str
) -> Level:
    """N purchases through the sandbox's network at ``concurrency``."""
    level = Level("engine", concurrency)

    async def one(i: int) -> None:
        response = await sandbox.post(
            "/admin/issuer/purchases",
            json={
                "card": cards[i % len(cards)],
                "amount": PURCHASE_MINOR,
                "currency": CURRENCY,
                "mcc": "5411",
                "country": "KE",
                "merchant_name": "Bench shop",
            },
        )
        response.raise_for_status()
        answer = response.json()
        level.latencies_ms.append(float(answer["latency_ms"]))
        level.outcomes[f"{answer['result']} by {answer['answered_by']}"] += 1

    level.wall_seconds = await bounded(count, concurrency, one)
    return level


def drive_purchases(
    sandbox_url: str, cards: Sequence[str], count: int, concurrency: int, tag: str
) -> Level:
    """:func:`engine_level` in a process of its own (a pool's target): the network's load
    generator is not the engine, so its CPU stays out of the engine's process."""
    import httpx

    async def main() -> Level:
        async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox:
            return await engine_level(sandbox, cards, count, concurrency, tag)

    return asyncio.run(main())


async def update_level(
    client: Any, workflow_ids: Sequence[str], count: int, concurrency: int
) -> Level:
    """N bare Update round trips at ``concurrency``."""
    from bench.update_baseline import UpdateEchoWorkflow

    level = Level("bare Update", concurrency)

    async def one(i: int) -> None:
        handle = client.get_workflow_handle(workflow_ids[i % len(workflow_ids)])
        started = time.perf_counter()
        await handle.execute_update(UpdateEchoWorkflow.echo, str(i))
        level.latencies_ms.append((time.perf_counter() - started) * 1000)
        level.outcomes["answered"] += 1

    level.wall_seconds = await bounded(count, concurrency, one)
    return level


def serve_card_sandbox(hub: Any, issuer: Any, port: int) -> None:
    """Serve the sandbox (hub and card issuer) on ``port`` until terminated (a child's target)."""
    import uvicorn

    from payments_engine.sandbox.app import create_sandbox_app

    app = create_sandbox_app(hub, issuer=issuer)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextlib.asynccontextmanager
async def sandbox_process(stack: Any, port: int) -> AsyncIterator[str]:
    """Run the sandbox (the issuer and its network) in its own process; yield its URL.

    The issuer is not the engine: in production it runs elsewhere, so its simulator's
    CPU (signing requests, timing answers, keeping records) stays out of the engine's
    process, as in ``payout_throughput.py``.
    """
    from bench.payout_throughput import child_process, wait_until_serving
    from payments_engine.sandbox.hub.config import SandboxConfig
    from payments_engine.sandbox.issuer.config import IssuerSandboxConfig

    settings = stack.settings
    hub, issuer = settings.provider("hub"), settings.provider("issuer")
    relay = stack.relay.url
    hub_config = SandboxConfig(
        api_key=hub.api_key.get_secret_value(),
        webhook_secret=hub.webhook_secret.get_secret_value(),
        webhook_url=None,
    )
    issuer_config = IssuerSandboxConfig(
        api_key=issuer.api_key.get_secret_value(),
        webhook_secret=issuer.webhook_secret.get_secret_value(),
        webhook_url=f"{relay}/webhooks/issuer",
        authorization_url=f"{relay}/authorizations/issuer",
        authorization_deadline_seconds=DEADLINE_SECONDS,
    )
    url = f"http://127.0.0.1:{port}"
    with child_process(
        "sandbox (the issuer)", serve_card_sandbox, hub_config, issuer_config, port
    ) as process:
        await wait_until_serving(process, url, "/admin/issuer/cards", "sandbox")
        yield url


def serve_echo_worker(settings: Any) -> None:
    """Run the bare Update's worker until terminated (a child's target)."""
    from temporalio.worker import Worker

    from bench.payout_throughput import _until_terminated
    from bench.update_baseline import UpdateEchoWorkflow

    async def service(stop: asyncio.Event) -> None:
        from payments_engine.runtime.temporal import connect

        client = await connect(settings)
        async with Worker(client, task_queue=BASELINE_TASK_QUEUE, workflows=[UpdateEchoWorkflow]):
            await stop.wait()

    _until_terminated(service)


def report(levels: list[Level]) -> None:
    """Print the table, engine beside the bare Update at each level."""
    print(
        f"{'concurrency':>11}  {'path':<12} {'decisions/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8}  outcomes"
    )
    for level in levels:
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(level.outcomes.items()))
        print(
            f"{level.concurrency:>11}  {level.path:<12} {level.rate:>11.1f}"
            f" {level.pct(0.5):>8.1f} {level.pct(0.99):>8.1f} {max(level.latencies_ms):>8.1f}"
            f"  {outcomes}"
        )
    by_key = {(lv.path, lv.concurrency): lv for lv in levels}
    for (path, concurrency), level in by_key.items():
        if path != "engine":
            continue
        floor = by_key.get(("bare Update", concurrency))
        if floor is not None:
            print(
                f"concurrency {concurrency}: engine p50 {level.pct(0.5) / floor.pct(0.5):.1f}x,"
                f" p99 {level.pct(0.99) / floor.pct(0.99):.1f}x the bare Update's;"
                f" {level.rate / floor.rate:.2f}x its decisions/s"
            )


async def bench(args: argparse.Namespace) -> list[str]:
    """Start everything, measure each level on both paths, verify; return the failures."""
    import httpx
    from temporalio.worker import Worker

    from bench.update_baseline import UpdateEchoWorkflow
    from payments_engine.domain.card import (
        Cardholder,
        CardState,
        FundCardRequest,
        IdDocument,
        IssueCardRequest,
    )
    from payments_engine.domain.ledger import FundMerchantInput, card_available, card_holds
    from payments_engine.domain.money import Money
    from payments_engine.starter.client import PaymentsClient
    from payments_engine.starter.stack import engine_stack, local_temporal, throwaway_settings

    failures: list[str] = []
    tag = uuid.uuid4().hex[:6]
    levels_wanted = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-cards-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}"
        print("starting Temporal dev server and the engine stack ...", flush=True)
        async with await local_temporal() as env:
            from bench.payout_throughput import unused_port

            settings = throwaway_settings(
                env.client,
                database_url,
                data_dir=Path(tmp),
                task_queue=TASK_QUEUE,
                sandbox_enabled=args.sandbox_in_process,
                sandbox_port=0 if args.sandbox_in_process else unused_port(),
            )
            async with (
                engine_stack(settings, env.client, with_worker=not args.worker_process) as stack,
                contextlib.AsyncExitStack() as services,
            ):
                if args.worker_process:
                    # The production topology: each side's worker in a process of its own.
                    from bench.payout_throughput import child_process, serve_engine_worker

                    services.enter_context(
                        child_process("worker process", serve_engine_worker, stack.settings)
                    )
                    services.enter_context(
                        child_process("worker process", serve_echo_worker, stack.settings)
                    )
                else:
                    await services.enter_async_context(
                        Worker(
                            env.client,
                            task_queue=BASELINE_TASK_QUEUE,
                            workflows=[UpdateEchoWorkflow],
                        )
                    )
                sandbox_url = (
                    stack.sandbox_url
                    if args.sandbox_in_process
                    else await services.enter_async_context(
                        sandbox_process(stack, settings.sandbox_port)
                    )
                )
                sandbox = await services.enter_async_context(
                    httpx.AsyncClient(base_url=sandbox_url, timeout=30)
                )
                client = PaymentsClient(env.client, TASK_QUEUE, stack.ledger)
                total = args.purchases * len(levels_wanted) + args.cards
                per_card = PURCHASE_MINOR * total * 2
                await stack.ledger.fund_merchant(
                    FundMerchantInput(
                        merchant_id="bench",
                        amount=Money(amount=per_card * args.cards, currency=CURRENCY),
                        reference=f"bench-{tag}",
                    )
                )
                card_ids = [f"bench-{tag}-{k}" for k in range(args.cards)]
                for card_id in card_ids:
                    await client.cards.issue(
                        IssueCardRequest(
                            card_id=card_id,
                            merchant_id="bench",
                            currency=CURRENCY,
                            cardholder=Cardholder(
                                first_name="Bench",
                                last_name="Holder",
                                date_of_birth="1990-01-01",  # type: ignore[arg-type]
                                id_document=IdDocument(type="national_id", number="55551234"),
                                country="KE",
                            ),
                        )
                    )
                for card_id in card_ids:
                    while (await client.cards.get(card_id)).state is not CardState.ACTIVE:
                        await asyncio.sleep(0.05)
                    await client.cards.fund(
                        card_id,
                        FundCardRequest(
                            reference=f"fund-{card_id}",
                            amount=Money(amount=per_card, currency=CURRENCY),
                        ),
                    )
                echo_ids = [f"echo-{tag}-{k}" for k in range(args.cards)]
                for workflow_id in echo_ids:
                    await env.client.start_workflow(
                        UpdateEchoWorkflow.run, id=workflow_id, task_queue=BASELINE_TASK_QUEUE
                    )
                # Warm both paths (imports, connections, caches) before measuring.
                await engine_level(sandbox, card_ids, args.cards, args.cards, f"{tag}w")
                await update_level(env.client, echo_ids, args.cards, args.cards)

                levels: list[Level] = []
                loop = asyncio.get_running_loop()
                driver = services.enter_context(
                    ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                )
                for concurrency in levels_wanted:
                    print(f"measuring concurrency {concurrency} ...", flush=True)
                    levels.append(
                        await loop.run_in_executor(
                            driver,
                            drive_purchases,
                            sandbox_url,
                            card_ids,
                            args.purchases,
                            concurrency,
                            tag,
                        )
                    )
                    levels.append(
                        await update_level(env.client, echo_ids, args.purchases, concurrency)
                    )
                for workflow_id in echo_ids:
                    await env.client.get_workflow_handle(workflow_id).signal(
                        UpdateEchoWorkflow.stop
                    )

                for level in levels:
                    if level.path != "engine":
                        continue
                    late = [ms for ms in level.latencies_ms if ms >= DEADLINE_SECONDS * 1000]
                    by_network = sum(v for k, v in level.outcomes.items() if "by network" in k)
                    if late or by_network:
                        failures.append(
                            f"concurrency {level.concurrency}: {len(late)} answers after the"
                            f" deadline, {by_network} declined by the network itself"
                        )
                # The ledger follows each card within moments of its decisions.
                for card_id in card_ids:
                    for _ in range(200):
                        view = await client.cards.get(card_id)
                        ledger = (
                            await stack.ledger.balance(card_available(card_id), CURRENCY),
                            await stack.ledger.balance(card_holds(card_id), CURRENCY),
                        )
                        if ledger == (view.balance, view.held):
                            break
                        await asyncio.sleep(0.05)
                    else:
                        failures.append(f"card {card_id}: ledger {ledger} != card {view}")
                runs = [(await client.cards.get(c)).runs for c in card_ids]
                report(levels)
                print(f"cards: {len(card_ids)}, runs per card (continue-as-new): max {max(runs)}")
                print(f"median runs per card: {statistics.median(runs)}")
    return failures


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=300, help="purchases per level")
    parser.add_argument("--cards", type=int, default=10, help="cards the purchases spread over")
    parser.add_argument("--levels", default="1,10,50", help="concurrency levels, comma-separated")
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the engine's worker (and the bare Update's) in a process of its own",
    )
    parser.add_argument(
        "--sandbox-in-process",
        action="store_true",
        help="run the sandbox (the issuer) in this process, as payments dev does",
    )
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.cards < 1:
        parser.error("--purchases and --cards must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every check passed."""
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    from payments_engine.runtime.temporal import run

    failures = run(bench(args))
    for failure in failures:
        print(f"INVALID RUN: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
