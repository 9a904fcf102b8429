"""``NationalValidator``: the national rules as a second layer over ``StructureValidator``.

Two tiers, chosen so that the Synthea bundles, the official R4 examples and the IPS examples
are never refused (tests/adapters/national/test_validator.py):

* every write — rules that only fire on national data or on content no valid record has:
  the personal code wherever the national system is used (#19), at most one current one
  (#15), birth dates in 1850..today (#18), absolute ``Coding.system`` (#22), a claimed
  ``https://evk.lv/fhir/StructureDefinition/`` profile exists and fits the type (#31), no
  active content in narrative (#32);
* national submissions — a resource that claims a national profile in ``meta.profile``, or
  every resource when ``enforce="all"`` (the sandbox; the hospital submission path should):
  identifiers name a system, registered for Patient/Practitioner/Organization (#20);
  ``urn:uuid`` references resolve inside the Bundle and relative ones in the transaction or the
  store (#8); references point at a type the element allows (#9); no server-owned
  ``meta.versionId``/``meta.lastUpdated`` (#30); a patient has a personal code or birth date and
  gender (#14); ICD-10 codes exist and are fully specific (#23); LOINC format and check digit
  (#25); SNOMED CT id check digit and partition (#26); only known extensions, where their
  definitions allow (#28); attachments with an allowed content type and matching size and hash
  (#33); on a plain create, no business identifier another stored resource of the type has
  (#36; conditional create/update is the way to retry); and the national profiles — the ones
  the resource claims, plus evk-patient/-practitioner/-organization for every resource of those
  types when ``enforce="all"`` — compiled from the package's StructureDefinitions and enforced by
  ``adapters.validation.ProfileSet`` (cardinality, fixed and pattern values, slicing, choice
  types, reference targets, bindings when ``member`` can answer, the profiles' constraints).

  Outside submissions the reference rules (#8 urn:uuid, #9) give warnings, as the reference
  validator does: DeviceMetric-example, DeviceUseStatement-example, MedicationRequest-medrx0301
  and Observation-clinical-gender among the official examples point at types their element
  does not allow; the LOINC, SNOMED CT and attachment rules stay silent (Synthea uses made-up
  LOINC codes; DiagnosticReport-example-pgx has a wrong hash).

A client-sent ``id`` on create is not refused: http.html#create says the server ignores it,
the core drops it, and Synthea transactions carry one on every POST entry.
"""
from __future__ import annotations

from typing import Literal

from adapters.validation.profiles import Member

from ehr_core.errors import Issue

from . import codes, content, extensions, icd10, identifiers, references
from .package import APPLIED_TO_EVERY_SUBMISSION, compiled_profiles
from .personal_code import PERSONAL_CODE_SYSTEM
from .walk import QUANTITIES, walk


class NationalValidator:
    """Same interface as ``StructureValidator``: ``validate(resource, path=None) -> [Issue]``."""

    resolves_references = True     # Handler.check passes ``exists`` (store lookup)

    def __init__(self, structure=None, *, enforce: Literal["claimed", "all"] = "claimed",  # noqa: ANN001
                 strict_new_check_digit: bool = False, member: Member | None = None):
        """``member(value set, system, code)`` answers the profiles' required bindings (None: the
        value set is unknown, not judged); by default the national terminology service."""
        if structure is None:
            from adapters.validation import StructureValidator
            structure = StructureValidator()
        self.structure = structure
        self.enforce = enforce
        self.strict_new_check_digit = strict_new_check_digit
        if member is None:
            from adapters.terminology.service import binding_member as member
        self.member = member
        compiled_profiles()                 # compiled once, at start, not on the first submission
        self.applied = APPLIED_TO_EVERY_SUBMISSION if enforce == "all" else ()

    def validate(self, resource: dict, *, path: str | None = None,
                 exists: references.Exists | None = None,
                 owner: identifiers.Owner | None = None) -> list[Issue]:
        """Structural issues, then the national ones. ``exists(type, id)`` lets relative
        references be resolved against the store; ``owner(type, system, value)`` (given on a
        plain create) finds a stored resource already holding a business identifier (#36)."""
        issues = self.structure.validate(resource, path=path)
        if type(resource) is not dict:
            return issues
        if path is None:
            rtype = resource.get("resourceType")
            path = rtype if type(rtype) is str and rtype else "Resource"
        issues.extend(self.national(resource, path, exists, owner))
        return issues

    def national(self, resource: dict, path: str, exists: references.Exists | None = None,
                 owner: identifiers.Owner | None = None) -> list[Issue]:
        issues: list[Issue] = []
        bundle: dict[str, str] = {}
        national = False
        claims: dict[int, bool] = {}      # id(resource) -> is it a national submission?
        visits = walk(resource, path)
        for v in visits:                  # every Bundle's entries first: references may point ahead
            if v.type == "Bundle" and v.value is v.resource:
                bundle.update(references.bundle_targets(v.value))
        for v in visits:
            t = v.type
            if v.value is v.resource:                       # a resource
                national = self.enforce == "all" or content.claims_national_profile(v.value)
                claims[id(v.value)] = national
                issues += content.profile_claims(v.value, v.expr)
                if t in content.BIRTH_DATED:
                    issues += content.birth_date(v.value, v.expr)
                if t == "Patient":
                    issues += identifiers.patient_codes(v.value, v.expr)
                    if national:
                        issues += identifiers.patient_identity(v.value, v.expr)
                if national:
                    issues += self.profiles(v, bundle)
                if national and v.expr == path:             # the submitted resource itself
                    issues += content.server_owned(v.value, v.expr)
                    if owner is not None:
                        issues += identifiers.duplicates(v.value, v.expr, owner)
                continue
            national_here = claims[id(v.resource)]
            if t == "Identifier":
                if v.value.get("system") == PERSONAL_CODE_SYSTEM:
                    issues += identifiers.personal_code(v, strict_new_check_digit=self.strict_new_check_digit)
                if national_here:
                    issues += identifiers.identifier_system(v)
            elif t == "Coding":
                issues += content.coding_system(v)
                if national_here:
                    issues += codes.coding(v)
                    issues += icd10.coding(v)
            elif t == "Reference":
                issues += references.reference(v, bundle, exists if national_here else None,
                                               severity="error" if national_here else "warning")
            elif t == "Narrative":
                issues += content.narrative(v)
            elif t == "Attachment" and national_here:
                issues += content.attachment(v)
            elif t == "Extension" and national_here:
                issues += extensions.extension(v)
            elif t in QUANTITIES and national_here:
                issues += codes.quantity(v)
        return issues

    def profiles(self, v, bundle: dict[str, str]) -> list[Issue]:  # noqa: ANN001 - walk.Visit
        compiled = compiled_profiles()
        return [i for url in content.profiles_to_enforce(v.value, self.applied)
                for i in compiled.check(url, v.value, v.expr, root=v.root, member=self.member,
                                        resolve=lambda ref: references.target_type(ref, v, bundle))]

