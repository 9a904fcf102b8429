"""EVK central FHIR R4 repository: storage, REST, search, transactions, access control, audit."""
