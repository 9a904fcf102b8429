"""What a resource *is* for access purposes, read from labels the index already holds.

- Sensitive (access-rules.md, rule 5): ``meta.security`` holds confidentiality R or V
  (v3-Confidentiality) or one of the v3-ActCode sensitivity codes. Indexed as ``_security``.
- Declarations (rules 7, 14, 20): organ/tissue donation, body donation and autopsy
  declarations are ``Consent`` resources with a category from ``DECLARATION_SYSTEM``
  (see docs/access.md). Indexed as Consent ``category``.
- Grant categories (rule 9): the data categories a proxy grant may name, as resource types.

Each has a SQL form (for narrowing queries; ``r`` is the resource table alias) and a Python
form (for one stored version, e.g. a vread of an old version).
"""
from __future__ import annotations


from sqlalchemy import ColumnElement, and_, exists, or_, select

from ehr_core.storage import schema
from ehr_core.storage.constants import constant_in

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SENSITIVE = {CONFIDENTIALITY: ("R", "V"), ACT_CODE: ("SEX", "STD", "HIV", "PSY", "MH", "SUD", "ETH", "SDV")}

DECLARATION_SYSTEM = "https://evk.lv/fhir/CodeSystem/declaration-type"
DECLARATION_CODES = ("organ-tissue-donation", "body-donation", "autopsy")

# Rule 9's data categories -> resource types. A grant's ``provision.class`` names either these
# categories (system CATEGORY_SYSTEM) or resource types (system http://hl7.org/fhir/resource-types).
CATEGORY_SYSTEM = "https://evk.lv/fhir/CodeSystem/access-category"
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
CATEGORIES: dict[str, tuple[str, ...]] = {
    "prescriptions": ("MedicationRequest", "MedicationDispense", "MedicationStatement", "Medication"),
    "immunizations": ("Immunization", "ImmunizationRecommendation", "ImmunizationEvaluation"),
    "lab-results": ("Observation", "DiagnosticReport", "Specimen"),
    "imaging": ("ImagingStudy", "DiagnosticReport", "Media"),
    "documents": ("DocumentReference", "Composition", "DocumentManifest", "Binary"),
}

# Not patient data: readable by any signed-in principal whose scopes cover the type.
DIRECTORY_TYPES = frozenset({
    "Organization", "OrganizationAffiliation", "Practitioner", "PractitionerRole", "Location",
    "HealthcareService", "Endpoint", "Medication", "MedicationKnowledge", "Substance",
    "CodeSystem", "ValueSet", "ConceptMap", "NamingSystem", "StructureDefinition", "SearchParameter",
    "OperationDefinition", "CapabilityStatement", "Questionnaire", "ActivityDefinition", "PlanDefinition",
})

__all__ = ["is_sensitive", "sensitive_clause", "declaration_clause", "is_declaration", "categories_types"]


def is_sensitive(resource: dict) -> bool:
    for coding in (resource.get("meta") or {}).get("security") or []:
        if coding.get("code") in SENSITIVE.get(coding.get("system"), ()):
            return True
    return False


def is_declaration(resource: dict) -> bool:
    if resource.get("resourceType") != "Consent":
        return False
    return any(c.get("system") == DECLARATION_SYSTEM
               for cat in resource.get("category") or [] for c in cat.get("coding") or [])


def sensitive_clause(r) -> ColumnElement[bool]:  # noqa: ANN001
    """True for rows of ``r`` that are sensitive.

    A correlated EXISTS, so each row probes the index on (type, id, param) instead of the
    query materialising every labelled resource first.
    """
    t = schema.sp_token.alias()
    test = or_(*(and_(t.c.system == system, constant_in(t.c.code, codes)) for system, codes in SENSITIVE.items()))
    return exists().where(t.c.resource_type == r.c.resource_type, t.c.resource_id == r.c.id,
                          t.c.param == "_security", test)


def declaration_clause(r) -> ColumnElement[bool]:  # noqa: ANN001
    """True for rows of ``r`` that are declarations."""
    t = schema.sp_token.alias()
    return and_(r.c.resource_type == "Consent", r.c.id.in_(
        select(t.c.resource_id).where(t.c.resource_type == "Consent", t.c.param == "category",
                                      t.c.system == DECLARATION_SYSTEM)))


def categories_types(provision_class: list[dict] | None) -> frozenset[str] | None:
    """Resource types a grant's ``provision.class`` covers; None = everything (no class)."""
    if not provision_class:
        return None
    types: set[str] = set()
    for coding in provision_class:
        system, code = coding.get("system"), coding.get("code")
        if system == CATEGORY_SYSTEM and code == "all":
            return None
        if system == CATEGORY_SYSTEM and code in CATEGORIES:
            types.update(CATEGORIES[code])
        elif system == RESOURCE_TYPES_SYSTEM and code:
            types.add(code)
    return frozenset(types)
