"""The mobile-wallet hub simulator (MFS Africa shape).

Its API is served under ``/hub`` (:mod:`.hub_api`, refunds in :mod:`.refunds_api`), its
admin under ``/admin`` (:mod:`.admin_api`); magic values (:mod:`.scenarios`) choose what
it does with a payout or a collection (the phone number) and a refund (the amount);
:mod:`.wire` holds its own JSON shapes.
"""

from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.scenarios import (
    CollectionScenario,
    RefundScenario,
    Scenario,
    collection_markdown_table,
    collection_scenario_for,
    markdown_table,
    refund_markdown_table,
    refund_scenario_for,
    scenario_for,
)
from payments_engine.sandbox.hub.state import SandboxState
from payments_engine.sandbox.hub.store import HubStore

__all__ = [
    "CollectionScenario",
    "HubStore",
    "RefundScenario",
    "SandboxConfig",
    "SandboxState",
    "Scenario",
    "collection_markdown_table",
    "collection_scenario_for",
    "markdown_table",
    "refund_markdown_table",
    "refund_scenario_for",
    "scenario_for",
]
