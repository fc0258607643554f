"""Magic values: the last digits of a number or an amount choose what the hub does.

Like a card network's test card numbers, phone numbers work with any country code, so
``+254700000001`` and ``+256770000001`` both run out of funds. A payout is chosen by the
beneficiary's msisdn (:class:`Scenario`), a collection by the payer's
(:class:`CollectionScenario`), a refund by the last two digits of its amount in minor
units (:class:`RefundScenario`).
"""

from __future__ import annotations

from typing import Self

from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario
from payments_engine.sandbox.hub.wire import HubRefundStatus, HubStatus


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


class CollectionScenario(MagicScenario):
    """What the payer of a collection does, chosen by the payer's msisdn's last six digits.

    | Last digits | Scenario           | Behaviour                                                 |
    |-------------|--------------------|-----------------------------------------------------------|
    | `000001`    | insufficient_funds | MR103, then ER102 after settle (payer's wallet short);    |
    |             |                    | webhook                                                   |
    | `000002`    | invalid_number     | rejected at once (101, ER101); never executed, no webhook |
    | `000006`    | webhook_never_sent | MR101 after settle; no webhook, only polling finds it     |
    | `000007`    | duplicate_webhook  | MR101 after settle; the webhook is delivered twice        |
    | `000011`    | payer_declines     | MR103, then ER105 after settle; webhook                   |
    | `000012`    | never_answers      | MR103 until the window closes, then ER106 (expired);      |
    |             |                    | webhook; a cancel before that makes it ER107              |
    | `000013`    | approves_late      | MR103 until late_success_seconds after the window, then   |
    |             |                    | MR101 and a webhook; a cancel is refused (409)            |
    | other       | success            | MR103, the payer approves after settle: MR101; webhook    |

    "Settle" is ``SandboxConfig.settle_seconds`` after the request; an answer that would
    come after the approval window expires the collection (ER106) instead. A paid
    collection credits the float with its amount less the hub's fee.
    """

    SUCCESS = "success"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_NUMBER = "invalid_number"
    WEBHOOK_NEVER_SENT = "webhook_never_sent"
    DUPLICATE_WEBHOOK = "duplicate_webhook"
    PAYER_DECLINES = "payer_declines"
    NEVER_ANSWERS = "never_answers"
    APPROVES_LATE = "approves_late"

    def magic(self) -> MagicNumber[HubStatus]:
        """The msisdn ending, final status and summary of the scenario."""
        return _COLLECTION_INFO[self]

    @property
    def final_status(self) -> HubStatus | None:
        """The status the collection ends in unless it is cancelled first."""
        return self.magic().final_status


_COLLECTION_INFO: dict[CollectionScenario, _Info] = {
    CollectionScenario.SUCCESS: _Info(
        None, HubStatus.SUCCESS, "MR103, the payer approves after settle: MR101; webhook"
    ),
    CollectionScenario.INSUFFICIENT_FUNDS: _Info(
        "000001",
        HubStatus.INSUFFICIENT_FUNDS,
        "MR103, then ER102 after settle (payer's wallet short); webhook",
    ),
    CollectionScenario.INVALID_NUMBER: _Info(
        "000002",
        HubStatus.INVALID_MSISDN,
        "rejected at once (101, ER101); never executed, no webhook",
    ),
    CollectionScenario.WEBHOOK_NEVER_SENT: _Info(
        "000006", HubStatus.SUCCESS, "MR101 after settle; no webhook, only polling finds it"
    ),
    CollectionScenario.DUPLICATE_WEBHOOK: _Info(
        "000007", HubStatus.SUCCESS, "MR101 after settle; the webhook is delivered twice"
    ),
    CollectionScenario.PAYER_DECLINES: _Info(
        "000011", HubStatus.PAYER_DECLINED, "MR103, then ER105 after settle; webhook"
    ),
    CollectionScenario.NEVER_ANSWERS: _Info(
        "000012",
        HubStatus.EXPIRED,
        "MR103 until the window closes, then ER106 (expired); webhook;"
        " a cancel before that makes it ER107",
    ),
    CollectionScenario.APPROVES_LATE: _Info(
        "000013",
        HubStatus.SUCCESS,
        "MR103 until late_success_seconds after the window, then MR101 and a webhook;"
        " a cancel is refused (409)",
    ),
}

