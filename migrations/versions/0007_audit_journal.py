"""audit journal: accesses appended as compact rows, AuditEvents projected from them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 03:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_journal',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=True),
        sa.Column('recorded', sa.BigInteger(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_journal_patient', 'audit_journal', ['patient_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_journal_patient', table_name='audit_journal')
    op.drop_table('audit_journal')
