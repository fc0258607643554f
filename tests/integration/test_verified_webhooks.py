"""Money moves only on the provider's own word: signed webhooks that lie move nothing.

Each test forges a correctly signed hub callback (as a leaked secret, a buggy provider or
a replayed event would produce) for a payout the sandbox hub holds in a known state, and
checks the payout, the ledger and the hub's own record.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from payments_engine.activities.providers.hub.wire import PROVIDER_NAME
from payments_engine.db.models import WebhookEvent, WebhookEventConflict
from payments_engine.domain.events import EventSource, ReviewFlag
from payments_engine.domain.payout import PayoutStatus, PayoutView, ResolvePayout
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import eventually, payout, transfers

pytestmark = pytest.mark.integration


def hub_callback(transfer: dict[str, Any], status: str, **overrides: Any) -> dict[str, Any]:
    """A ``transactionStatus`` callback about a transfer the hub holds, as the hub writes it."""
    body: dict[str, Any] = {
        "eventId": f"evt_forged_{uuid.uuid4().hex[:12]}",
        "type": "transactionStatus",
        "thirdPartyTransId": transfer["thirdPartyTransId"],
        "transactionId": transfer["transactionId"],
        "status": status,
        "currency": "KES",
        "sendAmount": "1500.00",
        "receiveAmount": "1500.00",
        "fxRate": "1",
        "message": "forged",
        "timestamp": "2026-11-24T10:00:00Z",
    }
    body.update(overrides)
    return body


async def post_signed(stack: EngineStack, body: bytes) -> httpx.Response:
    """POST ``body`` to the relay, signed with the hub's real secret."""
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        return await relay.post(
            f"/webhooks/{PROVIDER_NAME}",
            content=body,
            headers={
                SIGNATURE_HEADER: sign(secret, int(time.time()), body),
                "Content-Type": "application/json",
            },
        )


async def pending_at_hub(
    payments: PaymentsClient, admin: httpx.AsyncClient, merchant: str
) -> tuple[str, str, dict[str, Any]]:
    """A payout the hub accepted and keeps pending (never resolves unless forced)."""
    request = payout(merchant, Scenario.NEVER_RESOLVES)
    await payments.create_payout(request)
    reference = request.workflow_id
    records = await eventually(
        lambda: transfers(admin),
        lambda r: reference in r and r[reference]["status"] == "MR102",
    )
    await eventually(
        lambda: payments.get_payout(request.payout_id),
        lambda v: v.status is PayoutStatus.SUBMITTED,
    )
    return request.payout_id, reference, records[reference]


async def ledger_kinds(stack: EngineStack, payout_id: str) -> list[str]:
    return sorted(e.kind for e in await stack.ledger.entries(reference=payout_id))


async def review(payments: PaymentsClient, payout_id: str) -> PayoutView:
    return await eventually(
        lambda: payments.get_payout(payout_id),
        lambda v: v.status is PayoutStatus.NEEDS_REVIEW,
        timeout=30,
    )


async def fail_by_operator(payments: PaymentsClient, payout_id: str) -> None:
    """End a test payout the hub never paid: the reservation goes back."""
    await payments.resolve_payout(
        payout_id, ResolvePayout(outcome=PayoutStatus.FAILED, note="test over")
    )


