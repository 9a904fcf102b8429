"""Real Synthea patient bundles, as a hospital on the national standard would send them.

Synthea writes US data: US Core extensions on the patient and US identifier systems on
patients, practitioners and organisations, all of which a strict submission refuses. The
clinical content stays as Synthea wrote it; ``nationalise`` only swaps those identities for
national ones and gives every entry a business identifier with a conditional create on it, so a
retry is a no-op (http.html#ccreate).
"""
from __future__ import annotations

import copy

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM, check_digit
from tests.utils.fhir import SYNTHEA, load_json

HOSPITAL_RECORD = "https://slimnica.example.lv/fhir/sid/ieraksts"   # the hospital's own record ids
NATIONAL = {"Patient": PERSONAL_CODE_SYSTEM,
            "Practitioner": "https://evk.lv/fhir/sid/arstniecibas-personas-nr",
            "Organization": "https://evk.lv/fhir/sid/arstniecibas-iestades-kods"}


def synthea_bundle(index: int = 0) -> dict:
    return load_json(sorted(SYNTHEA.glob("*.json"))[index])


def _national_value(rtype: str, n: int) -> str:
    if rtype == "Patient":                         # new-format personal code (no birth date inside)
        return f"32{n:08d}" + str(check_digit(f"32{n:08d}"))
    return f"{'P' if rtype == 'Practitioner' else '9'}{n:08d}"


def nationalise(bundle: dict, *, seed: int = 1, conditional: bool = True) -> dict:
    """A copy with national identities, a business identifier on every entry, and (``conditional``)
    ``ifNoneExist`` on it; ``seed`` keeps identities of different bundles apart."""
    out = copy.deepcopy(bundle)
    for n, entry in enumerate(out["entry"]):
        r = entry["resource"]
        rtype = r["resourceType"]
        if rtype in NATIONAL:
            r["identifier"] = [{"system": NATIONAL[rtype], "value": _national_value(rtype, seed * 1000 + n)}]
            r.pop("extension", None)               # US Core race, ethnicity, birth sex...
        else:
            r["identifier"] = [{"system": HOSPITAL_RECORD, "value": entry["fullUrl"].removeprefix("urn:uuid:")},
                               *r.get("identifier", [])]
        first = r["identifier"][0]
        entry["request"].pop("ifNoneExist", None)
        if conditional:
            entry["request"]["ifNoneExist"] = f"identifier={first['system']}|{first['value']}"
    return out
