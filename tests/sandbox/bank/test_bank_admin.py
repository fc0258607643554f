"""The bank's admin API: transfers with history and webhooks, forced resolution, reset."""

from __future__ import annotations

from tests.sandbox.bank.support import COP_FLOAT, Bank, running_bank


async def test_a_transfer_shows_its_history_and_webhook_attempts(bank: Bank) -> None:
    await bank.created(account_number="0012345609")
    await bank.wait_for_webhooks(1)
    await bank.wait_for_deliveries_done()
    (transfer,) = await bank.transfers()

    assert (transfer["reference"], transfer["external_id"]) == ("refund-rf-1", "refund-rf-1")
    assert (transfer["status"], transfer["return_code"], transfer["return_reason"]) == (
        "RETURNED",
        "R03",
        "account_closed",
    )
    assert transfer["scenario"] == "account_closed" and transfer["executed"] is False
    assert [entry["status"] for entry in transfer["history"]] == ["ACCEPTED", "RETURNED"]
    assert transfer["history"][1]["return_code"] == "R03"
    (webhook,) = transfer["webhooks"]
    assert (webhook["attempts"], webhook["delivered"], webhook["status"]) == (1, True, "RETURNED")
    assert webhook["event_id"].startswith("evt_")
    # No full account or document number, no full name.
    assert transfer["beneficiary"] == "bank 007 savings ******5609 (CC ******4050, M. G.)"
    text = str(transfer)
    assert "0012345609" not in text and "1020304050" not in text and "María" not in text
    assert await bank.admin_transfer("refund-rf-1") == transfer
    # Reading it through the admin API counts no status query.
    assert transfer["status_queries"] == 0


async def test_the_webhook_log_lists_every_delivery(bank: Bank) -> None:
    await bank.created(external_id="refund-a")
    await bank.created(external_id="refund-b", account_number="0012345605")
    await bank.wait_for_webhooks(2)
    log = await bank.wait_for_deliveries_done()
    assert sorted(entry["reference"] for entry in log) == ["refund-a", "refund-b"]


async def test_a_pending_transfer_can_be_forced_to_a_return() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank:
        await bank.created()
        forced = await bank.admin.post(
            "/admin/bank/transfers/refund-rf-1/resolve",
            json={"status": "RETURNED", "return_code": "R04"},
        )
        assert forced.status_code == 200, forced.text
        body = forced.json()
        assert (body["status"], body["return_reason"]) == ("RETURNED", "document_mismatch")
        assert body["history"][-1]["forced"] is True
        await bank.wait_for_webhooks(1)
        assert bank.events()[0]["return_code"] == "R04"
        assert await bank.cop_float() == COP_FLOAT

        again = await bank.admin.post(
            "/admin/bank/transfers/refund-rf-1/resolve", json={"status": "SETTLED"}
        )
        assert again.status_code == 409


async def test_a_forced_resolution_must_be_final_and_consistent() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank:
        await bank.created()
        path = "/admin/bank/transfers/refund-rf-1/resolve"
        for body in (
            {"status": "ACCEPTED"},
            {"status": "RETURNED"},
            {"status": "SETTLED", "return_code": "R03"},
        ):
            assert (await bank.admin.post(path, json=body)).status_code == 422
        missing = await bank.admin.post(
            "/admin/bank/transfers/nobody/resolve", json={"status": "SETTLED"}
        )
        assert missing.status_code == 404
        settled = await bank.admin.post(path, json={"status": "SETTLED"})
        assert settled.json()["status"] == "SETTLED"
        assert (await bank.status_of("refund-rf-1"))["settled_at"] is not None


async def test_an_unknown_transfer_is_a_404_in_the_admin(bank: Bank) -> None:
    assert (await bank.admin.get("/admin/bank/transfers/nobody")).status_code == 404


async def test_a_reset_forgets_everything(bank: Bank) -> None:
    await bank.created()
    assert (await bank.admin.post("/admin/bank/reset")).json() == {"reset": True}
    assert await bank.transfers() == []
    assert await bank.cop_float() == COP_FLOAT
    # The external_id is free again.
    assert (await bank.submit()).status_code == 201


async def test_faults_are_set_through_the_admin(bank: Bank) -> None:
    put = await bank.admin.put("/admin/bank/faults", json={"error_rate": 1.0})
    assert put.status_code == 200
    assert (await bank.submit()).status_code == 503
    await bank.admin.put("/admin/bank/faults", json={})
    assert (await bank.submit()).status_code == 201
