"""The resource URLs of PS3.18 10.4.1 under our DICOMweb base (RetrieveURL, BulkDataURI)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Urls:
    base: str       # e.g. https://evk.lv/dicomweb, no trailing slash

    def study(self, study: str) -> str:
        return f"{self.base}/studies/{study}"

    def series(self, study: str, series: str) -> str:
        return f"{self.study(study)}/series/{series}"

    def instance(self, study: str, series: str, sop: str) -> str:
        return f"{self.series(study, series)}/instances/{sop}"
