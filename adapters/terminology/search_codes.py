"""The national classifiers as the search core's code source (``ehr_core/search/terminology.py``):
``Condition?code:below=http://hl7.org/fhir/sid/icd-10|E11`` finds E11 and every E11.x;
``Observation?code:in=https://evk.lv/fhir/ValueSet/loinc`` every Observation coded from the subset."""
from __future__ import annotations

from adapters.terminology.service import TerminologyError, terminology

__all__ = ["ClassifierCodes"]


class ClassifierCodes:
    def value_set_codes(self, url: str) -> list[tuple[str, str]]:
        svc = terminology()
        try:
            return [(m.system, m.code) for m in svc.expansion(svc.value_set(url)).members]
        except TerminologyError as exc:
            raise LookupError(exc.message) from None

    def related_codes(self, system: str, code: str, direction: str) -> list[str]:
        try:
            cs = terminology().code_system(system)
        except TerminologyError as exc:
            raise LookupError(exc.message) from None
        concept = cs.get(code)
        if concept is None:
            raise LookupError(f"{code!r} is not a code of {system}")
        if direction == "below":
            return [concept.code, *cs.descendants(concept.code)]
        above, stack = [concept.code], list(concept.parents)
        while stack:
            parent = stack.pop()
            if parent not in above:
                above.append(parent)
                found = cs.get(parent)
                stack.extend(found.parents if found else ())
        return above
