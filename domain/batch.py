"""Batch payouts: many payouts from one file, paid once each, with a breaker per group.

A batch file is CSV with the columns of :data:`BATCH_COLUMNS` (``provider`` optional).
Each line becomes one ``PayoutWorkflow`` whose payout id derives from the batch id and
the line's reference (:func:`payout_id_for`), so submitting the same file twice pays
every line once. The batch id is the user's batch reference, or derives from the file's
content (:func:`batch_id_for`).

The lines live outside Temporal's history (in the database); the batch workflow pages
through them and keeps only counts, the payouts in flight and the breaker's windows.

These models are pure: the workflow imports them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from payments_engine.domain.errors import InvalidReference
from payments_engine.domain.ids import BusinessId, check_business_id
from payments_engine.domain.money import Money
from payments_engine.domain.payout import DEFAULT_MERCHANT_ID, PayoutRequest

BATCH_COLUMNS = (
    "reference",
    "amount",
    "currency",
    "msisdn",
    "country",
    "name",
    "narration",
    "provider",
)
"""The batch file's columns; all but ``provider`` must be in the header."""
REQUIRED_COLUMNS = BATCH_COLUMNS[:-1]
MAX_REFERENCE_LENGTH = 38
MAX_BATCH_ID_LENGTH = 25
MAX_LINES = 100_000
BATCH_WORKFLOW_PREFIX = "batch-"
DEFAULT_CONCURRENCY = 50
DEFAULT_BREAKER_WINDOW = 50
DEFAULT_BREAKER_THRESHOLD = 0.3


def batch_workflow_id(batch_id: str) -> str:
    """``batch-{batch_id}``."""
    return BATCH_WORKFLOW_PREFIX + check_business_id(batch_id)


def batch_id_for(batch_reference: str | None, content_sha256: str) -> str:
    """The batch id: the user's reference, else ``f`` and 24 hex digits of the content hash.

    Raises:
        InvalidReference: the reference is not a business id of at most 25 characters.
    """
    if batch_reference is not None:
        check_business_id(batch_reference)
        if len(batch_reference) > MAX_BATCH_ID_LENGTH:
            raise InvalidReference(
                f"a batch reference has at most {MAX_BATCH_ID_LENGTH} characters"
            )
        return batch_reference
    return "f" + content_sha256[:24]


def payout_id_for(batch_id: str, reference: str) -> str:
    """``{batch_id}:{reference}``: a line's payout id, the same for the same file."""
    return check_business_id(f"{batch_id}:{reference}")


class BatchLine(BaseModel):
    """One valid line of a batch file.

    Attributes:
        line_no: its line in the file (the header is line 1).
        reference: the user's reference of the line, unique in the file.
        amount: what to pay.
        msisdn: the recipient's number, E.164, of ``country``.
        country: ISO 3166 alpha-2.
        name: the recipient's name as given (kept with the line; wallets pay by number).
        narration: the payout's description (at most 140 characters).
        provider: who pays it out.
    """

    model_config = ConfigDict(frozen=True)

    line_no: int = Field(ge=2)
    reference: BusinessId = Field(max_length=MAX_REFERENCE_LENGTH)
    amount: Money
    msisdn: str
    country: str = Field(min_length=2, max_length=2)
    name: str | None = Field(default=None, max_length=100)
    narration: str | None = Field(default=None, max_length=140)
    provider: str

    def payout_request(self, batch_id: str, merchant_id: str) -> PayoutRequest:
        """The payout this line asks for, in batch ``batch_id`` of ``merchant_id``."""
        return PayoutRequest(
            payout_id=payout_id_for(batch_id, self.reference),
            merchant_id=merchant_id,
            amount=self.amount,
            recipient_msisdn=self.msisdn,
            country=self.country,
            provider=self.provider,
            description=self.narration,
        )


class LineProblem(BaseModel):
    """Why a line of the file is refused; never quotes the number or the name."""

    line_no: int
    reason: str


class CurrencyTotal(BaseModel):
    """Lines and minor units of one currency."""

    currency: str
    lines: int
    amount: int


class BatchBreaker(BaseModel):
    """When a group (a country, a provider) of a batch pauses by itself.

    The last ``window`` payouts of the group that ended are looked at; when at least
    ``window`` ended and the share that failed reaches ``threshold``, the group pauses
    and an alert is raised; an operator resumes or cancels it.
    """

    model_config = ConfigDict(extra="forbid")

    window: int = Field(default=DEFAULT_BREAKER_WINDOW, ge=1, le=10_000)
    threshold: float = Field(default=DEFAULT_BREAKER_THRESHOLD, gt=0, le=1)


