"""Exactly-once, checked against the sandbox's own record of what it executed.

(a) every webhook is delivered twice and out of order, then replayed again;
(b) the provider executes but the answer is lost (timeout or 500 after execution).

A worker killed mid-flight is in ``test_provider_contract.py``, run for every provider.
"""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.db.models import WebhookEvent
from payments_engine.domain.payout import PayoutStatus
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually, payout, settled, transfers

pytestmark = pytest.mark.integration


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
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
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
