"""Magic values of the cash networks: the payer's document number chooses what happens.

The last two characters of the payer's identity document number (as sent, without
spaces, dots or dashes) select a scenario; the same table holds for Efecty and OXXO, so
a test or a demo means the same thing on both networks.
"""

from __future__ import annotations

import re
from typing import Self

from payments_engine.sandbox.cash.records import VoucherState
from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario

_SEPARATORS = re.compile(r"[^0-9A-Za-z]")


class VoucherScenario(MagicScenario):
    """What the network does with a voucher, chosen by the last two characters of the
    payer's document number.

    | Last digits | Scenario               | Behaviour                                        |
    |-------------|------------------------|--------------------------------------------------|
    | `01`        | paid                   | paid at the shop shop_payment_delay_seconds      |
    |             |                        | after creation, confirmed after the              |
    |             |                        | confirmation delay; notification                 |
    | `02`        | never_paid             | never paid: EXPIRED at the expiry; notification  |
    | `03`        | paid_before_expiry     | paid one second before the expiry, confirmed     |
    |             |                        | after the confirmation delay (maybe after the    |
    |             |                        | expiry); the payment time is before it           |
    | `04`        | paid_after_expiry      | EXPIRED at the expiry, then paid                 |
    |             |                        | late_payment_seconds after it: the network       |
    |             |                        | accepts it late, EXPIRED or CANCELLED becomes    |
    |             |                        | APPROVED after the confirmation delay;           |
    |             |                        | notifications                                    |
    | `05`        | duplicate_notification | paid like `01`; the notification is delivered    |
    |             |                        | twice with one event id, then once more with a   |
    |             |                        | new one                                          |
    | `06`        | notification_lost      | paid like `01`; no notification is ever sent,    |
    |             |                        | only the status API shows it                     |
    | `07`        | slow_confirmation      | paid like `01`, confirmed only                   |
    |             |                        | late_payment_seconds after the expiry: pending   |
    |             |                        | until then, a cancel is refused (409, paid)      |
    | `08`        | payer_blocked          | the network refuses to issue the voucher (4xx    |
    |             |                        | at create); nothing is issued                    |
    | other       | manual                 | nothing automatic: pay it with the admin API or  |
    |             |                        | ``payments sandbox pay-voucher``; EXPIRED at the |
    |             |                        | expiry if unpaid                                 |

    Every notification reports a final state (APPROVED, EXPIRED, CANCELLED) and is
    retried after the configured delays. A payment at the shop is confirmed
    ``confirmation_delay_seconds`` after it is made (``07`` aside); a voucher the
    merchant cancelled, or that expired, still takes a late payment.
    """

    PAID = "paid"
    NEVER_PAID = "never_paid"
    PAID_BEFORE_EXPIRY = "paid_before_expiry"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    DUPLICATE_NOTIFICATION = "duplicate_notification"
    NOTIFICATION_LOST = "notification_lost"
    SLOW_CONFIRMATION = "slow_confirmation"
    PAYER_BLOCKED = "payer_blocked"
    MANUAL = "manual"

    def magic(self) -> MagicNumber[VoucherState]:
        """The document ending, final state and summary of the scenario."""
        return _INFO[self]

    @property
    def final_status(self) -> VoucherState | None:
        """The state the voucher ends in on its own; None if that is up to someone."""
        return self.magic().final_status

    @classmethod
    def for_document(cls, number: str) -> Self:
        """The scenario of a payer's document, by its last two characters."""
        by_suffix = {scenario.suffix: scenario for scenario in cls}
        cleaned = _SEPARATORS.sub("", number)
        return by_suffix.get(cleaned[-2:], by_suffix[None])


_OK = VoucherState.APPROVED

_INFO: dict[VoucherScenario, MagicNumber[VoucherState]] = {
    VoucherScenario.PAID: MagicNumber(
        "01",
        _OK,
        "paid at the shop shop_payment_delay_seconds after creation, confirmed after the "
        "confirmation delay; notification",
    ),
    VoucherScenario.NEVER_PAID: MagicNumber(
        "02", VoucherState.EXPIRED, "never paid: EXPIRED at the expiry; notification"
    ),
    VoucherScenario.PAID_BEFORE_EXPIRY: MagicNumber(
        "03",
        _OK,
        "paid one second before the expiry, confirmed after the confirmation delay (maybe "
        "after the expiry); the payment time is before it",
    ),
    VoucherScenario.PAID_AFTER_EXPIRY: MagicNumber(
        "04",
        _OK,
        "EXPIRED at the expiry, then paid late_payment_seconds after it: the network accepts "
        "it late, EXPIRED or CANCELLED becomes APPROVED after the confirmation delay; "
        "notifications",
    ),
    VoucherScenario.DUPLICATE_NOTIFICATION: MagicNumber(
        "05",
        _OK,
        "paid like `01`; the notification is delivered twice with one event id, then once "
        "more with a new one",
    ),
    VoucherScenario.NOTIFICATION_LOST: MagicNumber(
        "06",
        _OK,
        "paid like `01`; no notification is ever sent, only the status API shows it",
    ),
    VoucherScenario.SLOW_CONFIRMATION: MagicNumber(
        "07",
        _OK,
        "paid like `01`, confirmed only late_payment_seconds after the expiry: pending until "
        "then, a cancel is refused (409, paid)",
    ),
    VoucherScenario.PAYER_BLOCKED: MagicNumber(
        "08",
        VoucherState.DECLINED,
        "the network refuses to issue the voucher (4xx at create); nothing is issued",
    ),
    VoucherScenario.MANUAL: MagicNumber(
        None,
        None,
        "nothing automatic: pay it with the admin API or `payments sandbox pay-voucher`; "
        "EXPIRED at the expiry if unpaid",
    ),
}

scenario_for = VoucherScenario.for_document
"""The scenario of a payer's document number, by its last two characters."""

markdown_table = VoucherScenario.markdown_table
"""The scenarios as a Markdown table, for the README and the sandbox's API docs."""
