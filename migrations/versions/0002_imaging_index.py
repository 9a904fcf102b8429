"""imaging index: studies, series, instances (imaging/schema.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imaging_study',
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('patient_name', sa.String(length=324), nullable=False),
    sa.Column('patient_name_norm', sa.String(length=324), nullable=False),
    sa.Column('birth_date', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('study_date', sa.String(length=8), nullable=False),
    sa.Column('study_time', sa.String(length=16), nullable=False),
    sa.Column('accession', sa.String(length=16), nullable=False),
    sa.Column('study_id', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=64), nullable=False),
    sa.Column('referring_physician', sa.String(length=324), nullable=False),
    sa.Column('num_series', sa.Integer(), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('link_state', sa.String(length=16), nullable=False),
    sa.Column('link_note', sa.Text(), nullable=False),
    sa.Column('fhir_patient', sa.String(length=64), nullable=True),
    sa.Column('fhir_study', sa.String(length=64), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('synced_revision', sa.Integer(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('updated', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('study_uid')
    )
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.create_index('ix_imaging_study_patient', ['patient_id', 'issuer'], unique=False)
        batch_op.create_index('ix_imaging_study_name', ['patient_name_norm'], unique=False)
        batch_op.create_index('ix_imaging_study_date', ['study_date'], unique=False)
        batch_op.create_index('ix_imaging_study_accession', ['accession'], unique=False)
        batch_op.create_index('ix_imaging_study_link', ['link_state'], unique=False)
        batch_op.create_index('ix_imaging_study_fhir_patient', ['fhir_patient'], unique=False)

    op.create_table('imaging_series',
    sa.Column('series_uid', sa.String(length=64), nullable=False),
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=64), nullable=False),
    sa.Column('body_part', sa.String(length=16), nullable=False),
    sa.Column('series_date', sa.String(length=8), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['study_uid'], ['imaging_study.study_uid'], ),
    sa.PrimaryKeyConstraint('series_uid')
    )
    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.create_index('ix_imaging_series_study', ['study_uid'], unique=False)
        batch_op.create_index('ix_imaging_series_modality', ['modality'], unique=False)

    op.create_table('imaging_instance',
    sa.Column('sop_uid', sa.String(length=64), nullable=False),
    sa.Column('series_uid', sa.String(length=64), nullable=False),
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('sop_class', sa.String(length=64), nullable=False),
    sa.Column('instance_number', sa.Integer(), nullable=True),
    sa.Column('transfer_syntax', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('columns', sa.Integer(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=128), nullable=False),
    sa.Column('dicom_json', sa.LargeBinary(), nullable=False),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['series_uid'], ['imaging_series.series_uid'], ),
    sa.PrimaryKeyConstraint('sop_uid')
    )
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.create_index('ix_imaging_instance_series', ['series_uid'], unique=False)
        batch_op.create_index('ix_imaging_instance_study', ['study_uid'], unique=False)
        batch_op.create_index('ix_imaging_instance_key', ['storage_key'], unique=False)


def downgrade() -> None:
    op.drop_table('imaging_instance')
    op.drop_table('imaging_series')
    op.drop_table('imaging_study')
