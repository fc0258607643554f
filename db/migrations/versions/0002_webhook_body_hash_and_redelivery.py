"""Webhook body hashes, conflicting copies and the redelivery schedule.

``webhook_events`` gains ``body_sha256`` (an exact repeat vs. a conflicting copy of an
event id) and ``next_attempt_at`` (when an undelivered event is next due for redelivery);
``webhook_event_conflicts`` keeps the conflicting copies for audit.

Revision ID: 0002
Revises: 0001
Create Date: 2025-10-10 00:00:00+00:00
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from db.models, as in 0001.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_BACKFILL_BATCH = 500

_events = sa.table(
    "webhook_events",
    sa.column("id", sa.Integer()),
    sa.column("raw_body", sa.LargeBinary()),
    sa.column("body_sha256", sa.String()),
)


def _backfill_body_hashes() -> None:
    """Hash the bodies of the events stored before this revision."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE webhook_events SET body_sha256 = encode(sha256(raw_body), 'hex')")
        return
    # SQLite has no SHA-256 function: hash here, a batch at a time so that a large
    # table is never held in memory whole.
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(_events.c.id, _events.c.raw_body)
            .where(_events.c.id > last_id)
            .order_by(_events.c.id)
            .limit(_BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            bind.execute(
                sa.update(_events)
                .where(_events.c.id == row.id)
                .values(body_sha256=hashlib.sha256(bytes(row.raw_body)).hexdigest())
            )
        last_id = rows[-1].id


def upgrade() -> None:
    """Add the two columns (backfilled), the due-events index and the conflicts table."""
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    _backfill_body_hashes()
    # Events left undelivered before the upgrade are due at once: the relay's redelivery
    # loop picks them up as soon as it starts.
    op.execute("UPDATE webhook_events SET next_attempt_at = received_at WHERE state = 'received'")
    with op.batch_alter_table("webhook_events") as batch:
        batch.alter_column("body_sha256", existing_type=sa.String(length=64), nullable=False)
    op.create_index(
        "ix_webhook_events_state_next_attempt_at", "webhook_events", ["state", "next_attempt_at"]
    )
    op.create_table(
        "webhook_event_conflicts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_event_conflicts"),
        sa.UniqueConstraint(
            "provider", "event_id", "body_sha256", name="uq_webhook_event_conflicts_provider_body"
        ),
    )


def downgrade() -> None:
    """Drop the conflicts table, the index and the two columns."""
    op.drop_table("webhook_event_conflicts")
    op.drop_index("ix_webhook_events_state_next_attempt_at", table_name="webhook_events")
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("body_sha256")
