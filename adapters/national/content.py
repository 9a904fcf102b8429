"""Content rules: codings, dates, server-owned fields, profile claims and narrative safety."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import date
from html.parser import HTMLParser

from ehr_core.errors import Issue

from .package import PROFILE_BASE, profiles
from .rules import issue
from .walk import Visit

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S")
EARLIEST_BIRTH_YEAR = 1850
BIRTH_DATED = frozenset({"Patient", "Practitioner", "RelatedPerson", "Person"})


def coding_system(v: Visit) -> list[Issue]:
    """#22: Coding.system is an absolute URI (https://hl7.org/fhir/R4/terminologies.html#4.1)."""
    system = v.value.get("system")
    if type(system) is str and not _ABSOLUTE.match(system):
        return [issue("evk-coding-system-relative", f"{v.expr}.system", system=system)]
    return []


def birth_date(resource: dict, expr: str, today: date | None = None) -> list[Issue]:
    """#18: not in the future, not before 1850 (compared at the precision given)."""
    value = resource.get("birthDate")
    if type(value) is not str or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        return []
    parts = tuple(int(p) for p in value.split("-"))
    today = today or date.today()
    where = f"{expr}.birthDate"
    if parts[0] < EARLIEST_BIRTH_YEAR:
        return [issue("evk-birthdate-too-early", where, value=value)]
    if parts > (today.year, today.month, today.day)[:len(parts)]:
        return [issue("evk-birthdate-future", where, value=value)]
    return []


def server_owned(resource: dict, expr: str) -> list[Issue]:
    """#30: meta.versionId and meta.lastUpdated belong to the server (http.html#create)."""
    meta = resource.get("meta")
    if type(meta) is not dict:
        return []
    return [issue("evk-server-owned", f"{expr}.meta.{name}", element=f"meta.{name}")
            for name in ("versionId", "lastUpdated") if name in meta]


def profile_claims(resource: dict, expr: str) -> list[Issue]:
    """#31: a claimed national profile must exist and fit the resource type; other profiles
    (us-core, IPS...) are not ours to judge and are accepted."""
    meta = resource.get("meta")
    claimed = meta.get("profile") if type(meta) is dict else None
    issues = []
    for i, url in enumerate(claimed if type(claimed) is list else []):
        if type(url) is not str or not url.startswith(PROFILE_BASE):
            continue
        canonical = url.split("|", 1)[0]
        where = f"{expr}.meta.profile[{i}]"
        if canonical not in profiles():
            issues.append(issue("evk-profile-unknown", where, profile=url))
        elif profiles()[canonical] != resource.get("resourceType"):
            issues.append(issue("evk-profile-type", where, profile=url, expected=profiles()[canonical],
                                found=resource.get("resourceType")))
    return issues


def claims_national_profile(resource: dict) -> bool:
    return bool(claimed_national_profiles(resource))


def claimed_national_profiles(resource: dict) -> list[str]:
    meta = resource.get("meta")
    claimed = meta.get("profile") if type(meta) is dict else None
    return [u.split("|", 1)[0] for u in claimed if type(u) is str and u.startswith(PROFILE_BASE)] \
        if type(claimed) is list else []


def profiles_to_enforce(resource: dict, applied: tuple[str, ...]) -> list[str]:
    """The national profiles ``resource`` is held to: those it claims (of its own type; #31
    reports the others) and the ``applied`` ones for its type."""
    rtype = resource.get("resourceType")
    wanted = claimed_national_profiles(resource) + [u for u in applied if profiles().get(u) == rtype]
    return [u for u in dict.fromkeys(wanted) if profiles().get(u) == rtype]


# --- narrative (txt-1, https://hl7.org/fhir/R4/narrative.html#xhtml) ---------------------------
ACTIVE_ELEMENTS = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
                             "input", "button", "select", "textarea", "link", "meta", "base", "style",
                             "svg", "math", "audio", "video", "source", "template"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "background", "lowsrc", "xlink:href"})
_BAD_SCHEME = re.compile(r"^\s*(javascript|vbscript|data\s*:\s*text/html)\s*:?", re.I)


class _ActiveContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_ELEMENTS:
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name} attribute on <{tag}>")
            elif name in _URL_ATTRS and value and _BAD_SCHEME.match(value.replace("\x00", "")):
                self.found.append(f"{value.split(':', 1)[0]}: URL in {name} on <{tag}>")
            elif name == "style" and value and re.search(r"expression\s*\(|url\s*\(\s*['\"]?\s*javascript", value, re.I):
                self.found.append(f"script in the style attribute on <{tag}>")

    handle_startendtag = handle_starttag


def narrative(v: Visit) -> list[Issue]:
    """#32: Narrative.div must not carry scripts, event handlers or other active content."""
    div = v.value.get("div")
    if type(div) is not str:
        return []
    parser = _ActiveContent()
    try:
        parser.feed(div)
        parser.close()
    except Exception:  # noqa: BLE001 - unparseable XHTML is the structural validator's finding
        return []
    if not parser.found:
        return []
    return [issue("evk-narrative-active", f"{v.expr}.div", what="; ".join(dict.fromkeys(parser.found)))]


# --- attachments (https://hl7.org/fhir/R4/datatypes.html#Attachment) ------------------------
ALLOWED_CONTENT_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/tiff", "text/plain", "application/dicom",
    "application/fhir+json", "application/fhir+xml", "application/json", "application/xml", "text/xml",
})


def attachment(v: Visit) -> list[Issue]:
    """#33 (national submissions): an allowed content type and a hash agreeing with the data
    (DiagnosticReport-example-pgx, an official example, carries a hash that does not). The size
    is checked on every write by the structure validator (``att-size``)."""
    issues = []
    ct = v.value.get("contentType")
    if type(ct) is str and ct.split(";", 1)[0].strip().lower() not in ALLOWED_CONTENT_TYPES:
        issues.append(issue("evk-attachment-content-type", f"{v.expr}.contentType", content_type=ct))
    data = v.value.get("data")
    if type(data) is not str:
        return issues
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return issues           # the structural validator reports bad base64
    digest = v.value.get("hash")
    if type(digest) is str and digest != base64.b64encode(hashlib.sha1(raw).digest()).decode():
        issues.append(issue("evk-attachment-hash", f"{v.expr}.hash"))
    return issues
