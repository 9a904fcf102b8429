"""Identifier rules: the personal code (../shared/standards/personal-code.md) and the
nationally registered identifier systems (https://hl7.org/fhir/R4/namingsystem.html).
"""
from __future__ import annotations

from collections.abc import Callable

from ehr_core.errors import Issue

from . import personal_code as pc
from .package import registered_systems
from .rules import issue
from .walk import Visit

# owner(resource type, system, value) -> "Type/id" of the stored resource with that identifier
Owner = Callable[[str, str, str], "str | None"]

# Resources whose business identifiers must come from a registered system.
REGISTERED_FOR = frozenset({"Patient", "Practitioner", "Organization"})


def personal_code(v: Visit, *, strict_new_check_digit: bool = False) -> list[Issue]:
    """Any Identifier carrying the national system: the code must be well formed."""
    value = v.value.get("value")
    where = f"{v.expr}.value"
    if type(value) is not str:
        return [issue("evk-pc-format", where if "value" in v.value else v.expr, code=value,
                      detail="A personal code identifier has no value")]
    try:
        pc.validate(value, strict_new_check_digit=strict_new_check_digit)
    except pc.PersonalCodeError as exc:
        return [issue(f"evk-pc-{exc.rule}", where, code=value, detail=exc.message)]
    return [issue("evk-pc-check-digit-new", where, severity="warning", code=value, detail=w)
            for w in pc.warnings(value)]


def current_codes(patient: dict) -> list[tuple[int, str]]:
    """(index, value) of the identifiers that are the patient's current personal code: the
    national system, not ``use: old`` and no ended ``period`` (history is kept, not counted)."""
    out = []
    ids = patient.get("identifier")
    for i, ident in enumerate(ids if type(ids) is list else []):
        if type(ident) is not dict or ident.get("system") != pc.PERSONAL_CODE_SYSTEM:
            continue
        period = ident.get("period")
        if ident.get("use") == "old" or (type(period) is dict and "end" in period):
            continue
        out.append((i, ident.get("value")))
    return out


def patient_codes(patient: dict, expr: str) -> list[Issue]:
    """At most one current personal code (#15); a legacy code's date is the birth date (#19)."""
    codes = current_codes(patient)
    issues = []
    if len(codes) > 1:
        issues.append(issue("evk-pc-cardinality", f"{expr}.identifier[{codes[1][0]}]", count=len(codes)))
    born = patient.get("birthDate")
    for i, value in codes:
        if type(value) is not str or type(born) is not str or len(born) != 10 or not pc.is_valid(value):
            continue
        encoded = pc.birth_date(value)
        if encoded is not None and encoded.isoformat() != born:
            issues.append(issue("evk-pc-birthdate", f"{expr}.birthDate", code=value,
                                encoded=encoded.isoformat(), birth_date=born))
    return issues


def patient_identity(patient: dict, expr: str) -> list[Issue]:
    """A national patient has a personal code, or both birthDate and gender (#14)."""
    if current_codes(patient) or ("birthDate" in patient and "gender" in patient):
        return []
    return [issue("evk-patient-identity", expr)]


def identifier_system(v: Visit) -> list[Issue]:
    """National submissions: every identifier names a system (#20); the business identifiers of
    Patient, Practitioner and Organization use a registered one."""
    system = v.value.get("system")
    if system is None:
        return [issue("evk-id-system-missing", v.expr)]
    rtype = v.resource.get("resourceType")
    if (v.element == f"{rtype}.identifier" and rtype in REGISTERED_FOR and type(system) is str
            and system not in registered_systems()):
        return [issue("evk-id-system-unregistered", f"{v.expr}.system", system=system)]
    return []


def duplicates(resource: dict, expr: str, owner: Owner) -> list[Issue]:
    """#36: a plain create must not repeat a stored business identifier of the same type."""
    rtype, ids = resource.get("resourceType"), resource.get("identifier")
    issues = []
    for i, ident in enumerate(ids if type(ids) is list else []):
        if type(ident) is not dict or ident.get("use") == "old":
            continue
        system, value = ident.get("system"), ident.get("value")
        if type(system) is str and type(value) is str and type(rtype) is str:
            stored = owner(rtype, system, value)
            if stored is not None:
                issues.append(issue("evk-identifier-duplicate", f"{expr}.identifier[{i}]", system=system,
                                    value=value, stored=stored))
    return issues
