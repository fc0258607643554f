"""The schema: the ledger, stored webhook events, and reconciliation runs and findings."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Aware UTC now, the only clock the schema uses."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A ledger account in one currency; ``balance`` is kept in step with its postings."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("code", "currency", name="uq_ledger_accounts_code"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JournalEntry(Base):
    """A balanced set of postings, posted once per idempotency key."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.id", lazy="selectin"
    )


class Posting(Base):
    """One line of an entry: ``amount`` minor units added to an account."""

    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")


class WebhookEvent(Base):
    """A provider webhook as received: raw bytes for audit, and what became of it.

    ``state`` is ``received`` (stored, not yet delivered), ``delivered`` (signalled to its
    workflow) or ``unmatched`` (no workflow for the reference: kept for reconciliation).
    ``body_sha256`` tells an exact repeat from a conflicting one with the same event id.
    ``next_attempt_at`` is when a ``received`` event is next due for redelivery (NULL once
    settled); whoever delivers moves it forward first, which is how relays sharing the
    database claim an event.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event"),
        Index("ix_webhook_events_state", "state"),
        Index("ix_webhook_events_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(20), default="received")
    signature_timestamp: Mapped[int] = mapped_column(BigInteger)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    body_sha256: Mapped[str] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEventConflict(Base):
    """A webhook reusing a stored event's id with another body: kept for audit only.

    Never delivered and never merged into :class:`WebhookEvent`; each distinct body is
    kept once per event id.
    """

    __tablename__ = "webhook_event_conflicts"
    __table_args__ = (
        UniqueConstraint(
            "provider", "event_id", "body_sha256", name="uq_webhook_event_conflicts_provider_body"
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    signature_timestamp: Mapped[int] = mapped_column(BigInteger)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderTransactionRow(Base):
    """The ledger's record of a transaction a provider made final: what reconciliation reads.

    Written with the journal entry that booked it (``entry_key``); one per provider,
    kind and reference, a later status replacing the earlier. Read per provider and
    settlement date in one pass of ``ix_provider_transactions_provider_day``.
    """

    __tablename__ = "provider_transactions"
    __table_args__ = (
        UniqueConstraint(
            "provider", "kind", "reference", name="uq_provider_transactions_provider_kind_ref"
        ),
        Index("ix_provider_transactions_provider_day", "provider", "settlement_date"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(200))
    provider_transaction_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    gross: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settlement_date: Mapped[date] = mapped_column(Date)
    entry_key: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReconciliationRun(Base):
    """The latest run of one provider's report for one date: its totals or its error."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        UniqueConstraint("provider", "report_date", name="uq_reconciliation_runs_provider_day"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40))
    report_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    workflow_id: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    report_path: Mapped[str | None] = mapped_column(Text)
    totals: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReconciliationFinding(Base):
    """One difference a run found; its resolution outlives re-runs (same ``finding_id``)."""

    __tablename__ = "reconciliation_findings"
    __table_args__ = (
        UniqueConstraint("finding_id", name="uq_reconciliation_findings_finding_id"),
        Index("ix_reconciliation_findings_run_id_state", "run_id", "state"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    finding_id: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    kind: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    provider_transaction_id: Mapped[str | None] = mapped_column(String(200))
    line_no: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    report_gross: Mapped[int | None] = mapped_column(BigInteger)
    report_fee: Mapped[int | None] = mapped_column(BigInteger)
    report_currency: Mapped[str | None] = mapped_column(String(3))
    report_status: Mapped[str | None] = mapped_column(String(50))
    ledger_gross: Mapped[int | None] = mapped_column(BigInteger)
    ledger_fee: Mapped[int | None] = mapped_column(BigInteger)
    ledger_currency: Mapped[str | None] = mapped_column(String(3))
    ledger_status: Mapped[str | None] = mapped_column(String(20))
    at_stake: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    review: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="open")
    resolution: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PayoutBatchRow(Base):
    """A batch file as stored: whose it is, its hash, and its totals per currency.

    ``batch_id`` is the user's batch reference (or derives from the file's hash); the
    same id with the same hash and merchant is the same batch.
    """

    __tablename__ = "payout_batches"
    __table_args__ = (UniqueConstraint("batch_id", name="uq_payout_batches_batch_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(40))
    merchant_id: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    totals: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PayoutBatchLineRow(Base):
    """One line of a batch file and where it stands; paged by ``line_no``.

    ``msisdn`` and ``name`` are personal data: kept for the payout, never logged.
    """

    __tablename__ = "payout_batch_lines"
    __table_args__ = (
        UniqueConstraint("batch_pk", "line_no", name="uq_payout_batch_lines_batch_pk_line_no"),
        UniqueConstraint("batch_pk", "reference", name="uq_payout_batch_lines_batch_pk_reference"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("payout_batches.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(64))
    payout_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    msisdn: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(100))
    narration: Mapped[str | None] = mapped_column(String(140))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    provider_transaction_id: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    claim_token: Mapped[str | None] = mapped_column(String(100))
    """The claim that took the line: a retried claim gets the same lines back."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
