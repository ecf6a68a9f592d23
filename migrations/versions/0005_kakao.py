"""kakao channel schema: nothing to add.

The Kakao conversation state and repeat markers live in Redis (expiring), AlimTalk templates are
configuration (`channels/kakao/alimtalk_templates.json`), and Kakao user keys are contact points
of kind `kakao` in the existing table. The revision stays so the chain 0004 -> 0005 holds.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
