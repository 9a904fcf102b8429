"""A handler on the hospital submission path: every resource is held to the national rules."""
from __future__ import annotations

import pytest

from adapters.national import NationalValidator


@pytest.fixture
def national(handler):  # noqa: ANN001, ANN201
    handler.validator = NationalValidator(handler.validator.structure, enforce="all")
    return handler
