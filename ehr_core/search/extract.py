"""Search index rows for one resource, extracted at write time (https://hl7.org/fhir/R4/search.html).

``IndexExtractor().extract(resource)`` returns ``{table kind: [row, ...]}`` with every key of
``schema.INDEX_TABLES`` present (empty lists included). A row is a dict with ``param`` and *all*
of that table's value columns (None where absent); the repository adds ``resource_type`` and
``resource_id``. Rows are deduplicated per resource. A row whose text does not fit its column
(see ``schema``) is left out rather than truncated, so a search can never match a cut value;
the exceptions are ``value_norm``/``text_norm``, which ``normalize_string`` truncates to 512 on
both sides alike.

Which values: each parameter's FHIRPath expression (``registry()``), compiled once by
``pathexpr`` (fhirpathpy only for what it does not implement), gives typed values; each value
becomes rows by its FHIR type (``indexvalues``):

string (``sp_string``: value_norm, value_exact)
    string-like primitives -> one row, ``value_norm = normalize_string(v)``, ``value_exact = v``.
    HumanName -> one row per family, given, prefix, suffix, text; Address -> one row per line,
    city, district, state, postalCode, country, text. Blank strings give no row.
token (``sp_token``: system, code, text_norm)
    Coding -> (system, code, normalize(display)). CodeableConcept -> a row per coding, plus
    (NULL, NULL, normalize(text)) for its text unless that equals one of the codings' displays —
    so a ``:text`` search matches ``text_norm`` on any row of the parameter; a plain token search
    never matches the NULL-code row.
    Identifier -> (system, value, normalize(type.text)), and for each ``type.coding`` a row with
    param ``<code>:of-type``: (type.coding.system, "<type.coding.code>|<value>", NULL).
    ContactPoint -> (NULL, value, NULL). boolean -> (NULL, "true"|"false", NULL).
    code/string/id/uri and other primitives -> (NULL, value, NULL): no system is filled in for
    ``code`` elements, not even under a required binding (the definitions do not name the code
    system reliably), so ``gender=male`` matches but ``gender=<system>|male`` does not.
reference (``sp_reference``: target_type, target_id, target_url)
    Reference.reference, parsed by ``normalize.reference_parts``: ``Type/id`` and
    ``Type/id/_history/v`` -> (Type, id, NULL); an absolute URL -> target_url = the URL without
    ``/_history/v``, plus (Type, id) when it ends in ``<resource type>/<id>``. ``#contained``
    and ``urn:uuid:`` references give no row. Reference.identifier -> a token row with param
    ``<code>:identifier`` (as for Identifier, without of-type rows). canonical -> target_url =
    the canonical without ``|version``; uri and Attachment.url -> target_url = the value; for
    these three target_type/target_id are filled too when the URL (absolute or relative, like
    ``Questionnaire/3141``) ends in ``<resource type>/<id>``. An embedded resource
    (``Bundle.entry[0].resource``) -> (its resourceType, its id, NULL).
    ``where(resolve() is Patient)`` also keeps a Reference without a literal reference whose
    ``type`` is Patient, so ``patient:identifier`` rows exist for identifier-only references.
date (``sp_date``: low, high — epoch seconds, inclusive)
    date/dateTime/instant -> ``normalize.date_range``. Period -> (start's low or LOW_UNBOUNDED,
    end's high or HIGH_UNBOUNDED). Timing -> a row per ``event``, plus ``repeat.boundsPeriod``
    as a Period. Unparseable values, strings, Age and Range give no date row.
number (``sp_number``: low, high)
    integer/decimal -> (v, v); Range -> (low.value or LOW_UNBOUNDED, high.value or HIGH_UNBOUNDED).
quantity (``sp_quantity``: system, code, low, high)
    Quantity (and Age, Duration, Count, Distance, SimpleQuantity) -> (system, code, or unit when
    there is no code, v, v); when the unit differs from the code a second row (NULL, unit, v, v),
    so ``5||mg`` finds ``{"unit": "mg", "code": "mg/dL"...}`` by either. A comparator opens the
    range: ``<``/``<=`` -> (LOW_UNBOUNDED, v), ``>``/``>=`` -> (v, HIGH_UNBOUNDED).
    Money -> ("urn:iso:std:iso:4217", currency, v, v). Range -> (low.value or LOW_UNBOUNDED,
    high.value or HIGH_UNBOUNDED) with the units of low (else high) as above. A quantity without
    a value gives no row; numbers are stored as given (no unit conversion).
uri (``sp_uri``: uri)
    uri/url/canonical/oid/uuid (and string) values verbatim — a canonical keeps its ``|version``.
composite (``sp_composite``: c1_system, c1_code, c2_system, c2_code, c2_low, c2_high)
    One row per combination of the first and second component's values taken from the same
    element (the root resource, or each ``Observation.component``). A component is encoded from
    its own single-parameter rows: token -> (system, code) with code not NULL; string ->
    (NULL, value_norm); uri -> (NULL, uri); reference -> (NULL, "Type/id" or the URL);
    quantity -> (system, code, low, high) — including the unit row; number/date ->
    (NULL, NULL, low, high). c1 takes (system, code); c2 takes all four. A component whose
    declared type cannot read its value is read as token, else as reference (R4's
    DocumentReference ``relationship`` has its two component definitions swapped).
    Composites with more than two components (MolecularSequence coordinates) are not indexed:
    the table has no c3.

Common parameters (search.html#all): ``_tag`` and ``_security`` (meta.tag/meta.security Codings
-> token), ``_profile`` and ``_source`` (-> uri). ``_id`` and ``_lastUpdated`` come from the
resource table and are not indexed; ``_content`` and ``_query`` are not indexed. ``_text`` is
one ``sp_string`` row: value_exact = the narrative's text (tags removed, entities decoded,
whitespace collapsed), value_norm = ``normalize_string`` of it (so its first 512 characters).
Location ``near`` (type special) is not indexed.
"""
from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Iterable
from typing import Any

