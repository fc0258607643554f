"""Requests to pay survive a restart; their callbacks are never sent twice, not even then."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.records import RequestToPayOrder, TransferOrder
from payments_engine.sandbox.momo.store import MomoStore
from payments_engine.sandbox.momo.wire import Reason, TransferStatus
from tests.sandbox.momo.support import MOMO_SECRET, new_reference_id, running_momo
from tests.sandbox.support import FakeClock, WebhookReceiver, wait_until

FLOATS = {"KES": 100_000}


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """Where the stores of one test keep their state."""
    return tmp_path / "sandbox.db"


class Stores:
    """Opens MoMo stores on one state file with production delays; closes them all."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.opened: list[MomoStore] = []

    def open(self, clock: FakeClock, **overrides: Any) -> MomoStore:
        values: dict[str, Any] = {"float_balances": FLOATS, **overrides}
        config = MomoSandboxConfig(
            api_key="k",
            webhook_secret=MOMO_SECRET,
            webhook_url="http://relay.test/webhooks/momo",
            state_file=self.state_file,
            **values,
        )
        store = MomoStore(config, clock=clock)
        self.opened.append(store)
        return store


@pytest.fixture
def stores(state_file: Path) -> Iterator[Stores]:
    """The test's store opener."""
    opener = Stores(state_file)
    yield opener
    for store in opener.opened:
        store.close()


def _order(party_id: str = "256772345678", amount: int = 1000, **kwargs: Any) -> RequestToPayOrder:
    return RequestToPayOrder(
        reference_id=kwargs.pop("reference_id", None) or new_reference_id(),
        external_id=kwargs.pop("external_id", "col"),
        amount=amount,
        amount_text=f"{amount / 100:.2f}",
        currency="KES",
        party_id=party_id,
        payer_message="m",
        **kwargs,
    )


def _outline(store: MomoStore) -> list[tuple[str, TransferStatus, Reason | None, bool]]:
    return [(r.reference_id, r.status, r.reason, r.executed) for r in store.requests_to_pay]


def test_a_reopened_store_has_every_request_callback_and_float(stores: Stores) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    paid = _order(external_id="paid", callback_url="http://merchant.test/hook")
    rejected = _order("256772000011", external_id="rejected")
    quiet = _order("256772000012", amount=2000, external_id="quiet")
    lost = _order("256772000006", amount=3000, external_id="lost")
    for order in (paid, rejected, quiet, lost):
        assert store.request_to_pay(order).created
    assert not store.request_to_pay(paid).created  # a repeat: counted, nothing else
    store.query_request_to_pay(paid.reference_id)
    clock.now += 2
    store.advance()
    first, second = store.claim_due_deliveries()  # "lost" sends none, "quiet" is pending
    store.record_attempt(first, http_status=200, error=None)
    store.record_attempt(second, http_status=500, error="HTTP 500")
    before = _outline(store)
    deliveries = [(d.delivery_id, d.url, d.attempts, d.done) for d in store.deliveries()]
    store.close()

    reopened = stores.open(clock)
    assert _outline(reopened) == before
    assert before == [
        (paid.reference_id, TransferStatus.SUCCESSFUL, None, True),
        (rejected.reference_id, TransferStatus.FAILED, Reason.APPROVAL_REJECTED, False),
        (quiet.reference_id, TransferStatus.PENDING, None, False),
        (lost.reference_id, TransferStatus.SUCCESSFUL, None, True),
    ]
    again = reopened.requests_to_pay.get(paid.reference_id)
    original = store.requests_to_pay.get(paid.reference_id)
    assert again is not None and original is not None
    assert (again.submit_count, again.status_queries) == (2, 1)
    assert again.order == paid
    assert again.financial_transaction_id == original.financial_transaction_id is not None
    assert (again.expires_at, again.scenario) == (original.expires_at, original.scenario)
    assert again.to_wire() == original.to_wire()
    assert [(d.delivery_id, d.url, d.attempts, d.done) for d in reopened.deliveries()] == (
        deliveries
    )
    assert deliveries[0][1] == "http://merchant.test/hook"
    assert reopened.balances() == {"KES": 100_000 + 1000 + 3000}
    assert reopened.claim_due_deliveries() == []  # a failed callback is never retried
    assert reopened.transfers() == []


