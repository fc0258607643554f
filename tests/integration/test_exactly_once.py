"""Exactly-once, checked against the sandbox's own record of what it executed.

(a) the worker process is killed while payouts are in flight and restarted;
(b) every webhook is delivered twice and out of order, then replayed again;
(c) the provider executes but the answer is lost (timeout or 500 after execution).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from payments_engine.db.models import WebhookEvent
from payments_engine.domain.hub import PROVIDER_NAME
from payments_engine.domain.ledger import FundMerchantInput
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutStatus
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import AMOUNT, eventually, payout, settled, transfers

pytestmark = pytest.mark.integration

CRASH_QUEUE = "it-crash"
CRASH_PAYOUTS = 12


class WorkerProcesses:
    """``payments worker`` processes on the crash queue, as a user would run them."""

    def __init__(self, stack: EngineStack, log_path: Path) -> None:
        """Prepare the environment the processes get."""
        settings = stack.settings
        assert settings.hub_api_key is not None
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
        self._env.update(
            {
                "PAYMENTS_TEMPORAL_ADDRESS": settings.temporal_address,
                "PAYMENTS_TASK_QUEUE": CRASH_QUEUE,
                "PAYMENTS_DATABASE_URL": settings.resolved_database_url,
                "PAYMENTS_HUB_BASE_URL": settings.resolved_hub_base_url,
                "PAYMENTS_HUB_API_KEY": settings.hub_api_key.get_secret_value(),
                "PAYMENTS_HUB_TIMEOUT_SECONDS": "5",
            }
        )
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        """Start one worker process."""
        process = subprocess.Popen(
            [sys.executable, "-m", "payments_engine.worker"],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Stop whatever still runs."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._log.close()


@pytest.fixture
def workers(stack: EngineStack, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """Worker processes for one test, stopped afterwards."""
    processes = WorkerProcesses(stack, tmp_path / "worker.log")
    try:
        yield processes
    finally:
        processes.close()


async def _float_kes(admin: httpx.AsyncClient, stack: EngineStack) -> str:
    assert stack.settings.hub_api_key is not None
    response = await admin.get(
        f"{stack.sandbox_url}/hub/v1/balance",
        headers={"Authorization": f"Bearer {stack.settings.hub_api_key.get_secret_value()}"},
    )
    return next(b["available"] for b in response.json()["balances"] if b["currency"] == "KES")


async def test_worker_killed_mid_flight_every_payout_executes_once(
    stack: EngineStack,
    merchant: str,
    sandbox_admin: httpx.AsyncClient,
    workers: WorkerProcesses,
) -> None:
    payments = PaymentsClient(stack.client, CRASH_QUEUE, stack.ledger)
    await stack.ledger.fund_merchant(
        FundMerchantInput(
            merchant_id=merchant,
            amount=Money(amount=CRASH_PAYOUTS * AMOUNT.amount, currency="KES"),
            reference=f"crash-{merchant}",
        )
    )
    float_before = await _float_kes(sandbox_admin, stack)
    # The hub executes every submission and holds its answer: each payout stays in
    # flight in its submit activity, whatever the timing, until the worker is dead.
    await sandbox_admin.put("/faults", json={"hold_submissions": True})
    first = workers.start()
    requests = [payout(merchant) for _ in range(CRASH_PAYOUTS)]
    for request in requests:
        await payments.create_payout(request)
    references = {r.workflow_id for r in requests}

    async def seen() -> int:
        return len(references & set(await transfers(sandbox_admin)))

    await eventually(seen, lambda n: n == CRASH_PAYOUTS, timeout=60)
    for request in requests:
        kinds = [e.kind for e in await stack.ledger.entries(reference=request.payout_id)]
        assert kinds == ["payout_reserve"], "a payout got past its submission before the kill"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    await sandbox_admin.put("/faults", json={})
    workers.start()
    views = await asyncio.wait_for(
        asyncio.gather(*(payments.wait_payout(r.payout_id) for r in requests)), timeout=150
    )

    assert [v.status for v in views] == [PayoutStatus.SUCCEEDED] * CRASH_PAYOUTS
    recorded = await transfers(sandbox_admin)
    for reference in references:
        assert recorded[reference]["executed"] is True
        # The restarted worker asked before resubmitting: one submission each.
        assert recorded[reference]["submit_count"] == 1
    # The hub's float moved by exactly one transfer per payout.
    spent = float(float_before) - float(await _float_kes(sandbox_admin, stack))
    assert round(spent * 100) == CRASH_PAYOUTS * AMOUNT.amount
    for request in requests:
        kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
        assert kinds == ["payout_reserve", "payout_settle"]


async def test_duplicated_and_out_of_order_webhooks_post_once(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    await sandbox_admin.put(
        "/faults", json={"duplicate_webhooks": True, "out_of_order_webhooks": True}
    )
    requests = [payout(merchant) for _ in range(4)] + [
        payout(merchant, Scenario.WALLET_CLOSED) for _ in range(2)
    ]
    for request in requests:
        await payments.create_payout(request)
    views = [await settled(payments, r.payout_id) for r in requests]
    assert [v.status for v in views] == [PayoutStatus.SUCCEEDED] * 4 + [PayoutStatus.FAILED] * 2

    references = {r.workflow_id for r in requests}

    # Wait for the stale pending webhooks, sent after the final ones, to reach the relay.
    async def stored() -> list[tuple[int, str, bytes]]:
        async with stack.sessions() as session:
            rows = await session.execute(
                select(WebhookEvent.id, WebhookEvent.state, WebhookEvent.raw_body).where(
                    WebhookEvent.reference.in_(references)
                )
            )
            return [(row.id, row.state, bytes(row.raw_body)) for row in rows]

    # Final events reach their workflows; a stale one arriving after the workflow closed is
    # kept as unmatched for reconciliation. None is left undelivered once the relay is done.
    events = await eventually(
        stored,
        lambda rows: (
            len(rows) == 2 * len(requests) and all(state != "received" for _, state, _ in rows)
        ),
    )
    assert {state for _, state, _ in events} <= {"delivered", "unmatched"}
    assert sum(state == "delivered" for _, state, _ in events) >= len(requests)

    # Replay every stored event again, newest first, freshly signed: all duplicates.
    assert stack.settings.hub_webhook_secret is not None
    secret = stack.settings.hub_webhook_secret.get_secret_value()
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        for _, _, body in sorted(events, reverse=True):
            answer = await relay.post(
                f"/webhooks/{PROVIDER_NAME}",
                content=body,
                headers={SIGNATURE_HEADER: sign(secret, int(time.time()), body)},
            )
            assert (answer.status_code, answer.json()) == (200, {"status": "duplicate"})

    for request, view in zip(requests, views, strict=True):
        final = await payments.get_payout(request.payout_id)
        assert final.status is view.status and final.events_applied <= 2
        kinds = sorted(e.kind for e in await stack.ledger.entries(reference=request.payout_id))
        expected = "payout_settle" if view.status is PayoutStatus.SUCCEEDED else "payout_release"
        assert kinds == sorted(["payout_reserve", expected])


@pytest.mark.parametrize(
    ("scenario", "faults"),
    [
        (Scenario.TIMEOUT_AFTER_ACCEPT, {}),
        (Scenario.SUCCESS, {"error_after_execute_rate": 1.0}),
    ],
    ids=["timeout-after-accept", "500-after-execute"],
)
async def test_lost_answer_resolved_by_status_query_not_resubmission(
    scenario: Scenario,
    faults: dict[str, float],
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    await sandbox_admin.put("/faults", json=faults)
    request = payout(merchant, scenario)
    await payments.create_payout(request)
    view = await settled(payments, request.payout_id)
    await sandbox_admin.put("/faults", json={})

    assert view.status is PayoutStatus.SUCCEEDED
    record = (await transfers(sandbox_admin))[request.workflow_id]
    assert record["submit_count"] == 1, "the adapter resubmitted instead of asking"
    assert record["status_queries"] >= 1
    assert record["executed"] is True
