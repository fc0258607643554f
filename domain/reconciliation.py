"""Reconciliation: a provider's daily settlement report matched line by line to the ledger.

The ledger keeps one :class:`ProviderTransaction` per transaction a provider made final
for us (written with the journal entry that booked it). A provider's report for a UTC
date is parsed and normalised with its :class:`ReportSpec` (minor units by currency
exponent, UTC, the provider's words mapped to :class:`LineKind` and :class:`LineStatus`),
then matched to the ledger's records for that provider and date: by the provider's
transaction id when the ledger knows it, else by our reference and kind. Every
difference is a :class:`FindingKind`; a finding is open until a later run or a person
resolves it.

Only money counts: a line that moved no money (failed, reversed) and has no counterpart
on the other side is not a finding; a counterpart with another status is.

These models are pure (no I/O), so the workflow imports them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RECONCILE_WORKFLOW_PREFIX = "reconcile-"
SCHEDULE_PREFIX = "reconcile-daily-"


def reconcile_workflow_id(provider: str, day: date) -> str:
    """``reconcile-{provider}-{YYYY-MM-DD}``: one reconciliation per provider and date."""
    return f"{RECONCILE_WORKFLOW_PREFIX}{provider}-{day.isoformat()}"


def schedule_id(provider: str) -> str:
    """``reconcile-daily-{provider}``: the Temporal Schedule of a provider's daily run."""
    return f"{SCHEDULE_PREFIX}{provider}"


class LineKind(StrEnum):
    """What a report line (or a ledger record) is, in the engine's words."""

    PAYOUT = "payout"
    COLLECTION = "collection"
    REFUND = "refund"
    REVERSAL = "reversal"
    FEE = "fee"
    CASH_PAYMENT = "cash_payment"
    CARD_CAPTURE = "card_capture"
    CARD_REFUND = "card_refund"


class LineStatus(StrEnum):
    """A transaction's final status, in the engine's words; only ``succeeded`` moves money."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERSED = "reversed"


class FindingKind(StrEnum):
    """What differs between the report and the ledger."""

    MISSING_IN_LEDGER = "missing_in_ledger"
    """The provider reports money moved for a transaction the ledger does not hold."""
    MISSING_AT_PROVIDER = "missing_at_provider"
    """The ledger booked money for a transaction the report leaves out."""
    AMOUNT_MISMATCH = "amount_mismatch"
    FEE_MISMATCH = "fee_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    DUPLICATE = "duplicate"
    """The same transaction appears more than once in the report."""
    TIMING = "timing"
    """Booked near the end of the day and not in its report: expected in the next day's."""


class FindingState(StrEnum):
    """Open until a later run (``auto``) or a person (``manual``) resolves it."""

    OPEN = "open"
    RESOLVED = "resolved"


class RunStatus(StrEnum):
    """Where a reconciliation run stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class ReportColumns:
    """The provider's names of the ten columns of its settlement report."""

    transaction_id: str
    reference: str
    type: str
    gross: str
    fee: str
    net: str
    currency: str
    status: str
    transaction_time: str
    settlement_date: str

    def names(self) -> tuple[str, ...]:
        """The column names in report order."""
        return (
            self.transaction_id,
            self.reference,
            self.type,
            self.gross,
            self.fee,
            self.net,
            self.currency,
            self.status,
            self.transaction_time,
            self.settlement_date,
        )


@dataclass(frozen=True)
class ReportSpec:
    """How one provider publishes its daily settlement report.

    Attributes:
        path: the report's path on the provider's API, with ``{date}`` (YYYY-MM-DD).
        columns: its column names.
        amounts: ``minor`` (integers in minor units) or ``major`` (decimal major units;
            a value with more decimals than the currency has must be zeros there, as
            the hub's ``1500.00`` UGX).
        types: the provider's type words and what they are to us.
        statuses: the provider's final status words and what they are to us.
    """

    path: str
    columns: ReportColumns
    amounts: Literal["minor", "major"]
    types: Mapping[str, LineKind] = field(default_factory=dict)
    statuses: Mapping[str, LineStatus] = field(default_factory=dict)


