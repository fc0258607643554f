"""The sandbox remembers: a store or app reopened on the same state file picks up where it was."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from payments_engine.domain.money import Money
from payments_engine.sandbox.common.config import DEFAULT_FLOAT_MINOR
from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.common.persistence import SandboxStateError
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import HubStore, PayoutOrder
from payments_engine.sandbox.hub.wire import HubStatus
from tests.sandbox.support import FakeClock, WebhookReceiver, running_sandbox, wait_until

FLOATS = {"KES": 100_000, "UGX": 50_000}

OpenStore = Callable[..., HubStore]


def _order(
    reference: str, msisdn: str = "+254712345678", amount: int = 1000, currency: str = "KES"
) -> PayoutOrder:
    return PayoutOrder(reference, msisdn, "KE", currency, amount, description="rent")


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


def _snapshot(store: HubStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    # Every field, plans and the ``after`` links included.
    transfers = [dataclasses.asdict(transfer) for transfer in store.transfers()]
    deliveries = [dataclasses.asdict(delivery) for delivery in store.deliveries()]
    return transfers, deliveries


def _status(store: HubStore, reference: str) -> HubStatus:
    transfer = store.get(reference)
    assert transfer is not None
    return transfer.status


def test_a_reopened_store_has_every_transfer_delivery_and_float(open_store: OpenStore) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.submit(_order("paid"))
    store.submit(_order("paid"))  # a repeat: counted, never executed twice
    store.submit(_order("closed", "+254700000003", amount=2000))
    store.submit(_order("invalid", "+254700000002"))
    store.submit(_order("late", "+254700000008", amount=3000))
    store.submit(_order("never", "+254700000009"))
    store.submit(_order("twice", "+254700000007"))
    store.submit(_order("shilling", "+256770123456", amount=40_000, currency="UGX"))
    store.submit(_order("too-big", amount=1_000_000))
    store.query_status("paid")
    store.query_status("never")
    clock.now += 2
    store.advance()
    store.query_status("paid")

    # One webhook delivered, one failed once and waiting for its retry, the rest unsent.
    first, second, *rest = store.claim_due_deliveries()
    store.record_attempt(first, http_status=200, error=None)
    store.record_attempt(second, http_status=500, error="HTTP 500")
    for delivery in rest:
        store.release(delivery)
    before = _snapshot(store)
    balances = store.balances()
    store.close()

    reopened = open_store(clock)
    assert _snapshot(reopened) == before
    assert reopened.balances() == balances == {"KES": 94_000, "UGX": 10_000}
    assert [(t.third_party_trans_id, t.status, t.executed) for t in reopened.transfers()] == [
        ("paid", HubStatus.SUCCESS, True),
        ("closed", HubStatus.WALLET_CLOSED, False),
        ("invalid", HubStatus.INVALID_MSISDN, False),
        ("late", HubStatus.PENDING, True),
        ("never", HubStatus.PENDING, True),
        ("twice", HubStatus.SUCCESS, True),
        ("shilling", HubStatus.SUCCESS, True),
        ("too-big", HubStatus.INSUFFICIENT_FUNDS, False),
    ]
    paid = reopened.get("paid")
    assert paid is not None
    assert (paid.submit_count, paid.status_queries) == (2, 2)

    # The pending deliveries are pending still: the unsent ones now, the failed one later.
    unsent = [delivery.delivery_id for delivery in rest]
    assert [d.delivery_id for d in reopened.claim_due_deliveries()] == unsent
    clock.now += 1
    (retry,) = reopened.claim_due_deliveries()
    assert (retry.delivery_id, retry.attempts) == (second.delivery_id, 1)


def test_a_plan_that_came_due_while_closed_is_applied_by_the_first_advance(
    open_store: OpenStore,
) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.submit(_order("late", "+254700000008", amount=3000))
    store.advance()
    assert _status(store, "late") is HubStatus.PENDING
    store.close()

    clock.now += 181  # past the production late_success_seconds, while nothing runs
    reopened = open_store(clock)
    assert _status(reopened, "late") is HubStatus.PENDING
    assert [t.third_party_trans_id for t in reopened.advance()] == ["late"]
    assert _status(reopened, "late") is HubStatus.SUCCESS
    assert reopened.balances()["KES"] == 100_000 - 3000  # debited once, at submission
    (delivery,) = reopened.claim_due_deliveries()
    assert delivery.status == HubStatus.SUCCESS
    reopened.record_attempt(delivery, http_status=200, error=None)
    reopened.close()

    again = open_store(clock)
    assert _status(again, "late") is HubStatus.SUCCESS
    assert again.advance() == []
    assert [d.delivered for d in again.deliveries()] == [True]
    assert again.claim_due_deliveries() == []


def test_duplicates_and_stale_events_stay_in_sequence_after_a_reopen(
    open_store: OpenStore,
) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.faults = Faults(duplicate_webhooks=True, out_of_order_webhooks=True)
    store.submit(_order("never", "+254700000009"))
    store.force_status("never", HubStatus.SUCCESS)
    store.close()

    reopened = open_store(clock)
    assert reopened.faults == Faults()  # faults are not kept
    sent: list[tuple[HubStatus, str]] = []
    while due := reopened.claim_due_deliveries():
        (delivery,) = due  # one at a time: each waits for the one before
        sent.append((delivery.status, delivery.event_id))
        reopened.record_attempt(delivery, http_status=200, error=None)
    statuses = [status for status, _ in sent]
    assert statuses == [HubStatus.SUCCESS, HubStatus.SUCCESS, HubStatus.PENDING, HubStatus.PENDING]
    event_ids = [event_id for _, event_id in sent]
    assert event_ids[0] == event_ids[1] != event_ids[2] == event_ids[3]


def test_reset_empties_the_state_file(open_store: OpenStore, state_file: Path) -> None:
    clock = FakeClock()
    store = open_store(clock)
    store.submit(_order("paid"))
    store.submit(_order("late", "+254700000008"))
    clock.now += 2
    store.advance()
    (delivery,) = store.claim_due_deliveries()
    store.reset()
    # An attempt that was under way during the reset must not bring its delivery back.
    store.record_attempt(delivery, http_status=200, error=None)
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        counts = [
            db.execute(
                "SELECT count(*) FROM documents WHERE provider = 'hub' AND kind = ?", (kind,)
            ).fetchone()[0]
            for kind in ("transfer", "delivery", "float")
        ]
    assert counts == [0, 0, 0]
    reopened = open_store(clock)
    assert _snapshot(reopened) == ([], [])
    assert reopened.balances() == FLOATS
    clock.now += 1000
    assert reopened.advance() == []


def test_due_times_are_unix_seconds_by_default(state_file: Path) -> None:
    config = SandboxConfig(
        api_key="k", webhook_secret="s", webhook_url=None, settle_seconds=5, state_file=state_file
    )
    store = HubStore(config)
    try:
        store.submit(_order("paid"))
        transfer = store.get("paid")
        assert transfer is not None
        # A monotonic clock would restart from an arbitrary origin: wall time does not.
        expected = transfer.created_at.timestamp() + 5
        assert transfer.plan[0].at == pytest.approx(expected, abs=1)
    finally:
        store.close()


def test_a_file_that_is_not_a_state_file_is_refused(state_file: Path) -> None:
    state_file.write_bytes(b"not sqlite at all, just some bytes " * 100)
    config = SandboxConfig(api_key="k", webhook_secret="s", webhook_url=None, state_file=state_file)
    with pytest.raises(SandboxStateError, match="not a sandbox state file"):
        HubStore(config)


async def test_a_restarted_app_keeps_what_it_paid_and_finishes_what_was_pending(
    state_file: Path,
) -> None:
    timings: dict[str, Any] = {
        "state_file": state_file,
        "late_success_seconds": 1.0,
        "webhook_retry_delays": [0.05] * 40,
    }
    relay_down = WebhookReceiver(always_status=503)
    async with running_sandbox(relay_down, **timings) as sandbox:
        assert (await sandbox.submit("paid")).status_code == 200
        await sandbox.wait_for_status("paid", "MR101")
        assert (await sandbox.submit("late", msisdn="+254700000008")).status_code == 200
        assert (await sandbox.status_of("late"))["status"] == "MR102"
        await wait_until(lambda: bool(relay_down.requests), what="a first delivery attempt")
        before = {t["thirdPartyTransId"]: t for t in await sandbox.transfers()}
        (log_entry,) = await sandbox.webhook_log()
        assert (log_entry["delivered"], log_entry["gave_up"]) == (False, False)

    relay_up = WebhookReceiver()
    async with running_sandbox(relay_up, **timings) as sandbox:
        # Paid before the restart: still paid, and the float was debited once.
        paid = await sandbox.status_of("paid")
        assert (paid["status"], paid["transactionId"]) == (
            "MR101",
            before["paid"]["transactionId"],
        )
        repeat = await sandbox.submit("paid")
        assert repeat.json()["transactionId"] == before["paid"]["transactionId"]

        # Pending before the restart: it resolves, and both webhooks reach the relay.
        await sandbox.wait_for_status("late", "MR101")
        log = await sandbox.wait_for_deliveries_done()
        assert [(d["thirdPartyTransId"], d["delivered"]) for d in log] == [
            ("paid", True),
            ("late", True),
        ]
        assert log[0]["attempts"] > log_entry["attempts"]  # counted across the restart
        assert sorted(c.third_party_trans_id for c in relay_up.callbacks()) == ["late", "paid"]
        assert all(c.status == "MR101" for c in relay_up.callbacks())

        after = {t["thirdPartyTransId"]: t for t in await sandbox.transfers()}
        assert after["paid"]["executed"] is after["late"]["executed"] is True
        assert after["paid"]["submit_count"] == 2
        assert after["paid"]["created_at"] == before["paid"]["created_at"]
        spent = Money(amount=DEFAULT_FLOAT_MINOR - 2 * 150_000, currency="KES")
        assert await sandbox.balance("KES") == str(spent.to_major())


async def test_an_admin_reset_is_remembered_across_a_restart(state_file: Path) -> None:
    async with running_sandbox(state_file=state_file) as sandbox:
        await sandbox.submit("paid")
        await sandbox.wait_for_status("paid", "MR101")
        await sandbox.wait_for_deliveries_done()
        assert (await sandbox.client.post("/admin/reset")).status_code == 200

    async with running_sandbox(state_file=state_file) as sandbox:
        assert await sandbox.transfers() == []
        assert await sandbox.webhook_log() == []
        assert (await sandbox.client.get("/hub/v1/payouts/paid")).status_code == 404
        full = Money(amount=DEFAULT_FLOAT_MINOR, currency="KES")
        assert await sandbox.balance("KES") == str(full.to_major())


_V1_SCHEMA = """
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY, reference TEXT NOT NULL UNIQUE, msisdn TEXT NOT NULL,
    country TEXT NOT NULL, currency TEXT NOT NULL, amount INTEGER NOT NULL, description TEXT,
    transaction_id TEXT NOT NULL, scenario TEXT NOT NULL, status TEXT NOT NULL,
    ack_code TEXT NOT NULL, executed INTEGER NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, plan TEXT NOT NULL, submit_count INTEGER NOT NULL,
    status_queries INTEGER NOT NULL
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL UNIQUE, event_id TEXT NOT NULL,
    reference TEXT NOT NULL, status TEXT NOT NULL, body BLOB NOT NULL,
    next_attempt_at REAL NOT NULL, created_at TEXT NOT NULL, after_delivery_id TEXT,
    attempts INTEGER NOT NULL, delivered INTEGER NOT NULL, gave_up INTEGER NOT NULL,
    last_http_status INTEGER, last_error TEXT, last_attempt_at TEXT
);
CREATE TABLE floats (currency TEXT PRIMARY KEY, amount INTEGER NOT NULL);
"""


def test_a_state_file_of_the_first_schema_is_imported(
    open_store: OpenStore, state_file: Path
) -> None:
    stamp = "2024-05-01T12:00:00+00:00"
    with closing(sqlite3.connect(state_file)) as db:
        db.executescript(_V1_SCHEMA)
        db.execute(
            "INSERT INTO transfers VALUES (1, 'late', '+254700000008', 'KE', 'KES', 3000, 'rent',"
            " 'MFS0123456789AB', 'late_success', 'MR102', '100', 1, ?, ?, ?, 2, 1)",
            (stamp, stamp, '[[1100.0, "MR101", true]]'),
        )
        db.execute(
            "INSERT INTO deliveries VALUES (1, 'dlv_one', 'evt_1', 'late', 'MR102', ?, 900.0, ?,"
            " NULL, 1, 1, 0, 200, NULL, ?)",
            (b'{"a":1}', stamp, stamp),
        )
        db.execute(
            "INSERT INTO deliveries VALUES (2, 'dlv_two', 'evt_1', 'late', 'MR102', ?, 900.0, ?,"
            " 'dlv_one', 0, 0, 0, NULL, NULL, NULL)",
            (b'{"a":1}', stamp),
        )
        db.execute("INSERT INTO floats VALUES ('KES', 97000)")
        db.execute("PRAGMA user_version = 1")
        db.commit()

    clock = FakeClock()
    store = open_store(clock)
    (late,) = store.transfers()
    assert (late.third_party_trans_id, late.status, late.executed) == (
        "late",
        HubStatus.PENDING,
        True,
    )
    assert (late.submit_count, late.status_queries, late.order.description) == (2, 1, "rent")
    assert store.balances() == {"KES": 97_000, "UGX": 50_000}
    first, second = store.deliveries()
    assert (first.delivered, second.after) == (True, first)
    (due,) = store.claim_due_deliveries()
    assert (due.delivery_id, due.url) == ("dlv_two", "http://relay.test/hook")
    store.release(due)
    clock.now += 200
    store.advance()
    assert _status(store, "late") is HubStatus.SUCCESS
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "transfers" not in tables and "documents" in tables
    assert _status(open_store(clock), "late") is HubStatus.SUCCESS
