"""Constant lists written into the SQL text once, and bound parameters for anything else."""
from __future__ import annotations

import pytest
from sqlalchemy import column, select, table
from sqlalchemy.dialects import postgresql, sqlite

from ehr_core.storage.constants import constant_in, quoted

t = table("resource", column("resource_type"))


@pytest.mark.parametrize("dialect", [postgresql.psycopg.dialect(), sqlite.dialect()])
def test_names_go_into_the_text(dialect) -> None:  # noqa: ANN001
    sql = str(select(t.c.resource_type).where(constant_in(t.c.resource_type, ["Patient", "Observation"]))
              .compile(dialect=dialect))
    assert "IN ('Observation', 'Patient')" in sql and "POSTCOMPILE" not in sql
    one = str(select(t.c.resource_type).where(constant_in(t.c.resource_type, ["Patient"])).compile(dialect=dialect))
    assert "= 'Patient'" in one


def test_anything_else_stays_a_parameter() -> None:
    stmt = select(t.c.resource_type).where(constant_in(t.c.resource_type, ["x'; DROP TABLE resource; --"]))
    compiled = stmt.compile(dialect=postgresql.psycopg.dialect())
    assert "DROP" not in str(compiled) and "POSTCOMPILE" in str(compiled)
    with pytest.raises(ValueError):
        quoted(["it's"])
    assert str(select(t.c.resource_type).where(constant_in(t.c.resource_type, []))
               .compile(dialect=sqlite.dialect())).endswith("WHERE 0 = 1")
