"""Transport-free FHIR REST: ``Handler.handle(FhirRequest) -> FhirResponse`` (http.html).

The HTTP edge (``ehr_core.api``) only unpacks requests and serialises responses; Bundle entries
re-enter the same handler, so a transaction does exactly what the single requests would do.
"""
