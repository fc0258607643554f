"""Magic numbers: the last six digits of ``partyId`` choose what MoMo does.

The payee's number chooses what a transfer does (:class:`MomoScenario`), the payer's what
the payer of a request to pay does (:class:`RequestToPayScenario`); each table is its
own, so a number means nothing in the other. Like MTN's own sandbox numbers
(46733123450 to 46733123454), they work with any country code: ``254733123451`` and
``256770123451`` both fail for NOT_ENOUGH_FUNDS.
"""

from __future__ import annotations

from dataclasses import dataclass

from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario
from payments_engine.sandbox.momo.wire import Reason, TransferStatus


class MomoScenario(MagicScenario):
    """What the MoMo simulator does with a transfer, chosen by the payee's last six digits.

    | Last digits | Scenario             | Behaviour                                               |
    |-------------|----------------------|---------------------------------------------------------|
    | `123450`    | payee_not_found      | FAILED PAYEE_NOT_FOUND at once; never executed;         |
    |             |                      | callback                                                |
    | `123451`    | not_enough_funds     | FAILED NOT_ENOUGH_FUNDS at once; never executed;        |
    |             |                      | callback                                                |
    | `123452`    | timeout_after_accept | executed at once, the 202 held past the client timeout; |
    |             |                      | SUCCESSFUL after settle; callback                       |
    | `123453`    | ongoing              | PENDING forever (executed); no callback                 |
    | `123454`    | late_success         | PENDING until late_success_seconds, then SUCCESSFUL and |
    |             |                      | a callback                                              |
    | `123455`    | payer_limit_reached  | PENDING (executed), FAILED PAYER_LIMIT_REACHED after    |
    |             |                      | settle, money back; callback                            |
    | `123456`    | callback_lost        | SUCCESSFUL after settle; the callback is never sent,    |
    |             |                      | only polling finds it                                   |
    | `123457`    | expired              | PENDING (executed), FAILED EXPIRED after settle, money  |
    |             |                      | back; callback                                          |
    | other       | success              | SUCCESSFUL after settle; one callback                   |

    "Settle" is ``MomoSandboxConfig.settle_seconds`` after acceptance. Every transfer
    answers 202 and is PENDING until its plan says otherwise. A callback is sent once and
    never retried; a failed transfer gives its money back to the float.
    """

    SUCCESS = "success"
    PAYEE_NOT_FOUND = "payee_not_found"
    NOT_ENOUGH_FUNDS = "not_enough_funds"
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"
    ONGOING = "ongoing"
    LATE_SUCCESS = "late_success"
    PAYER_LIMIT_REACHED = "payer_limit_reached"
    CALLBACK_LOST = "callback_lost"
    EXPIRED = "expired"

    @property
    def reason(self) -> Reason | None:
        """The failure reason it ends with; None unless it fails."""
        return self.magic().reason

    @property
    def executed(self) -> bool:
        """Whether the money leaves the float and stays out in the end (pending counts)."""
        return self.final_status is not TransferStatus.FAILED

    @property
    def final_status(self) -> TransferStatus | None:
        """The status the transfer ends in; None if it never resolves on its own."""
        return self.magic().final_status

    def magic(self) -> _Info:
        """The partyId ending, final status, reason and summary of the scenario."""
        return _INFO[self]


@dataclass(frozen=True)
class _Info(MagicNumber[TransferStatus]):
    reason: Reason | None = None


_OK = TransferStatus.SUCCESSFUL
_FAILED = TransferStatus.FAILED

_INFO: dict[MomoScenario, _Info] = {
    MomoScenario.SUCCESS: _Info(None, _OK, "SUCCESSFUL after settle; one callback"),
    MomoScenario.PAYEE_NOT_FOUND: _Info(
        "123450",
        _FAILED,
        "FAILED PAYEE_NOT_FOUND at once; never executed; callback",
        reason=Reason.PAYEE_NOT_FOUND,
    ),
    MomoScenario.NOT_ENOUGH_FUNDS: _Info(
        "123451",
        _FAILED,
        "FAILED NOT_ENOUGH_FUNDS at once; never executed; callback",
        reason=Reason.NOT_ENOUGH_FUNDS,
    ),
    MomoScenario.TIMEOUT_AFTER_ACCEPT: _Info(
        "123452",
        _OK,
        "executed at once, the 202 held past the client timeout; SUCCESSFUL after settle; callback",
    ),
    MomoScenario.ONGOING: _Info("123453", None, "PENDING forever (executed); no callback"),
    MomoScenario.LATE_SUCCESS: _Info(
        "123454", _OK, "PENDING until late_success_seconds, then SUCCESSFUL and a callback"
    ),
    MomoScenario.PAYER_LIMIT_REACHED: _Info(
        "123455",
        _FAILED,
        "PENDING (executed), FAILED PAYER_LIMIT_REACHED after settle, money back; callback",
        reason=Reason.PAYER_LIMIT_REACHED,
    ),
    MomoScenario.CALLBACK_LOST: _Info(
        "123456",
        _OK,
        "SUCCESSFUL after settle; the callback is never sent, only polling finds it",
    ),
    MomoScenario.EXPIRED: _Info(
        "123457",
        _FAILED,
        "PENDING (executed), FAILED EXPIRED after settle, money back; callback",
        reason=Reason.EXPIRED,
    ),
}


