"""workspace schema: person merges (undoable).

Sign-in needs nothing new (staff.failed_logins and staff.locked_until exist; failed sign-ins
are audit entries). A merge records what moved so that it can be undone.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "person_merges",
        sa.Column("id", ID, primary_key=True),
        sa.Column("survivor_id", ID, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("merged_id", ID, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("by_id", ID, sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("created_at", intake.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", intake.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", ID, sa.ForeignKey("staff.id"), nullable=True),
    )
    op.create_index("ix_person_merges_survivor_id", "person_merges", ["survivor_id"])
    op.create_index("ix_person_merges_merged_id", "person_merges", ["merged_id"])


def downgrade() -> None:
    op.drop_index("ix_person_merges_merged_id", table_name="person_merges")
    op.drop_index("ix_person_merges_survivor_id", table_name="person_merges")
    op.drop_table("person_merges")