collection_scenario_for = CollectionScenario.for_number
"""The scenario a collection from an msisdn runs, by its last six digits (any country)."""

collection_markdown_table = CollectionScenario.markdown_table
"""The collection scenarios as a Markdown table, for the README and the API docs."""


class RefundScenario(MagicScenario):
    """What the hub does with a refund, chosen by the last two digits of its minor units.

    | Last digits | Scenario             | Behaviour                                               |
    |-------------|----------------------|---------------------------------------------------------|
    | `91`        | failed               | pending, failed after settle; webhook; float untouched  |
    | `92`        | reversed             | processed after settle, reversed late_success_seconds   |
    |             |                      | later; a webhook each                                   |
    | `93`        | never_resolves       | pending forever; no webhook                             |
    | `94`        | timeout_after_accept | executed at once, answer held past the client timeout;  |
    |             |                      | processed after settle; webhook                         |
    | `95`        | webhook_never_sent   | processed after settle; no webhook, only polling finds  |
    |             |                      | it                                                      |
    | `96`        | duplicate_webhook    | processed after settle; the webhook is delivered twice  |
    | other       | success              | processed after settle; webhook                         |

    The amount is in minor units: ``"10.91"`` KES and ``"5091"`` UGX both fail. A
    processed refund debits the float, a reversed one credits it back, a failed one never
    touches it; a refund the float cannot cover fails.
    """

    SUCCESS = "success"
    FAILED = "failed"
    REVERSED = "reversed"
    NEVER_RESOLVES = "never_resolves"
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"
    WEBHOOK_NEVER_SENT = "webhook_never_sent"
    DUPLICATE_WEBHOOK = "duplicate_webhook"

    def magic(self) -> MagicNumber[HubRefundStatus]:
        """The amount ending, final status and summary of the scenario."""
        return _REFUND_INFO[self]

    @property
    def final_status(self) -> HubRefundStatus | None:
        """The status the refund ends in; None if it never resolves on its own."""
        return self.magic().final_status

    @classmethod
    def for_amount(cls, amount: int) -> Self:
        """The scenario a refund of ``amount`` minor units runs, by its last two digits."""
        by_suffix = {scenario.suffix: scenario for scenario in cls}
        return by_suffix.get(f"{amount % 100:02d}", by_suffix[None])


_RefundInfo = MagicNumber[HubRefundStatus]

_REFUND_INFO: dict[RefundScenario, _RefundInfo] = {
    RefundScenario.SUCCESS: _RefundInfo(
        None, HubRefundStatus.PROCESSED, "processed after settle; webhook"
    ),
    RefundScenario.FAILED: _RefundInfo(
        "91",
        HubRefundStatus.FAILED,
        "pending, failed after settle; webhook; float untouched",
    ),
    RefundScenario.REVERSED: _RefundInfo(
        "92",
        HubRefundStatus.REVERSED,
        "processed after settle, reversed late_success_seconds later; a webhook each",
    ),
    RefundScenario.NEVER_RESOLVES: _RefundInfo("93", None, "pending forever; no webhook"),
    RefundScenario.TIMEOUT_AFTER_ACCEPT: _RefundInfo(
        "94",
        HubRefundStatus.PROCESSED,
        "executed at once, answer held past the client timeout; processed after settle; webhook",
    ),
    RefundScenario.WEBHOOK_NEVER_SENT: _RefundInfo(
        "95",
        HubRefundStatus.PROCESSED,
        "processed after settle; no webhook, only polling finds it",
    ),
    RefundScenario.DUPLICATE_WEBHOOK: _RefundInfo(
        "96",
        HubRefundStatus.PROCESSED,
        "processed after settle; the webhook is delivered twice",
    ),
}

refund_scenario_for = RefundScenario.for_amount
"""The scenario a refund of an amount (minor units) runs, by its last two digits."""

refund_markdown_table = RefundScenario.markdown_table
"""The refund scenarios as a Markdown table, for the README and the API docs."""
