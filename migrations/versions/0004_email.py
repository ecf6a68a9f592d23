"""email channel schema: Mailgun tokens seen, IMAP mailbox state.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_mailgun_tokens",
        sa.Column("token", sa.String(128), primary_key=True),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_email_mailgun_tokens_seen_at", "email_mailgun_tokens", ["seen_at"])
    op.create_table(
        "email_imap_mailboxes",
        sa.Column("mailbox", sa.String(255), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("email_imap_mailboxes")
    op.drop_index("ix_email_mailgun_tokens_seen_at", table_name="email_mailgun_tokens")
    op.drop_table("email_mailgun_tokens")
