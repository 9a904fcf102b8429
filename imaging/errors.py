"""Why an instance was refused, with the Failure Reason code each one answers with.

Codes follow PS3.18 I.2.2 (Store Instances Response Failure Reason) and are the same for the
C-STORE status (PS3.4 B.2.3), so all three ways in report a failure the same way. Codes marked
"ours" are implementation specific within the ranges the standard leaves open ("Cxxx: cannot
understand"); they are listed here as our conformance statement says they must be.
"""
from __future__ import annotations

PROCESSING_FAILURE = 0x0110          # PS3.18 I.2.2: general failure (e.g. the backend is down)
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000           # not DICOM, corrupt, no file meta
MISSING_UID = 0xC001                 # ours: a required UID is missing or malformed
WRONG_STUDY = 0xC409                 # ours: STOW to /studies/{uid} with an instance of another study
PATIENT_CONFLICT = 0xC410            # ours: patient data contradicts the indexed study
HIERARCHY_CONFLICT = 0xC411          # ours: a series/instance UID already belongs elsewhere

# Short texts for the C-STORE Error Comment (0000,0902), which holds 64 characters.
REASON_TEXT = {
    PROCESSING_FAILURE: "processing failure (storage backend or index)",
    SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
    OUT_OF_RESOURCES: "out of resources",
    CANNOT_UNDERSTAND: "not a readable DICOM instance",
    MISSING_UID: "a required UID is missing or malformed",
    WRONG_STUDY: "the instance belongs to another study",
    PATIENT_CONFLICT: "patient data contradicts the indexed study",
    HIERARCHY_CONFLICT: "series/instance UID already indexed elsewhere",
}


class ImagingError(Exception):
    """Base of the imaging package's errors."""


class InstanceRejected(ImagingError):
    """One instance was not kept. ``label`` names it (SOP Instance UID, file, or part number)."""

    def __init__(self, label: str, reason: int, message: str, *, sop_class: str = "", sop_uid: str = ""):
        super().__init__(f"{label}: {message}")
        self.label = label
        self.reason = reason
        self.message = message
        self.sop_class = sop_class
        self.sop_uid = sop_uid


class NotFound(ImagingError):
    """A study, series, instance or frame that the index does not hold."""


class NotAcceptable(ImagingError):
    """The client asked for a representation we cannot produce (HTTP 406)."""


class BadRequest(ImagingError):
    """A malformed query or request (HTTP 400)."""


class BackendError(ImagingError):
    """The storage backend failed (HTTP 502/503 at the edge, 0x0110 for an instance)."""


class UnsupportedMediaType(ImagingError):
    """A request body of a media type the route does not take (HTTP 415)."""


class Forbidden(ImagingError):
    """The access guard refused (HTTP 403)."""


HTTP_STATUS = {NotFound: 404, BadRequest: 400, NotAcceptable: 406, UnsupportedMediaType: 415, Forbidden: 403,
               BackendError: 503}