class BatchLineState(StrEnum):
    """Where one line of a batch stands."""

    PENDING = "pending"
    """Not started yet."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    CANCELLED = "cancelled"
    """Never started: the batch, or its group, was cancelled."""

    @property
    def is_final(self) -> bool:
        """True once nothing more will happen to the line (needs_review included)."""
        return self not in (BatchLineState.PENDING, BatchLineState.RUNNING)


class BatchStatus(StrEnum):
    """Where a batch stands."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    """Cancelled: no new payout starts; those started finish."""
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class BatchRequest(BaseModel):
    """What starts a batch: its id, whose money, how fast, and the breaker.

    The lines are stored first (``BatchStore.create``); the workflow reads them by id.
    """

    model_config = ConfigDict(extra="forbid")

    batch_id: BusinessId = Field(max_length=MAX_BATCH_ID_LENGTH)
    merchant_id: BusinessId = DEFAULT_MERCHANT_ID
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1_000)
    breaker: BatchBreaker = Field(default_factory=BatchBreaker)
    page_size: int = Field(default=200, ge=1, le=5_000)
    lines: int = Field(
        default=0,
        ge=0,
        description="Lines stored (known at submit, so progress counts them from the start).",
    )
    lines_per_run: int = Field(
        default=500,
        ge=1,
        description="Lines a run starts before it continues as new (bounded history).",
    )

    @property
    def workflow_id(self) -> str:
        """``batch-{batch_id}``."""
        return batch_workflow_id(self.batch_id)


class LineOutcome(BaseModel):
    """How a line ended, as recorded for the result file."""

    line_no: int
    state: BatchLineState
    provider_transaction_id: str | None = None
    failure_code: str | None = None


class GroupView(BaseModel):
    """A country or a provider of the batch, with its breaker's state."""

    group: str
    """``country:KE`` or ``provider:hub``."""
    ended: int = 0
    failed_in_window: int = 0
    paused: bool = False
    cancelled: bool = False


class BatchProgress(BaseModel):
    """What a batch's ``get_progress`` answers.

    Attributes:
        lines: lines in the batch.
        started: payouts started.
        succeeded, failed, needs_review, cancelled: lines in those final states.
        running: payouts in flight.
        paid: minor units paid (succeeded lines) per currency.
        groups: the countries and providers, with their breakers.
        runs: the workflow's runs so far (continue-as-new).
        started_at: when the batch started (first run).
        updated_at: the last change.
    """

    batch_id: str
    status: BatchStatus
    lines: int
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    needs_review: int = 0
    cancelled: int = 0
    running: int = 0
    paid: dict[str, int] = Field(default_factory=dict)
    groups: list[GroupView] = Field(default_factory=list)
    runs: int = 1
    started_at: datetime
    updated_at: datetime

    @property
    def done(self) -> int:
        """Lines in a final state."""
        return self.succeeded + self.failed + self.needs_review + self.cancelled


def line_groups(country: str, provider: str) -> tuple[str, str]:
    """The breaker groups a line belongs to: its country and its provider."""
    return (f"country:{country}", f"provider:{provider}")


class ClaimInput(BaseModel):
    """Input of ``claim_lines``: the next pending lines, none of the skipped groups.

    The lines returned are marked running in the same transaction, so a line is
    started by one run of the batch only.
    """

    batch_id: str
    merchant_id: str
    after_line: int
    limit: int
    skip_groups: list[str] = Field(default_factory=list)
    token: str
    """Unique per claim of the workflow (its run and a counter): a retry gets the same."""


class ClaimedLine(BaseModel):
    """A line to start: its number, groups and payout request."""

    line_no: int
    groups: tuple[str, str]
    request: PayoutRequest


class ClaimedPage(BaseModel):
    """Output of ``claim_lines``; ``last_line`` is the highest line number looked at."""

    lines: list[ClaimedLine]
    last_line: int
    exhausted: bool


class ReleaseInput(BaseModel):
    """Lines claimed but not started (their group paused meanwhile): pending again."""

    batch_id: str
    line_nos: list[int]


class RecordInput(BaseModel):
    """How lines ended, for the result file."""

    batch_id: str
    outcomes: list[LineOutcome]


class CancelPendingInput(BaseModel):
    """Mark the pending lines of the batch, or of some groups, cancelled."""

    batch_id: str
    groups: list[str] | None = None
    """None: every pending line."""


class BatchAlert(BaseModel):
    """An alert about a batch: a group's breaker tripped."""

    key: str
    batch_id: str
    group: str
    failed: int
    window: int


class BatchState(BaseModel):
    """What a batch carries from one run to the next (continue-as-new).

    Only counts, the breaker's windows and the groups' state: never the lines.
    """

    progress: BatchProgress
    cursor: int = 0
    """The highest line number claimed in the current pass."""
    windows: dict[str, list[bool]] = Field(default_factory=dict)
    """Per group, the last outcomes (True: failed), at most the breaker's window."""
    paused_groups: list[str] = Field(default_factory=list)
    cancelled_groups: list[str] = Field(default_factory=list)
    resumed_groups: list[str] = Field(default_factory=list)
    """Groups resumed since their lines were skipped: another pass picks them up."""
    paused: bool = False
    cancelling: bool = False
    review_ids: list[str] = Field(default_factory=list)
    """Payouts in needs_review (their children may still be running)."""


class BatchRun(BaseModel):
    """Input of ``BatchPayoutWorkflow``: the request, and the state of earlier runs."""

    request: BatchRequest
    state: BatchState | None = None


class GroupAction(BaseModel):
    """An operator's resume or cancel of one group (``country:KE``, ``provider:hub``)."""

    group: str = Field(min_length=3, max_length=60)
