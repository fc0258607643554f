"""Refunds of paid collections: scenarios, idempotency, limits, the window, float, webhooks."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from payments_engine.domain.webhooks import SIGNATURE_HEADER, verify
from payments_engine.sandbox.hub.wire import HubRefund, HubRefundAck
from tests.sandbox.hub.support import (
    REFUNDS,
    accepted_of_type,
    admin_refunds,
    collect,
    paid_collection,
    refund,
    refund_callbacks,
    refund_of,
    shift_clock,
    wait_for_collection,
    wait_for_refund,
)
from tests.sandbox.hub.test_hub_api import EVENT_ID
from tests.sandbox.support import (
    API_KEY,
    WEBHOOK_SECRET,
    Sandbox,
    WebhookReceiver,
    make_config,
    running_sandbox,
    served,
    wait_until,
)

REFUND_ID = re.compile(r"^RF[0-9A-F]{14}$")
DAY = 86_400
# The float after a 100.00 KES collection (1.50 fee): the base of every refund below.
AFTER_COLLECTION = "10000000098.50"


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"], body
    return response.status_code, body["code"]


async def test_processed_refund_debits_the_float_and_sends_a_signed_webhook() -> None:
    async with running_sandbox(settle_seconds=0.3) as sandbox:
        await paid_collection(sandbox, "col-1")
        assert await sandbox.balance("KES") == AFTER_COLLECTION

        response = await refund(sandbox, "ref-1", "col-1", amount="40.00", reason="damaged")
        assert response.status_code == 200
        ack = HubRefundAck.model_validate_json(response.content)
        assert (ack.status, ack.external_refund_id) == ("pending", "ref-1")
        assert REFUND_ID.match(ack.refund_id)
        assert set(response.json()) == {"status", "refund_id", "external_refund_id"}

        pending = HubRefund.model_validate(await refund_of(sandbox, ack.refund_id))
        assert (pending.status, pending.refund_amount, pending.currency) == (
            "pending",
            "40.00",
            "KES",
        )
        assert (pending.original_transaction_id, pending.reason) == ("col-1", "damaged")
        assert pending.failure_reason is None
        assert await sandbox.balance("KES") == AFTER_COLLECTION  # nothing moves while pending

        processed = await wait_for_refund(sandbox, ack.refund_id, "processed")
        assert await sandbox.balance("KES") == "10000000058.50"
        # Found by our own id too: what a client does after a timeout.
        found = await sandbox.client.get(REFUNDS, params={"external_refund_id": "ref-1"})
        assert found.status_code == 200
        assert found.json() == processed

        await wait_until(lambda: bool(refund_callbacks(sandbox.receiver)), 2.0, "the webhook")
        (request,) = accepted_of_type(sandbox.receiver, "refundStatus")
        verify(WEBHOOK_SECRET, request.headers[SIGNATURE_HEADER], request.content, time.time())
        (callback,) = refund_callbacks(sandbox.receiver)
        assert EVENT_ID.match(callback.event_id)
        assert (callback.type, callback.status) == ("refundStatus", "processed")
        assert (callback.refund_id, callback.external_refund_id) == (ack.refund_id, "ref-1")
        assert (callback.original_transaction_id, callback.refund_amount) == ("col-1", "40.00")
        assert callback.currency == "KES"
        assert "failure_reason" not in request.read().decode()

        (admin,) = await admin_refunds(sandbox)
        assert (admin["execution_count"], admin["executed"], admin["amount"]) == (1, True, 4000)


@pytest.mark.parametrize(
    ("amount", "final", "executions", "float_after", "webhooks"),
    [
        ("10.91", "failed", 0, AFTER_COLLECTION, ["failed"]),
        ("10.95", "processed", 1, "10000000087.55", []),
        ("10.96", "processed", 1, "10000000087.54", ["processed", "processed"]),
        ("10.00", "processed", 1, "10000000088.50", ["processed"]),
    ],
)
async def test_refund_scenarios_reach_their_final_status(
    sandbox: Sandbox,
    amount: str,
    final: str,
    executions: int,
    float_after: str,
    webhooks: list[str],
) -> None:
    await paid_collection(sandbox, "col-magic")
    response = await refund(sandbox, "ref-magic", "col-magic", amount=amount)
    assert response.json()["status"] == "pending"
    refund_id = response.json()["refund_id"]

    done = await wait_for_refund(sandbox, refund_id, final)
    assert (done["failure_reason"] is not None) is (final == "failed")
    assert await sandbox.balance("KES") == float_after
    (admin,) = await admin_refunds(sandbox)
    assert admin["execution_count"] == executions

    if webhooks:
        await wait_until(lambda: len(refund_callbacks(sandbox.receiver)) >= len(webhooks))
    await asyncio.sleep(0.05)  # room for any webhook that should not come
    callbacks = refund_callbacks(sandbox.receiver)
    assert [callback.status for callback in callbacks] == webhooks
    assert len({callback.event_id for callback in callbacks}) == min(len(webhooks), 1)
    if final == "failed":
        assert callbacks[0].failure_reason == done["failure_reason"]


async def test_a_reversed_refund_gives_the_money_back_with_a_webhook_each() -> None:
    # Reversed 2 s after processing: room for a loaded machine to see "processed" first.
    async with running_sandbox(late_success_seconds=2.0) as sandbox:
        await paid_collection(sandbox, "col-rev")
        refund_id = (await refund(sandbox, "ref-rev", "col-rev", amount="20.92")).json()[
            "refund_id"
        ]
        await wait_for_refund(sandbox, refund_id, "processed")
        assert await sandbox.balance("KES") == "10000000077.58"
        (processed,) = await admin_refunds(sandbox)
        assert (processed["executed"], processed["execution_count"]) == (True, 1)

        reversed_ = await wait_for_refund(sandbox, refund_id, "reversed")
        assert reversed_["failure_reason"]
        assert await sandbox.balance("KES") == AFTER_COLLECTION
        (admin,) = await admin_refunds(sandbox)
        # Executed once, then given back: never twice.
        assert (admin["executed"], admin["execution_count"]) == (False, 1)
        await wait_until(lambda: len(refund_callbacks(sandbox.receiver)) == 2)
        assert [c.status for c in refund_callbacks(sandbox.receiver)] == ["processed", "reversed"]


async def test_a_refund_that_never_resolves_stays_pending_until_forced(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-stuck")
    refund_id = (await refund(sandbox, "ref-stuck", "col-stuck", amount="10.93")).json()[
        "refund_id"
    ]
    await asyncio.sleep(0.3)
    assert (await refund_of(sandbox, refund_id))["status"] == "pending"
    assert refund_callbacks(sandbox.receiver) == []
    assert await sandbox.balance("KES") == AFTER_COLLECTION

    forced = await sandbox.client.post(
        f"/admin/refunds/{refund_id}/resolve", json={"status": "processed"}
    )
    assert forced.status_code == 200
    assert (forced.json()["status"], forced.json()["execution_count"]) == ("processed", 1)
    assert await sandbox.balance("KES") == "10000000087.57"
    await wait_until(lambda: len(refund_callbacks(sandbox.receiver)) == 1)
    again = await sandbox.client.post(
        f"/admin/refunds/{refund_id}/resolve", json={"status": "failed"}
    )
    assert again.status_code == 409
    not_settling = await sandbox.client.post(
        f"/admin/refunds/{refund_id}/resolve", json={"status": "reversed"}
    )
    assert not_settling.status_code == 422
    missing = await sandbox.client.post("/admin/refunds/RF0/resolve", json={"status": "failed"})
    assert missing.status_code == 404


async def test_timeout_scenario_holds_the_first_answer_only() -> None:
    async with running_sandbox(timeout_after_accept_seconds=0.3) as sandbox:
        await paid_collection(sandbox, "col-hold")
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await refund(sandbox, "ref-hold", "col-hold", amount="10.94")
        assert loop.time() - started >= 0.3
        assert first.status_code == 200

        started = loop.time()
        again = await refund(sandbox, "ref-hold", "col-hold", amount="10.94")
        assert loop.time() - started < 0.2
        assert again.json()["refund_id"] == first.json()["refund_id"]


async def test_timeout_scenario_executes_before_the_client_gives_up() -> None:
    receiver = WebhookReceiver()
    async with (
        served(receiver, make_config(timeout_after_accept_seconds=3.0)) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5.0
        ) as client,
    ):
        sandbox_body = {
            "thirdPartyTransId": "col-slow",
            "msisdn": "+254712345678",
            "country": "KE",
            "currency": "KES",
            "amount": "100.00",
        }
        assert (await client.post("/hub/v1/collections", json=sandbox_body)).status_code == 200
        await wait_until(lambda: len(receiver.accepted) == 1, 2.0, "the collection's webhook")
        body = {
            "original_transaction_id": "col-slow",
            "refund_amount": "10.94",
            "currency": "KES",
            "reason": "late",
            "external_refund_id": "ref-slow",
        }
        # Only this call gives up early (well before the hub's 3 s): the others may be
        # slow on a loaded machine without the test failing.
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/hub/v1/refunds", json=body, timeout=1.0)

        # The client never saw a refund id, yet the money already left the float.
        (admin,) = (await client.get("/admin/refunds")).json()
        assert (admin["executed"], admin["execution_count"]) == (True, 1)
        found = await client.get("/hub/v1/refunds", params={"external_refund_id": "ref-slow"})
        assert found.json()["refund_id"] == admin["refund_id"]
        again = await client.post("/hub/v1/refunds", json=body)
        assert again.json()["refund_id"] == admin["refund_id"]

        await wait_until(lambda: len(receiver.accepted) == 2, 2.0, "the refund's webhook")
        assert (await client.get("/admin/refunds")).json()[0]["execution_count"] == 1
        balances = (await client.get("/hub/v1/balance")).json()["balances"]
        assert {"currency": "KES", "available": "10000000087.56"} in balances


async def test_repeat_with_same_parameters_answers_the_first_refund(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-rep")
    first = await refund(sandbox, "ref-rep", "col-rep", amount="30.00")
    # The reason is free text, not a parameter of the refund.
    second = await refund(sandbox, "ref-rep", "col-rep", amount="30.00", reason="retry")
    assert first.status_code == second.status_code == 200
    assert second.json()["refund_id"] == first.json()["refund_id"]
    await wait_for_refund(sandbox, first.json()["refund_id"], "processed")
    third = await refund(sandbox, "ref-rep", "col-rep", amount="30.00")
    assert third.json() == {**first.json(), "status": "processed"}

    (admin,) = await admin_refunds(sandbox)
    assert (admin["submit_count"], admin["execution_count"]) == (3, 1)
    assert await sandbox.balance("KES") == "10000000068.50"


@pytest.mark.parametrize(
    "change",
    [{"amount": "31.00"}, {"original": "col-other"}, {"amount": "30", "currency": "UGX"}],
)
async def test_same_external_id_with_other_parameters_is_a_conflict(
    sandbox: Sandbox, change: dict[str, str]
) -> None:
    await paid_collection(sandbox, "col-dup")
    first = await refund(sandbox, "ref-dup", "col-dup", amount="30.00")
    values: dict[str, Any] = {"original": "col-dup", "amount": "30.00", **change}
    conflict = await refund(sandbox, "ref-dup", **values)
    assert _error(conflict) == (409, "duplicate_external_refund_id")
    (admin,) = await admin_refunds(sandbox)
    assert (admin["refund_id"], admin["amount"]) == (first.json()["refund_id"], 3000)


async def test_same_amount_partial_refunds_are_all_accepted_within_the_collection(
    sandbox: Sandbox,
) -> None:
    await paid_collection(sandbox, "col-parts")
    ids = []
    for number in range(3):
        response = await refund(sandbox, f"ref-part-{number}", "col-parts", amount="30.00")
        assert response.status_code == 200, response.text
        ids.append(response.json()["refund_id"])
    assert len(set(ids)) == 3

    fourth = await refund(sandbox, "ref-part-3", "col-parts", amount="30.00")
    assert _error(fourth) == (422, "amount_exceeded")
    assert "10.00" in fourth.json()["message"]  # what is left
    last = await refund(sandbox, "ref-part-4", "col-parts", amount="10.00")
    assert last.status_code == 200

    for refund_id in ids:
        await wait_for_refund(sandbox, refund_id, "processed")
    refunds = await admin_refunds(sandbox)
    assert [r["amount"] for r in refunds] == [3000, 3000, 3000, 1000]
    assert await sandbox.balance("KES") == "9999999998.50"


async def test_failed_refunds_do_not_count_against_the_collection(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-retry")
    failing = (await refund(sandbox, "ref-fail", "col-retry", amount="99.91")).json()
    # Still pending: it counts until it fails.
    blocked = await refund(sandbox, "ref-next", "col-retry", amount="1.00")
    assert _error(blocked) == (422, "amount_exceeded")

    await wait_for_refund(sandbox, failing["refund_id"], "failed")
    full = await refund(sandbox, "ref-full", "col-retry", amount="100.00")
    assert full.status_code == 200
    await wait_for_refund(sandbox, full.json()["refund_id"], "processed")
    assert await sandbox.balance("KES") == "9999999998.50"


async def test_concurrent_refunds_never_exceed_the_collection(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-race")
    responses = await asyncio.gather(
        *(refund(sandbox, f"ref-race-{n}", "col-race", amount="7.00") for n in range(20))
    )
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 14  # 14 x 7.00 = 98.00 <= 100.00 < 15 x 7.00
    assert all(_error(response) == (422, "amount_exceeded") for response in refused)
    assert len({r.json()["refund_id"] for r in accepted}) == 14

    for response in accepted:
        await wait_for_refund(sandbox, response.json()["refund_id"], "processed")
    refunds = await admin_refunds(sandbox)
    assert sum(r["amount"] for r in refunds) == 9800 <= 10000
    assert all(r["execution_count"] == 1 for r in refunds)
    assert await sandbox.balance("KES") == "10000000000.50"


async def test_unknown_and_unpaid_originals_are_invalid_transactions(sandbox: Sandbox) -> None:
    unknown = await refund(sandbox, "ref-x", "col-never")
    assert _error(unknown) == (404, "invalid_transaction")

    await collect(sandbox, "col-waiting", msisdn="+254700000012")
    pending = await refund(sandbox, "ref-x", "col-waiting")
    assert _error(pending) == (422, "invalid_transaction")

    await collect(sandbox, "col-declined", msisdn="+254700000011")
    await wait_for_collection(sandbox, "col-declined", "ER105")
    declined = await refund(sandbox, "ref-x", "col-declined")
    assert _error(declined) == (422, "invalid_transaction")

    # A payout is not a collection, whatever its reference.
    await sandbox.submit("pay-only")
    await sandbox.wait_for_status("pay-only", "MR101")
    payout = await refund(sandbox, "ref-x", "pay-only")
    assert _error(payout) == (404, "invalid_transaction")
    assert await admin_refunds(sandbox) == []


async def test_a_refund_in_another_currency_is_a_mismatch(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-kes")
    response = await refund(sandbox, "ref-ugx", "col-kes", amount="1000", currency="UGX")
    assert _error(response) == (422, "currency_mismatch")
    assert await admin_refunds(sandbox) == []


async def test_a_refund_needs_the_collections_payment_to_be_recent(sandbox: Sandbox) -> None:
    clock = shift_clock(sandbox)
    await paid_collection(sandbox, "col-old")

    clock.offset = 179 * DAY
    within = await refund(sandbox, "ref-179", "col-old", amount="10.00")
    assert within.status_code == 200, within.text

    clock.offset = 181 * DAY
    late = await refund(sandbox, "ref-181", "col-old", amount="10.00")
    assert _error(late) == (422, "refund_window_expired")
    assert [r["reference"] for r in await admin_refunds(sandbox)] == ["ref-179"]


async def test_the_refund_window_follows_the_configuration() -> None:
    async with running_sandbox(refund_window_days=0) as sandbox:
        await paid_collection(sandbox, "col-now")
        response = await refund(sandbox, "ref-now", "col-now")
        assert _error(response) == (422, "refund_window_expired")


async def test_a_refund_the_float_cannot_cover_fails_without_moving_money() -> None:
    async with running_sandbox(float_balances={"KES": 0}) as sandbox:
        await paid_collection(sandbox, "col-net")
        assert await sandbox.balance("KES") == "98.50"  # the fee stays with the hub
        response = await refund(sandbox, "ref-all", "col-net", amount="100.00")
        failed = await wait_for_refund(sandbox, response.json()["refund_id"], "failed")
        assert failed["failure_reason"]
        assert await sandbox.balance("KES") == "98.50"
        (admin,) = await admin_refunds(sandbox)
        assert (admin["executed"], admin["execution_count"]) == (False, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"refund_amount": "10.5"},
        {"refund_amount": "10"},
        {"refund_amount": "0.00"},
        {"refund_amount": "-1.00"},
        {"refund_amount": "ten"},
        {"currency": "XYZ"},
        {"reason": ""},
        {"reason": "x" * 201},
        {"external_refund_id": ""},
        {"external_refund_id": "x" * 81},
        {"original_transaction_id": ""},
        {"refund_amount": None},
    ],
)
async def test_malformed_refunds_are_invalid_requests(
    sandbox: Sandbox, change: dict[str, object]
) -> None:
    await paid_collection(sandbox, "col-ok")
    body = {
        "original_transaction_id": "col-ok",
        "refund_amount": "10.00",
        "currency": "KES",
        "reason": "because",
        "external_refund_id": "ref-bad",
        **change,
    }
    response = await sandbox.client.post(REFUNDS, json=body)
    assert _error(response) == (422, "invalid_request")
    assert await admin_refunds(sandbox) == []


async def test_unknown_refunds_are_404(sandbox: Sandbox) -> None:
    by_id = await sandbox.client.get(f"{REFUNDS}/RF00000000000000")
    assert by_id.status_code == 404 and by_id.json()["code"] == "404"
    ours = await sandbox.client.get(REFUNDS, params={"external_refund_id": "ref-none"})
    assert ours.status_code == 404 and ours.json()["code"] == "404"
    no_query = await sandbox.client.get(REFUNDS)
    assert _error(no_query) == (422, "invalid_request")


async def test_faults_apply_to_refunds(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-fault")
    await sandbox.client.put("/admin/faults", json={"error_rate": 1.0})
    refused = await refund(sandbox, "ref-503", "col-fault")
    assert (refused.status_code, refused.json()["code"]) == (503, "503")

    await sandbox.client.put("/admin/faults", json={"error_after_execute_rate": 1.0})
    ambiguous = await refund(sandbox, "ref-500", "col-fault")
    assert (ambiguous.status_code, ambiguous.json()["code"]) == (500, "500")

    await sandbox.client.put("/admin/faults", json={})
    (admin,) = await admin_refunds(sandbox)
    assert admin["reference"] == "ref-500"
    again = await refund(sandbox, "ref-500", "col-fault")
    assert again.json()["refund_id"] == admin["refund_id"]
    await wait_for_refund(sandbox, admin["refund_id"], "processed")
    assert await sandbox.balance("KES") == "10000000088.50"


async def test_duplicate_fault_doubles_refund_webhooks(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-dd")
    await sandbox.client.put(
        "/admin/faults", json={"duplicate_webhooks": True, "out_of_order_webhooks": True}
    )
    await refund(sandbox, "ref-dd", "col-dd")
    await wait_until(lambda: len(refund_callbacks(sandbox.receiver)) == 4)
    callbacks = refund_callbacks(sandbox.receiver)
    assert [c.status for c in callbacks] == ["processed", "processed", "pending", "pending"]
    ids = [c.event_id for c in callbacks]
    assert ids[0] == ids[1] != ids[2] == ids[3]
