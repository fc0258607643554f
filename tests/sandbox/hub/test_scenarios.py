"""The magic-number table: lookup by suffix, and documentation that cannot drift."""

from __future__ import annotations

import pytest

from payments_engine.sandbox.hub.scenarios import Scenario, markdown_table, scenario_for
from payments_engine.sandbox.hub.wire import HubStatus
from tests.sandbox.support import check_scenario_docs


@pytest.mark.parametrize(
    ("msisdn", "scenario"),
    [
        ("+254700000001", Scenario.INSUFFICIENT_FUNDS),
        ("256770000002", Scenario.INVALID_NUMBER),
        ("+233 24 000 0003", Scenario.WALLET_CLOSED),
        ("+255700000004", Scenario.DAILY_LIMIT),
        ("+254700000005", Scenario.TIMEOUT_AFTER_ACCEPT),
        ("+254700000006", Scenario.WEBHOOK_NEVER_SENT),
        ("+254700000007", Scenario.DUPLICATE_WEBHOOK),
        ("+254700000008", Scenario.LATE_SUCCESS),
        ("+254700000009", Scenario.NEVER_RESOLVES),
        ("+254700000010", Scenario.SUCCESS),
        ("+254700100001", Scenario.SUCCESS),
        ("+254712345678", Scenario.SUCCESS),
    ],
)
def test_scenario_is_chosen_by_the_last_six_digits(msisdn: str, scenario: Scenario) -> None:
    assert scenario_for(msisdn) is scenario


def test_every_scenario_is_in_the_docstring_and_the_generated_table() -> None:
    check_scenario_docs(Scenario, markdown_table())


def test_final_statuses() -> None:
    assert Scenario.NEVER_RESOLVES.final_status is None
    assert Scenario.INSUFFICIENT_FUNDS.final_status is HubStatus.INSUFFICIENT_FUNDS
    failures = [s for s in Scenario if s.final_status and s.final_status.value.startswith("ER")]
    assert len(failures) == 4
