"""The conformance tier is a registration setting: ``evk clients add --conformance``, default
strict, changed with ``evk clients conformance``."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from adapters.national.submissions.tier import CLAIMED, STRICT, UNREGISTERED, set_tier, tier_of
from ehr_core.cli import main
from tests.utils.auth import client_keys


def test_registered_by_the_command_line_default_strict(db_url, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("EVK_DATABASE_URL", db_url)
    monkeypatch.setenv("EVK_DEMO_DATA", "0")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(client_keys()[1]))
    runner = CliRunner()
    plain = runner.invoke(main, ["clients", "add", "--organization", "40003000001", "--jwks", str(jwks)])
    lenient = runner.invoke(main, ["clients", "add", "--organization", "40003000002", "--jwks", str(jwks),
                                   "--conformance", "claimed"])
    assert plain.exit_code == 0 and lenient.exit_code == 0, plain.output + lenient.output
    plain_id, lenient_id = plain.output.split()[-1], lenient.output.split()[-1]
    engine = create_engine(db_url)
    with engine.connect() as c:
        assert (tier_of(c, plain_id), tier_of(c, lenient_id)) == (STRICT, CLAIMED)
    assert runner.invoke(main, ["clients", "conformance", lenient_id, "strict"]).exit_code == 0
    with engine.connect() as c:
        assert tier_of(c, lenient_id) == STRICT
        assert tier_of(c, "minted-in-process") == UNREGISTERED == CLAIMED
    assert runner.invoke(main, ["clients", "conformance", "nobody", "strict"]).exit_code != 0
    with pytest.raises(ValueError):
        set_tier(engine, plain_id, "lenient")
    engine.dispose()
