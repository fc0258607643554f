"""MoMo's admin API: transfers, lookup by our reference, forced resolution, faults, reset."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from payments_engine.sandbox.app import create_sandbox_app
from tests.sandbox.momo.support import (
    KES_FLOAT,
    KES_FLOAT_AFTER_ONE,
    TRANSFER_PATH,
    Momo,
    make_momo_config,
    new_reference_id,
    running_momo,
)
from tests.sandbox.support import SANDBOX_URL, make_config

ADMIN_FIELDS = {
    "reference_id",
    "reference",
    "external_id",
    "amount",
    "currency",
    "status",
    "reason",
    "executed",
    "financial_transaction_id",
    "created_at",
    "updated_at",
}


async def test_admin_transfer_fields_and_no_full_number(momo: Momo) -> None:
    reference_id, _ = await momo.transfer(external_id="pay-admin", party_id="254712345678")
    response = await momo.admin.get("/admin/momo/transfers")
    assert "712345678" not in response.text
    (transfer,) = response.json()
    assert ADMIN_FIELDS <= set(transfer)
    assert (transfer["reference_id"], transfer["reference"], transfer["external_id"]) == (
        reference_id,
        "pay-admin",
        "pay-admin",
    )
    assert (transfer["amount"], transfer["currency"]) == ("1500.00", "KES")
    assert transfer["payee_masked"] == "+254******678"
    assert transfer["scenario"] == "success"
    assert await momo.admin_transfer(reference_id) == transfer


async def test_both_providers_show_reference_and_executed(momo: Momo) -> None:
    hub = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=momo.app),
        base_url=SANDBOX_URL,
        headers={"Authorization": "Bearer sandbox-test-key"},
    )
    async with hub:
        body = {
            "thirdPartyTransId": "pay-hub",
            "msisdn": "+254712345678",
            "country": "KE",
            "currency": "KES",
            "amount": "10.00",
        }
        assert (await hub.post("/hub/v1/payouts", json=body)).status_code == 200
        await momo.transfer(external_id="pay-momo")
        hub_view = (await hub.get("/admin/transfers")).json()
        momo_view = await momo.transfers()
    assert [(t["reference"], t["executed"]) for t in hub_view + momo_view] == [
        ("pay-hub", True),
        ("pay-momo", True),
    ]


async def test_lookup_by_external_id_lists_every_transfer_with_it(momo: Momo) -> None:
    first, _ = await momo.transfer(external_id="pay-twice")
    second, _ = await momo.transfer(external_id="pay-twice")  # a new reference id: a new transfer
    await momo.transfer(external_id="pay-other")
    response = await momo.admin.get("/admin/momo/transfers/by-external-id/pay-twice")
    assert response.status_code == 200
    assert [t["reference_id"] for t in response.json()] == [first, second]
    none = await momo.admin.get("/admin/momo/transfers/by-external-id/never-sent")
    assert none.json() == []
    missing = await momo.admin.get(f"/admin/momo/transfers/{new_reference_id()}")
    assert missing.status_code == 404


async def test_resolve_forces_a_final_status_and_sends_its_callback(momo: Momo) -> None:
    resolve = "/admin/momo/transfers/{}/resolve"
    missing = await momo.admin.post(
        resolve.format(new_reference_id()), json={"status": "SUCCESSFUL"}
    )
    assert missing.status_code == 404

    reference_id, _ = await momo.transfer(party_id="254733123453")  # ongoing
    url = resolve.format(reference_id)
    for bad in (
        {"status": "PENDING"},
        {"status": "FAILED"},
        {"status": "SUCCESSFUL", "reason": "EXPIRED"},
        {"status": "FAILED", "reason": "NO_SUCH_REASON"},
        {"status": "DONE"},
    ):
        response = await momo.admin.post(url, json=bad)
        assert response.status_code == 422, bad

    done = await momo.admin.post(url, json={"status": "SUCCESSFUL"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["executed"]) == ("SUCCESSFUL", True)
    assert done.json()["financial_transaction_id"]
    again = await momo.admin.post(url, json={"status": "FAILED", "reason": "EXPIRED"})
    assert again.status_code == 409
    assert (await momo.status_of(reference_id))["status"] == "SUCCESSFUL"
    await momo.wait_for_callbacks(1)
    assert [body["status"] for body in momo.callbacks()] == ["SUCCESSFUL"]
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE


async def test_resolve_as_failed_refunds_the_float(momo: Momo) -> None:
    reference_id, _ = await momo.transfer(party_id="254733123453")
    response = await momo.admin.post(
        f"/admin/momo/transfers/{reference_id}/resolve",
        json={"status": "FAILED", "reason": "TRANSACTION_CANCELED"},
    )
    assert response.status_code == 200
    assert (response.json()["executed"], response.json()["reason"]) == (
        False,
        "TRANSACTION_CANCELED",
    )
    assert await momo.balance("KES") == KES_FLOAT
    await momo.wait_for_callbacks(1)
    (body,) = momo.callbacks()
    assert (body["status"], body["reason"]) == ("FAILED", "TRANSACTION_CANCELED")


async def test_forced_success_needs_the_float() -> None:
    async with running_momo(float_balances={"KES": 100}) as momo:
        reference_id, _ = await momo.transfer(party_id="254733123453", amount="5.00")
        await momo.wait_for_status(reference_id, "FAILED")  # the float could not cover it
        transfer = await momo.admin_transfer(reference_id)
        assert (transfer["reason"], transfer["executed"]) == ("NOT_ENOUGH_FUNDS", False)
        assert await momo.balance("KES") == "1.00"


async def test_error_rate_answers_503_before_doing_anything(momo: Momo) -> None:
    before, _ = await momo.transfer()
    assert (await momo.admin.put("/admin/momo/faults", json={"error_rate": 1.0})).is_success
    _, refused = await momo.transfer()
    assert refused.status_code == 503
    assert refused.json()["code"] == "SERVICE_UNAVAILABLE"
    assert (await momo.client.get(f"{TRANSFER_PATH}/{before}")).status_code == 503
    await momo.admin.put("/admin/momo/faults", json={})
    assert [t["reference_id"] for t in await momo.transfers()] == [before]
    assert (await momo.admin_transfer(before))["status_queries"] == 0


async def test_error_after_execute_executes_then_answers_500(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"error_after_execute_rate": 1.0})
    reference_id, response = await momo.transfer()
    assert response.status_code == 500
    assert response.json()["code"] == "INTERNAL_PROCESSING_ERROR"
    (transfer,) = await momo.transfers()
    assert (transfer["reference_id"], transfer["executed"]) == (reference_id, True)
    await momo.admin.put("/admin/momo/faults", json={})
    # What a correct client does next: ask by the same reference id, never resubmit blindly.
    await momo.wait_for_status(reference_id, "SUCCESSFUL")
    _, again = await momo.transfer(reference_id)
    assert again.status_code == 409
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE


async def test_hold_submissions_executes_then_holds_the_answer(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"hold_submissions": True})
    answer = asyncio.create_task(momo.transfer())
    while not await momo.transfers():
        await asyncio.sleep(0.01)
    (transfer,) = await momo.transfers()
    await momo.wait_for_status(transfer["reference_id"], "SUCCESSFUL")
    await asyncio.sleep(0.1)
    assert not answer.done()
    await momo.admin.put("/admin/momo/faults", json={})
    _, response = await asyncio.wait_for(answer, 2.0)
    assert response.status_code == 202


async def test_latency_is_added(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"latency_ms": 150})
    loop = asyncio.get_running_loop()
    started = loop.time()
    await momo.balance("KES")
    assert loop.time() - started >= 0.15


async def test_webhook_faults_do_not_apply_to_momo(momo: Momo) -> None:
    faults = {"duplicate_webhooks": True, "out_of_order_webhooks": True}
    assert (await momo.admin.put("/admin/momo/faults", json=faults)).json()[
        "duplicate_webhooks"
    ] is True
    await momo.transfer()
    await momo.wait_for_callbacks(1)
    await asyncio.sleep(0.1)
    assert len(momo.receiver.requests) == 1


async def test_faults_are_per_simulator(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"error_rate": 1.0})
    assert (await momo.admin.get("/admin/faults")).json()["error_rate"] == 0.0
    hub = await momo.admin.get("/hub/v1/balance", headers={"Authorization": "Bearer x"})
    assert hub.status_code == 401  # the hub answers as usual (wrong key), not 503
    bad = await momo.admin.put("/admin/momo/faults", json={"error_rate": 2})
    assert bad.status_code == 422
    assert (await momo.admin.get("/admin/momo/faults")).json()["error_rate"] == 1.0


async def test_reset_forgets_momo_only(momo: Momo) -> None:
    await momo.admin.put("/admin/momo/faults", json={"latency_ms": 1})
    await momo.transfer()
    await momo.wait_for_callbacks(1)
    hub_state = momo.app.state.sandbox
    hub_state.store.floats.debit("KES", 5)

    assert (await momo.admin.post("/admin/momo/reset")).json() == {"reset": True}
    assert await momo.transfers() == []
    assert await momo.webhook_log() == []
    assert (await momo.admin.get("/admin/momo/faults")).json()["latency_ms"] == 0
    assert await momo.balance("KES") == KES_FLOAT
    assert hub_state.store.balances()["KES"] == 10**12 - 5


async def test_scenarios_and_docs(momo: Momo) -> None:
    scenarios = (await momo.admin.get("/admin/momo/scenarios")).json()
    assert {s["suffix"] for s in scenarios} >= {"123450", "123457"}
    openapi = (await momo.admin.get("/openapi.json")).text
    assert "123452" in openapi and "/momo/disbursement/v1_0/transfer" in openapi
    assert "externalId" in openapi  # the hand-parsed body is documented


async def test_momo_is_only_mounted_when_configured() -> None:
    app = create_sandbox_app(make_config())
    assert app.state.momo is None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL
    ) as client:
        assert (await client.get("/admin/momo/transfers")).status_code == 404
        assert (await client.post(TRANSFER_PATH)).status_code == 404
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    app.state.sandbox.store.close()


async def test_lifespan_runs_one_dispatcher_per_simulator_and_closes_them() -> None:
    given = httpx.AsyncClient()
    app = create_sandbox_app(make_config(), given, momo=make_momo_config())
    async with app.router.lifespan_context(app):
        hub, momo = app.state.sandbox.dispatcher, app.state.momo.dispatcher
        assert hub is not None and momo is not None and hub is not momo
    assert app.state.sandbox.dispatcher is None and app.state.momo.dispatcher is None
    assert not given.is_closed
    await given.aclose()


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_!!!not-base64", "plain-hub-secret!"])
def test_a_secret_the_scheme_cannot_use_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook_secret") as info:
        make_momo_config(webhook_secret=secret)
    if secret:
        assert repr(secret) not in str(info.value)
        assert "input_value" not in str(info.value)
