"""submission log: every hospital submission and sandbox run, its categories and issues; the
conformance tier of each backend client (existing clients become strict, the default)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'submission',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('organization_id', sa.String(length=64), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('received', sa.BigInteger(), nullable=False),
        sa.Column('sandbox', sa.Boolean(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('tier', sa.String(length=16), nullable=False),
        sa.Column('resources', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_submission_org_received', 'submission', ['organization_id', 'received'])
    op.create_index('ix_submission_client_received', 'submission', ['client_id', 'received'])
    op.create_table(
        'submission_category',
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('resources', sa.Integer(), nullable=False),
        sa.Column('errors', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('submission_id', 'category'),
    )
    op.create_table(
        'submission_issue',
        sa.Column('submission_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('rule', sa.String(length=64), nullable=True),
        sa.Column('expression', sa.Text(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('message_lv', sa.Text(), nullable=True),
        sa.Column('category', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('submission_id', 'seq'),
    )
    with op.batch_alter_table('auth_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conformance', sa.String(length=16), nullable=False, server_default='strict'))


def downgrade() -> None:
    with op.batch_alter_table('auth_client', schema=None) as batch_op:
        batch_op.drop_column('conformance')
    op.drop_table('submission_issue')
    op.drop_table('submission_category')
    op.drop_index('ix_submission_client_received', table_name='submission')
    op.drop_index('ix_submission_org_received', table_name='submission')
    op.drop_table('submission')
