"""Which files an import reads: files, folders, and DICOMDIRs (PS3.10 7.2, the media directory).

A DICOMDIR names the files of its file-set, so a folder that has one at its root is read
through it (and the DICOMDIR itself is not an instance); other folders are walked whole.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def is_dicomdir(path: Path) -> bool:
    if path.name.upper() != "DICOMDIR":
        return False
    try:
        meta = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"]).file_meta
    except (InvalidDicomError, OSError, ValueError):
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY


def dicomdir_files(path: Path) -> list[Path]:
    return [Path(instance.path) for instance in FileSet(pydicom.dcmread(path))]


def collect(paths: Iterable[Path]) -> list[Path]:
    """Files to import, each once, in a stable order."""
    seen: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if path.is_dir():
            root_dir = path / "DICOMDIR"
            found = dicomdir_files(root_dir) if is_dicomdir(root_dir) else _walk(path)
        elif is_dicomdir(path):
            found = dicomdir_files(path)
        else:
            found = [path]
        for f in found:
            seen.setdefault(f.resolve(), None)
    return list(seen)


def _walk(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out
