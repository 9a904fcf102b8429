"""QIDO-RS: search studies, series and instances, answered from our index (PS3.18 10.6).

Query parameters (PS3.18 8.3.4): ``{attribute}={value}`` matching (imaging/dicomweb/matching.py),
``includefield`` (keywords, tags or ``all``), ``limit``, ``offset``, ``fuzzymatching``.
Results are DICOM JSON (application/dicom+json) with the default attributes of PS3.18
Table 10.6.3-3 (study), -4 (series), -5 (instance); series and instance results outside one
study also carry the study's attributes (10.6.3.3.1). Attributes the index has no column for
are taken from a representative instance's stored header. Nothing is asked of the backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, select

from imaging.dicomweb import dicomjson
from imaging.dicomweb.matching import ATTRIBUTES, LEVELS, condition, related
from imaging.dicomweb.urls import Urls
from imaging.errors import BadRequest
from imaging.metadata import HeaderCache
from imaging.schema import imaging_instance, imaging_series, imaging_study

MAX_RESULTS = 1000
DEFAULTS = {
    "study": ("StudyDate", "StudyTime", "AccessionNumber", "InstanceAvailability", "ModalitiesInStudy",
              "ReferringPhysicianName", "RetrieveURL", "PatientName", "PatientID", "IssuerOfPatientID",
              "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "series": ("Modality", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID", "BodyPartExamined",
               "SeriesDate", "NumberOfSeriesRelatedInstances", "RetrieveURL", "StudyInstanceUID"),
    "instance": ("SOPClassUID", "SOPInstanceUID", "InstanceAvailability", "RetrieveURL", "InstanceNumber",
                 "Rows", "Columns", "NumberOfFrames", "BitsAllocated", "SeriesInstanceUID", "StudyInstanceUID"),
}
COMPUTED = {"RetrieveURL", "InstanceAvailability", "SpecificCharacterSet"}


@dataclass
class Query:
    level: str
    filters: list[tuple[str, str]] = field(default_factory=list)     # (keyword, value)
    include: set[str] = field(default_factory=set)                   # keywords
    include_all: bool = False
    limit: int = MAX_RESULTS
    offset: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class Result:
    matches: list[dict]
    warnings: list[str]
    studies: list[str] = field(default_factory=list)       # the ImagingStudy ids of the matches


def parse_query(level: str, params: list[tuple[str, str]]) -> Query:
    q = Query(level)
    for name, value in params:
        if name == "limit":
            q.limit = _count(name, value)
            if q.limit > MAX_RESULTS:
                q.warnings.append(f"limit {q.limit} is above the maximum {MAX_RESULTS}; {MAX_RESULTS} are returned")
                q.limit = MAX_RESULTS
        elif name == "offset":
            q.offset = _count(name, value)
        elif name == "includefield":
            for item in value.split(","):
                if item.strip().lower() == "all":
                    q.include_all = True
                elif item.strip():
                    q.include.add(dicomjson.resolve(item)[0])
        elif name == "fuzzymatching":
            if value.lower() == "true":
                q.warnings.append("fuzzymatching is not supported; PatientName is matched case-insensitively")
        elif name in ("_", "callback"):
            continue
        else:
            keyword = dicomjson.resolve(name)[0]
            if value == "":
                q.include.add(keyword)          # universal matching: just return it
            elif keyword in ATTRIBUTES:
                q.filters.append((keyword, value))
            else:
                q.warnings.append(f"{keyword} is not supported for matching and was ignored")
    return q


def search(conn: Connection, q: Query, urls: Urls, headers: HeaderCache, *, study_uid: str | None = None,
           series_uid: str | None = None, where: ColumnElement[bool] | None = None) -> Result:
    """``where``: the access narrowing, a clause on ``imaging_study`` (imaging/access.py);
    ``headers`` gives attributes the index has no column for."""
    sqlite = conn.dialect.name == "sqlite"
    filters = list(q.filters)
    if study_uid:
        filters.append(("StudyInstanceUID", study_uid))
    if series_uid:
        filters.append(("SeriesInstanceUID", series_uid))
    stmt = _select(q.level, filters, sqlite)
    if where is not None:
        stmt = stmt.where(where)
    stmt = stmt.limit(q.limit + 1).offset(q.offset)
    rows = list(conn.execute(stmt))
    warnings = list(q.warnings)
    if len(rows) > q.limit:
        rows = rows[:q.limit]
        warnings.append("There are more results than returned; ask again with a larger offset")
    scoped = study_uid is not None
    modalities = _modalities(conn, {r.study_uid for r in rows}) if _wants(q, "ModalitiesInStudy", "study") else {}
    plan = _plan(q, scoped)
    matches = [_dataset(conn, q, r, urls, modalities, plan, headers) for r in rows]
    studies = [r.fhir_study if q.level == "study" else r.st_fhir_study for r in rows]
    return Result(matches, warnings, [sid for sid in studies if sid])


def _select(level: str, filters: list[tuple[str, str]], sqlite: bool):  # noqa: ANN202
    s, se, i = imaging_study, imaging_series, imaging_instance
    if level == "study":
        stmt = select(s).order_by(s.c.study_date.desc(), s.c.study_time.desc(), s.c.study_uid)
    elif level == "series":
        stmt = (select(se, *_prefixed(s, "st_")).join(s, s.c.study_uid == se.c.study_uid)
                .order_by(s.c.study_uid, se.c.series_number, se.c.series_uid))
    else:
        stmt = (select(i, *_prefixed(se, "se_"), *_prefixed(s, "st_"))
                .join(se, se.c.series_uid == i.c.series_uid).join(s, s.c.study_uid == i.c.study_uid)
                .order_by(i.c.series_uid, i.c.instance_number, i.c.sop_uid))
    depth = LEVELS.index(level)
    below: dict[str, list] = {}
    for keyword, value in filters:
        attr_level = ATTRIBUTES[keyword].level
        clause = condition(keyword, value, sqlite)
        if LEVELS.index(attr_level) <= depth:
            stmt = stmt.where(clause)
        else:
            below.setdefault(attr_level, []).append(clause)
    for other, clauses in below.items():
        stmt = stmt.where(related(level, other, clauses))
    return stmt


def _prefixed(table, prefix: str) -> list:  # noqa: ANN001
    return [c.label(prefix + c.name) for c in table.c]


def _wants(q: Query, keyword: str, level: str) -> bool:
    return keyword in q.include or keyword in DEFAULTS[level] or q.include_all


def _modalities(conn: Connection, study_uids: set[str]) -> dict[str, list[str]]:
    if not study_uids:
        return {}
    se = imaging_series
    out: dict[str, set[str]] = {}
    for r in conn.execute(select(se.c.study_uid, se.c.modality).where(se.c.study_uid.in_(study_uids)).distinct()):
        if r.modality:
            out.setdefault(r.study_uid, set()).add(r.modality)
    return {k: sorted(v) for k, v in out.items()}


def _plan(q: Query, scoped: bool) -> list[tuple[str, str]]:
    """(keyword, tag) of the attributes each result carries, in tag order: worked out once per query,
    not per result (a worklist page builds a hundred)."""
    wanted = list(DEFAULTS[q.level])
    if q.level != "study" and not scoped:
        wanted += [k for k in DEFAULTS["study"] if k not in wanted]
    wanted += sorted(q.include - set(wanted))
    return sorted(((k, dicomjson.tag_of(k)) for k in wanted), key=lambda kt: kt[1])


def _dataset(conn: Connection, q: Query, row, urls: Urls, modalities: dict,  # noqa: ANN001
             plan: list[tuple[str, str]], headers: HeaderCache) -> dict:
    level = q.level
    levels = LEVELS[: LEVELS.index(level) + 1]
    out: dict[str, dict] = {}
    missing: list[tuple[str, str]] = []
    for keyword, tag in plan:
        value = _indexed_value(keyword, level, levels, row, urls, modalities)
        if value is _ABSENT:
            missing.append((keyword, tag))
        else:
            out[tag] = dicomjson.element(keyword, value)
    if missing or (q.include_all and level == "instance"):
        header = _header(conn, level, row, headers)
        for keyword, tag in missing:
            out[tag] = header.get(tag) or {"vr": dicomjson.vr_of(keyword)}
        if q.include_all and level == "instance":
            for tag, elem in header.items():
                out.setdefault(tag, elem)
        out = dict(sorted(out.items()))
    return out


_ABSENT = object()


def _indexed_value(keyword: str, level: str, levels: list[str], row, urls: Urls, modalities: dict):  # noqa: ANN001, ANN202
    if keyword == "InstanceAvailability":
        return "ONLINE"
    if keyword == "RetrieveURL":
        if level == "study":
            return urls.study(row.study_uid)
        if level == "series":
            return urls.series(row.study_uid, row.series_uid)
        return urls.instance(row.study_uid, row.series_uid, row.sop_uid)
    if keyword == "ModalitiesInStudy":
        return modalities.get(row.study_uid, [])
    attr = ATTRIBUTES.get(keyword)
    if attr is None or attr.level not in levels:
        return _ABSENT
    prefix = "" if attr.level == level else {"study": "st_", "series": "se_"}[attr.level]
    return getattr(row, prefix + attr.column)


def _header(conn: Connection, level: str, row, headers: HeaderCache) -> dict:  # noqa: ANN001
    """The header of the instance itself, or of the first instance of the series/study."""
    i = imaging_instance
    if level != "instance":
        key = i.c.series_uid == row.series_uid if level == "series" else i.c.study_uid == row.study_uid
        row = conn.execute(select(i.c.content_hash, i.c.storage_key).where(key)
                           .order_by(i.c.instance_number, i.c.sop_uid).limit(1)).first()
    return headers.parsed(row) if row is not None else {}


def _count(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {value!r}") from None
    if n < 0:
        raise BadRequest(f"{name} must not be negative")
    return n

