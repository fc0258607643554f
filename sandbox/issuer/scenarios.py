"""Magic values: the last four characters of a cardholder's document number choose the KYC.

Like a card network's test card numbers, they work with any document type and country:
``A1230001`` and ``99990001`` are both rejected at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from payments_engine.sandbox.common.scenarios import MagicNumber, MagicScenario
from payments_engine.sandbox.issuer.wire import KycStatus

_CHARACTERS = 4


class KycScenario(MagicScenario):
    """What the issuer's identity check does, chosen by ``id_document.number``'s last four.

    | Last four | Scenario        | Behaviour                                                   |
    |-----------|-----------------|-------------------------------------------------------------|
    | `0001`    | rejected        | REJECTED at once; no webhook                                |
    | `0002`    | review_approved | PENDING_REVIEW, APPROVED after kyc_review_seconds; webhook  |
    | `0003`    | review_rejected | PENDING_REVIEW, REJECTED after kyc_review_seconds; webhook  |
    | other     | approved        | APPROVED at once; no webhook                                |

    A review's decision is announced by a ``cardholder.kyc_updated`` webhook; a decision
    taken at once is in the creation's answer and needs none.
    """

    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW_APPROVED = "review_approved"
    REVIEW_REJECTED = "review_rejected"

    def magic(self) -> _Info:
        """The document number's ending, the statuses and the summary of the scenario."""
        return _INFO[self]

    @property
    def initial_status(self) -> KycStatus:
        """The status in the creation's answer."""
        return self.magic().initial_status

    @property
    def final_status(self) -> KycStatus:
        """The status the cardholder ends in."""
        final = self.magic().final_status
        assert final is not None, "every KYC check ends"
        return final

    @classmethod
    def for_number(cls, number: str) -> Self:
        """The scenario of a document number, by its last four characters (any characters)."""
        by_suffix = {scenario.suffix: scenario for scenario in cls}
        return by_suffix.get(number[-_CHARACTERS:], by_suffix[None])

    @classmethod
    def markdown_table(cls) -> str:
        """The scenarios as a Markdown table, for the sandbox's API docs."""
        lines = [
            "| Last four characters of `id_document.number` | Scenario | Behaviour |",
            "|---|---|---|",
        ]
        # The catch-all default comes last, as in the docstring.
        for scenario in sorted(cls, key=lambda item: item.suffix or "~"):
            suffix = f"`{scenario.suffix}`" if scenario.suffix else "other"
            lines.append(f"| {suffix} | {scenario.value} | {scenario.summary} |")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Info(MagicNumber[KycStatus]):
    initial_status: KycStatus = KycStatus.APPROVED


_REVIEW = KycStatus.PENDING_REVIEW

_INFO: dict[KycScenario, _Info] = {
    KycScenario.REJECTED: _Info(
        "0001", KycStatus.REJECTED, "REJECTED at once; no webhook", KycStatus.REJECTED
    ),
    KycScenario.REVIEW_APPROVED: _Info(
        "0002",
        KycStatus.APPROVED,
        "PENDING_REVIEW, then APPROVED after `kyc_review_seconds` and a"
        " `cardholder.kyc_updated` webhook",
        _REVIEW,
    ),
    KycScenario.REVIEW_REJECTED: _Info(
        "0003",
        KycStatus.REJECTED,
        "PENDING_REVIEW, then REJECTED after `kyc_review_seconds` and a"
        " `cardholder.kyc_updated` webhook",
        _REVIEW,
    ),
    KycScenario.APPROVED: _Info(None, KycStatus.APPROVED, "APPROVED at once; no webhook"),
}


def scenario_for(document_number: str) -> KycScenario:
    """The KYC scenario of a cardholder with this document number."""
    return KycScenario.for_number(document_number)


def markdown_table() -> str:
    """The KYC magic values as a Markdown table (the sandbox's API description)."""
    return KycScenario.markdown_table()