class RequestToPayScenario(MagicScenario):
    """What the payer of a request to pay does, chosen by the payer's last six digits.

    | Last digits | Scenario         | Behaviour                                            |
    |-------------|------------------|------------------------------------------------------|
    | `000001`    | not_enough_funds | PENDING, FAILED NOT_ENOUGH_FUNDS after settle (the   |
    |             |                  | payer's wallet is short); callback                   |
    | `000006`    | callback_lost    | SUCCESSFUL after settle; the callback is never sent, |
    |             |                  | only polling finds it                                |
    | `000011`    | payer_rejects    | PENDING, FAILED APPROVAL_REJECTED after settle;      |
    |             |                  | callback                                             |
    | `000012`    | never_answers    | PENDING until the window closes, then FAILED         |
    |             |                  | EXPIRED; callback                                    |
    | `000013`    | approves_late    | PENDING until late_success_seconds after the window, |
    |             |                  | then SUCCESSFUL and a callback                       |
    | other       | success          | PENDING, the payer approves after settle:            |
    |             |                  | SUCCESSFUL; callback                                 |

    "Settle" is ``MomoSandboxConfig.settle_seconds`` after the request, "the window"
    ``request_to_pay_window_seconds`` (MTN's 5 minutes); an answer that would come after
    the window expires the request (FAILED EXPIRED) instead. ``approves_late`` stands for
    an approval already under way when the window closed, which a real MoMo would report
    EXPIRED. Every request answers 202; a SUCCESSFUL one credits the float with its whole
    amount (no fee); a callback is sent once and never retried.
    """

    SUCCESS = "success"
    NOT_ENOUGH_FUNDS = "not_enough_funds"
    CALLBACK_LOST = "callback_lost"
    PAYER_REJECTS = "payer_rejects"
    NEVER_ANSWERS = "never_answers"
    APPROVES_LATE = "approves_late"

    @property
    def reason(self) -> Reason | None:
        """The failure reason it ends with; None unless it fails."""
        return self.magic().reason

    @property
    def final_status(self) -> TransferStatus | None:
        """The status the request ends in (each one ends, at the window at the latest)."""
        return self.magic().final_status

    def magic(self) -> _Info:
        """The partyId ending, final status, reason and summary of the scenario."""
        return _REQUEST_TO_PAY_INFO[self]


_REQUEST_TO_PAY_INFO: dict[RequestToPayScenario, _Info] = {
    RequestToPayScenario.SUCCESS: _Info(
        None, _OK, "PENDING, the payer approves after settle: SUCCESSFUL; callback"
    ),
    RequestToPayScenario.NOT_ENOUGH_FUNDS: _Info(
        "000001",
        _FAILED,
        "PENDING, FAILED NOT_ENOUGH_FUNDS after settle (the payer's wallet is short); callback",
        reason=Reason.NOT_ENOUGH_FUNDS,
    ),
    RequestToPayScenario.CALLBACK_LOST: _Info(
        "000006",
        _OK,
        "SUCCESSFUL after settle; the callback is never sent, only polling finds it",
    ),
    RequestToPayScenario.PAYER_REJECTS: _Info(
        "000011",
        _FAILED,
        "PENDING, FAILED APPROVAL_REJECTED after settle; callback",
        reason=Reason.APPROVAL_REJECTED,
    ),
    RequestToPayScenario.NEVER_ANSWERS: _Info(
        "000012",
        _FAILED,
        "PENDING until the window closes, then FAILED EXPIRED; callback",
        reason=Reason.EXPIRED,
    ),
    RequestToPayScenario.APPROVES_LATE: _Info(
        "000013",
        _OK,
        "PENDING until late_success_seconds after the window, then SUCCESSFUL and a callback",
    ),
}

scenario_for = MomoScenario.for_number
"""The scenario a transfer to a partyId runs, by its last six digits (any country)."""

markdown_table = MomoScenario.markdown_table
"""The scenarios as a Markdown table, for the README and the sandbox's API docs."""

request_to_pay_scenario_for = RequestToPayScenario.for_number
"""The scenario a request to pay from a partyId runs, by its last six digits."""

request_to_pay_markdown_table = RequestToPayScenario.markdown_table
"""The request-to-pay scenarios as a Markdown table, for the README and the API docs."""
