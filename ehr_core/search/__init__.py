"""FHIR search: parameter registry (from SearchParameter data), index extraction, query building."""
