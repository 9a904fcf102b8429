"""The imaging index: DICOM ingest (STOW-RS, C-STORE, import), our catalogue, DICOMweb, FHIR links."""
