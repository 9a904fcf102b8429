"""``evk imaging import``: folders, DICOMDIRs and files; a summary; exit 1 when anything failed."""
from __future__ import annotations

import getpass
import shutil
import socket

from click.testing import CliRunner
from sqlalchemy import func, select

from imaging.cli import imaging
from imaging.schema import imaging_instance, imaging_study
from tests.imaging.dicom_files import DICOMDIR, MR


def _run(db_url: str, tmp_path, *args: str):  # noqa: ANN001, ANN202
    env = {"EVK_DATABASE_URL": db_url, "EVK_DATA_DIR": str(tmp_path / "data"), "EVK_IMAGING_BACKEND": "local"}
    return CliRunner().invoke(imaging, ["import", *args], env=env, catch_exceptions=False)


def _instances(service) -> int:  # noqa: ANN001
    with service.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(imaging_instance)).scalar()


def test_import_dicomdir_then_folder_with_junk(db_url, service, tmp_path):
    result = _run(db_url, tmp_path, str(DICOMDIR))
    assert result.exit_code == 0, result.output
    assert "31 files: 31 stored, 0 already indexed, 0 failed; 6 studies: 0 linked, 6 to reconciliation" in result.output
    assert _instances(service) == 31
    with service.engine.connect() as conn:                                 # attributed to the operator
        submitters = set(conn.execute(select(imaging_study.c.submitter, imaging_study.c.submitted_by)))
    assert submitters == {(f"evk imaging import by operator {getpass.getuser()}@{socket.gethostname()}", None)}
    assert len(list((tmp_path / "data" / "dicom").rglob("*.*"))) == 0      # content-addressed, no temp files left

    folder = tmp_path / "incoming"
    shutil.copytree(DICOMDIR.parent / "77654033", folder / "a")           # a folder without DICOMDIR: walked
    shutil.copy(MR, folder / "mr.dcm")
    (folder / "notes.txt").write_text("not an image")
    result = _run(db_url, tmp_path, str(folder))
    assert result.exit_code == 1
    assert "9 files: 1 stored, 7 already indexed, 1 failed" in result.output
    assert "notes.txt: not a readable DICOM file" in result.output
    assert _instances(service) == 32
