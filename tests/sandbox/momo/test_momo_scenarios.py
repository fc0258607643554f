"""Every MoMo magic number ends in the documented status, reason, executed flag and callbacks."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from payments_engine.sandbox.momo.scenarios import MomoScenario, markdown_table, scenario_for
from payments_engine.sandbox.momo.wire import Reason, TransferStatus
from tests.sandbox.momo.support import (
    KES_FLOAT,
    KES_FLOAT_AFTER_ONE,
    MOMO_HEADERS,
    TRANSFER_PATH,
    Momo,
    make_momo_config,
    new_reference_id,
    running_momo,
    transfer_body,
)
from tests.sandbox.support import (
    WebhookReceiver,
    check_scenario_docs,
    make_config,
    served,
    wait_until,
)


@pytest.mark.parametrize(
    ("suffix", "final", "reason", "executed", "callbacks"),
    [
        ("123450", "FAILED", "PAYEE_NOT_FOUND", False, 1),
        ("123451", "FAILED", "NOT_ENOUGH_FUNDS", False, 1),
        ("123455", "FAILED", "PAYER_LIMIT_REACHED", False, 1),
        ("123456", "SUCCESSFUL", None, True, 0),
        ("123457", "FAILED", "EXPIRED", False, 1),
        ("000001", "SUCCESSFUL", None, True, 1),  # the hub's magic numbers mean nothing here
        ("345678", "SUCCESSFUL", None, True, 1),
    ],
)
async def test_scenarios_reach_their_final_status(
    momo: Momo,
    suffix: str,
    final: str,
    reason: str | None,
    executed: bool,
    callbacks: int,
) -> None:
    # Any country code works: the scenario is in the last six digits.
    reference_id, response = await momo.transfer(party_id=f"256772{suffix}")
    assert response.status_code == 202
    assert response.content == b""

    await momo.wait_for_status(reference_id, final)
    status = await momo.status_of(reference_id)
    assert status.get("reason") == reason
    assert ("financialTransactionId" in status) is (final == "SUCCESSFUL")
    transfer = await momo.admin_transfer(reference_id)
    assert (transfer["status"], transfer["reason"], transfer["executed"]) == (
        final,
        reason,
        executed,
    )
    assert await momo.balance("KES") == (KES_FLOAT_AFTER_ONE if executed else KES_FLOAT)

    if callbacks:
        await momo.wait_for_callbacks(callbacks)
    await asyncio.sleep(0.05)  # room for any callback that should not come
    assert len(momo.receiver.requests) == callbacks
    assert all(body == status for body in momo.callbacks())
    assert len(await momo.webhook_log()) == callbacks


@pytest.mark.parametrize("suffix", ["123450", "123451"])
async def test_refusals_fail_at_once_and_never_touch_the_float(momo: Momo, suffix: str) -> None:
    reference_id, _ = await momo.transfer(party_id=f"254733{suffix}")
    # The first read, before any tick, already shows the failure.
    transfer = momo.state.store.get(reference_id)
    assert transfer is not None
    assert (transfer.status, transfer.executed) == (TransferStatus.FAILED, False)
    assert transfer.financial_transaction_id is None
    assert await momo.balance("KES") == KES_FLOAT


@pytest.mark.parametrize("suffix", ["123455", "123457"])
async def test_late_failures_are_executed_while_pending_then_refunded(suffix: str) -> None:
    async with running_momo(settle_seconds=0.3) as momo:
        reference_id, _ = await momo.transfer(party_id=f"254733{suffix}", amount="20.00")
        pending = await momo.admin_transfer(reference_id)
        assert (pending["status"], pending["executed"]) == ("PENDING", True)
        assert await momo.balance("KES") == "9999999980.00"

        await momo.wait_for_status(reference_id, "FAILED")
        failed = await momo.admin_transfer(reference_id)
        assert failed["executed"] is False
        assert await momo.balance("KES") == KES_FLOAT


async def test_ongoing_stays_pending_without_a_callback_until_resolved(momo: Momo) -> None:
    reference_id, _ = await momo.transfer(party_id="254733123453")
    await asyncio.sleep(0.2)  # well past settle_seconds and late_success_seconds
    assert (await momo.status_of(reference_id))["status"] == "PENDING"
    assert momo.receiver.requests == []
    transfer = await momo.admin_transfer(reference_id)
    assert (transfer["executed"], transfer["financial_transaction_id"]) == (True, None)
    assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE


async def test_late_success_stays_pending_until_the_late_delay() -> None:
    async with running_momo(late_success_seconds=0.5) as momo:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reference_id, _ = await momo.transfer(party_id="254733123454")
        await asyncio.sleep(0.15)  # well past settle_seconds
        assert (await momo.status_of(reference_id))["status"] == "PENDING"
        assert momo.receiver.requests == []
        assert (await momo.admin_transfer(reference_id))["executed"] is True

        await momo.wait_for_status(reference_id, "SUCCESSFUL")
        assert loop.time() - started >= 0.45
        await momo.wait_for_callbacks(1)
        assert [body["status"] for body in momo.callbacks()] == ["SUCCESSFUL"]


HELD_SECONDS = 2.0


async def test_timeout_after_accept_executes_before_answering() -> None:
    # Long enough that a loaded machine still looks at the transfer before the answer.
    async with running_momo(timeout_after_accept_seconds=HELD_SECONDS) as momo:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = asyncio.create_task(momo.transfer(party_id="254733123452"))
        await wait_until(lambda: bool(momo.state.store.transfers()), what="the transfer")
        # Executed at MoMo while the client still waits for its 202.
        (transfer,) = await momo.transfers()
        assert (transfer["executed"], answer.done()) == (True, False)
        assert await momo.balance("KES") == KES_FLOAT_AFTER_ONE

        reference_id, response = await answer
        assert loop.time() - started >= HELD_SECONDS
        assert (response.status_code, response.content) == (202, b"")
        await momo.wait_for_status(reference_id, "SUCCESSFUL")
        await momo.wait_for_callbacks(1)

        # A retry with the same reference id is answered at once: 409, nothing new.
        started = loop.time()
        _, again = await momo.transfer(reference_id, party_id="254733123452")
        assert again.status_code == 409
        assert loop.time() - started < 0.2
        assert len(await momo.transfers()) == 1


async def test_a_client_timing_out_on_the_held_answer_finds_the_executed_transfer() -> None:
    receiver = WebhookReceiver()
    reference_id = new_reference_id()
    async with (
        served(receiver, make_config(), make_momo_config(timeout_after_accept_seconds=3.0)) as url,
        httpx.AsyncClient(base_url=url, headers=MOMO_HEADERS, timeout=0.3) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                TRANSFER_PATH,
                json=transfer_body(external_id="pay-slow", party_id="254733123452"),
                headers={"X-Reference-Id": reference_id},
            )
        # The client never saw an answer, yet MoMo executed the transfer.
        found = (await client.get("/admin/momo/transfers/by-external-id/pay-slow")).json()
        assert [(t["reference_id"], t["executed"]) for t in found] == [(reference_id, True)]
        status = (await client.get(f"{TRANSFER_PATH}/{reference_id}")).json()
        assert status["status"] in ("PENDING", "SUCCESSFUL")
        await wait_until(lambda: len(receiver.requests) == 1, 2.0, "the callback")


@pytest.mark.parametrize(
    ("party_id", "scenario"),
    [
        ("46733123450", MomoScenario.PAYEE_NOT_FOUND),
        ("254733123451", MomoScenario.NOT_ENOUGH_FUNDS),
        ("256772123452", MomoScenario.TIMEOUT_AFTER_ACCEPT),
        ("233 24 312 3453", MomoScenario.ONGOING),
        ("+46733123454", MomoScenario.LATE_SUCCESS),
        ("254700123455", MomoScenario.PAYER_LIMIT_REACHED),
        ("254700123456", MomoScenario.CALLBACK_LOST),
        ("254700123457", MomoScenario.EXPIRED),
        ("254700123458", MomoScenario.SUCCESS),
        ("254700000001", MomoScenario.SUCCESS),
        ("254712345678", MomoScenario.SUCCESS),
    ],
)
def test_scenario_is_chosen_by_the_last_six_digits(party_id: str, scenario: MomoScenario) -> None:
    assert scenario_for(party_id) is scenario


def test_every_scenario_is_in_the_docstring_and_the_generated_table() -> None:
    check_scenario_docs(MomoScenario, markdown_table())
    for scenario in MomoScenario:
        if scenario.reason:
            assert scenario.reason.value in scenario.summary


def test_final_statuses_and_reasons() -> None:
    assert MomoScenario.ONGOING.final_status is None
    failures = {s.reason for s in MomoScenario if s.final_status is TransferStatus.FAILED}
    assert failures == {
        Reason.PAYEE_NOT_FOUND,
        Reason.NOT_ENOUGH_FUNDS,
        Reason.PAYER_LIMIT_REACHED,
        Reason.EXPIRED,
    }
    assert [s for s in MomoScenario if not s.executed] == [
        MomoScenario.PAYEE_NOT_FOUND,
        MomoScenario.NOT_ENOUGH_FUNDS,
        MomoScenario.PAYER_LIMIT_REACHED,
        MomoScenario.EXPIRED,
    ]
