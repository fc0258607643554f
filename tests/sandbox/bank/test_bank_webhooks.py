"""The bank's webhooks: signed with Standard Webhooks, retried, resent, lost, duplicated."""

from __future__ import annotations

import json
import time

import pytest

from payments_engine.domain.webhooks import STANDARD_WEBHOOKS, SignatureError
from tests.sandbox.bank.support import BANK_SECRET, Bank, running_bank
from tests.sandbox.support import WebhookReceiver, wait_until


async def test_a_webhook_is_signed_with_the_engines_scheme(bank: Bank) -> None:
    answer = await bank.created()
    await bank.wait_for_webhooks(1)
    (request,) = bank.receiver.accepted

    assert request.url == bank.config.webhook_url
    timestamp = STANDARD_WEBHOOKS.verify(
        BANK_SECRET, request.headers, request.content, now=time.time()
    )
    assert abs(timestamp - time.time()) < 60
    event = json.loads(request.content)
    assert event == {
        "event_id": event["event_id"],
        "type": "transfer.settled",
        "created_at": event["created_at"],
        "id": answer["id"],
        "external_id": "refund-rf-1",
        "status": "SETTLED",
        "amount": "150000.00",
        "currency": "COP",
        "return_code": None,
        "return_reason": None,
        "return_message": None,
    }
    # Another secret does not verify it.
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    with pytest.raises(SignatureError):
        STANDARD_WEBHOOKS.verify(other, request.headers, request.content, now=time.time())


async def test_a_failed_webhook_is_retried_with_the_same_message_id() -> None:
    receiver = WebhookReceiver(fail_first=1, connect_errors=1)
    async with running_bank(receiver) as bank:
        await bank.created(account_number="0012345609")
        await bank.wait_for_webhooks(1)
        (delivery,) = await bank.wait_for_deliveries_done()

    assert (delivery["attempts"], delivery["delivered"]) == (3, True)
    assert delivery["status"] == "RETURNED" and delivery["reference"] == "refund-rf-1"
    assert len(receiver.requests) == 3
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    bodies = {request.content for request in receiver.requests}
    assert len(ids) == 1 and len(bodies) == 1
    assert json.loads(receiver.accepted[0].content)["type"] == "transfer.returned"


async def test_a_webhook_is_given_up_after_the_last_retry() -> None:
    receiver = WebhookReceiver(always_status=500)
    async with running_bank(receiver) as bank:
        await bank.created()
        (delivery,) = await bank.wait_for_deliveries_done()
        transfer = await bank.admin_transfer("refund-rf-1")

    # Three retry delays: four attempts.
    assert (delivery["attempts"], delivery["gave_up"], delivery["delivered"]) == (4, True, False)
    assert delivery["last_http_status"] == 500
    assert transfer["webhooks"][0]["attempts"] == 4
    assert transfer["status"] == "SETTLED"


async def test_a_resend_repeats_the_event_byte_for_byte(bank: Bank) -> None:
    await bank.created()
    await bank.wait_for_webhooks(1)
    resent = await bank.admin.post("/admin/bank/transfers/refund-rf-1/resend-webhook")
    assert resent.status_code == 200, resent.text
    await bank.wait_for_webhooks(2)

    first, second = bank.receiver.accepted
    assert first.content == second.content
    assert resent.json()["event_id"] == json.loads(first.content)["event_id"]
    # Each delivery signs afresh, and both verify.
    for request in (first, second):
        STANDARD_WEBHOOKS.verify(BANK_SECRET, request.headers, request.content, now=time.time())


async def test_a_lost_webhook_can_be_resent_by_the_admin(bank: Bank) -> None:
    await bank.created(account_number="0012345606")
    await bank.wait_for_status("refund-rf-1", "SETTLED")
    assert await bank.webhook_log() == []

    resent = await bank.admin.post("/admin/bank/transfers/refund-rf-1/resend-webhook")
    assert resent.status_code == 200
    await bank.wait_for_webhooks(1)
    assert bank.events()[0]["status"] == "SETTLED"


async def test_no_resend_before_the_transfer_is_final() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank:
        await bank.created()
        resent = await bank.admin.post("/admin/bank/transfers/refund-rf-1/resend-webhook")
        assert resent.status_code == 409
        missing = await bank.admin.post("/admin/bank/transfers/nobody/resend-webhook")
        assert missing.status_code == 404


async def test_duplicate_webhooks_send_the_same_event_twice(bank: Bank) -> None:
    bank.state.store.faults.duplicate_webhooks = True
    await bank.created()
    await bank.wait_for_webhooks(2)
    first, second = bank.events()
    assert first == second


async def test_no_webhook_url_sends_none() -> None:
    async with running_bank(webhook_url=None, settlement_delay_seconds=0.0) as bank:
        await bank.created()
        await bank.wait_for_status("refund-rf-1", "SETTLED")
        assert await bank.webhook_log() == []
        resent = await bank.admin.post("/admin/bank/transfers/refund-rf-1/resend-webhook")
        assert resent.status_code == 409


async def test_webhooks_wait_for_the_settlement(bank: Bank) -> None:
    await bank.created()
    await wait_until(lambda: bool(bank.receiver.accepted), 5.0, "the webhook")
    status = await bank.status_of("refund-rf-1")
    assert status["status"] == "SETTLED"