from ehr_core.search import indexvalues
from ehr_core.search.elements import ElementType, element_type
from ehr_core.search.fallback import compile_fhirpathpy
from ehr_core.search.normalize import normalize_string
from ehr_core.search.pathexpr import CompiledPath, Unsupported, compile_path
from ehr_core.search.registry import Registry, SearchParam, registry
from ehr_core.storage import schema

log = logging.getLogger(__name__)

__all__ = ["IndexExtractor", "CompileStats"]

# Served from the resource table (``resource.id``, ``resource.last_updated``), not from an index.
NOT_INDEXED = frozenset({"_id", "_lastUpdated"})
TEXT_PARAM = "_text"


@dataclass
class CompileStats:
    """How the expressions were compiled; distinct expression texts and (type, code) parameters."""
    native_expressions: int = 0
    fallback_expressions: int = 0
    native_params: int = 0
    fallback_params: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)    # (type, code, expression)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)   # (type, code, reason)


@dataclass(frozen=True)
class _Plan:
    param: SearchParam
    path: CompiledPath
    keys: tuple[str, ...] | None          # JSON keys of which one must be present, or None
    components: tuple[tuple[str, CompiledPath], ...] = ()


class IndexExtractor:
    """Compiles every search parameter expression once; ``extract`` turns a resource into rows."""

    def __init__(self, params: Registry | None = None, *, strict: bool = False):
        self.registry = params or registry()
        self.strict = strict              # re-raise instead of skipping a parameter that fails
        compiled = _compiled_plans(self.registry)     # shared: every Repository makes an extractor
        self._plans, self.stats = compiled.plans, compiled.stats

    def params_for(self, resource_type: str) -> dict[str, SearchParam]:
        """The parameters that get index rows for this type (``_text`` included)."""
        out = {p.param.code: p.param for p in self._plans.get(resource_type, ())}
        if TEXT_PARAM in self.registry.common:
            out[TEXT_PARAM] = self.registry.common[TEXT_PARAM]
        return out

    # --- extracting ------------------------------------------------------------------------

    def extract(self, resource: dict, *, only: frozenset[str] | None = None) -> dict[str, list[dict]]:
        """Index rows of ``resource``; with ``only``, just those parameters (no ``_text``) —
        the access guard asks for the Patient-compartment references of a resource it checks."""
        return self._rows(resource, only).result()

    def extract_keys(self, resource: dict) -> dict[str, Iterable[tuple]]:
        """The same rows as tuples in ``columns(kind)`` order (the storage's write path)."""
        return self._rows(resource, None).tables

    @staticmethod
    def columns(kind: str) -> tuple[str, ...]:
        return _COLUMNS[kind]

    def _rows(self, resource: dict, only: frozenset[str] | None) -> _Rows:
        rows = _Rows()
        rt = resource.get("resourceType")
        plans = self._plans.get(rt, ())
        if only is not None:
            plans = tuple(p for p in plans if p.param.code in only)
        root = element_type(rt) if plans else None
        for plan in plans:
            keys = plan.keys
            if keys is not None:
                for key in keys:
                    if key in resource:
                        break
                else:
                    continue
            try:
                self._extract_param(plan, resource, root, rows)
            except Exception:
                if self.strict:
                    raise
                log.warning("index extraction failed for %s.%s", rt, plan.param.code, exc_info=True)
        if plans and only is None:
            _narrative(resource, rows)
        return rows

    def _extract_param(self, plan: _Plan, resource: dict, root: ElementType, rows: _Rows) -> None:
        items = plan.path.evaluate(resource, root)
        if not items:
            return
        code, kind = plan.param.code, plan.param.type
        if plan.components:
            _composite(code, plan.components, items, rows)
            return
        for value, type_ in items:
            convert = indexvalues.converter(kind, type_.name)
            if convert is not None:
                for table, suffix, row in convert(value):
                    rows.add(table, code + suffix if suffix else code, row)


