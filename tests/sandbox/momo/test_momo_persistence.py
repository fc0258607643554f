"""MoMo remembers across a restart, and never sends a callback twice, not even then."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from payments_engine.sandbox.common.faults import Faults
from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import HubStore, PayoutOrder
from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.records import TransferOrder
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


def _order(party_id: str = "254712345678", amount: int = 1000, **kwargs: Any) -> TransferOrder:
    return TransferOrder(
        reference_id=new_reference_id(),
        external_id=kwargs.pop("external_id", "pay"),
        amount=amount,
        amount_text=f"{amount / 100:.2f}",
        currency="KES",
        party_id=party_id,
        payer_message="m",
        **kwargs,
    )


def test_a_reopened_store_has_every_transfer_callback_and_float(stores: Stores) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    paid = _order(external_id="paid", callback_url="http://merchant.test/hook")
    late = _order("254733123454", amount=3000, external_id="late")
    refused = _order("254733123450", external_id="refused")
    expiring = _order("254733123457", amount=2000, external_id="expiring")
    for order in (paid, late, refused, expiring):
        assert store.submit(order).created
    assert not store.submit(paid).created  # a repeat: counted, nothing else
    store.query_status(paid.reference_id)
    clock.now += 2
    store.advance()
    first, *rest = store.claim_due_deliveries()
    store.record_attempt(first, http_status=200, error=None)
    for delivery in rest:
        store.record_attempt(delivery, http_status=500, error="HTTP 500")
    before = [(t.reference_id, t.status, t.reason, t.executed) for t in store.transfers()]
    deliveries = [(d.delivery_id, d.url, d.attempts, d.done) for d in store.deliveries()]
    store.close()

    reopened = stores.open(clock)
    assert [(t.reference_id, t.status, t.reason, t.executed) for t in reopened.transfers()] == (
        before
    )
    assert before == [
        (paid.reference_id, TransferStatus.SUCCESSFUL, None, True),
        (late.reference_id, TransferStatus.PENDING, None, True),
        (refused.reference_id, TransferStatus.FAILED, Reason.PAYEE_NOT_FOUND, False),
        (expiring.reference_id, TransferStatus.FAILED, Reason.EXPIRED, False),
    ]
    again = reopened.get(paid.reference_id)
    assert again is not None
    assert (again.submit_count, again.status_queries) == (2, 1)
    assert again.financial_transaction_id is not None
    assert again.order == paid
    assert [(d.delivery_id, d.url, d.attempts, d.done) for d in reopened.deliveries()] == (
        deliveries
    )
    assert reopened.balances() == {"KES": 100_000 - 1000 - 3000}
    assert reopened.claim_due_deliveries() == []  # a failed callback is never retried


def test_a_pending_transfer_resolves_after_a_restart_and_its_callback_goes_once(
    stores: Stores,
) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    order = _order("254733123454", amount=3000)
    store.submit(order)
    store.advance()
    store.close()

    clock.now += 181  # past the production late_success_seconds, while nothing runs
    reopened = stores.open(clock)
    transfer = reopened.get(order.reference_id)
    assert transfer is not None and transfer.status is TransferStatus.PENDING
    assert [t.reference_id for t in reopened.advance()] == [order.reference_id]
    assert transfer.status is TransferStatus.SUCCESSFUL
    assert reopened.balances()["KES"] == 100_000 - 3000  # debited once, at submission
    (delivery,) = reopened.claim_due_deliveries()
    reopened.record_attempt(delivery, http_status=200, error=None)
    reopened.close()

    again = stores.open(clock)
    assert again.advance() == []
    assert again.claim_due_deliveries() == []
    assert [(d.attempts, d.delivered) for d in again.deliveries()] == [(1, True)]


def test_a_callback_cut_short_by_a_crash_is_not_sent_again(stores: Stores) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    store.submit(_order())
    clock.now += 2
    store.advance()
    (delivery,) = store.claim_due_deliveries()  # in flight when the process dies
    store.close()

    reopened = stores.open(clock)
    assert reopened.claim_due_deliveries() == []
    (entry,) = reopened.deliveries()
    assert (entry.delivery_id, entry.attempts, entry.gave_up) == (delivery.delivery_id, 1, True)
    assert entry.last_error is not None and "never retried" in entry.last_error


def test_faults_are_not_kept_and_reset_empties_the_file(stores: Stores, state_file: Path) -> None:
    clock = FakeClock()
    store = stores.open(clock)
    store.faults = Faults(error_rate=1.0)
    store.submit(_order())
    store.reset()
    store.close()

    with closing(sqlite3.connect(state_file)) as db:
        (count,) = db.execute("SELECT count(*) FROM documents").fetchone()
    assert count == 0
    reopened = stores.open(clock)
    assert (reopened.transfers(), reopened.deliveries(), reopened.faults) == ([], [], Faults())
    assert reopened.balances() == FLOATS


def test_hub_and_momo_can_share_a_state_file(stores: Stores, state_file: Path) -> None:
    clock = FakeClock()
    hub = HubStore(
        SandboxConfig(api_key="k", webhook_secret="s", webhook_url=None, state_file=state_file),
        clock=clock,
    )
    try:
        hub.submit(PayoutOrder("hub-pay", "+254712345678", "KE", "KES", 500))
        momo = stores.open(clock)
        momo.submit(_order())
        momo.reset()  # forgets MoMo's documents only
        momo.submit(_order(external_id="after-reset"))
        hub.close()
        hub = HubStore(
            SandboxConfig(api_key="k", webhook_secret="s", webhook_url=None, state_file=state_file),
            clock=clock,
        )
        assert [t.third_party_trans_id for t in hub.transfers()] == ["hub-pay"]
        momo.close()
        assert [t.order.external_id for t in stores.open(clock).transfers()] == ["after-reset"]
    finally:
        hub.close()


async def test_a_restarted_app_finishes_pending_transfers_and_resends_nothing(
    state_file: Path,
) -> None:
    timings: dict[str, Any] = {"state_file": state_file, "late_success_seconds": 1.0}
    before = WebhookReceiver()
    async with running_momo(before, **timings) as momo:
        paid, _ = await momo.transfer(external_id="paid")
        late, _ = await momo.transfer(external_id="late", party_id="254733123454")
        await momo.wait_for_status(paid, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)
        assert (await momo.status_of(late))["status"] == "PENDING"
        paid_before = await momo.admin_transfer(paid)

    after = WebhookReceiver()
    async with running_momo(after, **timings) as momo:
        assert await momo.admin_transfer(paid) == paid_before
        _, repeat = await momo.transfer(paid)
        assert repeat.status_code == 409
        await momo.wait_for_status(late, "SUCCESSFUL", timeout=3.0)
        await wait_until(lambda: len(after.requests) == 1, 2.0, "the late callback")
        assert [body["externalId"] for body in momo.callbacks()] == ["late"]  # not "paid" again
        log = await momo.webhook_log()
        assert [(d["reference"], d["attempts"], d["delivered"]) for d in log] == [
            ("paid", 1, True),
            ("late", 1, True),
        ]
        assert await momo.balance("KES") == "9999997000.00"  # each debited once
