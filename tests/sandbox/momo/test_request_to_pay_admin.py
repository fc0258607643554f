"""MoMo's admin API for requests to pay: list, get, lookup by our reference, scenarios, reset."""

from __future__ import annotations

from tests.sandbox.momo.support import (
    KES_FLOAT,
    Momo,
    new_reference_id,
    running_momo,
)

ADMIN_FIELDS = {
    "reference_id",
    "reference",
    "external_id",
    "amount",
    "amount_minor",
    "currency",
    "status",
    "reason",
    "executed",
    "financial_transaction_id",
    "scenario",
    "payer_masked",
    "callback_url",
    "submit_count",
    "status_queries",
    "created_at",
    "updated_at",
    "expires_at",
}


async def test_admin_request_fields_and_no_full_number() -> None:
    # A settle long enough that the first snapshot is surely still pending.
    async with running_momo(settle_seconds=1.0) as momo:
        await _admin_request_fields_and_no_full_number(momo)


async def _admin_request_fields_and_no_full_number(momo: Momo) -> None:
    reference_id, _ = await momo.request_to_pay(external_id="col-admin", party_id="256772345678")
    response = await momo.admin.get("/admin/momo/requests-to-pay")
    assert response.status_code == 200
    assert "772345678" not in response.text
    (request,) = response.json()
    assert set(request) == ADMIN_FIELDS
    assert (request["reference_id"], request["reference"], request["external_id"]) == (
        reference_id,
        "col-admin",
        "col-admin",
    )
    assert (request["amount"], request["amount_minor"], request["currency"]) == (
        "1500.00",
        150_000,
        "KES",
    )
    assert (request["status"], request["reason"], request["executed"]) == ("PENDING", None, False)
    assert (request["submit_count"], request["status_queries"]) == (1, 0)
    assert (request["payer_masked"], request["scenario"]) == ("+256******678", "success")
    assert request["financial_transaction_id"] is None
    assert await momo.admin_request(reference_id) == request
    assert await momo.admin_request(reference_id.upper()) == request

    await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
    paid = await momo.admin_request(reference_id)
    assert (paid["status"], paid["executed"]) == ("SUCCESSFUL", True)
    # Reading it through the admin API counts no status query; a status GET does.
    assert (await momo.admin_request(reference_id))["status_queries"] == paid["status_queries"]
    status = await momo.request_status_of(reference_id)
    assert paid["financial_transaction_id"] == status["financialTransactionId"]
    assert (await momo.admin_request(reference_id))["status_queries"] == (
        paid["status_queries"] + 1
    )


async def test_admin_shows_the_failure_reason(momo: Momo) -> None:
    reference_id, _ = await momo.request_to_pay(party_id="256772000011")
    await momo.wait_for_request_status(reference_id, "FAILED")
    request = await momo.admin_request(reference_id)
    assert (request["status"], request["reason"], request["executed"]) == (
        "FAILED",
        "APPROVAL_REJECTED",
        False,
    )
    assert request["scenario"] == "payer_rejects"


async def test_the_admin_view_advances_time_based_state(momo: Momo) -> None:
    clock = momo.shift_clock()
    reference_id, _ = await momo.request_to_pay(party_id="256772000012")
    clock.offset = 301
    # Before the dispatcher ticks, the admin read itself applies the expiry.
    (request,) = await momo.requests_to_pay()
    assert (request["status"], request["reason"]) == ("FAILED", "EXPIRED")
    assert request["status_queries"] == 0


async def test_requests_to_pay_and_transfers_are_listed_apart(momo: Momo) -> None:
    transfer, _ = await momo.transfer(external_id="pay-1")
    request, _ = await momo.request_to_pay(external_id="col-1")
    assert [t["reference_id"] for t in await momo.transfers()] == [transfer]
    assert [r["reference_id"] for r in await momo.requests_to_pay()] == [request]
    assert (await momo.admin.get(f"/admin/momo/transfers/{request}")).status_code == 404
    assert (await momo.admin.get(f"/admin/momo/requests-to-pay/{transfer}")).status_code == 404


async def test_lookup_by_external_id_lists_every_request_with_it(momo: Momo) -> None:
    first, _ = await momo.request_to_pay(external_id="col-twice")
    second, _ = await momo.request_to_pay(external_id="col-twice")  # a new reference id
    await momo.request_to_pay(external_id="col-other")
    await momo.transfer(external_id="col-twice")  # a transfer is not a request to pay
    path = "/admin/momo/requests-to-pay/by-external-id/{}"
    response = await momo.admin.get(path.format("col-twice"))
    assert response.status_code == 200
    assert [r["reference_id"] for r in response.json()] == [first, second]
    assert (await momo.admin.get(path.format("never-sent"))).json() == []
    missing = await momo.admin.get(f"/admin/momo/requests-to-pay/{new_reference_id()}")
    assert missing.status_code == 404


async def test_request_to_pay_scenarios_are_listed(momo: Momo) -> None:
    response = await momo.admin.get("/admin/momo/scenarios/requests-to-pay")
    assert response.status_code == 200
    by_suffix = {s["suffix"]: s for s in response.json()}
    assert set(by_suffix) == {None, "000001", "000006", "000011", "000012", "000013"}
    assert by_suffix["000012"]["scenario"] == "never_answers"
    assert (by_suffix["000012"]["final_status"], by_suffix["000012"]["reason"]) == (
        "FAILED",
        "EXPIRED",
    )
    assert (by_suffix["000011"]["final_status"], by_suffix["000011"]["reason"]) == (
        "FAILED",
        "APPROVAL_REJECTED",
    )
    assert by_suffix[None]["final_status"] == "SUCCESSFUL"
    # The transfers' list is unchanged.
    transfers = (await momo.admin.get("/admin/momo/scenarios")).json()
    assert "000012" not in {s["suffix"] for s in transfers}


async def test_the_api_docs_describe_the_request_to_pay(momo: Momo) -> None:
    openapi = (await momo.admin.get("/openapi.json")).json()
    post = openapi["paths"]["/momo/collection/v1_0/requesttopay"]["post"]
    assert "000013" in post["description"] and "EXPIRED" in post["description"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"amount", "currency", "externalId", "payer"} <= set(schema["required"])
    assert "partyId" in schema["properties"]["payer"]["properties"]
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
    assert {"X-Reference-Id", "X-Callback-Url", "X-Target-Environment"} <= headers
    get = openapi["paths"]["/momo/collection/v1_0/requesttopay/{reference_id}"]["get"]
    assert get["responses"]["200"]


async def test_reset_forgets_requests_to_pay_and_their_callbacks(momo: Momo) -> None:
    paid, _ = await momo.request_to_pay()
    await momo.wait_for_request_status(paid, "SUCCESSFUL")
    await momo.wait_for_callbacks(1)
    await momo.request_to_pay(party_id="256772000012")  # still pending

    assert (await momo.admin.post("/admin/momo/reset")).json() == {"reset": True}
    assert await momo.requests_to_pay() == []
    assert await momo.webhook_log() == []
    assert await momo.balance("KES") == KES_FLOAT
    assert (await momo.client.get(f"/momo/collection/v1_0/requesttopay/{paid}")).status_code == 404
    # The reference id is free again.
    _, again = await momo.request_to_pay(paid)
    assert again.status_code == 202
