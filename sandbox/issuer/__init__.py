"""The card issuer and card network simulator (provider ``issuer``).

Its API is served under ``/issuer`` (:mod:`.issuer_api`): cardholders with their KYC
check, cards (whose numbers and CVVs never leave the sandbox), transactions and
notifications. Its admin under ``/admin/issuer`` (:mod:`.admin_api`) plays the network:
a purchase there makes the network ask the engine synchronously (:mod:`.network`) and
record its decision, and captures, reversals, expiries, refunds and force posts become
transactions announced by ``card.transaction`` webhooks. Magic document numbers choose
the KYC outcome (:mod:`.scenarios`); :mod:`.wire` holds its own JSON shapes. Webhooks and
authorization requests are signed with Standard Webhooks; webhooks are retried.
"""

from payments_engine.sandbox.issuer.config import IssuerSandboxConfig
from payments_engine.sandbox.issuer.scenarios import KycScenario, markdown_table, scenario_for
from payments_engine.sandbox.issuer.state import IssuerState
from payments_engine.sandbox.issuer.store import IssuerStore

__all__ = [
    "IssuerSandboxConfig",
    "IssuerState",
    "IssuerStore",
    "KycScenario",
    "markdown_table",
    "scenario_for",
]
