"""Every magic payer number of a request to pay, and the payer's window."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.scenarios import (
    MomoScenario,
    RequestToPayScenario,
    request_to_pay_markdown_table,
    request_to_pay_scenario_for,
    scenario_for,
)
from payments_engine.sandbox.momo.wire import Reason, TransferStatus
from tests.sandbox.momo.support import (
    KES_FLOAT,
    KES_FLOAT_AFTER_ONE_COLLECTED,
    Momo,
    make_momo_config,
    running_momo,
)
from tests.sandbox.support import check_scenario_docs, wait_until

WINDOW = 300.0  # MTN's 5 minutes, the default


@pytest.mark.parametrize(
    ("suffix", "final", "reason", "callbacks"),
    [
        ("000011", "FAILED", "APPROVAL_REJECTED", 1),
        ("000001", "FAILED", "NOT_ENOUGH_FUNDS", 1),
        ("000006", "SUCCESSFUL", None, 0),
        ("123451", "SUCCESSFUL", None, 1),  # a transfer's magic number means nothing here
        ("345678", "SUCCESSFUL", None, 1),
    ],
)
async def test_settling_scenarios_reach_their_final_status(
    momo: Momo, suffix: str, final: str, reason: str | None, callbacks: int
) -> None:
    # Any country code works: the scenario is in the last six digits.
    reference_id, response = await momo.request_to_pay(party_id=f"233244{suffix}")
    assert (response.status_code, response.content) == (202, b"")
    # Settle is 50 ms: a loaded machine may already see the end.
    assert (await momo.request_status_of(reference_id))["status"] in ("PENDING", final)

    await momo.wait_for_request_status(reference_id, final)
    status = await momo.request_status_of(reference_id)
    assert status.get("reason") == reason
    assert ("financialTransactionId" in status) is (final == "SUCCESSFUL")
    request = await momo.admin_request(reference_id)
    paid = final == "SUCCESSFUL"
    assert (request["status"], request["reason"], request["executed"]) == (final, reason, paid)
    assert await momo.balance("KES") == (KES_FLOAT_AFTER_ONE_COLLECTED if paid else KES_FLOAT)

    if callbacks:
        await momo.wait_for_callbacks(callbacks)
    await asyncio.sleep(0.05)  # room for any callback that should not come
    assert len(momo.receiver.requests) == callbacks
    assert all(body == status for body in momo.callbacks())
    assert len(await momo.webhook_log()) == callbacks


async def test_an_unanswered_request_expires_when_the_window_passes(momo: Momo) -> None:
    assert momo.config.request_to_pay_window_seconds == WINDOW
    clock = momo.shift_clock()
    reference_id, _ = await momo.request_to_pay(external_id="col-quiet", party_id="256772000012")
    await asyncio.sleep(0.2)  # well past settle_seconds: the payer stays silent
    assert (await momo.request_status_of(reference_id))["status"] == "PENDING"
    created = await momo.admin_request(reference_id)
    window = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(
        created["created_at"]
    )
    assert window == timedelta(seconds=WINDOW)

    clock.offset = WINDOW - 1
    await asyncio.sleep(0.05)
    assert (await momo.request_status_of(reference_id))["status"] == "PENDING"
    assert momo.receiver.requests == []

    clock.offset = WINDOW + 1
    # The GET itself advances time-based state, before any tick of the dispatcher.
    expired = await momo.request_status_of(reference_id)
    assert (expired["status"], expired["reason"]) == ("FAILED", "EXPIRED")
    assert "financialTransactionId" not in expired
    await momo.wait_for_callbacks(1)
    await asyncio.sleep(0.05)
    assert momo.callbacks() == [expired]
    assert (await momo.admin_request(reference_id))["executed"] is False
    assert await momo.balance("KES") == KES_FLOAT


async def test_a_late_approval_succeeds_after_the_window_and_late_delay() -> None:
    async with running_momo(late_success_seconds=180.0) as momo:
        clock = momo.shift_clock()
        reference_id, _ = await momo.request_to_pay(party_id="256772000013")
        clock.offset = WINDOW + 1  # the window has closed, the approval is still on its way
        await asyncio.sleep(0.05)
        assert (await momo.request_status_of(reference_id))["status"] == "PENDING"
        clock.offset = WINDOW + 179
        await asyncio.sleep(0.05)
        assert (await momo.request_status_of(reference_id))["status"] == "PENDING"
        assert momo.receiver.requests == []
        assert await momo.balance("KES") == KES_FLOAT

        clock.offset = WINDOW + 181
        await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)
        (body,) = momo.callbacks()
        assert body == await momo.request_status_of(reference_id)
        assert (body["status"], "reason" in body) == ("SUCCESSFUL", False)
        assert body["financialTransactionId"]
        assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE_COLLECTED


async def test_the_window_runs_on_real_time_too() -> None:
    async with running_momo(request_to_pay_window_seconds=0.4) as momo:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reference_id, _ = await momo.request_to_pay(party_id="256772000012")
        await momo.wait_for_request_status(reference_id, "FAILED")
        assert loop.time() - started >= 0.35
        await momo.wait_for_callbacks(1)
        assert [(b["status"], b["reason"]) for b in momo.callbacks()] == [("FAILED", "EXPIRED")]


@pytest.mark.parametrize("suffix", ["345678", "000011", "000001", "000006"])
async def test_an_answer_later_than_the_window_expires_the_request(suffix: str) -> None:
    async with running_momo(settle_seconds=5.0, request_to_pay_window_seconds=0.2) as momo:
        reference_id, _ = await momo.request_to_pay(party_id=f"256772{suffix}")
        await momo.wait_for_request_status(reference_id, "FAILED")
        status = await momo.request_status_of(reference_id)
        assert status["reason"] == "EXPIRED"
        await momo.wait_for_callbacks(1)
        assert momo.callbacks() == [status]
        assert await momo.balance("KES") == KES_FLOAT


async def test_a_late_approval_is_not_cut_short_by_the_window() -> None:
    timings = {"request_to_pay_window_seconds": 0.1, "late_success_seconds": 0.6}
    async with running_momo(**timings) as momo:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reference_id, _ = await momo.request_to_pay(party_id="256772000013")
        await asyncio.sleep(0.2)
        assert (await momo.request_status_of(reference_id))["status"] == "PENDING"
        await momo.wait_for_request_status(reference_id, "SUCCESSFUL")
        assert loop.time() - started >= 0.65
        await wait_until(lambda: len(momo.receiver.requests) == 1, 2.0, "the callback")


@pytest.mark.parametrize(
    ("party_id", "scenario"),
    [
        ("256772000001", RequestToPayScenario.NOT_ENOUGH_FUNDS),
        ("46733000006", RequestToPayScenario.CALLBACK_LOST),
        ("233 24 400 0011", RequestToPayScenario.PAYER_REJECTS),
        ("+254700000012", RequestToPayScenario.NEVER_ANSWERS),
        ("254700000013", RequestToPayScenario.APPROVES_LATE),
        ("254700000014", RequestToPayScenario.SUCCESS),
        ("254700123450", RequestToPayScenario.SUCCESS),
        ("256772345678", RequestToPayScenario.SUCCESS),
    ],
)
def test_scenario_is_chosen_by_the_payer_last_six_digits(
    party_id: str, scenario: RequestToPayScenario
) -> None:
    assert request_to_pay_scenario_for(party_id) is scenario


def test_the_two_tables_are_apart() -> None:
    assert scenario_for("256772000011") is MomoScenario.SUCCESS
    assert request_to_pay_scenario_for("256772123450") is RequestToPayScenario.SUCCESS


def test_every_scenario_is_in_the_docstring_and_the_generated_table() -> None:
    table = request_to_pay_markdown_table()
    check_scenario_docs(RequestToPayScenario, table)
    for scenario in RequestToPayScenario:
        if scenario.reason:
            assert scenario.reason.value in scenario.summary


def test_final_statuses_and_reasons() -> None:
    assert {s: (s.final_status, s.reason) for s in RequestToPayScenario} == {
        RequestToPayScenario.SUCCESS: (TransferStatus.SUCCESSFUL, None),
        RequestToPayScenario.NOT_ENOUGH_FUNDS: (TransferStatus.FAILED, Reason.NOT_ENOUGH_FUNDS),
        RequestToPayScenario.CALLBACK_LOST: (TransferStatus.SUCCESSFUL, None),
        RequestToPayScenario.PAYER_REJECTS: (TransferStatus.FAILED, Reason.APPROVAL_REJECTED),
        RequestToPayScenario.NEVER_ANSWERS: (TransferStatus.FAILED, Reason.EXPIRED),
        RequestToPayScenario.APPROVES_LATE: (TransferStatus.SUCCESSFUL, None),
    }


def test_the_window_defaults_to_mtn_five_minutes_and_cannot_be_negative() -> None:
    fields = MomoSandboxConfig.model_fields
    assert fields["request_to_pay_window_seconds"].default == WINDOW
    assert fields["late_success_seconds"].default == 180.0  # the hub's
    with pytest.raises(ValueError, match="request_to_pay_window_seconds"):
        make_momo_config(request_to_pay_window_seconds=-1)


def test_the_readme_shows_the_request_to_pay_table() -> None:
    from pathlib import Path

    from payments_engine.sandbox.momo.scenarios import request_to_pay_markdown_table

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert request_to_pay_markdown_table() in readme
