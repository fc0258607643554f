"""The MTN MoMo simulator: disbursement transfers and collections' requests to pay.

Its API is served under ``/momo`` (:mod:`.momo_api`), its admin under ``/admin/momo``
(:mod:`.admin_api`); magic payee numbers choose what it does with a transfer and magic
payer numbers what the payer of a request to pay does (:mod:`.scenarios`); :mod:`.wire`
holds its own JSON shapes. Callbacks are signed with Standard Webhooks and sent once,
never retried.
"""

from payments_engine.sandbox.momo.config import MomoSandboxConfig
from payments_engine.sandbox.momo.scenarios import (
    MomoScenario,
    RequestToPayScenario,
    markdown_table,
    request_to_pay_markdown_table,
    request_to_pay_scenario_for,
    scenario_for,
)
from payments_engine.sandbox.momo.state import MomoState
from payments_engine.sandbox.momo.store import MomoStore

__all__ = [
    "MomoSandboxConfig",
    "MomoScenario",
    "MomoState",
    "MomoStore",
    "RequestToPayScenario",
    "markdown_table",
    "request_to_pay_markdown_table",
    "request_to_pay_scenario_for",
    "scenario_for",
]
