"""The hub store on a fake clock: plans with production delays, floats and the outbox."""

from __future__ import annotations

import pytest

from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.store import HubStore, PayoutOrder, ResolveRefused, SubmitOutcome
from payments_engine.sandbox.hub.wire import HubStatus
from tests.sandbox.support import FakeClock


def _store(clock: FakeClock, **overrides: object) -> HubStore:
    # Production defaults for every delay: the fake clock makes them free.
    config = SandboxConfig(
        api_key="k", webhook_secret="s", webhook_url="http://relay.test/hook", **overrides
    )
    return HubStore(config, clock=clock)


def _order(reference: str, msisdn: str = "+254712345678", amount: int = 1000) -> PayoutOrder:
    return PayoutOrder(reference, msisdn, "KE", "KES", amount)


def _status(store: HubStore, reference: str) -> HubStatus:
    transfer = store.get(reference)
    assert transfer is not None
    return transfer.status


def test_late_success_follows_the_configured_180_seconds() -> None:
    clock = FakeClock()
    store = _store(clock)
    store.submit(_order("late", "+254700000008"))
    store.advance()
    assert _status(store, "late") is HubStatus.PENDING

    clock.now += 179.9
    store.advance()
    assert _status(store, "late") is HubStatus.PENDING
    assert store.claim_due_deliveries() == []

    clock.now += 0.2
    assert [t.third_party_trans_id for t in store.advance()] == ["late"]
    assert _status(store, "late") is HubStatus.SUCCESS
    (delivery,) = store.claim_due_deliveries()
    assert delivery.status == HubStatus.SUCCESS


def test_transfers_settle_after_settle_seconds_in_submission_order() -> None:
    clock = FakeClock()
    store = _store(clock, settle_seconds=1.0)
    store.submit(_order("a"))
    clock.now += 0.5
    store.submit(_order("b"))
    clock.now += 0.6
    assert [t.third_party_trans_id for t in store.advance()] == ["a"]
    clock.now += 0.5
    assert [t.third_party_trans_id for t in store.advance()] == ["b"]
    assert store.advance() == []


def test_float_is_debited_once_and_refunded_on_failure() -> None:
    clock = FakeClock()
    store = _store(clock, float_balances={"KES": 1500})
    assert store.submit(_order("ok", amount=1000)).outcome is SubmitOutcome.CREATED
    assert store.submit(_order("ok", amount=1000)).outcome is SubmitOutcome.REPEATED
    assert store.balances() == {"KES": 500}

    store.submit(_order("too-big", amount=501))
    store.submit(_order("closed", "+254700000003", amount=500))
    assert store.balances() == {"KES": 0}
    assert [t.executed for t in store.transfers()] == [True, False, True]

    clock.now += 2
    store.advance()
    assert [t.status for t in store.transfers()] == [
        HubStatus.SUCCESS,
        HubStatus.INSUFFICIENT_FUNDS,
        HubStatus.WALLET_CLOSED,
    ]
    assert [t.executed for t in store.transfers()] == [True, False, False]
    assert store.balances() == {"KES": 500}


def test_forced_success_needs_the_float() -> None:
    clock = FakeClock()
    store = _store(clock, float_balances={"KES": 100})
    store.submit(_order("never", "+254700000009", amount=500))
    with pytest.raises(ResolveRefused):
        store.force_status("never", HubStatus.SUCCESS)
    with pytest.raises(ValueError):
        store.force_status("never", HubStatus.PENDING)
    store.force_status("never", HubStatus.DAILY_LIMIT_EXCEEDED)
    assert _status(store, "never") is HubStatus.DAILY_LIMIT_EXCEEDED
    # The forced status is final: the original plan cannot overwrite it later.
    clock.now += 10_000
    store.advance()
    assert _status(store, "never") is HubStatus.DAILY_LIMIT_EXCEEDED


def test_delivery_waits_for_the_configured_delays_then_gives_up() -> None:
    clock = FakeClock()
    store = _store(clock, webhook_retry_delays=[5.0, 60.0])
    store.submit(_order("hook"))
    clock.now += 1
    store.advance()
    (delivery,) = store.claim_due_deliveries()
    assert store.claim_due_deliveries() == []  # claimed: not handed out twice

    store.record_attempt(delivery, http_status=500, error="HTTP 500")
    clock.now += 4.9
    assert store.claim_due_deliveries() == []
    clock.now += 0.2
    assert store.claim_due_deliveries() == [delivery]

    store.record_attempt(delivery, http_status=None, error="ConnectError")
    clock.now += 60.1
    assert store.claim_due_deliveries() == [delivery]
    store.record_attempt(delivery, http_status=502, error="HTTP 502")
    assert (delivery.attempts, delivery.gave_up, delivery.delivered) == (3, True, False)
    clock.now += 1000
    assert store.claim_due_deliveries() == []
    assert store.deliveries() == [delivery]
