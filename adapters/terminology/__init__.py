"""The national classifiers (ICD-10, ATC, LOINC, SNOMED CT, UCUM and the national lists) as FHIR
CodeSystem/ValueSet data, and the terminology service over them (docs/terminology.md)."""
from .service import TerminologyError, TerminologyService, reload, terminology

__all__ = ["TerminologyError", "TerminologyService", "reload", "terminology"]
