"""Every magic phone number ends in the documented status, executed flag and webhooks."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.sandbox.support import (
    API_KEY,
    Sandbox,
    WebhookReceiver,
    make_config,
    running_sandbox,
    served,
    wait_until,
)

KES_FLOAT = "10000000000.00"


@pytest.mark.parametrize(
    ("suffix", "final", "executed", "webhooks"),
    [
        ("000001", "ER102", False, 1),
        ("000003", "ER103", False, 1),
        ("000004", "ER104", False, 1),
        ("000006", "MR101", True, 0),
        ("000007", "MR101", True, 2),
        ("123456", "MR101", True, 1),
    ],
)
async def test_accepted_scenarios_reach_their_final_status(
    sandbox: Sandbox, suffix: str, final: str, executed: bool, webhooks: int
) -> None:
    # Any country code works: the scenario is in the last six digits.
    response = await sandbox.submit("pay-magic", msisdn=f"+256770{suffix}", country="UG")
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["status"]) == ("100", "MR108")

    await sandbox.wait_for_status("pay-magic", final)
    (transfer,) = await sandbox.transfers()
    assert transfer["executed"] is executed
    expected_float = "9999998500.00" if executed else KES_FLOAT
    assert await sandbox.balance("KES") == expected_float

    if webhooks:
        await sandbox.wait_for_webhooks(webhooks)
    await asyncio.sleep(0.05)  # room for any webhook that should not come
    callbacks = sandbox.receiver.callbacks()
    assert len(callbacks) == webhooks
    assert all(callback.status == final for callback in callbacks)
    assert len({callback.event_id for callback in callbacks}) == min(webhooks, 1)


async def test_failing_transfer_is_executed_while_pending_and_refunded_on_failure() -> None:
    async with running_sandbox(settle_seconds=0.3) as sandbox:
        await sandbox.submit("pay-nsf", msisdn="+254700000001", amount="20.00")
        (pending,) = await sandbox.transfers()
        assert (pending["status"], pending["executed"]) == ("MR108", True)
        assert await sandbox.balance("KES") == "9999999980.00"

        await sandbox.wait_for_status("pay-nsf", "ER102")
        (failed,) = await sandbox.transfers()
        assert failed["executed"] is False
        assert await sandbox.balance("KES") == KES_FLOAT


async def test_invalid_number_is_rejected_at_once_and_never_executed(sandbox: Sandbox) -> None:
    response = await sandbox.submit("pay-inv", msisdn="+254700000002")
    assert response.status_code == 200
    ack = response.json()
    assert (ack["code"], ack["status"]) == ("101", "ER101")
    assert ack["message"]

    assert (await sandbox.status_of("pay-inv"))["status"] == "ER101"
    (transfer,) = await sandbox.transfers()
    assert transfer["executed"] is False
    assert await sandbox.balance("KES") == KES_FLOAT

    # The repeat is answered with the same rejection and still executes nothing.
    again = await sandbox.submit("pay-inv", msisdn="+254700000002")
    assert (again.json()["code"], again.json()["transactionId"]) == ("101", ack["transactionId"])
    await asyncio.sleep(0.1)
    assert sandbox.receiver.requests == []


async def test_late_success_stays_pending_until_the_late_delay() -> None:
    async with running_sandbox(late_success_seconds=0.5) as sandbox:
        await sandbox.submit("pay-late", msisdn="+254700000008")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await sandbox.status_of("pay-late"))["status"] == "MR102"
        await asyncio.sleep(0.15)  # well past settle_seconds
        assert (await sandbox.status_of("pay-late"))["status"] == "MR102"
        assert sandbox.receiver.requests == []
        (transfer,) = await sandbox.transfers()
        assert transfer["executed"] is True

        await sandbox.wait_for_status("pay-late", "MR101")
        assert loop.time() - started >= 0.45
        await sandbox.wait_for_webhooks(1)
        assert [callback.status for callback in sandbox.receiver.callbacks()] == ["MR101"]


async def test_never_resolving_transfer_stays_pending_until_forced(sandbox: Sandbox) -> None:
    await sandbox.submit("pay-never", msisdn="+254700000009")
    await asyncio.sleep(0.2)
    assert (await sandbox.status_of("pay-never"))["status"] == "MR102"
    assert sandbox.receiver.requests == []

    response = await sandbox.client.post(
        "/admin/transfers/pay-never/resolve", json={"status": "ER103"}
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["executed"]) == ("ER103", False)
    assert (await sandbox.status_of("pay-never"))["status"] == "ER103"
    assert await sandbox.balance("KES") == KES_FLOAT
    await sandbox.wait_for_webhooks(1)
    assert sandbox.receiver.callbacks()[0].status == "ER103"


async def test_timeout_after_accept_answers_a_patient_client_after_the_hold() -> None:
    async with running_sandbox(timeout_after_accept_seconds=0.3) as sandbox:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await sandbox.submit("pay-hold", msisdn="+254700000005")
        assert loop.time() - started >= 0.3
        assert response.json()["code"] == "100"

        # Only the first submission is held.
        started = loop.time()
        await sandbox.submit("pay-hold", msisdn="+254700000005")
        assert loop.time() - started < 0.2


async def test_timeout_after_accept_holds_the_answer_of_an_executed_transfer() -> None:
    receiver = WebhookReceiver()
    async with (
        served(receiver, make_config(timeout_after_accept_seconds=3.0)) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=0.3
        ) as client,
    ):
        body = {
            "thirdPartyTransId": "pay-slow",
            "msisdn": "+254700000005",
            "country": "KE",
            "currency": "KES",
            "amount": "99.00",
        }
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/hub/v1/payouts", json=body)

        # The client never saw an answer, yet the hub executed the transfer.
        transfers = (await client.get("/admin/transfers")).json()
        assert [(t["thirdPartyTransId"], t["executed"]) for t in transfers] == [("pay-slow", True)]
        status = (await client.get("/hub/v1/payouts/pay-slow")).json()
        transaction_id = status["transactionId"]
        assert status["status"] in ("MR108", "MR101")

        # The idempotent resubmission is answered at once, with the same transfer.
        again = await client.post("/hub/v1/payouts", json=body)
        assert again.status_code == 200
        assert again.json()["transactionId"] == transaction_id

        await wait_until(lambda: len(receiver.accepted) == 1, 2.0, "the webhook")
        assert receiver.callbacks()[0].status == "MR101"
        assert (await client.get("/admin/transfers")).json()[0]["submit_count"] == 2
