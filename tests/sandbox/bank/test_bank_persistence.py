"""The bank keeps its transfers, history, idempotency and webhooks across a restart."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.bank.support import COP_FLOAT, running_bank, state_file
from tests.sandbox.support import WebhookReceiver, wait_until

DELAY = 60.0


async def test_a_pending_transfer_settles_after_a_restart(tmp_path: Path) -> None:
    path = state_file(tmp_path)
    async with running_bank(state_file=path, settlement_delay_seconds=DELAY) as bank:
        first = await bank.created(account_number="0012345609")
        assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"

    receiver = WebhookReceiver()
    async with running_bank(receiver, state_file=path, settlement_delay_seconds=DELAY) as bank:
        # Idempotency survives: the same body answers the same transfer, another is refused.
        again = await bank.submit(account_number="0012345609")
        assert (again.status_code, again.json()["id"]) == (200, first["id"])
        assert (await bank.submit(amount="1.00")).status_code == 409
        assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"
        # Its plan was kept: once due, it is returned and announced.
        bank.shift_clock().offset = DELAY + 1
        await bank.wait_for_status("refund-rf-1", "RETURNED")
        await bank.wait_for_webhooks(1)
        transfer = await bank.admin_transfer("refund-rf-1")
        assert [entry["status"] for entry in transfer["history"]] == ["ACCEPTED", "RETURNED"]
        assert transfer["submit_count"] == 3
        assert bank.events()[0]["return_reason"] == "account_closed"
        # Debited before the restart, credited back after it.
        assert await bank.cop_float() == COP_FLOAT

    async with running_bank(state_file=path) as bank:
        transfer = await bank.admin_transfer("refund-rf-1")
        assert transfer["status"] == "RETURNED"
        assert transfer["webhooks"][0]["delivered"] is True


async def test_a_webhook_still_pending_is_sent_after_a_restart(tmp_path: Path) -> None:
    path = state_file(tmp_path)
    failing = WebhookReceiver(always_status=503)
    retries = {"webhook_retry_delays": [DELAY, DELAY]}
    async with running_bank(failing, state_file=path, **retries) as bank:
        await bank.created()
        await bank.wait_for_status("refund-rf-1", "SETTLED")
        await wait_until(lambda: bool(failing.requests), 5.0, "a first attempt")

    receiver = WebhookReceiver()
    async with running_bank(receiver, state_file=path, **retries) as bank:
        # The retry is due a minute after the failed attempt.
        bank.shift_clock().offset = DELAY + 1
        await bank.wait_for_webhooks(1)
        event = bank.events()[0]
        assert (event["external_id"], event["status"]) == ("refund-rf-1", "SETTLED")
        # The same event as before the restart.
        assert receiver.accepted[0].content == failing.requests[0].content
        (delivery,) = await bank.webhook_log()
        assert (delivery["attempts"], delivery["delivered"]) == (2, True)
