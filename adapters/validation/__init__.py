"""Structural validation of FHIR R4 resources against the base StructureDefinitions.

https://hl7.org/fhir/R4/validation.html

    from adapters.validation import StructureValidator
    issues = StructureValidator().validate(resource)          # -> list[ehr_core.errors.Issue]
"""
from .validator import StructureValidator

__all__ = ["StructureValidator"]
