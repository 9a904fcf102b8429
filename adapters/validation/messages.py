"""The validator's rules: stable id, OperationOutcome issue type, English and Latvian wording.

Every issue the structural validator raises is built here, so a rule id always carries the same
issue type and the same two texts. Issue types are from http://hl7.org/fhir/issue-type
(https://hl7.org/fhir/R4/valueset-issue-type.html); the REST edge answers 400 for the structural
ones (structure, required, value, too-long) and 422 for code-invalid and invariant.
"""
from __future__ import annotations

from ehr_core.errors import Issue

# rule id -> (issue type, English template, Latvian template)
RULES: dict[str, tuple[str, str, str]] = {
    "struct-resource-type-missing": (
        "required",
        "The resource has no resourceType",
        "Resursam nav norādīts resourceType"),
    "struct-resource-type-unknown": (
        "structure",
        "{found!r} is not a FHIR R4 resource type",
        "{found!r} nav FHIR R4 resursa tips"),
    "struct-resource-type-abstract": (
        "structure",
        "{found} is an abstract type and cannot be instantiated",
        "{found} ir abstrakts tips, tādu resursu nevar izveidot"),
    "struct-resource-type-mismatch": (
        "structure",
        "{element} must hold a {expected}, found a {found}",
        "Elementā {element} jābūt resursam {expected}, atrasts {found}"),
    "struct-unknown-element": (
        "structure",
        "Unknown element {name!r}: {owner} has no such element",
        "Nezināms elements {name!r}: tipā {owner} tāda elementa nav"),
    "struct-choice": (
        "structure",
        "{problem}",
        "{problem_lv}"),
    "struct-cardinality-min": (
        "required",
        "{element} is required (at least {min}) but is missing",
        "Obligātais elements {element} nav norādīts (vajag vismaz {min})"),
    "struct-cardinality-max": (
        "structure",
        "{element} may occur at most {max} time(s), found {count}",
        "Elements {element} drīkst atkārtoties ne vairāk kā {max} reizi(es), atrasts {count}"),
    "struct-array-expected": (
        "structure",
        "{element} repeats, so its JSON value must be an array",
        "Elements {element} ir atkārtojams, tāpēc tā JSON vērtībai jābūt masīvam"),
    "struct-array-unexpected": (
        "structure",
        "{element} occurs at most once, so its JSON value must not be an array",
        "Elements {element} var būt tikai viens, tāpēc tā JSON vērtība nedrīkst būt masīvs"),
    "struct-null": (
        "structure",
        "null is not a valid value; leave the element out instead",
        "null nav pieļaujama vērtība; elements jāizlaiž"),
    "struct-empty": (
        "structure",
        "An empty value ({json}) is not allowed; leave the element out instead",
        "Tukša vērtība ({json}) nav pieļaujama; elements jāizlaiž"),
    "struct-type": (
        "structure",
        "{element} of type {type} must be {expected}, found {found}",
        "Elementam {element} (tips {type}) jābūt {expected_lv}; atrastā vērtība ir {found_lv}"),
    "content-html-in-string": (
        "security",
        "The string contains text that looks like an HTML tag ({tag!r}); markup is not allowed in a "
        "string, because whoever displays the record could render it",
        "Teksta virknē ir kaut kas līdzīgs HTML birkai ({tag!r}); iezīmēšana teksta virknē nav atļauta, "
        "jo ierakstu attēlojot to varētu atveidot"),
    "content-html-in-markdown": (
        "security",
        "The markdown contains what looks like an embedded HTML tag ({tag!r}); the presentation layer "
        "will (or should) escape it: check that this is intended",
        "Markdown tekstā ir kaut kas līdzīgs iegultai HTML birkai ({tag!r}); attēlojot to paredzēts "
        "aizstāt ar drošu tekstu: pārbaudiet, vai tas ir domāts"),
    "content-example-url": (
        "value",
        "Example URLs are not allowed here ({value!r}): example.org, example.com and acme.com are for "
        "examples, not for real records",
        "Parauga URL šeit nav atļauts ({value!r}): example.org, example.com un acme.com ir paredzēti "
        "paraugiem, nevis īstiem ierakstiem"),
    "struct-primitive-format": (
        "value",
        "{value!r} is not a valid {type}",
        "{value!r} nav derīga {type} vērtība"),
    "struct-primitive-date": (
        "value",
        "{value!r} is not a real calendar date",
        "{value!r} nav reāls kalendāra datums"),
    "struct-primitive-timezone": (
        "value",
        "{value!r} has a time but no timezone; a {type} with a time must end in Z or ±hh:mm",
        "{value!r} satur laiku bez laika joslas; {type} ar laiku jābeidzas ar Z vai ±hh:mm"),
    "struct-primitive-range": (
        "value",
        "{value!r} is out of range for {type}",
        "{value!r} ir ārpus pieļaujamā diapazona tipam {type}"),
    "struct-primitive-whitespace": (
        "value",
        "{value!r} has leading or trailing whitespace, which a {type} must not have",
        "{value!r} sākumā vai beigās ir atstarpes, kas tipam {type} nav atļautas"),
    "struct-primitive-control": (
        "value",
        "The {type} contains a control character (U+{char:04X})",
        "Vērtība ({type}) satur vadības rakstzīmi (U+{char:04X})"),
    "struct-primitive-length": (
        "too-long",
        "The {type} is {length} characters long; FHIR strings may not exceed 1 MB",
        "Vērtība ({type}) ir {length} rakstzīmes gara; FHIR teksts nedrīkst pārsniegt 1 MB"),
    "struct-primitive-extension": (
        "structure",
        "{problem}",
        "{problem_lv}"),
    "ele-1": (
        "invariant",
        "All FHIR elements must have a value or children (found only an id)",
        "Katram FHIR elementam jābūt vērtībai vai apakšelementiem (atrasts tikai id)"),
    "ext-1": (
        "invariant",
        "An extension must have either a value[x] or nested extensions: {problem}",
        "Paplašinājumam jābūt vai nu vērtībai value[x], vai ligzdotiem paplašinājumiem: {problem_lv}"),
    "struct-extension-url": (
        "value",
        "Extension url {url!r} must be an absolute URL",
        "Paplašinājuma url {url!r} jābūt absolūtam URL"),
    "ext-context": (
        "structure",
        "The extension {url} is not allowed on {owner} (its definition allows: {contexts})",
        "Paplašinājums {url} nav atļauts elementā {owner} (tā definīcija atļauj: {contexts})"),
    "binding-required": (
        "code-invalid",
        "{code!r} is not in the required value set {value_set}",
        "Kods {code!r} nav obligātajā vērtību kopā {value_set}"),
    # --- core rules that are not FHIRPath constraints (resource_rules.py) ----------------------
    "bdl-fullurl-relative": (
        "value",
        "fullUrl {url!r} must be an absolute URL",
        "fullUrl {url!r} jābūt absolūtam URL"),
    "bdl-link-repeated": (
        "structure",
        "The link relation {relation!r} may occur only once",
        "Saites veids {relation!r} drīkst būt tikai vienu reizi"),
    "bdl-search-id": (
        "required",
        "A search result must have an id",
        "Meklēšanas rezultātam jābūt identifikatoram (id)"),
    "bdl-ref-ambiguous": (
        "structure",
        "The reference {reference!r} matches {count} entries of the Bundle (they share its fullUrl)",
        "Atsauce {reference!r} atbilst {count} Bundle ierakstiem (tiem ir vienāds fullUrl)"),
    "obs-vital-sign-code": (
        "code-invalid",
        "A vital sign observation must carry a LOINC code, {code} in the {profile} profile "
        "(http://hl7.org/fhir/StructureDefinition/{profile}); other codes may be given besides it",
        "Vitālo rādītāju novērojumam jābūt ar LOINC kodu, profilā {profile} tas ir {code} "
        "(http://hl7.org/fhir/StructureDefinition/{profile}); citi kodi var būt papildus"),
    "vs-filter-expression": (
        "value",
        "The filter value expression is not usable: {problem}",
        "Filtra vērtības izteiksme nav lietojama: {problem_lv}"),
    "sd-derived-from-itself": (
        "value",
        "The definition {url} names itself as its baseDefinition",
        "Definīcija {url} norāda pati sevi kā savu bāzi (baseDefinition)"),
    "coding-system-value-set": (
        "code-invalid",
        "Coding.system {system!r} is a value set, not a code system",
        "Coding.system {system!r} ir vērtību kopa, nevis kodu sistēma"),
    "xhtml-link-unresolved": (
        "value",
        "The narrative links to #{target}, which no id or name in the document's narrative defines",
        "Teksts (narrative) atsaucas uz #{target}, bet dokumenta tekstā tāda id vai name nav"),
    "att-size": (
        "value",
        "Attachment.size is {size} but the data holds {actual} bytes",
        "Attachment.size ir {size}, bet datos ir {actual} baiti"),
    "sp-composite-components": (
        "required",
        "A composite search parameter needs at least two components",
        "Saliktam meklēšanas parametram vajag vismaz divas komponentes"),
    "sp-derived-type": (
        "value",
        "The type {found} differs from {expected}, the type of {parent}",
        "Tips {found} atšķiras no {expected}, kas ir {parent} tips"),
    "sp-derived-base": (
        "value",
        "{base} is not a base of {parent}, which this search parameter is derived from",
        "{base} nav bāze parametram {parent}, no kura šis meklēšanas parametrs atvasināts"),
    "xhtml-entity": (
        "value",
        "The XHTML contains the entity {entity}, which XML does not define (use a character or &#...;)",
        "XHTML satur entītiju {entity}, ko XML nedefinē (jālieto pati rakstzīme vai &#...;)"),
    # --- profiles (profiling.html): what a claimed or applied profile adds to the base ---------
    "profile-min": (
        "required",
        "{element} is required by profile {profile} (at least {min}), found {count}",
        "Profils {profile} prasa elementu {element} (vismaz {min}), atrasts {count}"),
    "profile-max": (
        "structure",
        "{element} may occur at most {max} time(s) in profile {profile}, found {count}",
        "Profilā {profile} elements {element} drīkst atkārtoties ne vairāk kā {max} reizi(es), atrasts {count}"),
    "profile-type": (
        "structure",
        "{found}: profile {profile} allows {element} only as {allowed}",
        "{found}: profils {profile} elementam {element} atļauj tikai {allowed}"),
    "profile-fixed": (
        "value",
        "{element} must be {expected} in profile {profile}, found {found}",
        "Profilā {profile} elementa {element} vērtībai jābūt {expected}, atrasts {found}"),
    "profile-fixed-system": (
        "code-invalid",
        "Profile {profile} requires the code system {expected} at {element}, found {found}",
        "Profils {profile} elementā {element} prasa kodu sistēmu {expected}, atrasta {found}"),
    "profile-pattern": (
        "value",
        "{element} must contain {expected} (profile {profile})",
        "Elementam {element} jāsatur {expected} (profils {profile})"),
    "profile-slice-unmatched": (
        "structure",
        "The {element} item fits none of the slices profile {profile} allows ({slices})",
        "Elements {element} neatbilst nevienai profila {profile} atļautajai daļai ({slices})"),
    "profile-slice-min": (
        "required",
        "{element} needs at least {min} {slice} item(s) in profile {profile}, found {count}",
        "Profilā {profile} elementam {element} vajag vismaz {min} daļas {slice} vienumu(s), atrasti {count}"),
    "profile-slice-max": (
        "structure",
        "{element} may have at most {max} {slice} item(s) in profile {profile}, found {count}",
        "Profilā {profile} elementam {element} drīkst būt ne vairāk kā {max} daļas {slice} vienumu(s), atrasti {count}"),
    "profile-reference-type": (
        "structure",
        "{element} must refer to {allowed} in profile {profile}, not to {found}",
        "Profilā {profile} elementam {element} jāatsaucas uz {allowed}, nevis uz {found}"),
    "profile-binding": (
        "code-invalid",
        "{code!r} is not in the value set {value_set} that profile {profile} requires",
        "Kods {code!r} nav vērtību kopā {value_set}, ko prasa profils {profile}"),
    "invariant": (
        "invariant",
        "Constraint {key} failed: {human}",
        "Nav izpildīts ierobežojums {key}: {human}"),
}


