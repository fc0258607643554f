"""Collections and refunds survive a restart: a store or app on the same state file goes on."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import (
    CollectionOrder,
    HubStore,
    RefundOrder,
    RefundRefused,
    SubmitOutcome,
)
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus, RefundErrorCode
from tests.sandbox.hub.support import (
    admin_collections,
    admin_refunds,
    cancel,
    collect,
    collection_of,
    paid_collection,
    refund,
    refund_callbacks,
    wait_for_collection,
    wait_for_refund,
)
from tests.sandbox.support import FakeClock, WebhookReceiver, running_sandbox, wait_until

FLOATS = {"KES": 100_000}
OpenStore = Callable[..., HubStore]


def _collection(
    reference: str, msisdn: str = "+254712345678", amount: int = 10_000
) -> CollectionOrder:
    return CollectionOrder(reference, msisdn, "KE", "KES", amount, description="order")


def _refund(external: str, original: str, amount: int) -> RefundOrder:
    return RefundOrder(external, original, "KES", amount, reason="returned")


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """Where the stores of one test keep their state."""
    return tmp_path / "sandbox.db"


@pytest.fixture
def open_store(state_file: Path) -> Iterator[OpenStore]:
    """Open stores on the test's state file, with production delays; all closed at the end."""
    stores: list[HubStore] = []

    def open_(clock: FakeClock, **overrides: Any) -> HubStore:
        values: dict[str, Any] = {"float_balances": FLOATS, **overrides}
        config = SandboxConfig(
            api_key="k",
            webhook_secret="s",
            webhook_url="http://relay.test/hook",
            state_file=state_file,
            **values,
        )
        store = HubStore(config, clock=clock)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


def _snapshot(store: HubStore) -> tuple[list[dict[str, Any]], ...]:
    collections = [dataclasses.asdict(collection) for collection in store.collections]
    refunds = [dataclasses.asdict(refund) for refund in store.refunds]
    deliveries = [dataclasses.asdict(delivery) for delivery in store.deliveries()]
    return collections, refunds, deliveries


def test_a_reopened_store_has_every_collection_refund_and_float(open_store: OpenStore) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.collect(_collection("paid"))
    store.collect(_collection("paid"))  # a repeat: counted, never prompted twice
    store.collect(_collection("quiet", "+254700000012"))
    store.collect(_collection("invalid", "+254700000002"))
    store.collect(_collection("stopped", "+254700000012"))
    store.cancel_collection("stopped")
    clock.now += 2
    store.advance()
    first = store.refund(_refund("r-1", "paid", 3000)).refund
    store.refund(_refund("r-stuck", "paid", 2093))
    store.query_refund(first.refund_id)
    clock.now += 2
    store.advance()
    assert first.status is HubRefundStatus.PROCESSED
    before = _snapshot(store)
    balances = store.balances()
    store.close()

    reopened = open_store(clock)
    assert _snapshot(reopened) == before
    # 100.00 collected less 1.50 fee, 30.00 refunded; the stuck refund moved nothing yet.
    assert reopened.balances() == balances == {"KES": 100_000 + 9850 - 3000}
    assert [(c.third_party_trans_id, c.status) for c in reopened.collections] == [
        ("paid", HubStatus.SUCCESS),
        ("quiet", HubStatus.PENDING_AWAITING),
        ("invalid", HubStatus.INVALID_MSISDN),
        ("stopped", HubStatus.CANCELLED),
    ]
    paid = reopened.collections.get("paid")
    assert paid is not None and (paid.fee, paid.submit_count) == (150, 2)

    # The refund indexes are back: our id finds the refund, a repeat is answered by it,
    # and the refunds already made still count against the collection.
    found = reopened.query_refund_by_external_id("r-1")
    assert found is not None and (found.refund_id, found.execution_count) == (first.refund_id, 1)
    repeat = reopened.refund(_refund("r-1", "paid", 3000))
    assert (repeat.outcome, repeat.refund.refund_id) == (SubmitOutcome.REPEATED, first.refund_id)
    with pytest.raises(RefundRefused) as refused:
        reopened.refund(_refund("r-2", "paid", 10_000 - 3000 - 2093 + 1))
    assert refused.value.code is RefundErrorCode.AMOUNT_EXCEEDED
    assert reopened.refund(_refund("r-3", "paid", 10_000 - 3000 - 2093)).outcome is (
        SubmitOutcome.CREATED
    )


def test_plans_that_came_due_while_closed_are_applied_by_the_first_advance(
    open_store: OpenStore,
) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.collect(_collection("quiet", "+254700000012"))
    store.collect(_collection("paid"))
    clock.now += 2
    store.advance()
    reversing = store.refund(_refund("r-rev", "paid", 1092)).refund
    clock.now += 2
    store.advance()
    assert reversing.status is HubRefundStatus.PROCESSED
    assert store.balances() == {"KES": 100_000 + 9850 - 1092}
    store.close()

    clock.now += 301  # past the 300 s window and the 180 s reversal, while nothing runs
    reopened = open_store(clock)
    reopened.advance()
    quiet = reopened.collections.get("quiet")
    reversed_ = reopened.refunds.get(reversing.refund_id)
    assert quiet is not None and quiet.status is HubStatus.EXPIRED
    assert reversed_ is not None and reversed_.status is HubRefundStatus.REVERSED
    assert (reversed_.executed, reversed_.execution_count) == (False, 1)
    assert reopened.balances() == {"KES": 100_000 + 9850}
    statuses = [d.status for d in reopened.deliveries()]
    assert statuses == ["MR101", "processed", "ER106", "reversed"]
    reopened.close()

    again = open_store(clock)
    assert again.advance() == []
    assert again.balances() == {"KES": 100_000 + 9850}
    assert [d.status for d in again.deliveries()] == statuses


