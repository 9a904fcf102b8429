"""Shared fixtures: one validator per session (the tables are built once per process)."""
from __future__ import annotations

import pytest

from adapters.validation import StructureValidator


@pytest.fixture(scope="session")
def validator() -> StructureValidator:
    return StructureValidator()


@pytest.fixture(scope="session")
def errors(validator):  # noqa: ANN001, ANN201
    """``errors(resource, path=None)`` -> {(rule, expression)} of the error issues."""
    def run(resource: dict, path: str | None = None) -> set[tuple[str, str]]:
        return {(i.rule, i.expression[0]) for i in validator.validate(resource, path=path)
                if i.severity == "error"}
    return run
