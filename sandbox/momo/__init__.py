"""The MTN MoMo disbursement simulator.

Its API is served under ``/momo`` (:mod:`.momo_api`), its admin under ``/admin/momo``
(:mod:`.admin_api`); magic payee numbers (:mod:`.scenarios`) choose what it does with a
transfer; :mod:`.wire` holds its own JSON shapes. Callbacks are signed with Standard
Webhooks and sent once, never retried.
"""

from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.scenarios import MomoScenario, markdown_table, scenario_for
from payments_engine.sandbox.momo.state import MomoState
from payments_engine.sandbox.momo.store import MomoStore

__all__ = [
    "MomoSandboxConfig",
    "MomoScenario",
    "MomoState",
    "MomoStore",
    "markdown_table",
    "scenario_for",
]
