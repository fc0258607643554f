"""Collections and refunds on a fake clock: production delays, the window, the magic tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.scenarios import (
    CollectionScenario,
    RefundScenario,
    collection_markdown_table,
    collection_scenario_for,
    refund_markdown_table,
    refund_scenario_for,
)
from payments_engine.sandbox.hub.store import (
    CancelRefused,
    CollectionOrder,
    HubStore,
    RefundOrder,
    RefundRefused,
)
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus, RefundErrorCode
from tests.sandbox.support import FakeClock, check_scenario_docs

DAY = 86_400.0


def _store(clock: FakeClock, **overrides: object) -> HubStore:
    # Production defaults for every delay: the fake clock makes them free.
    config = SandboxConfig(
        api_key="k", webhook_secret="s", webhook_url="http://relay.test/hook", **overrides
    )
    return HubStore(config, clock=clock)


def _order(
    reference: str, msisdn: str = "+254712345678", approval_window_seconds: int = 300
) -> CollectionOrder:
    return CollectionOrder(
        reference, msisdn, "KE", "KES", 10_000, approval_window_seconds=approval_window_seconds
    )


def _status(store: HubStore, reference: str) -> HubStatus:
    collection = store.collections.get(reference)
    assert collection is not None
    return collection.status


@pytest.mark.parametrize(
    ("msisdn", "scenario"),
    [
        ("+254700000001", CollectionScenario.INSUFFICIENT_FUNDS),
        ("256770000002", CollectionScenario.INVALID_NUMBER),
        ("+254700000006", CollectionScenario.WEBHOOK_NEVER_SENT),
        ("+254700000007", CollectionScenario.DUPLICATE_WEBHOOK),
        ("+233 24 000 0011", CollectionScenario.PAYER_DECLINES),
        ("+254700000012", CollectionScenario.NEVER_ANSWERS),
        ("+254700000013", CollectionScenario.APPROVES_LATE),
        ("+254700000008", CollectionScenario.SUCCESS),
        ("+254712345678", CollectionScenario.SUCCESS),
    ],
)
def test_collection_scenario_is_chosen_by_the_payers_last_six_digits(
    msisdn: str, scenario: CollectionScenario
) -> None:
    assert collection_scenario_for(msisdn) is scenario


@pytest.mark.parametrize(
    ("amount", "scenario"),
    [
        (1091, RefundScenario.FAILED),
        (91, RefundScenario.FAILED),
        (5092, RefundScenario.REVERSED),
        (193, RefundScenario.NEVER_RESOLVES),
        (94, RefundScenario.TIMEOUT_AFTER_ACCEPT),
        (10095, RefundScenario.WEBHOOK_NEVER_SENT),
        (96, RefundScenario.DUPLICATE_WEBHOOK),
        (9100, RefundScenario.SUCCESS),
        (97, RefundScenario.SUCCESS),
        (1, RefundScenario.SUCCESS),
    ],
)
def test_refund_scenario_is_chosen_by_the_amounts_last_two_digits(
    amount: int, scenario: RefundScenario
) -> None:
    assert refund_scenario_for(amount) is scenario


def test_every_scenario_is_in_its_docstring_and_its_generated_table() -> None:
    check_scenario_docs(CollectionScenario, collection_markdown_table())
    check_scenario_docs(RefundScenario, refund_markdown_table())
    assert RefundScenario.NEVER_RESOLVES.final_status is None
    assert CollectionScenario.NEVER_ANSWERS.final_status is HubStatus.EXPIRED


def test_an_unanswered_prompt_expires_after_the_default_300_seconds() -> None:
    clock = FakeClock()
    store = _store(clock)
    store.collect(_order("quiet", "+254700000012"))
    clock.now += 299.9
    store.advance()
    assert _status(store, "quiet") is HubStatus.PENDING_AWAITING
    assert store.claim_due_deliveries() == []

    clock.now += 0.2
    store.advance()
    assert _status(store, "quiet") is HubStatus.EXPIRED
    (delivery,) = store.claim_due_deliveries()
    assert delivery.status == HubStatus.EXPIRED


def test_a_late_approval_comes_180_seconds_after_the_window() -> None:
    clock = FakeClock()
    store = _store(clock)
    store.collect(_order("late", "+254700000013", approval_window_seconds=60))
    clock.now += 239.9
    store.advance()
    assert _status(store, "late") is HubStatus.PENDING_AWAITING
    with pytest.raises(CancelRefused):
        store.cancel_collection("late")
    clock.now += 0.2
    store.advance()
    assert _status(store, "late") is HubStatus.SUCCESS
    assert store.balances()["KES"] == 10**12 + 10_000 - 150


def test_a_refund_may_come_up_to_180_days_after_the_payment() -> None:
    clock = FakeClock()
    store = _store(clock)
    store.collect(_order("paid"))
    clock.now += 1
    store.advance()
    assert _status(store, "paid") is HubStatus.SUCCESS

    clock.now += 180 * DAY
    store.refund(RefundOrder("r-last-day", "paid", "KES", 1000, "late"))
    clock.now += 1
    with pytest.raises(RefundRefused) as refused:
        store.refund(RefundOrder("r-too-late", "paid", "KES", 1000, "late"))
    assert (refused.value.http_status, refused.value.code) == (
        422,
        RefundErrorCode.REFUND_WINDOW_EXPIRED,
    )


def test_a_reversal_comes_180_seconds_after_the_processing() -> None:
    clock = FakeClock()
    store = _store(clock)
    store.collect(_order("paid"))
    clock.now += 1
    store.advance()
    refund = store.refund(RefundOrder("r-rev", "paid", "KES", 2092, "back")).refund
    clock.now += 1
    store.advance()
    assert refund.status is HubRefundStatus.PROCESSED
    clock.now += 179.9
    store.advance()
    assert refund.status is HubRefundStatus.PROCESSED
    clock.now += 0.2
    store.advance()
    assert refund.status is HubRefundStatus.REVERSED
    assert (refund.executed, refund.execution_count) == (False, 1)
    statuses = [delivery.status for delivery in store.claim_due_deliveries()]
    assert statuses == ["MR101", "processed", "reversed"]


def test_the_readme_shows_the_collection_and_refund_tables() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert collection_markdown_table() in readme
    assert refund_markdown_table() in readme
