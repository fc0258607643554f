"""The admin API: fault injection, the executed-transfer record, reset and forced status."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from payments_engine.sandbox.app import create_sandbox_app
from tests.sandbox.support import Sandbox, make_config, running_sandbox

KES_FLOAT = "10000000000.00"


async def test_error_rate_answers_503_before_doing_anything(sandbox: Sandbox) -> None:
    await sandbox.submit("pay-before")
    response = await sandbox.client.put("/admin/faults", json={"error_rate": 1.0})
    assert response.status_code == 200

    submitted = await sandbox.submit("pay-503")
    assert submitted.status_code == 503
    assert submitted.json()["code"] == "503"
    assert (await sandbox.client.get("/hub/v1/payouts/pay-before")).status_code == 503
    assert (await sandbox.client.get("/hub/v1/balance")).status_code == 503

    await sandbox.client.put("/admin/faults", json={})
    transfers = await sandbox.transfers()
    assert [t["thirdPartyTransId"] for t in transfers] == ["pay-before"]
    assert transfers[0]["status_queries"] == 0
    assert (await sandbox.client.get("/hub/v1/payouts/pay-503")).status_code == 404
    assert await sandbox.balance("KES") == "9999998500.00"


async def test_error_after_execute_executes_then_answers_500(sandbox: Sandbox) -> None:
    await sandbox.client.put("/admin/faults", json={"error_after_execute_rate": 1.0})
    response = await sandbox.submit("pay-500")
    assert response.status_code == 500
    assert response.json()["code"] == "500"

    (transfer,) = await sandbox.transfers()
    assert (transfer["thirdPartyTransId"], transfer["executed"]) == ("pay-500", True)
    assert await sandbox.balance("KES") == "9999998500.00"

    # What a correct client does next: find it by its reference, resubmit idempotently.
    await sandbox.client.put("/admin/faults", json={})
    status = await sandbox.status_of("pay-500")
    assert status["transactionId"] == transfer["transactionId"]
    again = await sandbox.submit("pay-500")
    assert again.status_code == 200
    assert again.json()["transactionId"] == transfer["transactionId"]
    (transfer,) = await sandbox.transfers()
    assert (transfer["submit_count"], transfer["status_queries"]) == (2, 1)
    assert await sandbox.balance("KES") == "9999998500.00"


async def test_hold_submissions_executes_then_holds_the_answer_until_released(
    sandbox: Sandbox,
) -> None:
    await sandbox.client.put("/admin/faults", json={"hold_submissions": True})
    answer = asyncio.create_task(sandbox.submit("pay-held"))
    while not await sandbox.transfers():
        await asyncio.sleep(0.01)
    await sandbox.wait_for_status("pay-held", "MR101")
    # Executed and settled at the hub, and the caller still has no answer.
    await asyncio.sleep(0.2)
    assert not answer.done()
    (transfer,) = await sandbox.transfers()
    assert transfer["executed"] is True

    await sandbox.client.put("/admin/faults", json={})
    response = await asyncio.wait_for(answer, 2.0)
    assert response.status_code == 200
    assert response.json()["transactionId"] == transfer["transactionId"]


async def test_fault_rates_follow_the_seed() -> None:
    async def outcomes(seed: int) -> list[int]:
        async with running_sandbox(seed=seed) as sandbox:
            await sandbox.client.put("/admin/faults", json={"error_rate": 0.5})
            return [(await sandbox.client.get("/hub/v1/balance")).status_code for _ in range(20)]

    first, second = await outcomes(7), await outcomes(7)
    assert first == second
    assert set(first) == {200, 503}


async def test_latency_is_added_to_hub_calls(sandbox: Sandbox) -> None:
    await sandbox.client.put("/admin/faults", json={"latency_ms": 150})
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await sandbox.client.get("/hub/v1/balance")).status_code == 200
    assert loop.time() - started >= 0.15


async def test_faults_round_trip_and_are_validated(sandbox: Sandbox) -> None:
    faults = {
        "error_rate": 0.25,
        "error_after_execute_rate": 0.5,
        "latency_ms": 10,
        "duplicate_webhooks": True,
        "out_of_order_webhooks": False,
        "hold_submissions": False,
    }
    assert (await sandbox.client.put("/admin/faults", json=faults)).json() == faults
    assert (await sandbox.client.get("/admin/faults")).json() == faults

    for bad in (
        {"error_rate": 1.5},
        {"error_after_execute_rate": -0.1},
        {"latency_ms": -1},
        {"latency_ms": "slow"},
        {"error_ratio": 0.1},
    ):
        response = await sandbox.client.put("/admin/faults", json=bad)
        assert response.status_code == 422, bad
    assert (await sandbox.client.get("/admin/faults")).json() == faults


async def test_transfers_show_a_masked_msisdn_only(sandbox: Sandbox) -> None:
    await sandbox.submit("pay-pii", msisdn="+254712345678")
    response = await sandbox.client.get("/admin/transfers")
    assert "712345678" not in response.text
    (transfer,) = response.json()
    assert transfer["msisdn_masked"] == "+254******678"
    assert transfer["reference"] == transfer["thirdPartyTransId"] == "pay-pii"
    assert {
        "reference",
        "thirdPartyTransId",
        "transactionId",
        "status",
        "currency",
        "amount",
        "executed",
        "submit_count",
        "created_at",
    } <= set(transfer)


async def test_reset_forgets_everything_and_restores_the_float(sandbox: Sandbox) -> None:
    await sandbox.client.put("/admin/faults", json={"duplicate_webhooks": True})
    await sandbox.submit("pay-old")
    await sandbox.wait_for_webhooks(2)
    assert await sandbox.balance("KES") != KES_FLOAT

    assert (await sandbox.client.post("/admin/reset")).status_code == 200
    assert await sandbox.transfers() == []
    assert await sandbox.webhook_log() == []
    assert (await sandbox.client.get("/admin/faults")).json()["duplicate_webhooks"] is False
    assert await sandbox.balance("KES") == KES_FLOAT
    assert (await sandbox.client.get("/hub/v1/payouts/pay-old")).status_code == 404


async def test_resolve_refuses_unknown_final_and_non_final(sandbox: Sandbox) -> None:
    resolve = "/admin/transfers/{}/resolve"
    missing = await sandbox.client.post(resolve.format("nope"), json={"status": "MR101"})
    assert missing.status_code == 404

    await sandbox.submit("pay-pend", msisdn="+254700000009")
    not_final = await sandbox.client.post(resolve.format("pay-pend"), json={"status": "MR102"})
    assert not_final.status_code == 422

    done = await sandbox.client.post(resolve.format("pay-pend"), json={"status": "MR101"})
    assert (done.json()["status"], done.json()["executed"]) == ("MR101", True)
    again = await sandbox.client.post(resolve.format("pay-pend"), json={"status": "ER102"})
    assert again.status_code == 409
    assert (await sandbox.status_of("pay-pend"))["status"] == "MR101"
    await sandbox.wait_for_webhooks(1)
    assert sandbox.receiver.callbacks()[0].status == "MR101"


async def test_apps_do_not_share_state() -> None:
    async with running_sandbox() as first, running_sandbox() as second:
        await first.submit("pay-a")
        assert [t["thirdPartyTransId"] for t in await first.transfers()] == ["pay-a"]
        assert await second.transfers() == []
        await first.client.put("/admin/faults", json={"error_rate": 1.0})
        assert (await second.client.get("/hub/v1/balance")).status_code == 200


async def test_lifespan_closes_only_the_client_it_created() -> None:
    given = httpx.AsyncClient()
    app = create_sandbox_app(make_config(), given)
    async with app.router.lifespan_context(app):
        assert app.state.sandbox.dispatcher is not None
    assert app.state.sandbox.dispatcher is None
    assert not given.is_closed
    await given.aclose()

    own = create_sandbox_app(make_config())
    async with own.router.lifespan_context(own):
        client = own.state.sandbox.dispatcher._client
        assert not client.is_closed
    assert client.is_closed


@pytest.mark.parametrize("path", ["/admin/scenarios", "/openapi.json"])
async def test_documentation_endpoints(sandbox: Sandbox, path: str) -> None:
    response = await sandbox.client.get(path)
    assert response.status_code == 200
    assert "000005" in response.text