def issue(rule: str, expression: str, *, severity: str = "error", **params: object) -> Issue:
    """One Issue (an error unless said otherwise) for ``rule`` at ``expression``."""
    code, en, lv = RULES[rule]
    return Issue(severity, code, en.format(**params), (expression,), rule, lv.format(**params))


# JSON value kinds, for "expected X, found Y" messages: English, Latvian dative (after
# "jābūt"), Latvian nominative.
JSON_KINDS: dict[str, tuple[str, str, str]] = {
    "string": ("a JSON string", "JSON teksta virknei", "JSON teksta virkne"),
    "boolean": ("a JSON boolean (true/false)", "JSON loģiskajai vērtībai (true/false)",
                "JSON loģiskā vērtība"),
    "integer": ("a JSON integer", "JSON veselam skaitlim", "JSON vesels skaitlis"),
    "number": ("a JSON number", "JSON skaitlim", "JSON skaitlis"),
    "object": ("a JSON object", "JSON objektam", "JSON objekts"),
    "array": ("a JSON array", "JSON masīvam", "JSON masīvs"),
    "null": ("null", "null", "null"),
}


def json_kind(value: object) -> str:
    """The JSON kind of a parsed value (bool before int: in Python a bool is an int)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def type_issue(expression: str, element: str, type_name: str, expected: str, value: object) -> Issue:
    """``struct-type``: the JSON value is of the wrong kind (``"active": "true"``)."""
    found = json_kind(value)
    return issue("struct-type", expression, element=element, type=type_name,
                 expected=JSON_KINDS[expected][0], expected_lv=JSON_KINDS[expected][1],
                 found=JSON_KINDS[found][0], found_lv=JSON_KINDS[found][2])


# Latvian wording of the constraints that fire most (the definitions carry English only).
INVARIANTS_LV: dict[str, str] = {
    "dom-2": "ietvertais resurss nedrīkst saturēt citus ietvertus resursus",
    "dom-3": "uz ietverto resursu jābūt atsaucei no resursa, vai tam pašam jāatsaucas uz ietverošo resursu",
    "dom-4": "ietvertajam resursam nedrīkst būt meta.versionId vai meta.lastUpdated",
    "dom-5": "ietvertajam resursam nedrīkst būt drošības marķējumu (meta.security)",
    "ref-1": "lokālai atsaucei (#id) jāatbilst ietvertam resursam",
    "per-1": "perioda sākums nedrīkst būt vēlāks par beigām",
    "qty-3": "ja norādīts mērvienības kods, jānorāda arī tā sistēma",
    "cpt-2": "ja norādīta kontakta vērtība, jānorāda arī sistēma",
    "att-1": "ja pielikumā ir dati, jānorāda arī contentType",
    "obs-6": "dataAbsentReason drīkst norādīt tikai tad, ja nav vērtības value[x]",
    "obs-7": "ja komponentam ir tāds pats kods kā novērojumam, novērojumam nedrīkst būt vērtības value[x]",
    "con-4": "ja slimība ir beigusies (abatement), klīniskajam statusam jābūt inactive, resolved vai remission",
    "con-5": "ja verifikācijas statuss ir entered-in-error, klīnisko statusu nedrīkst norādīt",
    "ait-1": "klīniskais statuss ir obligāts, ja verifikācijas statuss nav entered-in-error",
    "ait-2": "ja verifikācijas statuss ir entered-in-error, klīnisko statusu nedrīkst norādīt",
    "pat-1": "kontaktpersonai jānorāda kontaktinformācija vai atsauce uz organizāciju",
    "org-1": "organizācijai jābūt vismaz nosaukumam vai identifikatoram",
}


def invariant_issue(key: str, human: str, expression: str) -> Issue:
    """A failed FHIRPath constraint; the rule id is the constraint key (``obs-6``)."""
    code, en, lv = RULES["invariant"]
    return Issue("error", code, en.format(key=key, human=human), (expression,), key,
                 lv.format(key=key, human=INVARIANTS_LV.get(key, human)))
