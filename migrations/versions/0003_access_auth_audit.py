"""identity, access control and audit: signing keys, clients, origins, bans, hidden items, break-glass

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_signing_key',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=16), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('public_jwk', sa.Text(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('retire_after', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('kid')
    )
    op.create_table('auth_client',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('organization_code', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('jwks', sa.Text(), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('client_id')
    )
    op.create_table('auth_assertion_jti',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('expires', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'jti')
    )
    op.create_table('access_resource_origin',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('resource_type', 'resource_id')
    )
    with op.batch_alter_table('access_resource_origin', schema=None) as batch_op:
        batch_op.create_index('ix_access_origin_org', ['organization_id', 'resource_type'], unique=False)
    op.create_table('access_ban',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=True),
    sa.Column('organization_id', sa.String(length=64), nullable=True),
    sa.Column('resource_type', sa.String(length=64), nullable=True),
    sa.Column('resource_id', sa.String(length=64), nullable=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_ban', schema=None) as batch_op:
        batch_op.create_index('ix_access_ban_patient', ['patient_id'], unique=False)
    op.create_table('access_hidden',
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('patient_id', 'resource_type', 'resource_id')
    )
    with op.batch_alter_table('access_hidden', schema=None) as batch_op:
        batch_op.create_index('ix_access_hidden_item', ['resource_type', 'resource_id'], unique=False)
    op.create_table('access_break_glass',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('practitioner_id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('issued', sa.BigInteger(), nullable=False),
    sa.Column('expires', sa.BigInteger(), nullable=False),
    sa.Column('reviewed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_break_glass', schema=None) as batch_op:
        batch_op.create_index('ix_access_break_glass_patient', ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_break_glass', schema=None) as batch_op:
        batch_op.drop_index('ix_access_break_glass_patient')
    op.drop_table('access_break_glass')
    with op.batch_alter_table('access_hidden', schema=None) as batch_op:
        batch_op.drop_index('ix_access_hidden_item')
    op.drop_table('access_hidden')
    with op.batch_alter_table('access_ban', schema=None) as batch_op:
        batch_op.drop_index('ix_access_ban_patient')
    op.drop_table('access_ban')
    with op.batch_alter_table('access_resource_origin', schema=None) as batch_op:
        batch_op.drop_index('ix_access_origin_org')
    op.drop_table('access_resource_origin')
    op.drop_table('auth_assertion_jti')
    op.drop_table('auth_client')
    op.drop_table('auth_signing_key')
