"""Magic phone numbers: the last six digits of the msisdn choose what the hub does.

Like a card network's test card numbers, they work with any country code, so
``+254700000001`` and ``+256770000001`` both run out of funds.
"""

from __future__ import annotations

from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario
from payments_engine.sandbox.hub.wire import HubStatus


class Scenario(MagicScenario):
    """What the sandbox hub does with a payout, chosen by the msisdn's last six digits.

    | Last digits | Scenario             | Behaviour                                               |
    |-------------|----------------------|---------------------------------------------------------|
    | `000001`    | insufficient_funds   | accepted (100), ER102 after settle; failure webhook     |
    | `000002`    | invalid_number       | rejected at once (101, ER101); never executed           |
    | `000003`    | wallet_closed        | accepted (100), ER103 after settle; failure webhook     |
    | `000004`    | daily_limit          | accepted (100), ER104 after settle; failure webhook     |
    | `000005`    | timeout_after_accept | executed at once, answer held past the client timeout;  |
    |             |                      | MR101 after settle; webhook                             |
    | `000006`    | webhook_never_sent   | MR101 after settle; no webhook, only polling finds it   |
    | `000007`    | duplicate_webhook    | MR101 after settle; the webhook is delivered twice      |
    | `000008`    | late_success         | MR102 (pending) until late_success_seconds, then MR101  |
    |             |                      | and a webhook                                           |
    | `000009`    | never_resolves       | MR102 (pending) forever; no webhook                     |
    | other       | success              | MR101 after settle; webhook                             |

    "Settle" is ``SandboxConfig.settle_seconds`` after acceptance. A failed transfer gives
    its money back to the float, so the admin API shows it as not executed.
    """

    SUCCESS = "success"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_NUMBER = "invalid_number"
    WALLET_CLOSED = "wallet_closed"
    DAILY_LIMIT = "daily_limit"
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"
    WEBHOOK_NEVER_SENT = "webhook_never_sent"
    DUPLICATE_WEBHOOK = "duplicate_webhook"
    LATE_SUCCESS = "late_success"
    NEVER_RESOLVES = "never_resolves"

    def magic(self) -> MagicNumber[HubStatus]:
        """The msisdn ending, final status and summary of the scenario."""
        return _INFO[self]

    @property
    def final_status(self) -> HubStatus | None:
        """The status the transfer ends in; None if it never resolves on its own."""
        return self.magic().final_status


_Info = MagicNumber[HubStatus]

_INFO: dict[Scenario, _Info] = {
    Scenario.SUCCESS: _Info(None, HubStatus.SUCCESS, "MR101 after settle; webhook"),
    Scenario.INSUFFICIENT_FUNDS: _Info(
        "000001",
        HubStatus.INSUFFICIENT_FUNDS,
        "accepted (100), ER102 after settle; failure webhook",
    ),
    Scenario.INVALID_NUMBER: _Info(
        "000002", HubStatus.INVALID_MSISDN, "rejected at once (101, ER101); never executed"
    ),
    Scenario.WALLET_CLOSED: _Info(
        "000003", HubStatus.WALLET_CLOSED, "accepted (100), ER103 after settle; failure webhook"
    ),
    Scenario.DAILY_LIMIT: _Info(
        "000004",
        HubStatus.DAILY_LIMIT_EXCEEDED,
        "accepted (100), ER104 after settle; failure webhook",
    ),
    Scenario.TIMEOUT_AFTER_ACCEPT: _Info(
        "000005",
        HubStatus.SUCCESS,
        "executed at once, answer held past the client timeout; MR101 after settle; webhook",
    ),
    Scenario.WEBHOOK_NEVER_SENT: _Info(
        "000006", HubStatus.SUCCESS, "MR101 after settle; no webhook, only polling finds it"
    ),
    Scenario.DUPLICATE_WEBHOOK: _Info(
        "000007", HubStatus.SUCCESS, "MR101 after settle; the webhook is delivered twice"
    ),
    Scenario.LATE_SUCCESS: _Info(
        "000008",
        HubStatus.SUCCESS,
        "MR102 (pending) until late_success_seconds, then MR101 and a webhook",
    ),
    Scenario.NEVER_RESOLVES: _Info("000009", None, "MR102 (pending) forever; no webhook"),
}

scenario_for = Scenario.for_number
"""The scenario a payout to an msisdn runs, by its last six digits (any country)."""

markdown_table = Scenario.markdown_table
"""The scenarios as a Markdown table, for the README and the sandbox's API docs."""
