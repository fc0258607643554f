"""Magic account numbers: the last two digits of the beneficiary's account choose the outcome.

Like the other simulators' magic numbers, they work with any bank, account type and
country: ``0012345609`` at bank ``007`` and ``012345678901234509`` (a CLABE) are both
returned for ``account_closed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

from payments_engine.sandbox.bank.wire import ReturnCode, TransferStatus
from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario

_NON_DIGITS = re.compile(r"\D")
DIGITS = 2
"""How many trailing digits of the account number choose the scenario."""
SLOW_FACTOR = 3
"""A slow transfer stays ACCEPTED this many settlement delays."""


class BankScenario(MagicScenario):
    """What the bank does with a transfer, chosen by the last two digits of the account.

    | Last digits | Scenario          | Behaviour                                                 |
    |-------------|-------------------|-----------------------------------------------------------|
    | `05`        | document_mismatch | ACCEPTED, RETURNED R04 document_mismatch after the        |
    |             |                   | settlement delay, money back; webhook                     |
    | `06`        | webhook_lost      | ACCEPTED, SETTLED after the settlement delay; the webhook |
    |             |                   | is never sent, only the status API tells                  |
    | `07`        | slow              | ACCEPTED for 3x the settlement delay, then SETTLED;       |
    |             |                   | webhook                                                   |
    | `08`        | invalid_account   | refused at once: 400 invalid_account; nothing is created  |
    | `09`        | account_closed    | ACCEPTED, RETURNED R03 account_closed after the           |
    |             |                   | settlement delay, money back; webhook                     |
    | other       | settled           | ACCEPTED, SETTLED after the settlement delay; webhook     |

    The settlement delay is ``BankSandboxConfig.settlement_delay_seconds`` (a day by
    default). An accepted transfer debits the bank's float at once; a returned one
    credits it back. Webhooks are signed with Standard Webhooks and retried after
    ``webhook_retry_delays``.
    """

    SETTLED = "settled"
    DOCUMENT_MISMATCH = "document_mismatch"
    WEBHOOK_LOST = "webhook_lost"
    SLOW = "slow"
    INVALID_ACCOUNT = "invalid_account"
    ACCOUNT_CLOSED = "account_closed"

    def magic(self) -> _Info:
        """The account ending, final status, return code and summary of the scenario."""
        return _INFO[self]

    @property
    def final_status(self) -> TransferStatus | None:
        """The status the transfer ends in; None when it is refused (never created)."""
        return self.magic().final_status

    @property
    def return_code(self) -> ReturnCode | None:
        """The return code it ends with; None unless it is returned."""
        return self.magic().return_code

    @classmethod
    def for_account(cls, account_number: str) -> Self:
        """The scenario a transfer to ``account_number`` runs, by its last two digits."""
        by_suffix = {scenario.suffix: scenario for scenario in cls}
        digits = _NON_DIGITS.sub("", account_number)
        return by_suffix.get(digits[-DIGITS:], by_suffix[None])

    @classmethod
    def for_number(cls, number: str) -> Self:
        """The same as :meth:`for_account`: the last two digits, not six."""
        return cls.for_account(number)


@dataclass(frozen=True)
class _Info(MagicNumber[TransferStatus]):
    return_code: ReturnCode | None = None


_SETTLED = TransferStatus.SETTLED
_RETURNED = TransferStatus.RETURNED

_INFO: dict[BankScenario, _Info] = {
    BankScenario.SETTLED: _Info(
        None, _SETTLED, "ACCEPTED, SETTLED after the settlement delay; webhook"
    ),
    BankScenario.DOCUMENT_MISMATCH: _Info(
        "05",
        _RETURNED,
        "ACCEPTED, RETURNED R04 document_mismatch after the settlement delay, money back; webhook",
        return_code=ReturnCode.R04,
    ),
    BankScenario.WEBHOOK_LOST: _Info(
        "06",
        _SETTLED,
        "ACCEPTED, SETTLED after the settlement delay; the webhook is never sent, only the"
        " status API tells",
    ),
    BankScenario.SLOW: _Info(
        "07", _SETTLED, "ACCEPTED for 3x the settlement delay, then SETTLED; webhook"
    ),
    BankScenario.INVALID_ACCOUNT: _Info(
        "08", None, "refused at once: 400 invalid_account; nothing is created"
    ),
    BankScenario.ACCOUNT_CLOSED: _Info(
        "09",
        _RETURNED,
        "ACCEPTED, RETURNED R03 account_closed after the settlement delay, money back; webhook",
        return_code=ReturnCode.R03,
    ),
}

scenario_for = BankScenario.for_account
"""The scenario a transfer to an account number runs, by its last two digits."""

markdown_table = BankScenario.markdown_table
"""The scenarios as a Markdown table, for the README and the sandbox's API docs."""
