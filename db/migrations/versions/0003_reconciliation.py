"""Reconciliation: the ledger's provider transactions, runs and findings.

``provider_transactions`` holds one row per transaction a provider made final for us,
written with the journal entry that booked it; ``reconciliation_runs`` and
``reconciliation_findings`` hold what each provider's daily report was matched to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from db.models, as in 0001.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Aware = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the three tables and their indexes."""
    op.create_table(
        "provider_transactions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("provider_transaction_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", Aware, nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column("entry_key", sa.String(200), nullable=False),
        sa.Column("updated_at", Aware, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_provider_transactions"),
        sa.UniqueConstraint(
            "provider", "kind", "reference", name="uq_provider_transactions_provider_kind_ref"
        ),
    )
    op.create_index(
        "ix_provider_transactions_provider_day",
        "provider_transactions",
        ["provider", "settlement_date"],
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("report_sha256", sa.String(64), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", Aware, nullable=False),
        sa.Column("finished_at", Aware, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_runs"),
        sa.UniqueConstraint("provider", "report_date", name="uq_reconciliation_runs_provider_day"),
    )
    op.create_table(
        "reconciliation_findings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("finding_id", sa.String(40), nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("provider_transaction_id", sa.String(200), nullable=True),
        sa.Column("line_no", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("report_gross", sa.BigInteger(), nullable=True),
        sa.Column("report_fee", sa.BigInteger(), nullable=True),
        sa.Column("report_currency", sa.String(3), nullable=True),
        sa.Column("report_status", sa.String(50), nullable=True),
        sa.Column("ledger_gross", sa.BigInteger(), nullable=True),
        sa.Column("ledger_fee", sa.BigInteger(), nullable=True),
        sa.Column("ledger_currency", sa.String(3), nullable=True),
        sa.Column("ledger_status", sa.String(20), nullable=True),
        sa.Column("at_stake", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("review", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("resolution", sa.String(20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_at", Aware, nullable=True),
        sa.Column("evidence_sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", Aware, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_findings"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name="fk_reconciliation_findings_run_id_reconciliation_runs",
        ),
        sa.UniqueConstraint("finding_id", name="uq_reconciliation_findings_finding_id"),
    )
    op.create_index(
        "ix_reconciliation_findings_run_id_state",
        "reconciliation_findings",
        ["run_id", "state"],
    )
    op.create_index(
        "ix_reconciliation_findings_reference", "reconciliation_findings", ["reference"]
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("reconciliation_findings")
    op.drop_table("reconciliation_runs")
    op.drop_index("ix_provider_transactions_provider_day", table_name="provider_transactions")
    op.drop_table("provider_transactions")
