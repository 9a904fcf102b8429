"""Whose data is it: patients by personal code, patients of a resource, ages in Europe/Riga.

A resource belongs to patient P when P is its own id (a Patient) or when one of the reference
parameters that put its type in the Patient compartment (compartmentdefinition-patient.html,
``definitions.patient_compartment()``) points at ``Patient/P``. The compartment parameters of
``Patient`` itself (``link``) are left out: a linked Patient is another person.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import ColumnElement, Connection, Select, and_, exists, false, or_, select, text, tuple_, union_all

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM, code_forms, compact
from ehr_core import definitions
from ehr_core.storage import schema
from ehr_core.storage.constants import constant_in, quoted

RIGA = ZoneInfo("Europe/Riga")
PatientSet = "list[str] | Select"   # explicit ids, or a SELECT of one column of Patient ids

__all__ = ["by_personal_code", "patients_of", "patients_in_rows", "in_compartment", "birth_dates",
           "age", "today_riga", "compartment_params", "read_current"]


@lru_cache(maxsize=1)
def compartment_params() -> dict[str, tuple[str, ...]]:
    """Type -> parameters that make it a member of a patient's compartment (Patient excluded)."""
    return {t: tuple(p) for t, p in definitions.patient_compartment().items() if p and t != "Patient"}


@lru_cache(maxsize=1)
def _groups() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """(types, params) groups: types sharing the same membership parameters, for index-friendly SQL."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for t, params in sorted(compartment_params().items()):
        groups.setdefault(params, []).append(t)
    return tuple((tuple(ts), ps) for ps, ts in groups.items())


def today_riga(now: datetime | None = None) -> date:
    return (now or datetime.now(RIGA)).astimezone(RIGA).date()


def age(born: date, on: date) -> int:
    """Completed years on ``on``; someone born on 29 February comes of age on 1 March."""
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years


def read_current(conn: Connection, rt: str, ids: Iterable[str]) -> dict[str, dict]:
    ids = list(ids)
    if not ids:
        return {}
    t = schema.resource
    rows = conn.execute(select(t.c.id, t.c.content).where(t.c.resource_type == rt, t.c.id.in_(ids),
                                                          t.c.deleted == false())).all()
    return {r.id: orjson.loads(r.content) for r in rows}


def birth_dates(conn: Connection, patient_ids: Iterable[str]) -> dict[str, date | None]:
    """Birth dates from the register's Patient resources; never parsed from the personal code."""
    out: dict[str, date | None] = {}
    for pid, res in read_current(conn, "Patient", patient_ids).items():
        raw = res.get("birthDate")
        try:
            out[pid] = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            out[pid] = None
    return out


def by_personal_code(conn: Connection, personal_code: str, *, on: date | None = None) -> list[str]:
    """Patients whose current personal code is ``personal_code`` (identifier period honoured:
    codes change, and an old code must not sign anyone into the record it used to name)."""
    code = compact(personal_code)
    t = schema.sp_token
    ids = [r[0] for r in conn.execute(select(t.c.resource_id).where(
        t.c.resource_type == "Patient", t.c.param == "identifier", t.c.system == PERSONAL_CODE_SYSTEM,
        t.c.code.in_(code_forms(personal_code)))).all()]
    day = (on or today_riga()).isoformat()
    found = []
    for pid, res in read_current(conn, "Patient", set(ids)).items():
        for ident in res.get("identifier") or []:
            if ident.get("system") != PERSONAL_CODE_SYSTEM or compact(str(ident.get("value", ""))) != code:
                continue
            period = ident.get("period") or {}
            if period.get("start", "")[:10] <= day and (not period.get("end") or period["end"][:10] >= day):
                found.append(pid)
                break
    return sorted(found)


def patients_of(conn: Connection, rt: str, id: str) -> tuple[str, ...]:
    """Patients whose compartment holds the current version of ``rt/id`` (from the index)."""
    if rt == "Patient":
        return (id,)
    stmt = _patients_of_statement(rt)
    if stmt is None:
        return ()
    return tuple(sorted(r[0] for r in conn.execute(stmt, {"rt": rt, "id": id})))


@lru_cache(maxsize=None)
def _patients_of_statement(rt: str):  # noqa: ANN202
    # Every guarded read runs this. Built once per type as plain SQL: the parameter names come
    # from the compartment definition, and an expanding IN re-rendered per call cost ~10x the
    # 0.1 ms the query itself takes.
    params = compartment_params().get(rt)
    if not params:
        return None
    names = quoted(params)
    return text(f"SELECT DISTINCT target_id FROM {schema.sp_reference.name} WHERE resource_type = :rt AND resource_id = :id "
                f"AND param IN ({names}) AND target_type = 'Patient'")


