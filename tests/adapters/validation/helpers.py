"""Small helpers shared by the validator tests."""
from __future__ import annotations

from ehr_core.errors import Issue


def error_issues(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity in ("error", "fatal")]
