"""Payout batches: the batch files and their lines, paged by line number.

``payout_batches`` holds one row per batch (its id, merchant, file hash and totals);
``payout_batch_lines`` one row per line of its file, with where the line stands. The
lines live here rather than in the batch workflow's history.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from db.models, as in 0001.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Aware = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``payout_batches`` and ``payout_batch_lines``."""
    op.create_table(
        "payout_batches",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("created_at", Aware, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payout_batches"),
        sa.UniqueConstraint("batch_id", name="uq_payout_batches_batch_id"),
    )
    op.create_table(
        "payout_batch_lines",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("batch_pk", Id, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("payout_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("msisdn", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("narration", sa.String(140), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("provider_transaction_id", sa.String(200), nullable=True),
        sa.Column("failure_code", sa.String(100), nullable=True),
        sa.Column("claim_token", sa.String(100), nullable=True),
        sa.Column("updated_at", Aware, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payout_batch_lines"),
        sa.ForeignKeyConstraint(
            ["batch_pk"],
            ["payout_batches.id"],
            name="fk_payout_batch_lines_batch_pk_payout_batches",
        ),
        # Also the index the lines are paged, claimed and counted by.
        sa.UniqueConstraint("batch_pk", "line_no", name="uq_payout_batch_lines_batch_pk_line_no"),
        sa.UniqueConstraint(
            "batch_pk", "reference", name="uq_payout_batch_lines_batch_pk_reference"
        ),
    )


def downgrade() -> None:
    """Drop the two tables, lines first."""
    op.drop_table("payout_batch_lines")
    op.drop_table("payout_batches")