def patients_of_many(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """``patients_of`` for many resources in one query (the audit of a search)."""
    keys = list(dict.fromkeys(keys))
    out: dict[tuple[str, str], set[str]] = {k: set() for k in keys}
    for k in keys:
        if k[0] == "Patient":
            out[k].add(k[1])
    by_type: dict[str, list[str]] = {}
    for rt, id in keys:
        if rt in compartment_params():
            by_type.setdefault(rt, []).append(id)
    for rt, ids in by_type.items():
        for i in range(0, len(ids), _MAX_IDS):
            # One type at a time: (resource_type, resource_id IN ...) uses the index on both
            # engines, where row-value IN lists would scan. The list is padded to a power of two
            # (repeating its last id): a handful of statement texts per type, which PostgreSQL
            # keeps prepared per connection, instead of one new text, parsed and planned, per
            # page size ($everything's pages hold every count of every type).
            chunk = ids[i:i + _MAX_IDS]
            size = 1 << (len(chunk) - 1).bit_length()
            values = {f"i{n}": chunk[min(n, len(chunk) - 1)] for n in range(size)}
            for r in conn.execute(_patients_of_many_statement(rt, size), {"rt": rt, **values}):
                out[(rt, r.resource_id)].add(r.target_id)
    return {k: tuple(sorted(v)) for k, v in out.items()}


_MAX_IDS = 512


@lru_cache(maxsize=512)
def _patients_of_many_statement(rt: str, n: int):  # noqa: ANN202
    # Every audited search runs this (the patients of a page's entries). Plain SQL built once per
    # (type, page size): select().where(in_(...)) built per call cost ~0.2 ms, 8x the query.
    names = quoted(compartment_params()[rt])
    marks = ", ".join(f":i{k}" for k in range(n))
    return text(f"SELECT resource_id, target_id FROM {schema.sp_reference.name} WHERE resource_type = :rt "
                f"AND resource_id IN ({marks}) AND param IN ({names}) AND target_type = 'Patient'")


def patients_in_resource(indexer, resource: dict) -> tuple[str, ...]:  # noqa: ANN001
    """Patients a resource about to be written belongs to (only its compartment parameters
    are evaluated: cheap enough to run on every write of a transaction)."""
    rt = resource.get("resourceType", "")
    if rt == "Patient":
        return (resource["id"],) if resource.get("id") else ()
    params = compartment_params().get(rt)
    if not params:
        return ()
    return patients_in_rows(rt, indexer.extract(resource, only=frozenset(params)))


def patients_in_rows(rt: str, rows: dict[str, list[dict]]) -> tuple[str, ...]:
    """Patients a resource about to be written belongs to, from its extracted index rows."""
    params = compartment_params().get(rt, ())
    return tuple(sorted({row["target_id"] for row in rows.get("reference", [])
                         if row["param"] in params and row.get("target_type") == "Patient" and row.get("target_id")}))


def _ids_test(col, patients) -> ColumnElement[bool]:  # noqa: ANN001
    if isinstance(patients, (list, tuple, set, frozenset)):
        return col.in_(sorted(patients)) if patients else false()
    return col.in_(patients)


@lru_cache(maxsize=4096)
def _members_subquery(patients: tuple[str, ...], types: frozenset[str] | None):  # noqa: ANN202
    # Expression trees are immutable: one per patient set, reused by every request (building
    # the two dozen branches costs more than running them).
    return compartment_members(patients, types).subquery()


def compartment_members(patients, types: frozenset[str] | None = None) -> Select:  # noqa: ANN001
    """(type, id) of every resource in the compartments of ``patients`` (ids or a SELECT);
    with ``types``, only resources of those types (fewer branches to plan and run)."""
    branches = []
    for group, params in _groups():
        if types is not None:
            group = tuple(t for t in group if t in types)
            if not group:
                continue
        ref = schema.sp_reference.alias()
        branches.append(select(ref.c.resource_type, ref.c.resource_id).where(
            constant_in(ref.c.resource_type, group), constant_in(ref.c.param, params),
            ref.c.target_type == "Patient", _ids_test(ref.c.target_id, patients)))
    if not branches:
        ref = schema.sp_reference.alias()
        return select(ref.c.resource_type, ref.c.resource_id).where(false())
    return union_all(*branches) if len(branches) > 1 else branches[0]


def in_compartment(r, patients, types: frozenset[str] | None = None) -> ColumnElement[bool]:  # noqa: ANN001
    """True for rows of resource alias ``r`` that belong to one of ``patients``.

    A few explicit ids (a person's own record, wards, grantors): their compartments are looked
    up once, uncorrelated, from the reference index. A SELECT of ids (a clinician's treating
    relationships, possibly thousands of patients): tested per candidate row, so the other
    search criteria drive the query and the patient set is never expanded in full.
    """
    if isinstance(patients, (list, tuple, set, frozenset)):
        if not patients:
            return false()
        members = _members_subquery(tuple(sorted(patients)), types)
        return or_(and_(r.c.resource_type == "Patient", _ids_test(r.c.id, patients)),
                   tuple_(r.c.resource_type, r.c.id).in_(select(members.c[0], members.c[1])))
    ref = schema.sp_reference.alias()
    membership = _membership(ref)
    return or_(and_(r.c.resource_type == "Patient", r.c.id.in_(patients)),
               exists().where(ref.c.resource_type == r.c.resource_type, ref.c.resource_id == r.c.id,
                              ref.c.target_type == "Patient", membership, ref.c.target_id.in_(patients)))


def _membership(ref) -> ColumnElement[bool]:  # noqa: ANN001
    """Index row ``ref`` is a compartment-membership reference of its resource's type."""
    return or_(*(and_(constant_in(ref.c.resource_type, types), constant_in(ref.c.param, params))
                 for types, params in _groups()))
