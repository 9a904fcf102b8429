"""imaging: the organisation that submitted a study (STOW by a hospital system)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_column('submitted_by')
