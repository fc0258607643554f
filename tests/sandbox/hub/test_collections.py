"""Collections ("request to pay"): prompt, payer's answer, fee, float, cancel and webhooks."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from payments_engine.domain.webhooks import SIGNATURE_HEADER, verify
from payments_engine.sandbox.hub.amounts import fee_of
from payments_engine.sandbox.hub.wire import (
    DUPLICATE_MESSAGE,
    NOT_CANCELLABLE_MESSAGE,
    NOT_FOUND_MESSAGE,
    HubAck,
    HubCollection,
)
from tests.sandbox.hub.support import (
    COLLECTIONS,
    KES_FLOAT,
    admin_collections,
    cancel,
    collect,
    collection_callbacks,
    collection_of,
    paid_collection,
    wait_for_collection,
)
from tests.sandbox.hub.test_hub_api import EVENT_ID, TRANSACTION_ID
from tests.sandbox.support import WEBHOOK_SECRET, WEBHOOK_URL, Sandbox, body_of, running_sandbox


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/hub/v1/collections"),
        ("GET", "/hub/v1/collections/any"),
        ("POST", "/hub/v1/collections/any/cancel"),
        ("POST", "/hub/v1/refunds"),
        ("GET", "/hub/v1/refunds/any"),
        ("GET", "/hub/v1/refunds?external_refund_id=any"),
    ],
)
async def test_collection_and_refund_routes_need_the_key(
    sandbox: Sandbox, method: str, path: str
) -> None:
    request = sandbox.client.build_request(method, path, json={})
    del request.headers["Authorization"]
    response = await sandbox.client.send(request)
    assert response.status_code == 401
    assert response.json() == {"code": "401", "message": "missing or invalid API key"}


async def test_paid_collection_credits_the_float_net_of_the_fee_and_sends_a_signed_webhook() -> (
    None
):
    async with running_sandbox(settle_seconds=0.3) as sandbox:
        response = await collect(sandbox, "col-1", amount="1500.00", description="order 7")
        assert response.status_code == 200
        ack = HubAck.model_validate_json(response.content)
        assert (ack.code, ack.status, ack.third_party_trans_id) == ("100", "MR103", "col-1")
        assert ack.transaction_id is not None and TRANSACTION_ID.match(ack.transaction_id)

        pending = HubCollection.model_validate(await collection_of(sandbox, "col-1"))
        assert (pending.status, pending.amount, pending.fee) == ("MR103", "1500.00", "0.00")
        assert pending.transaction_id == ack.transaction_id
        assert pending.expires_at - pending.created_at == timedelta(seconds=300)
        assert await sandbox.balance("KES") == KES_FLOAT
        assert sandbox.receiver.requests == []

        paid = HubCollection.model_validate(await wait_for_collection(sandbox, "col-1", "MR101"))
        assert (paid.amount, paid.fee, paid.currency) == ("1500.00", "22.50", "KES")
        assert paid.updated_at > paid.created_at
        # 1500.00 collected, 22.50 (1.5 %) kept by the hub.
        assert await sandbox.balance("KES") == "10000001477.50"

        await sandbox.wait_for_webhooks(1)
        (request,) = sandbox.receiver.requests
        assert str(request.url) == WEBHOOK_URL
        verify(WEBHOOK_SECRET, request.headers[SIGNATURE_HEADER], request.content, time.time())
        (callback,) = collection_callbacks(sandbox.receiver)
        assert EVENT_ID.match(callback.event_id)
        assert (callback.type, callback.transaction_type) == ("transactionStatus", "collection")
        assert (callback.third_party_trans_id, callback.transaction_id) == (
            "col-1",
            ack.transaction_id,
        )
        assert (callback.status, callback.send_amount, callback.receive_amount) == (
            "MR101",
            "1500.00",
            "1500.00",
        )
        assert (callback.currency, callback.fee) == ("KES", "22.50")

        (admin,) = await admin_collections(sandbox)
        assert (admin["amount"], admin["fee"], admin["executed"]) == (150000, 2250, True)


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(100, 150, 2), (1030, 150, 15), (150000, 150, 2250), (10, 150, 0), (34, 150, 1), (7, 0, 0)],
)
def test_fee_is_rounded_half_up_to_the_minor_unit(amount: int, bps: int, fee: int) -> None:
    # 100 * 1.5 % = 1.5 -> 2; 1030 -> 15.45 -> 15; 10 -> 0.15 -> 0; 34 -> 0.51 -> 1.
    assert fee_of(amount, bps) == fee


async def test_fee_follows_the_configuration_and_the_currencys_decimals() -> None:
    async with running_sandbox(collection_fee_bps=1000) as sandbox:
        await paid_collection(sandbox, "col-ugx", amount="5005", currency="UGX")
        paid = await collection_of(sandbox, "col-ugx")
        assert (paid["amount"], paid["fee"]) == ("5005", "501")  # 500.5 rounds up
        assert await sandbox.balance("UGX") == "1000000004504"

    async with running_sandbox(collection_fee_bps=0) as sandbox:
        paid = await paid_collection(sandbox, "col-free", amount="10.00")
        assert paid["fee"] == "0.00"
        assert await sandbox.balance("KES") == "10000000010.00"


@pytest.mark.parametrize(
    ("suffix", "final", "executed", "webhooks"),
    [
        ("000001", "ER102", False, 1),
        ("000011", "ER105", False, 1),
        ("000006", "MR101", True, 0),
        ("000007", "MR101", True, 2),
        ("123456", "MR101", True, 1),
    ],
)
async def test_payer_scenarios_reach_their_final_status(
    sandbox: Sandbox, suffix: str, final: str, executed: bool, webhooks: int
) -> None:
    # Any country code works: the scenario is in the payer's last six digits.
    response = await collect(sandbox, "col-magic", msisdn=f"+256770{suffix}", country="UG")
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["status"]) == ("100", "MR103")

    collection = await wait_for_collection(sandbox, "col-magic", final)
    assert collection["fee"] == ("1.50" if executed else "0.00")
    (admin,) = await admin_collections(sandbox)
    assert admin["executed"] is executed
    assert await sandbox.balance("KES") == ("10000000098.50" if executed else KES_FLOAT)

    if webhooks:
        await sandbox.wait_for_webhooks(webhooks)
    await asyncio.sleep(0.05)  # room for any webhook that should not come
    callbacks = collection_callbacks(sandbox.receiver)
    assert len(callbacks) == len(sandbox.receiver.requests) == webhooks
    assert all(callback.status == final for callback in callbacks)
    assert len({callback.event_id for callback in callbacks}) == min(webhooks, 1)


async def test_invalid_number_is_rejected_at_once_and_never_prompted(sandbox: Sandbox) -> None:
    response = await collect(sandbox, "col-inv", msisdn="+254700000002")
    assert response.status_code == 200
    ack = response.json()
    assert (ack["code"], ack["status"], ack["thirdPartyTransId"]) == ("101", "ER101", "col-inv")
    assert ack["message"]
    assert (await collection_of(sandbox, "col-inv"))["status"] == "ER101"

    again = await collect(sandbox, "col-inv", msisdn="+254700000002")
    assert (again.json()["code"], again.json()["transactionId"]) == ("101", ack["transactionId"])
    await asyncio.sleep(0.1)
    (admin,) = await admin_collections(sandbox)
    assert (admin["executed"], admin["submit_count"]) == (False, 2)
    assert sandbox.receiver.requests == []
    assert await sandbox.balance("KES") == KES_FLOAT
    # Final from the start: nothing left to cancel.
    refused = await cancel(sandbox, "col-inv")
    assert refused.status_code == 409


async def test_an_unanswered_prompt_expires_when_the_window_closes(sandbox: Sandbox) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await collect(sandbox, "col-quiet", msisdn="+254700000012", approvalWindowSeconds=1)
    await asyncio.sleep(0.3)  # well past settle_seconds: the payer stays silent
    pending = await collection_of(sandbox, "col-quiet")
    assert pending["status"] == "MR103"
    created = HubCollection.model_validate(pending)
    assert created.expires_at - created.created_at == timedelta(seconds=1)
    assert sandbox.receiver.requests == []

    expired = await wait_for_collection(sandbox, "col-quiet", "ER106")
    assert loop.time() - started >= 0.95
    assert expired["fee"] == "0.00"
    await sandbox.wait_for_webhooks(1)
    assert [c.status for c in collection_callbacks(sandbox.receiver)] == ["ER106"]
    assert await sandbox.balance("KES") == KES_FLOAT


async def test_cancel_before_the_window_ends_it_once_with_a_webhook(sandbox: Sandbox) -> None:
    await collect(sandbox, "col-stop", msisdn="+254700000012", approvalWindowSeconds=1)
    first = await cancel(sandbox, "col-stop")
    assert first.status_code == 200
    cancelled = HubCollection.model_validate_json(first.content)
    assert (cancelled.status, cancelled.third_party_trans_id) == ("ER107", "col-stop")

    # Idempotent: a second cancel answers the same cancelled collection.
    second = await cancel(sandbox, "col-stop")
    assert second.status_code == 200
    assert second.json() == first.json()

    await sandbox.wait_for_webhooks(1)
    await asyncio.sleep(1.1)  # past the window: it must not turn into an expiry
    assert (await collection_of(sandbox, "col-stop"))["status"] == "ER107"
    assert [c.status for c in collection_callbacks(sandbox.receiver)] == ["ER107"]
    assert await sandbox.balance("KES") == KES_FLOAT


async def test_a_late_approval_cannot_be_cancelled_and_pays_after_the_window() -> None:
    # Approval 2 s after the window: room for a loaded machine between the checks.
    async with running_sandbox(late_success_seconds=2.0) as sandbox:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await collect(sandbox, "col-late", msisdn="+254700000013", approvalWindowSeconds=1)
        refused = await cancel(sandbox, "col-late")
        assert refused.status_code == 409
        assert refused.json() == {"code": "101", "message": NOT_CANCELLABLE_MESSAGE}

        await asyncio.sleep(1.1)  # the window has closed, the approval is still on its way
        assert (await collection_of(sandbox, "col-late"))["status"] == "MR103"
        assert sandbox.receiver.requests == []

        paid = await wait_for_collection(sandbox, "col-late", "MR101")
        assert loop.time() - started >= 2.95
        assert paid["fee"] == "1.50"
        await sandbox.wait_for_webhooks(1)
        assert [c.status for c in collection_callbacks(sandbox.receiver)] == ["MR101"]
        assert (await cancel(sandbox, "col-late")).status_code == 409
        assert await sandbox.balance("KES") == "10000000098.50"


async def test_final_and_unknown_collections_cannot_be_cancelled(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-paid")
    paid = await cancel(sandbox, "col-paid")
    assert paid.status_code == 409
    assert paid.json() == {"code": "101", "message": NOT_CANCELLABLE_MESSAGE}
    assert (await collection_of(sandbox, "col-paid"))["status"] == "MR101"

    missing = await cancel(sandbox, "col-never")
    assert missing.status_code == 404
    assert missing.json() == {"code": "404", "message": NOT_FOUND_MESSAGE}


async def test_an_answer_later_than_the_window_expires_the_collection() -> None:
    async with running_sandbox(settle_seconds=5.0) as sandbox:
        await collect(sandbox, "col-slow", approvalWindowSeconds=1)
        await wait_for_collection(sandbox, "col-slow", "ER106")
        assert await sandbox.balance("KES") == KES_FLOAT


async def test_repeat_with_same_parameters_answers_the_first_collection(sandbox: Sandbox) -> None:
    first = await collect(sandbox, "col-rep", amount="250.00")
    # Neither the description nor the window are parameters of the payment.
    second = await collect(sandbox, "col-rep", amount="250.00", description="again")
    third = await collect(sandbox, "col-rep", amount="250.00", approvalWindowSeconds=60)
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json()["transactionId"] == second.json()["transactionId"]
    assert third.json()["transactionId"] == first.json()["transactionId"]

    await wait_for_collection(sandbox, "col-rep", "MR101")
    after = await collect(sandbox, "col-rep", amount="250.00")
    assert (after.json()["status"], after.json()["code"]) == ("MR101", "100")
    await sandbox.wait_for_webhooks(1)
    await asyncio.sleep(0.05)
    assert len(sandbox.receiver.requests) == 1
    (admin,) = await admin_collections(sandbox)
    assert admin["submit_count"] == 4
    # Paid once: 250.00 less 3.75.
    assert await sandbox.balance("KES") == "10000000246.25"


async def test_concurrent_repeats_prompt_the_payer_once(sandbox: Sandbox) -> None:
    responses = await asyncio.gather(*(collect(sandbox, "col-race") for _ in range(10)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["transactionId"] for response in responses}) == 1
    (admin,) = await admin_collections(sandbox)
    assert admin["submit_count"] == 10
    await wait_for_collection(sandbox, "col-race", "MR101")
    assert await sandbox.balance("KES") == "10000000098.50"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "251.00"},
        {"msisdn": "+254712345679"},
        {"currency": "UGX", "amount": "250"},
        {"country": "UG"},
    ],
)
async def test_repeat_with_other_parameters_is_a_conflict(
    sandbox: Sandbox, change: dict[str, str]
) -> None:
    first = await collect(sandbox, "col-dup", amount="250.00")
    second = await collect(sandbox, "col-dup", **{"amount": "250.00", **change})
    assert second.status_code == 409
    assert second.json() == {"code": "101", "message": DUPLICATE_MESSAGE}
    (admin,) = await admin_collections(sandbox)
    assert admin["transactionId"] == first.json()["transactionId"]
    assert (admin["amount"], admin["currency"], admin["submit_count"]) == (25000, "KES", 2)


async def test_payouts_and_collections_keep_their_references_apart(sandbox: Sandbox) -> None:
    payout = await sandbox.submit("shared-1", amount="40.00")
    collection = await collect(sandbox, "shared-1", amount="70.00")
    assert payout.status_code == collection.status_code == 200
    assert payout.json()["transactionId"] != collection.json()["transactionId"]

    assert (await sandbox.status_of("shared-1"))["sendAmount"] == "40.00"
    assert (await collection_of(sandbox, "shared-1"))["amount"] == "70.00"
    (transfer,) = await sandbox.transfers()
    (admin,) = await admin_collections(sandbox)
    assert transfer["submit_count"] == admin["submit_count"] == 1
    assert (await sandbox.client.get(f"{COLLECTIONS}/only-a-payout")).status_code == 404


@pytest.mark.parametrize(
    ("currency", "amount"),
    [
        ("UGX", "10.5"),
        ("KES", "10.5"),
        ("KES", "10"),
        ("KES", "10.505"),
        ("KES", "abc"),
        ("KES", "0.00"),
        ("KES", "-5.00"),
        ("KES", "1e3"),
        ("XYZ", "10.00"),
    ],
)
async def test_amounts_are_validated_like_payouts(
    sandbox: Sandbox, currency: str, amount: str
) -> None:
    response = await collect(sandbox, "col-bad", currency=currency, amount=amount)
    assert response.status_code == 422
    assert response.json()["code"] == "101"
    assert response.json()["message"]
    assert await admin_collections(sandbox) == []


@pytest.mark.parametrize(
    "change",
    [
        {"msisdn": "0712345678"},
        {"country": "ke"},
        {"approvalWindowSeconds": 0},
        {"approvalWindowSeconds": 601},
        {"approvalWindowSeconds": "soon"},
        {"thirdPartyTransId": ""},
        {"thirdPartyTransId": "x" * 81},
    ],
)
async def test_party_window_and_reference_are_validated(
    sandbox: Sandbox, change: dict[str, object]
) -> None:
    body = {
        "thirdPartyTransId": "col-bad",
        "msisdn": "+254712345678",
        "country": "KE",
        "currency": "KES",
        "amount": "10.00",
        **change,
    }
    response = await sandbox.client.post(COLLECTIONS, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "101"
    assert await admin_collections(sandbox) == []


async def test_the_longest_window_is_accepted(sandbox: Sandbox) -> None:
    response = await collect(sandbox, "col-600", approvalWindowSeconds=600)
    assert response.status_code == 200
    collection = HubCollection.model_validate(await collection_of(sandbox, "col-600"))
    assert collection.expires_at - collection.created_at == timedelta(seconds=600)


async def test_unknown_collection_is_404(sandbox: Sandbox) -> None:
    response = await sandbox.client.get(f"{COLLECTIONS}/never-sent")
    assert response.status_code == 404
    assert response.json() == {"code": "404", "message": NOT_FOUND_MESSAGE}


async def test_faults_apply_to_collections(sandbox: Sandbox) -> None:
    await sandbox.client.put("/admin/faults", json={"error_rate": 1.0})
    refused = await collect(sandbox, "col-503")
    assert (refused.status_code, refused.json()["code"]) == (503, "503")
    await sandbox.client.put("/admin/faults", json={"error_after_execute_rate": 1.0})
    ambiguous = await collect(sandbox, "col-500")
    assert (ambiguous.status_code, ambiguous.json()["code"]) == (500, "500")

    await sandbox.client.put("/admin/faults", json={})
    assert [c["reference"] for c in await admin_collections(sandbox)] == ["col-500"]
    # What a correct client does next: ask by its reference, or repeat idempotently.
    found = await collection_of(sandbox, "col-500")
    again = await collect(sandbox, "col-500")
    assert again.json()["transactionId"] == found["transactionId"]


async def test_out_of_order_fault_sends_a_stale_pending_collection_event(
    sandbox: Sandbox,
) -> None:
    await sandbox.client.put("/admin/faults", json={"out_of_order_webhooks": True})
    await collect(sandbox, "col-ooo")
    await sandbox.wait_for_webhooks(2)
    final, stale = collection_callbacks(sandbox.receiver)
    assert (final.status, stale.status) == ("MR101", "MR103")
    assert stale.timestamp < final.timestamp


async def test_payout_callbacks_carry_no_collection_fields(sandbox: Sandbox) -> None:
    await sandbox.submit("pay-plain")
    await collect(sandbox, "col-typed")
    await sandbox.wait_for_webhooks(2)
    bodies = {body_of(r)["thirdPartyTransId"]: body_of(r) for r in sandbox.receiver.accepted}
    assert "transactionType" not in bodies["pay-plain"]
    assert "fee" not in bodies["pay-plain"]
    assert (bodies["col-typed"]["transactionType"], bodies["col-typed"]["fee"]) == (
        "collection",
        "1.50",
    )
