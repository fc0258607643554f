"""The worker process: registers the workflows and activities and runs until told to stop.

``payments worker`` runs it on its own (for scaling out, or under docker-compose);
``payments dev`` runs the same :func:`run_worker` beside the relay and sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from payments_engine.activities.batches import BatchActivities
from payments_engine.activities.cards import CardActivities
from payments_engine.activities.cash_orders import CashOrderActivities
from payments_engine.activities.collections import CollectionActivities
from payments_engine.activities.floats import FloatActivities
from payments_engine.activities.ledger import LedgerActivities
from payments_engine.activities.payouts import PayoutActivities
from payments_engine.activities.providers.base import (
    CardIssuingProvider,
    CashVoucherProvider,
    CollectionProvider,
    FloatProvider,
    PayoutProvider,
    RefundProvider,
)
from payments_engine.activities.providers.registry import PROVIDERS
from payments_engine.activities.reconciliation import ReconciliationActivities
from payments_engine.activities.refunds import RefundActivities
from payments_engine.db.batches import BatchStore
from payments_engine.db.ledger import Ledger
from payments_engine.db.reconciliation import ReconciliationStore
from payments_engine.db.session import create_engine, session_factory
from payments_engine.runtime.search_attributes import register_search_attributes
from payments_engine.runtime.settings import Settings, SettingsError, load_settings
from payments_engine.runtime.temporal import connect_with_retry, run
from payments_engine.workflows.batch_payout import BatchPayoutWorkflow
from payments_engine.workflows.card import CardWorkflow
from payments_engine.workflows.cash_order import CashOrderWorkflow
from payments_engine.workflows.collection import CollectionWorkflow
from payments_engine.workflows.float_watch import FloatWatchWorkflow
from payments_engine.workflows.payout import PayoutWorkflow
from payments_engine.workflows.reconciliation import (
    ReconciliationWorkflow,
    ScheduledReconciliationWorkflow,
)
from payments_engine.workflows.refund import RefundWorkflow

log = logging.getLogger("payments.worker")

WORKFLOWS = [
    PayoutWorkflow,
    CollectionWorkflow,
    RefundWorkflow,
    CardWorkflow,
    CashOrderWorkflow,
    ReconciliationWorkflow,
    ScheduledReconciliationWorkflow,
    BatchPayoutWorkflow,
    FloatWatchWorkflow,
]
# Deterministic modules shared with the sandbox instead of re-imported for every new
# workflow: the engine's pure types (and the activity modules whose names the workflows
# reference), and the libraries they use to validate inputs on decode. The workflow
# modules themselves stay sandboxed, so the sandbox still guards their determinism.
PASSTHROUGH_MODULES = (
    "payments_engine.domain",
    "payments_engine.activities",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "phonenumbers",
    "babel",
)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
)
# Pollers of workflow tasks: ten, not the SDK's five. A fifth of them poll the shared
# queue that every new workflow's first task comes from (the rest this worker's sticky
# queue): with that one poller, a burst of new payouts on a busy worker queued 3-4 s for
# its first task, the p99 of bench/payout_throughput.py; ten make it two. (The SDK's
# autoscaling pollers removed that too, but left a query of 20 callers at once
# unanswered for 30 s in a test.)
WORKFLOW_TASK_POLLERS = PollerBehaviorSimpleMaximum(10)
# Lets running activities finish (and record their result) before the process exits.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


class MissingSetting(RuntimeError):
    """A setting the worker cannot run without is not set."""


def provider_client(settings: Settings, name: str) -> httpx.AsyncClient:
    """The HTTP client of provider ``name``: base URL, credentials and timeout from settings."""
    provider = settings.provider(name)
    return httpx.AsyncClient(
        base_url=settings.provider_base_url(name),
        headers=PROVIDERS[name].auth_headers(provider),
        timeout=httpx.Timeout(provider.timeout_seconds),
    )


def merchant_hooks_client(settings: Settings) -> httpx.AsyncClient:
    """The client of the merchant's hooks: base URL, bearer token and timeout from settings."""
    token = settings.merchant_hooks_token
    return httpx.AsyncClient(
        base_url=settings.resolved_merchant_hooks_url,
        headers={} if token is None else {"Authorization": f"Bearer {token.get_secret_value()}"},
        timeout=httpx.Timeout(settings.merchant_hooks_timeout_seconds),
    )


@dataclass
class Adapters:
    """The provider adapters of a worker, per capability, each on its provider's client."""

    payouts: dict[str, PayoutProvider] = field(default_factory=dict)
    collections: dict[str, CollectionProvider] = field(default_factory=dict)
    refunds: dict[str, RefundProvider] = field(default_factory=dict)
    cards: dict[str, CardIssuingProvider] = field(default_factory=dict)
    vouchers: dict[str, CashVoucherProvider] = field(default_factory=dict)
    collection_fee_bps: dict[str, int] = field(default_factory=dict)
    hooks: httpx.AsyncClient | None = None
    """The merchant's hooks (stock of cash orders, alerts); None calls none."""
    floats: dict[str, FloatProvider] = field(default_factory=dict)
    """Provider name -> its float reader, for the providers that state their float."""
    reports: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    """Provider name -> its client, for the providers that publish settlement reports."""
    workdir: Path | None = None
    """Where reconciliation keeps reports and spills (the data dir); None: a temp dir."""
    reconcile_memory_limit: str = "512MB"
    """DuckDB's memory limit of one reconciliation run (``PAYMENTS_RECONCILE_MEMORY_LIMIT``)."""


