"""DICOMweb (PS3.18): QIDO-RS search, WADO-RS retrieve, STOW-RS store — transport-free functions
that take parsed request values and return bodies; imaging/api.py adapts them to HTTP."""
