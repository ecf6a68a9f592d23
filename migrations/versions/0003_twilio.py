"""twilio channel schema: status callbacks kept until their MessageSid is recorded.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_provider_statuses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=10), nullable=True),
        sa.Column("received_at", intake.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_provider_statuses")),
        sa.UniqueConstraint("provider_id", "status",
                            name="uq_pending_provider_statuses_sid_status"),
    )
    with op.batch_alter_table("pending_provider_statuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_provider_statuses_provider_id"),
                              ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_provider_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_provider_statuses_provider_id"))
    op.drop_table("pending_provider_statuses")