def test_a_window_that_closed_while_down_expires_at_the_next_advance(stores: Stores) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    quiet = _order("256772000012")
    late = _order("256772000013", amount=3000)
    store.request_to_pay(quiet)
    store.request_to_pay(late)
    store.advance()
    store.close()

    clock.now += 301  # past the production window, while nothing runs
    reopened = stores.open(clock)
    assert reopened.query_request_to_pay(quiet.reference_id) is not None
    reopened.advance()
    assert _outline(reopened) == [
        (quiet.reference_id, TransferStatus.FAILED, Reason.EXPIRED, False),
        (late.reference_id, TransferStatus.PENDING, None, False),
    ]
    (expiry,) = reopened.claim_due_deliveries()
    assert json.loads(expiry.body)["reason"] == "EXPIRED"
    reopened.record_attempt(expiry, http_status=200, error=None)
    reopened.close()

    clock.now += 180  # the late approval lands 180 s after the window
    again = stores.open(clock)
    again.advance()
    assert _outline(again)[1] == (late.reference_id, TransferStatus.SUCCESSFUL, None, True)
    assert again.balances()["KES"] == 100_000 + 3000  # credited once
    (approval,) = again.claim_due_deliveries()  # the expiry's callback is not sent again
    assert json.loads(approval.body)["status"] == "SUCCESSFUL"


def test_a_callback_cut_short_by_a_crash_is_not_sent_again(stores: Stores) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    store.request_to_pay(_order())
    clock.now += 2
    store.advance()
    (delivery,) = store.claim_due_deliveries()  # in flight when the process dies
    store.close()

    reopened = stores.open(clock)
    assert reopened.claim_due_deliveries() == []
    (entry,) = reopened.deliveries()
    assert (entry.delivery_id, entry.attempts, entry.gave_up) == (delivery.delivery_id, 1, True)


def test_a_transfer_and_a_request_to_pay_may_share_a_reference_id_across_restarts(
    stores: Stores, state_file: Path
) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    shared = new_reference_id()
    transfer = TransferOrder(
        reference_id=shared,
        external_id="pay",
        amount=500,
        amount_text="5.00",
        currency="KES",
        party_id="254712345678",
    )
    assert store.submit(transfer).created
    assert store.request_to_pay(_order(reference_id=shared, external_id="col")).created
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        kinds = db.execute("SELECT kind, id FROM documents WHERE kind != 'float'").fetchall()
    assert sorted(kinds) == [("request_to_pay", shared), ("transfer", shared)]
    reopened = stores.open(clock)
    found = reopened.get(shared)
    assert found is not None and found.order.external_id == "pay"
    request = reopened.requests_to_pay.get(shared)
    assert request is not None and request.order.external_id == "col"
    assert not reopened.request_to_pay(_order(reference_id=shared)).created
    assert not reopened.submit(transfer).created


def test_reset_empties_the_requests_to_pay_of_the_file(stores: Stores, state_file: Path) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    store.request_to_pay(_order())
    clock.now += 2
    store.advance()
    store.reset()
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        (count,) = db.execute("SELECT count(*) FROM documents").fetchone()
    assert count == 0
    reopened = stores.open(clock)
    assert (list(reopened.requests_to_pay), reopened.deliveries()) == ([], [])
    assert reopened.balances() == FLOATS


async def test_a_restarted_app_finishes_pending_requests_and_resends_nothing(
    state_file: Path,
) -> None:
    timings: dict[str, Any] = {"state_file": state_file, "request_to_pay_window_seconds": 1.0}
    before = WebhookReceiver()
    async with running_momo(before, **timings) as momo:
        paid, _ = await momo.request_to_pay(external_id="paid")
        quiet, _ = await momo.request_to_pay(external_id="quiet", party_id="256772000012")
        await momo.wait_for_request_status(paid, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)
        assert (await momo.request_status_of(quiet))["status"] == "PENDING"
        paid_before = await momo.admin_request(paid)
        status_before = await momo.request_status_of(paid)

    after = WebhookReceiver()
    async with running_momo(after, **timings) as momo:
        assert await momo.request_status_of(paid) == status_before
        restored = await momo.admin_request(paid)
        assert restored["status_queries"] == paid_before["status_queries"] + 2
        assert {**restored, "status_queries": 0} == {**paid_before, "status_queries": 0}
        _, repeat = await momo.request_to_pay(paid)
        assert repeat.status_code == 409
        await momo.wait_for_request_status(quiet, "FAILED", timeout=3.0)
        await wait_until(lambda: len(after.requests) == 1, 2.0, "the expiry callback")
        assert [(b["externalId"], b["reason"]) for b in momo.callbacks()] == [("quiet", "EXPIRED")]
        log = await momo.webhook_log()
        assert [(d["reference"], d["kind"], d["attempts"], d["delivered"]) for d in log] == [
            ("paid", "request_to_pay", 1, True),
            ("quiet", "request_to_pay", 1, True),
        ]
        assert await momo.balance("KES") == "10000001500.00"  # credited once