def build_worker(client: Client, task_queue: str, adapters: Adapters, ledger: Ledger) -> Worker:
    """Register every workflow and activity on ``task_queue``."""
    payouts = PayoutActivities(adapters.payouts)
    collections = CollectionActivities(adapters.collections)
    refunds = RefundActivities(adapters.refunds)
    cards = CardActivities(adapters.cards)
    cash_orders = CashOrderActivities(adapters.vouchers, adapters.hooks)
    ledger_activities = LedgerActivities(ledger, adapters.collection_fee_bps)
    batches = BatchActivities(BatchStore(ledger.engine), adapters.hooks)
    floats = FloatActivities(adapters.floats, adapters.hooks)
    reconciliation = ReconciliationActivities(
        adapters.reports,
        ReconciliationStore(ledger.engine),
        adapters.workdir or Path(tempfile.gettempdir()) / "payments-reconciliation",
        adapters.hooks,
        memory_limit=adapters.reconcile_memory_limit,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            payouts.submit_payout,
            payouts.get_payout_status,
            collections.request_collection,
            collections.get_collection_status,
            collections.cancel_collection,
            refunds.submit_refund,
            refunds.get_refund_status,
            ledger_activities.reserve_funds,
            ledger_activities.settle_payout,
            ledger_activities.release_funds,
            ledger_activities.settle_collection,
            ledger_activities.reserve_refund,
            ledger_activities.settle_refund,
            ledger_activities.release_refund,
            ledger_activities.reverse_refund,
            ledger_activities.post_card_entries,
            ledger_activities.book_cash_payment,
            ledger_activities.settle_cash_payment,
            cash_orders.create_voucher,
            cash_orders.get_voucher_status,
            cash_orders.cancel_voucher,
            cash_orders.settlement_time,
            cash_orders.notify_stock,
            cards.create_cardholder,
            cards.get_cardholder,
            cards.create_card,
            cards.close_card,
            cards.get_network_transaction,
            cards.notify_low_balance,
            floats.get_float,
            floats.alert_low_float,
            batches.describe_batch,
            batches.claim_lines,
            batches.release_lines,
            batches.record_outcomes,
            batches.cancel_pending,
            batches.alert_breaker,
            reconciliation.reconcile,
            reconciliation.alert,
            reconciliation.note_evidence,
        ],
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        workflow_task_poller_behavior=WORKFLOW_TASK_POLLERS,
    )


@asynccontextmanager
async def running_worker(
    settings: Settings, client: Client, ledger: Ledger | None = None
) -> AsyncIterator[Worker]:
    """Run a worker with one HTTP client per configured provider; shut it down on exit.

    Args:
        settings: the provider and database settings.
        client: the Temporal client.
        ledger: a ledger to share with other parts of the process (one SQLite engine
            serialises writers in-process instead of having them wait on the file lock);
            None to open one on ``settings.resolved_database_url`` for this worker.
    """
    async with AsyncExitStack() as stack:
        if ledger is None:
            engine = create_engine(settings.resolved_database_url)
            stack.push_async_callback(engine.dispose)
            ledger = Ledger(session_factory(engine))
        configured = settings.configured_providers()
        if not configured:
            names = ", ".join(f"PAYMENTS_{name.upper()}_API_KEY" for name in PROVIDERS)
            raise MissingSetting(f"no provider is configured: set one of {names}")
        adapters = Adapters()
        for name in configured:
            spec, provider = PROVIDERS[name], settings.provider(name)
            # One client per provider, shared by its capabilities (one connection pool).
            http = await stack.enter_async_context(provider_client(settings, name))
            if spec.payouts is not None:
                adapters.payouts[name] = spec.payouts(http, provider)
            if spec.collections is not None:
                adapters.collections[name] = spec.collections(http, provider)
                adapters.collection_fee_bps[name] = provider.collection_fee_bps
            if spec.refunds is not None:
                adapters.refunds[name] = spec.refunds(http, provider)
            if spec.cards is not None:
                adapters.cards[name] = spec.cards(http, provider)
            if spec.vouchers is not None:
                adapters.vouchers[name] = spec.vouchers(http, provider)
                adapters.collection_fee_bps[name] = provider.collection_fee_bps
            if spec.settlement_report is not None:
                adapters.reports[name] = http
            if spec.floats is not None:
                adapters.floats[name] = spec.floats(http, provider)
        adapters.workdir = settings.data_dir / "reconciliation"
        adapters.reconcile_memory_limit = settings.reconcile_memory_limit
        adapters.hooks = await stack.enter_async_context(merchant_hooks_client(settings))
        worker = build_worker(client, settings.task_queue, adapters, ledger)
        async with worker:
            yield worker


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Connect, run the worker until ``stop`` is set, then shut down gracefully.

    Temporal may still be booting (docker-compose starts everything at once): the worker
    waits for it, one line per attempt, for up to ``TEMPORAL_CONNECT_SECONDS``.
    """
    client = await connect_with_retry(settings, stop, log)
    if client is None:
        log.info("worker stopped before Temporal answered")
        return
    await register_search_attributes(client)
    async with running_worker(settings, client):
        log.info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
    log.info("worker stopped")


def main() -> None:
    """Entry point of ``payments worker``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise SystemExit(f"invalid settings: {exc}") from None

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    # Not asyncio.run: run() also shuts the Temporal runtime down before the process
    # exits, so no Rust thread is left calling into a finalizing interpreter.
    run(_main())
