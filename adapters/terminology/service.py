"""The terminology service: ``lookup``, ``validate_code`` and ``expand`` over the catalogue, with
the semantics of codesystem-operation-lookup.html, valueset-operation-validate-code.html,
codesystem-operation-validate-code.html and valueset-operation-expand.html (R4). Plain Python:
the REST edge (``rest.py``) only turns parameters in and results out.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

from . import ucum
from .catalog import Catalog, catalog
from .codesystem import CodeSystemIndex
from .systems import UCUM
from .valueset import Expansion, Member, NotEnumerable, UnknownReference, expand, includes_by_grammar

# Systems whose codes are the sentences of a grammar rather than a list.
GRAMMARS = {UCUM: ucum.is_valid}
DEFAULT_COUNT = 1000         # an $expand without count gets the first page of this size
MAX_COUNT = 10000


class TerminologyError(Exception):
    """``kind`` is an OperationOutcome issue type: not-found, invalid, too-costly, not-supported."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class LookupResult:
    name: str
    version: str | None
    display: str | None
    designations: list[dict] = field(default_factory=list)
    properties: list[tuple[str, str, object]] = field(default_factory=list)   # (code, valueX, value)


@dataclass
class Validation:
    result: bool
    message: str | None = None
    display: str | None = None


class TerminologyService:
    def __init__(self, cat: Catalog):
        self.catalog = cat
        self._expansions: dict[tuple[str, str | None], Expansion] = {}

    # --- look-ups used by the validator and the operations -------------------------------------
    def code_system(self, system: str, version: str | None = None) -> CodeSystemIndex:
        cs = self.catalog.code_system(system, version)
        if cs is None:
            known = self.catalog.versions("CodeSystem", system)
            detail = f" (known versions: {', '.join(v or '-' for v in known)})" if known else ""
            raise TerminologyError("not-found", f"Unknown code system {system!r}"
                                   + (f" version {version!r}" if version else "") + detail)
        return cs

    def value_set(self, url: str, version: str | None = None) -> dict:
        vs = self.catalog.find("ValueSet", url, version)
        if vs is None:
            raise TerminologyError("not-found", f"Unknown value set {url!r}" + (f" version {version!r}" if version else ""))
        return vs

    def expansion(self, vs: dict) -> Expansion:
        key = (vs["url"], vs.get("version"))
        if key not in self._expansions:
            try:
                self._expansions[key] = expand(self.catalog, vs)
            except UnknownReference as exc:
                raise TerminologyError("not-found", f"{vs['url']} refers to an unknown {exc}") from None
            except NotEnumerable as exc:
                raise TerminologyError("too-costly", str(exc)) from None
            except ValueError as exc:
                raise TerminologyError("not-supported", str(exc)) from None
        return self._expansions[key]

    def member(self, url: str, system: str, code: str) -> Member | bool:
        """The value set's member for system|code (True for grammar members), or False."""
        vs = self.value_set(url)
        try:
            return self.expansion(vs).index.get((system, code)) or False
        except TerminologyError as exc:
            if exc.kind != "too-costly":
                raise
            return includes_by_grammar(vs, system, code, GRAMMARS)

    # --- $lookup --------------------------------------------------------------------------------
    def lookup(self, system: str, code: str, version: str | None = None) -> LookupResult:
        cs = self.code_system(system, version)
        if not cs.enumerated:
            grammar = GRAMMARS.get(cs.url)
            if grammar is None or not grammar(code):
                raise TerminologyError("not-found", f"{code!r} is not a valid code of {cs.name}")
            return LookupResult(cs.name, cs.version, code)
        concept = cs.get(code)
        if concept is None:
            raise TerminologyError("not-found", f"Code {code!r} is not in {cs.url}" + (f"|{cs.version}" if cs.version else ""))
        props = [p for p in concept.properties if p[0] != "parent"]
        props += [("parent", "valueCode", p) for p in concept.parents]
        props += [("child", "valueCode", c) for c in concept.children]
        return LookupResult(cs.name, cs.version, concept.display, concept.designations, props)

    # --- $validate-code -------------------------------------------------------------------------
    def validate_in_system(self, system: str, code: str, version: str | None = None,
                           display: str | None = None) -> Validation:
        cs = self.code_system(system, version)
        if not cs.enumerated:
            grammar = GRAMMARS.get(cs.url)
            ok = grammar is not None and grammar(code)
            return Validation(ok, None if ok else f"{code!r} is not a valid {cs.name} code", code if ok else None)
        concept = cs.get(code)
        if concept is None:
            where = f"{cs.url}|{cs.version}" if cs.version else cs.url
            partial = " (the shipped version is a subset)" if cs.content == "fragment" else ""
            return Validation(False, f"Unknown code {code!r} in {where}{partial}")
        return _display_check(concept.display, concept.displays(), code, display)

    def validate_in_value_set(self, url: str, code: str, system: str | None, *, version: str | None = None,
                              display: str | None = None, value_set_version: str | None = None) -> Validation:
        vs = self.value_set(url, value_set_version)
        if system is None:
            raise TerminologyError("invalid", "A code needs its system to be validated against a value set")
        found = self.member(vs["url"] + (f"|{vs['version']}" if vs.get("version") else ""), system, code)
        if found is False:
            return Validation(False, f"The code {system}#{code} is not in the value set {vs['url']}"
                              + (f"|{vs['version']}" if vs.get("version") else ""))
        if version is not None and isinstance(found, Member) and found.version not in (None, version):
            return Validation(False, f"The value set uses {system} version {found.version}, not {version}")
        known = {found.display.casefold()} if isinstance(found, Member) and found.display else set()
        preferred = found.display if isinstance(found, Member) else code
        cs = self.catalog.code_system(system, version)
        concept = cs.get(code) if cs is not None else None
        if concept is not None:
            known |= concept.displays()
            preferred = preferred or concept.display
        return _display_check(preferred, known, code, display)

    # --- $expand --------------------------------------------------------------------------------
    def expand(self, vs: dict, *, filter: str | None = None, offset: int = 0, count: int | None = None) -> dict:
        if offset < 0 or (count is not None and count < 0):
            raise TerminologyError("invalid", "offset and count must not be negative")
        if count is not None and count > MAX_COUNT:
            raise TerminologyError("too-costly", f"count may be at most {MAX_COUNT}; page with offset")
        members = self.expansion(vs).members
        if filter:
            terms = filter.casefold().split()
            members = [m for m in members if all(t in f"{m.code} {m.display or ''}".casefold() for t in terms)]
        size = DEFAULT_COUNT if count is None else count
        page = members[offset:offset + size]
        params = [{"name": "offset", "valueInteger": offset}, {"name": "count", "valueInteger": size}]
        if filter:
            params.append({"name": "filter", "valueString": filter})
        params += [{"name": "used-codesystem", "valueUri": u} for u in self.expansion(vs).used]
        out = {k: vs[k] for k in ("resourceType", "id", "url", "version", "name", "title", "status") if k in vs}
        out["expansion"] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "total": len(members), "offset": offset, "parameter": params,
            "contains": [{"system": m.system, **({"version": m.version} if m.version else {}), "code": m.code,
                          **({"display": m.display} if m.display else {})} for m in page],
        }
        return out


def _display_check(preferred: str | None, known: set[str], code: str, display: str | None) -> Validation:
    if display is not None and known and display.casefold() not in known:
        return Validation(False, f"{display!r} is not a display of {code!r}; expected {preferred!r}", preferred)
    return Validation(True, None, preferred)


@lru_cache(maxsize=None)
def terminology() -> TerminologyService:
    return TerminologyService(catalog())


def binding_member(url: str, system: str | None, code: str) -> bool | None:
    """For profile bindings (``adapters.validation.profiles.Member``): is system|code in the value
    set? None when the value set is not in the catalogue, or cannot be judged (no system)."""
    service = terminology()
    if system is None or service.catalog.find("ValueSet", url) is None:
        return None
    try:
        return service.member(url, system, code) is not False
    except TerminologyError:
        return None


def reload() -> None:
    """Pick up classifier files added or changed since start."""
    from . import catalog as catalog_module
    catalog_module.reload()
    terminology.cache_clear()
