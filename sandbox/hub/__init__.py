"""The mobile-wallet hub simulator (MFS Africa shape).

Its API is served under ``/hub`` (:mod:`.hub_api`), its admin under ``/admin``
(:mod:`.admin_api`); magic phone numbers (:mod:`.scenarios`) choose what it does with a
payout; :mod:`.wire` holds its own JSON shapes.
"""

from payments_engine.sandbox.hub.config import SandboxConfig
from payments_engine.sandbox.hub.scenarios import Scenario, markdown_table, scenario_for
from payments_engine.sandbox.hub.state import SandboxState
from payments_engine.sandbox.hub.store import HubStore

__all__ = [
    "HubStore",
    "SandboxConfig",
    "SandboxState",
    "Scenario",
    "markdown_table",
    "scenario_for",
]
