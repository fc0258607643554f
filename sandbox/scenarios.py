"""Old import path of the hub's magic numbers; see :mod:`.hub.scenarios`."""

from payments_engine.sandbox.hub.scenarios import Scenario, markdown_table, scenario_for

__all__ = ["Scenario", "markdown_table", "scenario_for"]