@lru_cache(maxsize=8)
def _compiled_plans(params: Registry) -> _Compiler:
    return _Compiler(params)


class _Compiler:
    """Every parameter of every type compiled once (distinct expressions once overall)."""

    def __init__(self, params: Registry):
        self.registry = params
        self.stats = CompileStats()
        self._compiled: dict[str, CompiledPath | None] = {}
        self.plans = {rt: self._plan_type(rt) for rt in params.resource_types()}

    def _compile(self, expression: str) -> CompiledPath | None:
        if expression not in self._compiled:
            try:
                compiled: CompiledPath | None = compile_path(expression)
                self.stats.native_expressions += 1
            except Unsupported as exc:
                log.debug("fhirpathpy fallback for %r: %s", expression, exc)
                try:
                    compiled = compile_fhirpathpy(expression)
                    self.stats.fallback_expressions += 1
                except Exception as exc2:  # noqa: BLE001 — a definition we cannot use at all
                    log.warning("search expression not compiled: %r: %s", expression, exc2)
                    compiled = None
            self._compiled[expression] = compiled
        return self._compiled[expression]

    def _plan_type(self, rt: str) -> tuple[_Plan, ...]:
        params = {**{c: p for c, p in self.registry.common.items() if c not in NOT_INDEXED},
                  **self.registry.params(rt)}
        plans = []
        for sp in params.values():
            if sp.type == "special" or not sp.expression:
                continue
            plan = self._plan_param(rt, sp)
            if plan is None:
                continue
            plans.append(plan)
            native = plan.path.native and all(c.native for _, c in plan.components)
            if native:
                self.stats.native_params += 1
            else:
                self.stats.fallback_params += 1
        return tuple(plans)

    def _plan_param(self, rt: str, sp: SearchParam) -> _Plan | None:
        path = self._compile(sp.expression)
        if path is None:
            self.stats.failed.append((rt, sp.code, sp.expression))
            return None
        components: list[tuple[str, CompiledPath]] = []
        if sp.type == "composite":
            if len(sp.components) != 2:
                self.stats.skipped.append((rt, sp.code, f"{len(sp.components)} components"))
                return None
            for comp in sp.components:
                compiled = self._compile(comp.expression)
                if compiled is None:
                    self.stats.failed.append((rt, sp.code, comp.expression))
                    return None
                components.append((comp.type, compiled))
        return _Plan(sp, path, _entry_keys(element_type(rt), path), tuple(components))


