"""Every magic account number of the bank, end to end: status, webhook and float."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from payments_engine.sandbox.bank.scenarios import BankScenario, markdown_table, scenario_for
from tests.sandbox.bank.support import COP_FLOAT, SETTLEMENT, Bank, running_bank
from tests.sandbox.support import check_scenario_docs

AMOUNT = 15_000_000  # 150000.00 COP


@pytest.mark.parametrize(
    ("account", "scenario"),
    [
        ("0012345605", BankScenario.DOCUMENT_MISMATCH),
        ("0012345606", BankScenario.WEBHOOK_LOST),
        ("0012345607", BankScenario.SLOW),
        ("0012345608", BankScenario.INVALID_ACCOUNT),
        ("0012345609", BankScenario.ACCOUNT_CLOSED),
        ("012345678901234509", BankScenario.ACCOUNT_CLOSED),
        ("0012345600", BankScenario.SETTLED),
        ("0012345619", BankScenario.SETTLED),
        ("0012345690", BankScenario.SETTLED),
    ],
)
def test_the_last_two_digits_choose_the_scenario(account: str, scenario: BankScenario) -> None:
    assert scenario_for(account) is scenario
    assert BankScenario.for_number(account) is scenario


def test_every_scenario_is_documented() -> None:
    check_scenario_docs(BankScenario, markdown_table())


async def test_the_admin_lists_the_scenarios(bank: Bank) -> None:
    scenarios = {item["scenario"]: item for item in await bank.admin_json("/scenarios")}
    assert set(scenarios) == {scenario.value for scenario in BankScenario}
    assert scenarios["account_closed"]["suffix"] == "09"
    assert scenarios["account_closed"]["return_code"] == "R03"
    assert scenarios["invalid_account"]["final_status"] is None
    assert scenarios["settled"]["suffix"] is None


async def test_every_magic_account_ends_as_its_table_says(bank: Bank) -> None:
    accounts = {
        "refund-settled": "0012345601",
        "refund-mismatch": "0012345605",
        "refund-lost": "0012345606",
        "refund-closed": "0012345609",
    }
    for reference, account in accounts.items():
        await bank.created(external_id=reference, account_number=account)
    assert await bank.cop_float() == COP_FLOAT - 4 * AMOUNT

    await asyncio.gather(
        bank.wait_for_status("refund-settled", "SETTLED"),
        bank.wait_for_status("refund-lost", "SETTLED"),
        bank.wait_for_status("refund-mismatch", "RETURNED"),
        bank.wait_for_status("refund-closed", "RETURNED"),
    )
    await bank.wait_for_webhooks(3)

    closed = await bank.status_of("refund-closed")
    assert (closed["return_code"], closed["return_reason"]) == ("R03", "account_closed")
    assert closed["return_message"] and closed["returned_at"] and closed["settled_at"] is None
    mismatch = await bank.status_of("refund-mismatch")
    assert (mismatch["return_code"], mismatch["return_reason"]) == ("R04", "document_mismatch")
    settled = await bank.status_of("refund-settled")
    assert settled["settled_at"] and settled["return_code"] is None

    events = {event["external_id"]: event for event in bank.events()}
    # The lost webhook is never sent: only the status API tells.
    assert set(events) == {"refund-settled", "refund-mismatch", "refund-closed"}
    assert (events["refund-settled"]["type"], events["refund-settled"]["status"]) == (
        "transfer.settled",
        "SETTLED",
    )
    assert events["refund-closed"]["type"] == "transfer.returned"
    assert events["refund-closed"]["return_reason"] == "account_closed"
    assert events["refund-mismatch"]["return_code"] == "R04"
    for event in events.values():
        assert (event["amount"], event["currency"]) == ("150000.00", "COP")
        assert event["id"].startswith("trf_") and event["event_id"].startswith("evt_")
    # Returned transfers gave their money back to the float; settled ones keep it out.
    assert await bank.cop_float() == COP_FLOAT - 2 * AMOUNT
    lost = await bank.admin_transfer("refund-lost")
    assert lost["webhooks"] == [] and lost["executed"] is True


async def test_a_slow_transfer_stays_accepted_for_three_settlement_delays() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank:
        clock = bank.shift_clock()
        await bank.created(account_number="0012345607")
        clock.offset = 2.5 * 60
        assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"
        clock.offset = 3 * 60 + 1
        await bank.wait_for_status("refund-rf-1", "SETTLED")
        await bank.wait_for_webhooks(1)
        assert bank.events()[0]["type"] == "transfer.settled"


async def test_an_ordinary_transfer_is_accepted_until_the_settlement_delay() -> None:
    async with running_bank(settlement_delay_seconds=60.0) as bank:
        clock = bank.shift_clock()
        await bank.created()
        clock.offset = 59
        assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"
        clock.offset = 61
        assert (await bank.status_of("refund-rf-1"))["status"] == "SETTLED"


async def test_the_default_settlement_delay_is_a_day() -> None:
    async with running_bank(settlement_delay_seconds=86_400.0) as bank:
        clock = bank.shift_clock()
        await bank.created(account_number="0012345609")
        clock.offset = 86_399
        assert (await bank.status_of("refund-rf-1"))["status"] == "ACCEPTED"
        clock.offset = 86_401
        assert (await bank.status_of("refund-rf-1"))["status"] == "RETURNED"


async def test_a_transfer_settles_no_earlier_than_its_delay(bank: Bank) -> None:
    await bank.created()
    await bank.wait_for_status("refund-rf-1", "SETTLED")
    status = await bank.status_of("refund-rf-1")
    settled_at = datetime.fromisoformat(status["settled_at"])
    created_at = datetime.fromisoformat(status["created_at"])
    # Due SETTLEMENT seconds after acceptance, on the same wall clock (a little slack for
    # the scheduling clock and the wall clock being read apart).
    assert (settled_at - created_at).total_seconds() >= SETTLEMENT - 0.05
