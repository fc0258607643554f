"""Webhook delivery: duplicates, retries, giving up, ordering and fresh signatures."""

from __future__ import annotations

import asyncio
import time

import httpx

from payments_engine.domain.webhooks import SIGNATURE_HEADER, parse_header, verify
from payments_engine.sandbox.hub.state import hub_dispatcher
from payments_engine.sandbox.hub.store import HubStore, PayoutOrder
from payments_engine.sandbox.hub.wire import HubStatus
from tests.sandbox.support import (
    WEBHOOK_SECRET,
    Sandbox,
    WebhookReceiver,
    make_config,
    running_sandbox,
)


async def test_duplicate_webhook_number_delivers_the_same_event_twice(sandbox: Sandbox) -> None:
    await sandbox.submit("pay-twice", msisdn="+254700000007")
    await sandbox.wait_for_webhooks(2)
    first, second = sandbox.receiver.accepted
    assert first.content == second.content
    log = await sandbox.wait_for_deliveries_done()
    assert len(log) == 2
    assert log[0]["eventId"] == log[1]["eventId"]
    assert all(entry["delivered"] and entry["attempts"] == 1 for entry in log)


async def test_failed_deliveries_are_retried_until_accepted() -> None:
    receiver = WebhookReceiver(fail_first=2)
    async with running_sandbox(receiver) as sandbox:
        await sandbox.submit("pay-retry")
        await sandbox.wait_for_webhooks(1)

        assert len(receiver.requests) == 3
        bodies = {request.content for request in receiver.requests}
        assert len(bodies) == 1  # every attempt carries the same event
        for request in receiver.requests:
            verify(WEBHOOK_SECRET, request.headers[SIGNATURE_HEADER], request.content, time.time())

        (entry,) = await sandbox.wait_for_deliveries_done()
        assert (entry["attempts"], entry["delivered"], entry["last_http_status"]) == (3, True, 200)
        assert entry["last_error"] is None


async def test_every_attempt_is_signed_with_a_fresh_timestamp() -> None:
    receiver = WebhookReceiver(fail_first=1)
    config = make_config(webhook_retry_delays=[0.0])
    store = HubStore(config)
    clock = iter([1_700_000_000.0, 1_700_003_600.0])
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)) as client:
        dispatcher = hub_dispatcher(store, config, client, wall_time=lambda: next(clock))
        store.submit(PayoutOrder("pay-ts", "+254700000009", "KE", "KES", 100))
        store.force_status("pay-ts", HubStatus.SUCCESS)
        for _ in range(2):
            (delivery,) = store.claim_due_deliveries()
            await dispatcher.deliver(delivery)

    first, second = receiver.requests
    assert first.content == second.content
    stamps = [parse_header(r.headers[SIGNATURE_HEADER])[0] for r in receiver.requests]
    assert stamps == [1_700_000_000, 1_700_003_600]
    verify(WEBHOOK_SECRET, second.headers[SIGNATURE_HEADER], second.content, 1_700_003_600)
    assert (delivery.attempts, delivery.delivered) == (2, True)


async def test_connection_errors_are_retried() -> None:
    receiver = WebhookReceiver(connect_errors=1)
    async with running_sandbox(receiver) as sandbox:
        await sandbox.submit("pay-conn")
        await sandbox.wait_for_webhooks(1)
        (entry,) = await sandbox.wait_for_deliveries_done()
        assert (entry["attempts"], entry["delivered"]) == (2, True)


async def test_delivery_gives_up_after_the_last_delay_and_stays_in_the_log() -> None:
    receiver = WebhookReceiver(always_status=503)
    async with running_sandbox(receiver, webhook_retry_delays=[0.01, 0.01]) as sandbox:
        await sandbox.submit("pay-down")
        (entry,) = await sandbox.wait_for_deliveries_done()
        assert len(receiver.requests) == 3
        assert entry["attempts"] == 3
        assert (entry["delivered"], entry["gave_up"]) == (False, True)
        assert entry["last_http_status"] == 503
        assert entry["last_error"] == "HTTP 503"
        await asyncio.sleep(0.1)
        assert len(receiver.requests) == 3  # no attempt after giving up

        # The transfer itself succeeded; only polling can tell now.
        assert (await sandbox.status_of("pay-down"))["status"] == "MR101"


async def test_out_of_order_fault_sends_a_stale_pending_event_after_the_final_one(
    sandbox: Sandbox,
) -> None:
    response = await sandbox.client.put("/admin/faults", json={"out_of_order_webhooks": True})
    assert response.status_code == 200
    await sandbox.submit("pay-ooo")
    await sandbox.wait_for_webhooks(2)

    final, stale = sandbox.receiver.callbacks()
    assert (final.status, stale.status) == ("MR101", "MR102")
    assert final.event_id != stale.event_id
    assert stale.transaction_id == final.transaction_id
    assert stale.timestamp < final.timestamp


async def test_duplicate_fault_doubles_every_webhook(sandbox: Sandbox) -> None:
    await sandbox.client.put(
        "/admin/faults", json={"duplicate_webhooks": True, "out_of_order_webhooks": True}
    )
    await sandbox.submit("pay-dd")
    await sandbox.wait_for_webhooks(4)
    statuses = [callback.status for callback in sandbox.receiver.callbacks()]
    assert statuses == ["MR101", "MR101", "MR102", "MR102"]
    event_ids = [callback.event_id for callback in sandbox.receiver.callbacks()]
    assert event_ids[0] == event_ids[1] != event_ids[2] == event_ids[3]


async def test_no_webhook_url_sends_nothing() -> None:
    async with running_sandbox(webhook_url=None) as sandbox:
        await sandbox.submit("pay-quiet")
        await sandbox.wait_for_status("pay-quiet", "MR101")
        await asyncio.sleep(0.05)
        assert sandbox.receiver.requests == []
        assert await sandbox.webhook_log() == []
