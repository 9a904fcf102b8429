"""Structural validation of FHIR R4 resources against the base StructureDefinitions.

https://hl7.org/fhir/R4/validation.html

    from adapters.validation import StructureValidator
    issues = StructureValidator().validate(resource)          # -> list[ehr_core.errors.Issue]
"""
from .options import ValidationOptions
from .profiles import ProfileSet
from .validator import StructureValidator, invariant_compiler

__all__ = ["ProfileSet", "StructureValidator", "ValidationOptions", "invariant_compiler"]
