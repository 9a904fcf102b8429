"""Find the card's Patient for a study: PatientID (+ IssuerOfPatientID) carries the personal code.

A study is linked only when exactly one Patient has that personal code and nothing the study
says about the patient contradicts the card (birth date, family name). Anything else goes to
reconciliation with the reason — a study is never attached to a person by a guess.
DICOM: PatientID (0010,0020), IssuerOfPatientID (0010,0021), PS3.3 C.7.1.1.
"""
from __future__ import annotations

from dataclasses import dataclass

from adapters.national import personal_code
from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from ehr_core.search.engine import find_matches
from ehr_core.search.normalize import normalize_string
from ehr_core.storage.repository import Session


@dataclass(frozen=True)
class Match:
    patient_id: str | None       # the Patient's id on the card, or None
    reason: str = ""             # why there is no match

    @property
    def found(self) -> bool:
        return self.patient_id is not None


def match_patient(s: Session, *, patient_id: str, issuer: str, name: str, birth_date: str,
                  national_issuers: frozenset[str]) -> Match:
    if issuer and issuer not in national_issuers:
        return Match(None, f"IssuerOfPatientID {issuer!r} is not the national personal code "
                           f"(accepted: {', '.join(sorted(national_issuers))})")
    if not patient_id:
        return Match(None, "the study has no PatientID")
    try:
        digits = personal_code.validate(patient_id)
    except personal_code.PersonalCodeError as exc:
        return Match(None, f"PatientID {patient_id!r} is not a valid personal code ({exc.rule}: {exc})")
    # The card may keep the code with or without its hyphen; either form is the same person.
    forms = sorted({digits, personal_code.format(digits)})
    query = ",".join(f"{PERSONAL_CODE_SYSTEM}|{f}" for f in forms)
    found = find_matches(s.conn, "Patient", [("identifier", query)], limit=2)
    shown = personal_code.format(digits)
    if not found:
        return Match(None, f"no Patient has personal code {shown}")
    if len(found) > 1:
        return Match(None, f"more than one Patient has personal code {shown}")
    patient = s.read("Patient", found[0][1]).resource()
    problem = contradiction(patient, name=name, birth_date=birth_date)
    if problem:
        return Match(None, f"Patient/{patient['id']} has personal code {shown} but {problem}")
    return Match(patient["id"])


def contradiction(patient: dict, *, name: str, birth_date: str) -> str:
    """What the DICOM patient data says that the Patient resource does not, or ""."""
    card_birth = (patient.get("birthDate") or "").replace("-", "")
    if birth_date and len(card_birth) == 8 and card_birth != birth_date:
        return f"the study says born {birth_date}, the card {patient['birthDate']}"
    family = normalize_string(name.split("=", 1)[0].split("^", 1)[0]) if name else ""
    families = {normalize_string(n["family"]) for n in patient.get("name") or [] if n.get("family")}
    if family and families and family not in families:
        return f"the study's family name {name.split('^', 1)[0]!r} is not the card's"
    return ""
