"""imaging: the index without stored headers; Timezone Offset From UTC and who submitted, on the study

The DICOM JSON header per instance (imaging_instance.dicom_json) was most of the index's size and
most of the ingest time; headers are now built from the stored bytes when first asked for and
cached outside the database (imaging/metadata.py). Linking needed one attribute from them,
Timezone Offset From UTC, which becomes a study column (filled here from the stored headers).
``submitter`` says who first stored into a study (STOW client, C-STORE AE title, import operator).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 03:50:00
"""
from alembic import op
import orjson
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tz_offset', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('submitter', sa.String(length=256), nullable=False, server_default=''))
    conn = op.get_bind()
    offsets: dict[str, str] = {}
    for study_uid, header in conn.execute(sa.text("SELECT study_uid, dicom_json FROM imaging_instance")):
        if study_uid not in offsets:
            value = orjson.loads(header or b"{}").get("00080201", {}).get("Value", [""])[0]
            offsets[study_uid] = str(value)[:16]
    for study_uid, value in offsets.items():
        if value:
            conn.execute(sa.text("UPDATE imaging_study SET tz_offset = :v WHERE study_uid = :s"),
                         {"v": value, "s": study_uid})
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.drop_column('dicom_json')


def downgrade() -> None:
    # The headers are not restored: they are derived data, cached outside the database.
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dicom_json', sa.LargeBinary(), nullable=False, server_default=b'{}'))
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_column('submitter')
        batch_op.drop_column('tz_offset')
