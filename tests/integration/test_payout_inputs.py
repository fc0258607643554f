"""Bad input starts nothing; forged, stale or malformed webhooks change nothing.

Checked against the live engine: the CLI and the client talk to the real dev server,
webhooks go over HTTP to the real relay.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from payments_engine.activities.providers.hub.wire import PROVIDER_NAME, HubStatus
from payments_engine.db.models import WebhookEvent
from payments_engine.domain.errors import PayoutNotFound, PayoutNotResolvable, ReferenceConflict
from payments_engine.domain.ids import payout_workflow_id
from payments_engine.domain.ledger import merchant_available
from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutStatus, ResolvePayout
from payments_engine.domain.webhooks import SIGNATURE_HEADER, sign
from payments_engine.sandbox.scenarios import Scenario
from payments_engine.starter.cli import app
from payments_engine.starter.client import PaymentsClient
from payments_engine.starter.stack import EngineStack
from tests.integration.support import AMOUNT, eventually, payout

pytestmark = pytest.mark.integration


async def _exists(stack: EngineStack, payout_id: str) -> bool:
    try:
        await stack.client.get_workflow_handle(payout_workflow_id(payout_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _cli(stack: EngineStack) -> CliRunner:
    return CliRunner(
        env={
            "PAYMENTS_TEMPORAL_ADDRESS": stack.settings.temporal_address,
            "PAYMENTS_TASK_QUEUE": stack.settings.task_queue,
            "PAYMENTS_DATABASE_URL": stack.settings.resolved_database_url,
        }
    )


@pytest.mark.parametrize(
    ("amount", "currency", "phone", "message"),
    [
        ("0", "KES", "+254712345678", "greater than zero"),
        ("-10.00", "KES", "+254712345678", "greater than zero"),
        ("10.00", "XYZ", "+254712345678", "not a currency the engine pays in"),
        ("10.005", "KES", "+254712345678", "KES has 2 decimal"),
        ("1500.5", "UGX", "+256712345678", "UGX has 0 decimal"),
        ("10.00", "KES", "+2547123", "not a valid number"),
        ("10.00", "KES", "+256712345678", "belongs to UG, not KE"),
    ],
)
async def test_bad_payout_input_is_refused_and_starts_nothing(
    stack: EngineStack, amount: str, currency: str, phone: str, message: str
) -> None:
    payout_id = f"bad-{uuid.uuid4().hex[:8]}"
    country = "UG" if currency == "UGX" else "KE"
    args = ["payout", "create", "--id", payout_id, "--amount", amount, "--currency", currency]
    args += ["--phone", phone, "--country", country]
    result = await asyncio.to_thread(_cli(stack).invoke, app, args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not await _exists(stack, payout_id)


async def test_cli_creates_and_shows_a_payout(stack: EngineStack, merchant: str) -> None:
    payout_id = f"cli-{uuid.uuid4().hex[:8]}"
    args = ["payout", "create", "--id", payout_id, "--amount", "1500.00", "--currency", "KES"]
    args += ["--phone", "0712345678", "--country", "KE", "--merchant", merchant, "--wait"]
    created = await asyncio.to_thread(_cli(stack).invoke, app, [*args, "--json"])
    assert created.exit_code == 0, created.output
    view = json.loads(created.stdout)
    assert view["status"] == "succeeded"
    assert "712345678" not in created.stdout, "the recipient's number must be masked"

    again = await asyncio.to_thread(_cli(stack).invoke, app, [*args, "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "succeeded"
    listed = await asyncio.to_thread(
        _cli(stack).invoke, app, ["payout", "list", "--merchant", merchant, "--json"]
    )
    assert [p["payout_id"] for p in json.loads(listed.stdout)] == [payout_id]


async def test_same_payout_twice_is_one_payout(
    stack: EngineStack, merchant: str, payments: PaymentsClient
) -> None:
    request = payout(merchant)
    first, second = await asyncio.gather(
        payments.create_payout(request), payments.create_payout(request)
    )
    assert first.run_id == second.run_id
    await payments.wait_payout(request.payout_id)
    third = await payments.create_payout(request)
    assert third.run_id == first.run_id
    available = await stack.ledger.balance(merchant_available(merchant), "KES")
    assert available == 10_000_00 - AMOUNT.amount


async def test_reference_reused_with_other_parameters_is_refused(
    stack: EngineStack, merchant: str, payments: PaymentsClient
) -> None:
    request = payout(merchant)
    await payments.create_payout(request)
    altered = request.model_copy(update={"amount": Money(amount=99_00, currency="KES")})
    with pytest.raises(ReferenceConflict):
        await payments.create_payout(altered)
    other_number = payout(merchant, Scenario.WALLET_CLOSED).model_copy(
        update={"payout_id": request.payout_id}
    )
    with pytest.raises(ReferenceConflict):
        await payments.create_payout(other_number)
    view = await payments.wait_payout(request.payout_id)
    assert view.amount == AMOUNT and view.status is PayoutStatus.SUCCEEDED
    runs = [w async for w in stack.client.list_workflows(f'WorkflowId = "{request.workflow_id}"')]
    assert len(runs) == 1


def _callback(reference: str, status: HubStatus, event_id: str) -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "type": "transactionStatus",
            "thirdPartyTransId": reference,
            "transactionId": "MFSFORGED",
            "status": status.value,
            "currency": "KES",
            "sendAmount": "1500.00",
            "receiveAmount": "1500.00",
            "timestamp": datetime.now(UTC).isoformat(),
        }
    ).encode()


async def test_forged_stale_and_malformed_webhooks_change_nothing(
    stack: EngineStack, merchant: str, payments: PaymentsClient
) -> None:
    # The hub pays but sends no webhook: until the first poll (30 s), only a webhook
    # moves this payout, and only once the hub's status API confirms it.
    request = payout(merchant, Scenario.WEBHOOK_NEVER_SENT)
    await payments.create_payout(request)
    before = await eventually(
        lambda: payments.get_payout(request.payout_id),
        lambda v: v.status is PayoutStatus.SUBMITTED,
    )
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
    body = _callback(request.workflow_id, HubStatus.SUCCESS, f"evt-{uuid.uuid4().hex}")
    now = int(time.time())
    attempts = [
        ({SIGNATURE_HEADER: sign("not-the-secret", now, body)}, body, 401),
        ({SIGNATURE_HEADER: sign(secret, now - 3600, body)}, body, 401),
        ({SIGNATURE_HEADER: sign(secret, now, body)}, body + b" ", 401),
        ({}, body, 401),
        ({SIGNATURE_HEADER: sign(secret, now, b"{not json")}, b"{not json", 400),
    ]
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        for headers, content, expected in attempts:
            answer = await relay.post(
                f"/webhooks/{PROVIDER_NAME}", content=content, headers=headers
            )
            assert answer.status_code == expected
        await asyncio.sleep(0.5)
        after = await payments.get_payout(request.payout_id)
        assert (after.status, after.events_applied) == (before.status, 0)

        # The same event, correctly signed, is what moves it.
        genuine = await relay.post(
            f"/webhooks/{PROVIDER_NAME}",
            content=body,
            headers={SIGNATURE_HEADER: sign(secret, int(time.time()), body)},
        )
        assert genuine.status_code == 200
    view = await payments.wait_payout(request.payout_id)
    assert view.status is PayoutStatus.SUCCEEDED and view.events_applied == 1
    assert view.status_queries == 1


async def test_webhook_for_unknown_reference_is_kept(stack: EngineStack) -> None:
    assert stack.settings.provider("hub").webhook_secret is not None
    secret = stack.settings.provider("hub").webhook_secret.get_secret_value()
    event_id = f"evt-{uuid.uuid4().hex}"
    body = _callback("payout-nobody-knows", HubStatus.SUCCESS, event_id)
    async with httpx.AsyncClient(base_url=stack.relay.url) as relay:
        answer = await relay.post(
            f"/webhooks/{PROVIDER_NAME}",
            content=body,
            headers={SIGNATURE_HEADER: sign(secret, int(time.time()), body)},
        )
    assert (answer.status_code, answer.json()) == (202, {"status": "unmatched"})
    async with stack.sessions() as session:
        kept = await session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == event_id))
    assert kept is not None and kept.state == "unmatched" and bytes(kept.raw_body) == body


async def test_operator_cannot_resolve_a_payout_not_in_review(
    merchant: str, payments: PaymentsClient
) -> None:
    running = payout(merchant, Scenario.NEVER_RESOLVES)
    await payments.create_payout(running)
    decision = ResolvePayout(outcome=PayoutStatus.SUCCEEDED, note="looked fine")
    with pytest.raises(PayoutNotResolvable):
        await payments.resolve_payout(running.payout_id, decision)
    done = payout(merchant)
    await payments.create_payout(done)
    await payments.wait_payout(done.payout_id)
    with pytest.raises(PayoutNotResolvable):
        await payments.resolve_payout(done.payout_id, decision)
    with pytest.raises(PayoutNotFound):
        await payments.resolve_payout("no-such-payout", decision)
    # Refused decisions changed nothing: the payout keeps waiting for the provider.
    await eventually(
        lambda: payments.get_payout(running.payout_id),
        lambda v: v.status is PayoutStatus.SUBMITTED,
    )
