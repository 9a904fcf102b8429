"""The submission envelope: a transaction Bundle whose entries each say what to do
(https://hl7.org/fhir/R4/http.html#transaction, bad-inputs.md #6 and #7)."""
from __future__ import annotations

from ehr_core.errors import Issue

from .rules import issue

# Submissions create and update (conditionally or not); deleting and reading is not submitting.
SUBMISSION_METHODS = frozenset({"POST", "PUT"})
BUNDLE_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


def is_absolute(url: str) -> bool:
    return url.startswith(("urn:uuid:", "urn:oid:")) or "://" in url


def envelope(bundle: dict, *, submission: bool = True) -> list[Issue]:
    """Every envelope problem of a transaction/batch Bundle; ``submission`` also requires type
    transaction and limits the methods to POST/PUT."""
    issues: list[Issue] = []
    kind = bundle.get("type")
    if submission and kind != "transaction":
        issues.append(issue("evk-bundle-type", "Bundle.type", found=kind))
    allowed = SUBMISSION_METHODS if submission else BUNDLE_METHODS
    entries = bundle.get("entry")
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries if type(entries) is list else []):
        where = f"Bundle.entry[{i}]"
        if type(entry) is not dict:
            continue
        url = entry.get("fullUrl")
        if type(url) is str:
            if not is_absolute(url):
                issues.append(issue("evk-fullurl-relative", f"{where}.fullUrl", url=url))
            elif url in seen:
                issues.append(issue("evk-fullurl-duplicate", f"{where}.fullUrl", url=url, first=seen[url]))
            else:
                seen[url] = i
        request = entry.get("request")
        if kind not in ("transaction", "batch"):
            continue
        if type(request) is not dict or type(request.get("method")) is not str or type(request.get("url")) is not str:
            issues.append(issue("evk-entry-request", f"{where}.request" if type(request) is dict else where))
            continue
        method = request["method"].upper()
        if method not in allowed:
            issues.append(issue("evk-entry-method", f"{where}.request.method", method=request["method"]))
            continue
        resource = entry.get("resource")
        rtype = resource.get("resourceType") if type(resource) is dict else None
        if method in ("POST", "PUT") and type(rtype) is str:
            target = request["url"].split("?", 1)[0].strip("/").split("/", 1)[0]
            if target != rtype:
                issues.append(issue("evk-entry-url", f"{where}.request.url", url=request["url"], found=rtype))
    return issues