class ProviderTransaction(BaseModel):
    """The ledger's record of one transaction a provider made final for us.

    Written in the same database transaction as the journal entry that booked it
    (``JournalEntryRequest.settlement``); one per provider, kind and reference (a later
    status, e.g. a refund reversed, replaces the earlier).

    Attributes:
        provider: the provider's name.
        kind: what it is.
        reference: ours, as the provider knows it (the workflow id).
        provider_transaction_id: the provider's id, when it said one.
        status: its final status.
        gross: the amount, minor units.
        fee: the provider's fee, minor units.
        currency: ISO code.
        occurred_at: when it became final (the provider's time when it said one).
        settlement_date: the UTC date of the report it belongs in.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    kind: LineKind
    reference: str = Field(min_length=1, max_length=200)
    provider_transaction_id: str | None = Field(default=None, max_length=200)
    status: LineStatus
    gross: int = Field(ge=0)
    fee: int = Field(default=0, ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: datetime
    settlement_date: date


class ReconciliationPolicy(BaseModel):
    """When findings go to people.

    Attributes:
        review_amount_minor: a finding whose money at stake is at least this (minor units
            of its currency) is marked for manual review; 0 marks every finding but
            ``timing`` ones, which resolve themselves.
        alert_min_findings: an alert is raised when at least this many findings of a run
            are marked for review.
        timing_window_seconds: a booked transaction missing from its day's report is a
            ``timing`` finding if it became final this close to the end of the day (UTC).
    """

    model_config = ConfigDict(extra="forbid")

    review_amount_minor: int = Field(default=0, ge=0)
    alert_min_findings: int = Field(default=1, ge=1)
    timing_window_seconds: int = Field(default=3600, ge=0, le=86_400)


class ReconciliationRequest(BaseModel):
    """Input of ``ReconciliationWorkflow``.

    Attributes:
        provider: whose report.
        day: the report's UTC date.
        file: a report a person supplies (a path the worker can read), instead of the
            download.
        policy: review and alert thresholds.
    """

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=40)
    day: date
    file: str | None = Field(default=None, min_length=1, max_length=4096)
    policy: ReconciliationPolicy = Field(default_factory=ReconciliationPolicy)

    @property
    def workflow_id(self) -> str:
        """``reconcile-{provider}-{day}``."""
        return reconcile_workflow_id(self.provider, self.day)


class ScheduledReconciliationRequest(BaseModel):
    """Input of the daily scheduled run: which provider; the date is the day before."""

    provider: str = Field(min_length=1, max_length=40)
    policy: ReconciliationPolicy = Field(default_factory=ReconciliationPolicy)


class CurrencyTotals(BaseModel):
    """Totals of one currency on one side, minor units."""

    currency: str
    lines: int = 0
    gross: int = 0
    fee: int = 0
    net: int = 0


class RunTotals(BaseModel):
    """What a run counted.

    Attributes:
        report_lines: lines in the report.
        ledger_records: the ledger's records for the date (carried-over ones excluded).
        matched: report lines matched to a record with nothing different.
        with_findings: report lines or ledger records a finding names.
        report: per currency, the report's side.
        ledger: per currency, the ledger's side.
    """

    report_lines: int = 0
    ledger_records: int = 0
    matched: int = 0
    with_findings: int = 0
    report: list[CurrencyTotals] = Field(default_factory=list)
    ledger: list[CurrencyTotals] = Field(default_factory=list)


class Evidence(BaseModel):
    """A report line that speaks for a transaction whose workflow may still be waiting.

    Any final line without a ledger record is evidence, failed ones too (they are not
    findings: no money moved); ``finding_id`` names the finding when there is one.
    """

    finding_id: str | None
    reference: str
    kind: LineKind
    provider_transaction_id: str | None
    status: LineStatus
    gross: int
    currency: str
    occurred_at: datetime | None


class ReconcileInput(BaseModel):
    """Input of the reconcile activity."""

    provider: str
    day: date
    file: str | None = None
    policy: ReconciliationPolicy = Field(default_factory=ReconciliationPolicy)
    workflow_id: str
    run_id: str


class ReconcileOutput(BaseModel):
    """What the reconcile activity stored.

    Attributes:
        totals: the run's counts and totals.
        findings: findings of this run by kind.
        review: findings marked for manual review.
        review_amount: their money at stake per currency.
        auto_resolved: findings of the day before resolved by this report.
        evidence: lines for transactions the ledger has not booked yet (at most
            ``MAX_EVIDENCE``), to hand to their workflows.
        report_sha256: the report file's hash (the raw file is kept).
    """

    totals: RunTotals
    findings: dict[str, int] = Field(default_factory=dict)
    review: int = 0
    review_amount: dict[str, int] = Field(default_factory=dict)
    auto_resolved: int = 0
    evidence: list[Evidence] = Field(default_factory=list)
    report_sha256: str


MAX_EVIDENCE = 500


class AlertInput(BaseModel):
    """An alert about a run's findings, for the people who review them."""

    key: str
    provider: str
    day: date
    review: int
    review_amount: dict[str, int]
    findings: dict[str, int]


class EvidenceNote(BaseModel):
    """Findings whose line was handed to their workflow."""

    finding_ids: list[str]


class ReconciliationResult(BaseModel):
    """Output of ``ReconciliationWorkflow``."""

    provider: str
    day: date
    status: RunStatus
    outcome: ReconcileOutput | None = None
    alerted: bool = False
    evidence_sent: list[str] = Field(default_factory=list)
    error: str | None = None


def finding_id(provider: str, day: date, kind: str, key: str, ordinal: int) -> str:
    """A finding's stable id: the same difference of the same report gets the same id."""
    digest = hashlib.sha256(f"{provider}|{day.isoformat()}|{kind}|{key}|{ordinal}".encode())
    return "rf_" + digest.hexdigest()[:16]


class Finding(BaseModel):
    """One difference, as stored and shown.

    Amounts are minor units; ``report_*`` is what the provider says, ``ledger_*`` what we
    booked (None on the side that has nothing). ``at_stake`` is the money the difference
    is about (the gap for amount and fee, the gross otherwise), used for the threshold.
    """

    id: str
    provider: str
    day: date
    kind: FindingKind
    reference: str | None
    provider_transaction_id: str | None
    line_no: int | None
    currency: str | None
    report_gross: int | None = None
    report_fee: int | None = None
    report_currency: str | None = None
    report_status: str | None = None
    ledger_gross: int | None = None
    ledger_fee: int | None = None
    ledger_currency: str | None = None
    ledger_status: str | None = None
    at_stake: int = 0
    detail: str
    raw: str | None = None
    review: bool = False
    state: FindingState = FindingState.OPEN
    resolution: Literal["auto", "manual"] | None = None
    note: str | None = None
    resolved_at: datetime | None = None
    evidence_sent: bool = False


class RunView(BaseModel):
    """A stored run and its findings, as the report shows it."""

    provider: str
    day: date
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    attempts: int
    source: str
    report_sha256: str | None
    totals: RunTotals
    error: str | None
    findings: list[Finding]
