"""National (Latvian) rules for EVK: the personal code, registered identifier systems, the
national profiles, and ``NationalValidator`` which layers them over the structural validator."""
from .validator import NationalValidator

__all__ = ["NationalValidator"]
