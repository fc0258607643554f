"""The admin views of collections and refunds, their forced resolution, scenarios and reset."""

from __future__ import annotations

import pytest

from tests.sandbox.hub.support import (
    KES_FLOAT,
    admin_collections,
    admin_refunds,
    collect,
    collection_callbacks,
    collection_of,
    paid_collection,
    refund,
    wait_for_refund,
)
from tests.sandbox.support import Sandbox, wait_until


async def test_collections_are_listed_without_the_payers_number(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-a", amount="1500.00")
    await collect(sandbox, "col-b", msisdn="+254700000011", amount="20.00")
    response = await sandbox.client.get("/admin/collections")
    assert response.status_code == 200
    assert "712345678" not in response.text
    paid, declined = response.json()
    assert paid["msisdn_masked"] == "+254******678"
    assert paid["reference"] == paid["thirdPartyTransId"] == "col-a"
    assert (paid["status"], paid["amount"], paid["fee"], paid["executed"]) == (
        "MR101",
        150000,
        2250,
        True,
    )
    assert (paid["scenario"], paid["submit_count"], paid["currency"]) == ("success", 1, "KES")
    assert paid["status_queries"] >= 1  # paid_collection polled it
    assert {"transactionId", "created_at", "updated_at", "expires_at"} <= set(paid)
    assert (declined["reference"], declined["scenario"], declined["executed"]) == (
        "col-b",
        "payer_declines",
        False,
    )

    one = await sandbox.client.get("/admin/collections/col-b")
    assert one.status_code == 200
    assert one.json()["thirdPartyTransId"] == "col-b"
    queries = one.json()["status_queries"]
    await sandbox.client.get("/admin/collections/col-b")
    # Reading it through the admin counts no status query.
    assert (await sandbox.client.get("/admin/collections/col-b")).json()["status_queries"] == (
        queries
    )
    assert (await sandbox.client.get("/admin/collections/nope")).status_code == 404


async def test_refunds_are_listed_with_how_often_each_was_executed(sandbox: Sandbox) -> None:
    await paid_collection(sandbox, "col-r")
    done = (await refund(sandbox, "ref-a", "col-r", amount="10.00")).json()
    failing = (await refund(sandbox, "ref-b", "col-r", amount="5.91")).json()
    await wait_for_refund(sandbox, done["refund_id"], "processed")
    await wait_for_refund(sandbox, failing["refund_id"], "failed")

    processed, failed = await admin_refunds(sandbox)
    assert {
        "reference",
        "external_refund_id",
        "refund_id",
        "original_transaction_id",
        "status",
        "currency",
        "amount",
        "executed",
        "execution_count",
        "submit_count",
        "created_at",
    } <= set(processed)
    assert (processed["reference"], processed["external_refund_id"]) == ("ref-a", "ref-a")
    assert (processed["refund_id"], processed["original_transaction_id"]) == (
        done["refund_id"],
        "col-r",
    )
    assert (processed["status"], processed["amount"], processed["execution_count"]) == (
        "processed",
        1000,
        1,
    )
    assert (failed["status"], failed["execution_count"], failed["executed"]) == ("failed", 0, False)
    assert failed["failure_reason"]
    assert failed["scenario"] == "failed"

    one = await sandbox.client.get(f"/admin/refunds/{done['refund_id']}")
    assert one.json()["external_refund_id"] == "ref-a"
    assert (await sandbox.client.get("/admin/refunds/ref-a")).status_code == 404


async def test_a_pending_collection_can_be_forced_once(sandbox: Sandbox) -> None:
    resolve = "/admin/collections/{}/resolve"
    missing = await sandbox.client.post(resolve.format("nope"), json={"status": "MR101"})
    assert missing.status_code == 404

    await collect(sandbox, "col-force", msisdn="+254700000012")
    not_final = await sandbox.client.post(resolve.format("col-force"), json={"status": "MR103"})
    assert not_final.status_code == 422

    forced = await sandbox.client.post(resolve.format("col-force"), json={"status": "MR101"})
    assert forced.status_code == 200
    assert (forced.json()["status"], forced.json()["fee"], forced.json()["executed"]) == (
        "MR101",
        150,
        True,
    )
    assert (await collection_of(sandbox, "col-force"))["fee"] == "1.50"
    assert await sandbox.balance("KES") == "10000000098.50"
    again = await sandbox.client.post(resolve.format("col-force"), json={"status": "ER105"})
    assert again.status_code == 409
    await wait_until(lambda: len(collection_callbacks(sandbox.receiver)) == 1)
    assert collection_callbacks(sandbox.receiver)[0].status == "MR101"

    # A forced payment can be refunded like any other.
    assert (await refund(sandbox, "ref-forced", "col-force")).status_code == 200


async def test_a_forced_failure_moves_no_money(sandbox: Sandbox) -> None:
    await collect(sandbox, "col-fail", msisdn="+254700000012")
    forced = await sandbox.client.post(
        "/admin/collections/col-fail/resolve", json={"status": "ER102"}
    )
    assert (forced.json()["status"], forced.json()["fee"]) == ("ER102", 0)
    assert await sandbox.balance("KES") == KES_FLOAT


@pytest.mark.parametrize(
    ("path", "count", "entry"),
    [
        (
            "/admin/scenarios/collections",
            8,
            {"scenario": "approves_late", "suffix": "000013", "final_status": "MR101"},
        ),
        (
            "/admin/scenarios/refunds",
            7,
            {"scenario": "reversed", "suffix": "92", "final_status": "reversed"},
        ),
    ],
)
async def test_scenarios_are_listed(
    sandbox: Sandbox, path: str, count: int, entry: dict[str, str]
) -> None:
    response = await sandbox.client.get(path)
    assert response.status_code == 200
    assert len(response.json()) == count
    (found,) = [s for s in response.json() if s["scenario"] == entry["scenario"]]
    assert entry.items() <= found.items()
    assert found["summary"]


async def test_the_api_docs_carry_the_magic_tables(sandbox: Sandbox) -> None:
    text = (await sandbox.client.get("/openapi.json")).text
    assert "`000013`" in text and "approves_late" in text
    assert "`94`" in text and "timeout_after_accept" in text


async def test_reset_forgets_collections_and_refunds_and_restores_the_float(
    sandbox: Sandbox,
) -> None:
    await paid_collection(sandbox, "col-old")
    await refund(sandbox, "ref-old", "col-old", amount="10.93")
    assert await sandbox.balance("KES") != KES_FLOAT

    assert (await sandbox.client.post("/admin/reset")).status_code == 200
    assert await admin_collections(sandbox) == []
    assert await admin_refunds(sandbox) == []
    assert await sandbox.balance("KES") == KES_FLOAT
    assert (await sandbox.client.get("/hub/v1/collections/col-old")).status_code == 404
    # The reference is free again, and so is the refund's.
    await paid_collection(sandbox, "col-old")
    assert (await refund(sandbox, "ref-old", "col-old", amount="20.00")).status_code == 200
