"""The voucher store on a fake clock, with production timings: days, not milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from payments_engine.sandbox.cash.records import VoucherOrder, VoucherState
from payments_engine.sandbox.cash.scenarios import VoucherScenario
from payments_engine.sandbox.efecty.config import EfectySandboxConfig
from payments_engine.sandbox.efecty.store import EfectyStore
from tests.sandbox.cash.support import EFECTY_SECRET, EFECTY_URL
from tests.sandbox.support import FakeClock

EPOCH = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def _store(clock: FakeClock, state_file: Path | None = None) -> EfectyStore:
    config = EfectySandboxConfig(
        api_key="k", webhook_secret=EFECTY_SECRET, webhook_url=EFECTY_URL, state_file=state_file
    )
    return EfectyStore(config, clock=clock, wall_clock=lambda: EPOCH + timedelta(seconds=clock.now))


def _order(key: str, scenario: VoucherScenario, clock: FakeClock) -> VoucherOrder:
    return VoucherOrder(
        key=key,
        reference=key,
        amount=12_000_000,
        amount_text="120000",
        currency="COP",
        payer_masked="M. G.",
        document_type="CC",
        document_masked="CC ****4001",
        scenario=scenario,
        requested_expiry=EPOCH + timedelta(seconds=clock.now) + WEEK,
        fingerprint=key,
    )


def test_production_timings_of_the_scenarios() -> None:
    clock = FakeClock()
    store = _store(clock)
    start = EPOCH + timedelta(seconds=clock.now)
    for key, scenario in (
        ("paid", VoucherScenario.PAID),
        ("just-before", VoucherScenario.PAID_BEFORE_EXPIRY),
        ("late", VoucherScenario.PAID_AFTER_EXPIRY),
        ("slow", VoucherScenario.SLOW_CONFIRMATION),
        ("manual", VoucherScenario.MANUAL),
    ):
        store.create(_order(key, scenario, clock))
    expiry = start + WEEK

    clock.now += 5  # shop_payment_delay_seconds
    store.advance()
    paid = store.find("paid")
    assert (paid.status, paid.paid_at) == (VoucherState.PENDING, start + timedelta(seconds=5))
    clock.now += 900  # Efecty confirms a quarter of an hour later
    store.advance()
    assert store.find("paid").status is VoucherState.APPROVED
    assert store.find("paid").confirmed_at == start + timedelta(seconds=905)

    # Just past the expiry: the one paid a second before it is pending, not expired.
    clock.now += WEEK.total_seconds() - 905 + 1
    store.advance()
    before = store.find("just-before")
    assert before.paid_at == expiry - timedelta(seconds=1)
    assert before.status is VoucherState.PENDING
    assert store.find("manual").status is VoucherState.EXPIRED
    assert store.find("late").status is VoucherState.EXPIRED
    assert store.find("slow").status is VoucherState.PENDING

    clock.now += 60 + 900  # late_payment_seconds, then the confirmation delay
    store.advance()
    assert before.status is VoucherState.APPROVED
    late = store.find("late")
    assert late.status is VoucherState.APPROVED
    assert late.paid_at == expiry + timedelta(seconds=60)
    slow = store.find("slow")
    assert (slow.status, slow.paid_at) == (VoucherState.APPROVED, start + timedelta(seconds=5))
    assert slow.confirmed_at == expiry + timedelta(seconds=60)
    store.close()


def test_steps_overdue_after_a_long_stop_keep_their_planned_times(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _store(clock, tmp_path / "sandbox.db")
    start = EPOCH + timedelta(seconds=clock.now)
    store.create(_order("late", VoucherScenario.PAID_AFTER_EXPIRY, clock))
    store.close()

    clock.now += 30 * 24 * 3600  # a month later
    reopened = _store(clock, tmp_path / "sandbox.db")
    reopened.advance()
    late = reopened.find("late")
    assert late.status is VoucherState.APPROVED
    assert late.closed_at == start + WEEK
    assert late.paid_at == start + WEEK + timedelta(seconds=60)
    assert late.confirmed_at == start + WEEK + timedelta(seconds=960)
    states = [delivery.status for delivery in reopened.deliveries()]
    assert states == ["EXPIRED", "APPROVED"]
    reopened.close()
