"""Loading files of FHIR data through the same REST core that serves HTTP (``evk load``).

Bundles (transaction or batch) are posted as they are. NDJSON (bulk export) files become
transaction Bundles of ``PUT Type/id`` entries, so the exported ids and the references between
them stay as they were; each chunk commits on its own, so an interrupted load keeps every chunk
committed before the interruption and nothing of the chunk in progress.
Ordering: folders named ``_load_first`` and files holding organisations/practitioners
(Synthea's ``hospitalInformation*``/``practitionerInformation*``) go first, because patient
bundles refer to them conditionally.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ehr_core import errors
from ehr_core.rest.handler import Handler
from ehr_core.rest.jsonbody import parse_json
from ehr_core.rest.messages import FhirRequest

NDJSON_CHUNK = 200
# Directory resources describe institutions and people that many sources share. In a national
# store the same institution must stay one resource, so these are matched on their first
# identifier (conditional create) instead of being stored again under another source's id.
DIRECTORY_TYPES = frozenset({"Organization", "Location", "Practitioner", "PractitionerRole",
                             "HealthcareService", "Endpoint"})
FIRST_NAMES = ("hospitalInformation", "practitionerInformation", "Organization", "Location",
               "Practitioner", "Patient")


@dataclass
class FileResult:
    path: Path
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _priority(path: Path) -> tuple[int, str]:
    rank = 0 if "_load_first" in path.parts else 1
    for i, prefix in enumerate(FIRST_NAMES):
        if path.name.startswith(prefix):
            return (rank, f"{i:02d}{path}")
    return (rank, f"99{path}")


def collect_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(f for f in p.rglob("*") if f.suffix in (".json", ".ndjson") and f.is_file())
        else:
            files.append(p)
    return sorted(files, key=_priority)


def _count(result: FileResult, bundle: dict) -> None:
    for i, entry in enumerate(bundle.get("entry") or []):
        status = (entry.get("response") or {}).get("status", "")
        if status.startswith("201"):
            result.created += 1
        elif status.startswith("200"):
            if entry.get("resource") is not None or "outcome" not in entry["response"]:
                result.updated += 1
        elif status[:1] in ("4", "5"):
            outcome = entry["response"].get("outcome") or {}
            msg = "; ".join(iss.get("diagnostics", "") for iss in outcome.get("issue", []))
            result.errors.append(f"entry {i}: {status} {msg}")


def _post(handler: Handler, bundle: dict, result: FileResult) -> None:
    resp = handler.handle(FhirRequest("POST", "", [], {"prefer": "return=minimal"}, bundle))
    if resp.status >= 400:
        issues = (resp.body or {}).get("issue", [])
        result.errors.append(f"{resp.status}: " + "; ".join(i.get("diagnostics", "") for i in issues))
    else:
        _count(result, resp.body or {})


def directory_criteria(resource: dict) -> str | None:
    """``identifier=system|value`` for a directory resource with a usable identifier, else None."""
    if resource.get("resourceType") not in DIRECTORY_TYPES:
        return None
    ident = next((i for i in resource.get("identifier") or [] if i.get("system") and i.get("value")), None)
    return f"identifier={ident['system']}|{ident['value']}" if ident else None


def _match_directory_entries(bundle: dict) -> None:
    for entry in bundle.get("entry") or []:
        request, resource = entry.get("request") or {}, entry.get("resource") or {}
        if request.get("method") == "POST" and not request.get("ifNoneExist"):
            criteria = directory_criteria(resource)
            if criteria:
                request["ifNoneExist"] = criteria


def _ndjson_entry(resource: dict) -> dict:
    rt = resource["resourceType"]
    criteria = directory_criteria(resource)
    if criteria:
        return {"resource": resource, "request": {"method": "POST", "url": rt, "ifNoneExist": criteria}}
    if resource.get("id"):
        return {"resource": resource, "request": {"method": "PUT", "url": f"{rt}/{resource['id']}"}}
    return {"resource": resource, "request": {"method": "POST", "url": rt}}


def _ndjson_bundles(path: Path) -> Iterator[dict]:
    entries: list[dict] = []
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            entries.append(_ndjson_entry(orjson.loads(line)))
            if len(entries) >= NDJSON_CHUNK:
                yield {"resourceType": "Bundle", "type": "transaction", "entry": entries}
                entries = []
    if entries:
        yield {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def load_file(handler: Handler, path: Path) -> FileResult:
    result = FileResult(path)
    try:
        if path.suffix == ".ndjson":
            for bundle in _ndjson_bundles(path):
                _post(handler, bundle, result)
            return result
        data = parse_json(path.read_bytes())
        if isinstance(data, dict) and data.get("resourceType") == "Bundle" and data.get("type") in ("transaction", "batch"):
            _match_directory_entries(data)
            _post(handler, data, result)
        elif isinstance(data, dict) and data.get("resourceType"):
            rt = data["resourceType"]
            req = (FhirRequest("PUT", f"{rt}/{data['id']}", [], {}, data) if data.get("id")
                   else FhirRequest("POST", rt, [], {}, data))
            resp = handler.handle(req)
            if resp.status >= 400:
                result.errors.append("; ".join(i.get("diagnostics", "") for i in (resp.body or {}).get("issue", [])))
            elif resp.status == 201:
                result.created += 1
            else:
                result.updated += 1
        else:
            result.errors.append("not a FHIR resource or transaction/batch Bundle")
    except errors.FhirError as exc:
        result.errors.append(str(exc))
    except (OSError, ValueError, KeyError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    return result
