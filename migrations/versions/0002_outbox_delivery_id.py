"""outbox.delivery_id: a deliver row names its delivery in a column, so it can be written
in the same flush as the delivery and found by an index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 06:44:13.227929
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_delivery_id_deliveries'), 'deliveries', ['delivery_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_delivery_id_deliveries'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_delivery_id'))
        batch_op.drop_column('delivery_id')