def test_reset_empties_the_collections_and_refunds_of_the_state_file(
    open_store: OpenStore, state_file: Path
) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.collect(_collection("paid"))
    clock.now += 2
    store.advance()
    store.refund(_refund("r-1", "paid", 1000))
    store.reset()
    assert (len(store.collections), len(store.refunds)) == (0, 0)
    assert store.query_refund_by_external_id("r-1") is None
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        counts = [
            db.execute(
                "SELECT count(*) FROM documents WHERE provider = 'hub' AND kind = ?", (kind,)
            ).fetchone()[0]
            for kind in ("collection", "refund")
        ]
    assert counts == [0, 0]
    reopened = open_store(clock)
    assert _snapshot(reopened) == ([], [], [])
    assert reopened.balances() == FLOATS


async def test_a_restarted_app_keeps_collections_and_refunds(state_file: Path) -> None:
    timings: dict[str, Any] = {"state_file": state_file, "webhook_retry_delays": [0.05] * 40}
    relay_down = WebhookReceiver(always_status=503)
    async with running_sandbox(relay_down, **timings) as sandbox:
        paid = await paid_collection(sandbox, "col-paid")
        await collect(sandbox, "col-wait", msisdn="+254700000012", approvalWindowSeconds=1)
        await collect(sandbox, "col-stop", msisdn="+254700000012", approvalWindowSeconds=600)
        assert (await cancel(sandbox, "col-stop")).status_code == 200
        done = (await refund(sandbox, "ref-done", "col-paid", amount="40.00")).json()
        await wait_for_refund(sandbox, done["refund_id"], "processed")
        stuck = (await refund(sandbox, "ref-stuck", "col-paid", amount="10.93")).json()
        await wait_until(lambda: bool(relay_down.requests), what="a first delivery attempt")
        balance = await sandbox.balance("KES")
        assert balance == "10000000058.50"

    relay_up = WebhookReceiver()
    async with running_sandbox(relay_up, **timings) as sandbox:
        assert await sandbox.balance("KES") == balance
        again = await collection_of(sandbox, "col-paid")
        assert (again["transactionId"], again["fee"]) == (paid["transactionId"], "1.50")
        assert (await collection_of(sandbox, "col-stop"))["status"] == "ER107"
        # Pending before the restart: its window closes now.
        await wait_for_collection(sandbox, "col-wait", "ER106")

        repeat = await refund(sandbox, "ref-done", "col-paid", amount="40.00")
        assert repeat.json() == {**done, "status": "processed"}
        found = await sandbox.client.get(
            "/hub/v1/refunds", params={"external_refund_id": "ref-stuck"}
        )
        assert (found.json()["refund_id"], found.json()["status"]) == (
            stuck["refund_id"],
            "pending",
        )
        # 100.00 collected: 40.00 + 10.93 already taken, so 49.08 is one cent too many.
        too_much = await refund(sandbox, "ref-more", "col-paid", amount="49.08")
        assert too_much.json()["code"] == "amount_exceeded"

        refunds = await admin_refunds(sandbox)
        assert [(r["reference"], r["execution_count"]) for r in refunds] == [
            ("ref-done", 1),
            ("ref-stuck", 0),
        ]
        assert [c["reference"] for c in await admin_collections(sandbox)] == [
            "col-paid",
            "col-wait",
            "col-stop",
        ]
        # The webhooks the relay missed arrive after the restart, the refund's included.
        await wait_until(lambda: len(refund_callbacks(relay_up)) == 1, 3.0, "refund webhook")
        assert refund_callbacks(relay_up)[0].external_refund_id == "ref-done"
        assert await sandbox.balance("KES") == balance


async def test_an_admin_reset_forgets_collections_and_refunds_across_a_restart(
    state_file: Path,
) -> None:
    async with running_sandbox(state_file=state_file) as sandbox:
        await paid_collection(sandbox, "col-old")
        await refund(sandbox, "ref-old", "col-old")
        assert (await sandbox.client.post("/admin/reset")).status_code == 200
        assert await admin_collections(sandbox) == []

    async with running_sandbox(state_file=state_file) as sandbox:
        assert await admin_collections(sandbox) == []
        assert await admin_refunds(sandbox) == []
        assert (await sandbox.client.get("/hub/v1/collections/col-old")).status_code == 404
        lookup = await sandbox.client.get(
            "/hub/v1/refunds", params={"external_refund_id": "ref-old"}
        )
        assert lookup.status_code == 404
        assert await sandbox.balance("KES") == "10000000000.00"
