"""Notices in a person's mailbox: plain FHIR ``Communication`` resources addressed to a Patient,
written in the same unit of work as the event they report (the patient portal lists them).

- rule 12: a revoked grant -> the grantor and the proxy;
- rule 17: a break-glass access -> the patient;
- rule 8: a sensitive result of a minor aged 14+ -> the minor only. The notice carries the
  result's security labels, so it is invisible to guardians exactly as the result is (rule 5).
"""
from __future__ import annotations

from ehr_core.access import labels
from ehr_core.access import patients as pt
from ehr_core.access.proxy import grantor_of, proxies_named
from ehr_core.storage.records import instant, now_micros

NOTICE_SYSTEM = "https://evk.lv/fhir/CodeSystem/notice-type"
RESULT_TYPES = ("Observation", "DiagnosticReport")

__all__ = ["notice", "grant_revoked", "break_glass", "sensitive_result"]


def notice(s, recipient_patient: str, code: str, text: str, *, security: list | None = None,  # noqa: ANN001
           about: str | None = None) -> None:
    comm: dict = {"resourceType": "Communication", "status": "completed",
                  "category": [{"coding": [{"system": NOTICE_SYSTEM, "code": code}]}],
                  "recipient": [{"reference": f"Patient/{recipient_patient}"}],
                  "sent": instant(now_micros()), "payload": [{"contentString": text}]}
    if about:
        comm["about"] = [{"reference": about}]
    if security:
        comm["meta"] = {"security": security}
    s.create(comm)


def grant_revoked(s, consent: dict) -> None:  # noqa: ANN001
    grantor = grantor_of(consent)
    if grantor is None:
        return
    notice(s, grantor, "grant-revoked", "You revoked an authorisation to access your health record.",
           about=f"Consent/{consent.get('id')}")
    for _, code in proxies_named(s.conn, consent):
        for proxy_patient in pt.by_personal_code(s.conn, code) if code else ():
            notice(s, proxy_patient, "grant-revoked",
                   "An authorisation that let you access another person's health record has been revoked.")


def break_glass(s, patient_id: str, who: str, reason: str) -> None:  # noqa: ANN001
    notice(s, patient_id, "break-glass",
           f"{who} opened your health record under emergency access (break-glass). Stated reason: {reason}")


def sensitive_result(s, resource: dict, patients: tuple[str, ...], ref: str | None) -> None:  # noqa: ANN001
    if resource.get("resourceType") not in RESULT_TYPES or not labels.is_sensitive(resource):
        return
    if resource.get("status") not in ("final", "amended", "corrected"):
        return
    born = pt.birth_dates(s.conn, patients)
    today = pt.today_riga()
    security = (resource.get("meta") or {}).get("security")
    for pid, b in born.items():
        if b is not None and 14 <= pt.age(b, today) < 18:
            notice(s, pid, "new-result", "A new result is available in your health record.",
                   security=security, about=ref)