@pytest.mark.parametrize(
    "lie",
    [{"sendAmount": "1.00", "receiveAmount": "1.00"}, {"currency": "UGX", "sendAmount": "1500"}],
    ids=["wrong-amount", "wrong-currency"],
)
async def test_signed_success_for_another_amount_or_currency_settles_nothing(
    lie: dict[str, str],
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    payout_id, _, transfer = await pending_at_hub(payments, sandbox_admin, merchant)
    body = json.dumps(hub_callback(transfer, "MR101", **lie)).encode()

    answer = await post_signed(stack, body)
    assert (answer.status_code, answer.json()) == (200, {"status": "delivered"})

    view = await review(payments, payout_id)
    assert view.review_flags == [ReviewFlag.PROVIDER_MISMATCH]
    [evidence] = view.evidence
    assert evidence.source is EventSource.WEBHOOK and evidence.provider_status == "MR101"
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve"]
    record = (await transfers(sandbox_admin))[transfer["thirdPartyTransId"]]
    assert record["status"] == "MR102"

    await fail_by_operator(payments, payout_id)
    assert await ledger_kinds(stack, payout_id) == ["payout_release", "payout_reserve"]


async def test_signed_success_for_a_pending_transfer_waits_until_the_hub_pays(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    payout_id, reference, transfer = await pending_at_hub(payments, sandbox_admin, merchant)
    queries_before = transfer["status_queries"]

    answer = await post_signed(stack, json.dumps(hub_callback(transfer, "MR101")).encode())
    assert answer.status_code == 200

    view = await review(payments, payout_id)
    assert view.review_flags == [ReviewFlag.PROVIDER_CONTRADICTION]
    # The engine asked the hub before believing the webhook; the hub said pending.
    assert view.status_queries >= 1
    record = (await transfers(sandbox_admin))[reference]
    assert record["status_queries"] > queries_before
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve"]

    # The hub really pays: its own webhook, confirmed, settles the payout.
    final = await hub_decides(payments, sandbox_admin, payout_id, reference, "MR101")
    assert final.status is PayoutStatus.SUCCEEDED
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve", "payout_settle"]


async def test_signed_failure_for_an_executed_transfer_never_refunds_the_merchant(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    payout_id, reference, transfer = await pending_at_hub(payments, sandbox_admin, merchant)
    assert transfer["executed"] is True

    answer = await post_signed(stack, json.dumps(hub_callback(transfer, "ER102")).encode())
    assert answer.status_code == 200

    view = await review(payments, payout_id)
    assert view.review_flags == [ReviewFlag.PROVIDER_CONTRADICTION]
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve"]

    final = await hub_decides(payments, sandbox_admin, payout_id, reference, "MR101")

    # The recipient got the money and the merchant paid for it, once: as the hub says.
    assert final.status is PayoutStatus.SUCCEEDED
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve", "payout_settle"]
    record = (await transfers(sandbox_admin))[reference]
    assert (record["status"], record["executed"]) == ("MR101", True)


async def test_same_event_id_with_another_body_is_refused_and_stored_body_kept(
    stack: EngineStack,
    merchant: str,
    payments: PaymentsClient,
    sandbox_admin: httpx.AsyncClient,
) -> None:
    payout_id, reference, transfer = await pending_at_hub(payments, sandbox_admin, merchant)
    pending = hub_callback(transfer, "MR102")
    first = json.dumps(pending).encode()
    second = json.dumps(pending | {"status": "MR101"}).encode()

    assert (await post_signed(stack, first)).status_code == 200
    answer = await post_signed(stack, second)
    assert answer.status_code == 409

    async with stack.sessions() as session:
        stored = await session.scalar(
            select(WebhookEvent).where(WebhookEvent.event_id == pending["eventId"])
        )
        conflict = await session.scalar(
            select(WebhookEventConflict).where(WebhookEventConflict.event_id == pending["eventId"])
        )
    assert stored is not None and bytes(stored.raw_body) == first
    assert conflict is not None and bytes(conflict.raw_body) == second

    view = await payments.get_payout(payout_id)
    assert view.status is PayoutStatus.SUBMITTED and view.events_applied == 1
    assert await ledger_kinds(stack, payout_id) == ["payout_reserve"]
    assert (await transfers(sandbox_admin))[reference]["status"] == "MR102"

    # The hub's real verdict still gets through.
    final = await hub_decides(payments, sandbox_admin, payout_id, reference, "ER103")
    assert (final.status, final.failure_code) == (PayoutStatus.FAILED, "wallet_closed")
    assert await ledger_kinds(stack, payout_id) == ["payout_release", "payout_reserve"]


async def hub_decides(
    payments: PaymentsClient,
    admin: httpx.AsyncClient,
    payout_id: str,
    reference: str,
    status: str,
) -> PayoutView:
    """The hub really decides (and sends its own webhook); wait for the payout to end."""
    forced = await admin.post(f"/transfers/{reference}/resolve", json={"status": status})
    forced.raise_for_status()
    return await eventually(
        lambda: payments.get_payout(payout_id), lambda v: v.status.is_final, timeout=30
    )
