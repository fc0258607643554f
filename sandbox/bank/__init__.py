"""The bank-transfer simulator (ACH/PSE-like): transfers to a beneficiary's bank account.

Cash orders are never refunded in cash: the engine refunds them by bank transfer through
this provider. Its API is served under ``/bank`` (:mod:`.bank_api`), its admin under
``/admin/bank`` (:mod:`.admin_api`); the last two digits of the beneficiary's account
number choose what the bank does (:mod:`.scenarios`); :mod:`.wire` holds its own JSON
shapes. A transfer is ACCEPTED, then SETTLED or RETURNED a settlement delay later (a day
by default), announced by ``transfer.settled`` / ``transfer.returned`` webhooks signed
with Standard Webhooks and retried.
"""

from payments_engine.sandbox.bank.config import BankSandboxConfig
from payments_engine.sandbox.bank.scenarios import BankScenario, markdown_table, scenario_for
from payments_engine.sandbox.bank.state import BankState
from payments_engine.sandbox.bank.store import BankStore

__all__ = [
    "BankSandboxConfig",
    "BankScenario",
    "BankState",
    "BankStore",
    "markdown_table",
    "scenario_for",
]
