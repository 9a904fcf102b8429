"""Attribute matching of PS3.4 C.2.2.2 as SQL over the index tables.

Which attributes the index holds, at which level, and how a QIDO value is matched:
single value, wildcard ``*``/``?`` (C.2.2.2.4), UID list (C.2.2.2.2, ``\\`` or ``,`` separated),
date range ``A-B``/``-B``/``A-`` (C.2.2.2.5). PatientName is matched case- and accent-insensitively
on its normalised column (our choice, which the standard allows for PN); other strings match
case-sensitively, on both engines (GLOB on SQLite, whose LIKE ignores ASCII case).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, select

from imaging.errors import BadRequest
from imaging.parse import normalize_pn
from imaging.schema import imaging_instance, imaging_series, imaging_study

LEVELS = ("study", "series", "instance")
TABLES = {"study": imaging_study, "series": imaging_series, "instance": imaging_instance}


@dataclass(frozen=True)
class Attribute:
    level: str
    column: str          # column of the level's table ("" for computed attributes)
    kind: str            # uid | string | pn | date | int | modalities | text (return only)


ATTRIBUTES: dict[str, Attribute] = {
    "StudyInstanceUID": Attribute("study", "study_uid", "uid"),
    "PatientID": Attribute("study", "patient_id", "string"),
    "IssuerOfPatientID": Attribute("study", "issuer", "string"),
    "PatientName": Attribute("study", "patient_name", "pn"),
    "PatientBirthDate": Attribute("study", "birth_date", "date"),
    "PatientSex": Attribute("study", "sex", "string"),
    "StudyDate": Attribute("study", "study_date", "date"),
    "StudyTime": Attribute("study", "study_time", "text"),
    "AccessionNumber": Attribute("study", "accession", "string"),
    "StudyID": Attribute("study", "study_id", "string"),
    "StudyDescription": Attribute("study", "description", "string"),
    "ReferringPhysicianName": Attribute("study", "referring_physician", "string"),
    "NumberOfStudyRelatedSeries": Attribute("study", "num_series", "int"),
    "NumberOfStudyRelatedInstances": Attribute("study", "num_instances", "int"),
    "ModalitiesInStudy": Attribute("study", "", "modalities"),
    "SeriesInstanceUID": Attribute("series", "series_uid", "uid"),
    "Modality": Attribute("series", "modality", "uid"),          # code list: exact, comma-separated
    "SeriesNumber": Attribute("series", "series_number", "int"),
    "SeriesDescription": Attribute("series", "description", "string"),
    "BodyPartExamined": Attribute("series", "body_part", "string"),
    "SeriesDate": Attribute("series", "series_date", "date"),
    "NumberOfSeriesRelatedInstances": Attribute("series", "num_instances", "int"),
    "SOPInstanceUID": Attribute("instance", "sop_uid", "uid"),
    "SOPClassUID": Attribute("instance", "sop_class", "uid"),
    "InstanceNumber": Attribute("instance", "instance_number", "int"),
    "Rows": Attribute("instance", "rows", "int"),
    "Columns": Attribute("instance", "columns", "int"),
    "NumberOfFrames": Attribute("instance", "frames", "int"),
}
_DATE = re.compile(r"^[0-9]{8}$")


def condition(keyword: str, value: str, sqlite: bool) -> ColumnElement[bool]:
    """The test for ``keyword=value`` on its own level's table."""
    attr = ATTRIBUTES[keyword]
    if attr.kind == "modalities":
        s = imaging_series
        return exists(select(s.c.series_uid).where(s.c.study_uid == imaging_study.c.study_uid,
                                                   s.c.modality.in_(_values(value))))
    table = TABLES[attr.level]
    col = table.c[attr.column]
    if attr.kind == "uid":
        return col.in_(_values(value))
    if attr.kind == "int":
        try:
            return col == int(value)
        except ValueError:
            raise BadRequest(f"{keyword} takes a whole number, not {value!r}") from None
    if attr.kind == "date":
        return _date(col, keyword, value)
    if attr.kind == "pn":
        col = table.c.patient_name_norm
        value = normalize_pn(value)
    if attr.kind == "text":
        raise BadRequest(f"{keyword} is returned but cannot be used for matching")
    if "*" in value or "?" in value:
        return wildcard(col, value, sqlite)
    return col == value


def wildcard(col, value: str, sqlite: bool) -> ColumnElement[bool]:  # noqa: ANN001
    """``*`` any run, ``?`` one character; everything else literal and case-sensitive."""
    if sqlite:
        return col.op("GLOB")(value.replace("[", "[[]"))
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col.like(escaped.replace("*", "%").replace("?", "_"), escape="\\")


def related(level: str, other: str, clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """Clauses on a lower level's table as an EXISTS for rows of ``level`` (e.g. studies having a
    series of modality CT when /studies is queried with Modality=CT)."""
    t = TABLES[other]
    link = t.c.study_uid == imaging_study.c.study_uid if level == "study" else t.c.series_uid == imaging_series.c.series_uid
    return exists(select(t.c[_key(other)]).where(link, and_(*clauses)))


def _key(level: str) -> str:
    return {"study": "study_uid", "series": "series_uid", "instance": "sop_uid"}[level]


def _values(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]


def _date(col, keyword: str, value: str) -> ColumnElement[bool]:  # noqa: ANN001
    value = value.replace(" ", "")
    if "-" not in value:
        _check_date(keyword, value)
        return col == value
    low, high = value.split("-", 1)
    tests = [col != ""]
    if low:
        _check_date(keyword, low)
        tests.append(col >= low)
    if high:
        _check_date(keyword, high)
        tests.append(col <= high)
    if not low and not high:
        raise BadRequest(f"{keyword}={value!r} is not a date range")
    return and_(*tests)


def _check_date(keyword: str, value: str) -> None:
    if not _DATE.match(value):
        raise BadRequest(f"{keyword} takes dates as YYYYMMDD or a range YYYYMMDD-YYYYMMDD, not {value!r}")