def _entry_keys(root: ElementType, path: CompiledPath) -> tuple[str, ...] | None:
    if path.entry_names is None:
        return None
    return tuple(key for name in path.entry_names for key, _ in root.children(name))


# --- composites --------------------------------------------------------------------------------

# Tried when a component's declared type has no reading of the value: R4's DocumentReference
# ``relationship`` has its two component definitions swapped (a ``code`` under a reference
# component, a Reference under a token one); both encode to (NULL, code-or-"Type/id") anyway.
_COMPONENT_FALLBACK = ("token", "reference")


# A component value as (system, code, low, high), from the row of its own table.
_ENCODE = {
    "token": lambda r: (r[0], r[1], None, None) if r[1] is not None else None,
    "string": lambda r: (None, r[0], None, None),
    "uri": lambda r: (None, r[0], None, None),
    "reference": lambda r: (None, f"{r[0]}/{r[1]}" if r[1] else r[2], None, None),
    "quantity": lambda r: r,
    "number": lambda r: (None, None, r[0], r[1]),
    "date": lambda r: (None, None, r[0], r[1]),
}


def _component_converter(kind: str, fhir_type: str) -> indexvalues.Converter | None:
    for k in (kind, *_COMPONENT_FALLBACK):
        if convert := indexvalues.converter(k, fhir_type):
            return convert
    return None


def _component(kind: str, path: CompiledPath, item: tuple[Any, ElementType]) -> list[tuple]:
    """A component's values as (system, code, low, high) — see the module docstring."""
    out = []
    for value, type_ in path.evaluate(*item):
        convert = _component_converter(kind, type_.name)
        if convert is not None:
            for table, suffix, row in convert(value):
                if not suffix and (encoded := _ENCODE[table](row)) is not None:
                    out.append(encoded)
    return out


def _composite(code: str, components: tuple[tuple[str, CompiledPath], ...], items: list, rows: _Rows) -> None:
    (kind1, path1), (kind2, path2) = components
    for item in items:
        firsts = [(s, c) for s, c, _, _ in _component(kind1, path1, item) if c is not None]
        if not firsts:
            continue
        seconds = _component(kind2, path2, item)
        for first in firsts:
            for second in seconds:
                rows.add("composite", code, first + second)


# --- narrative (_text) ------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")


def _narrative(resource: dict, rows: _Rows) -> None:
    text = resource.get("text")
    div = text.get("div") if text.__class__ is dict else None
    if isinstance(div, str):
        plain = " ".join(html.unescape(_TAG.sub(" ", div)).split())
        if plain:
            rows.add("string", TEXT_PARAM, (normalize_string(plain), plain))


# --- collecting rows ---------------------------------------------------------------------------

def _value_columns(table: Any) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if c.name not in ("resource_type", "resource_id", "param"))


_COLUMNS = {kind: ("param", *_value_columns(t)) for kind, t in schema.INDEX_TABLES.items()}
# (position in the row tuple, maximum length) of every bounded text column, per table.
_LIMITS = {
    kind: tuple((i, c.type.length) for i, c in enumerate(c for c in t.columns if c.name in _COLUMNS[kind][1:])
                if getattr(c.type, "length", None))
    for kind, t in schema.INDEX_TABLES.items()
}
_PARAM_LENGTH = schema.sp_string.c.param.type.length


class _Rows:
    """Per-table ordered sets of (param, *values), dropping rows that would not fit."""

    __slots__ = ("tables",)

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple, None]] = {kind: {} for kind in _COLUMNS}

    def add(self, table: str, param: str, row: tuple) -> None:
        for i, limit in _LIMITS[table]:
            v = row[i]
            if v is not None and len(v) > limit:
                return
        if len(param) <= _PARAM_LENGTH:
            self.tables[table][(param, *row)] = None

    def result(self) -> dict[str, list[dict]]:
        return {kind: [dict(zip(_COLUMNS[kind], key)) for key in found] for kind, found in self.tables.items()}
