"""SMART scopes, token signing and key rotation (database: SQLite and PostgreSQL)."""
from __future__ import annotations

import time

import jwt
import pytest

from ehr_core.auth import scopes
from ehr_core.auth.keys import KeyStore
from ehr_core.auth.principal import PERSON, Principal
from ehr_core.auth.tokens import AuthError, TokenService


def test_scope_forms():
    v2 = scopes.parse("patient/Observation.rs?category=http://x|laboratory")
    assert v2.context == "patient" and v2.actions == frozenset("rs") and v2.params == (("category", "http://x|laboratory"),)
    assert scopes.parse("user/*.read").actions == frozenset("rs")
    assert scopes.parse("system/*.write").actions == frozenset("cud")
    assert scopes.parse("openid") is None and scopes.parse("user/Observation.xyz") is None
    assert v2.permits("Observation", "r") and not v2.permits("Condition", "r") and not v2.permits("Observation", "c")


def test_requested_scopes_are_intersected_with_the_registered_ones():
    allowed = "system/MedicationRequest.rs system/MedicationDispense.cruds"
    assert scopes.intersect("", allowed) == allowed
    assert scopes.intersect("system/MedicationDispense.c system/Observation.rs", allowed) == "system/MedicationDispense.c"
    assert scopes.intersect("system/*.rs", allowed) == ""


@pytest.fixture
def tokens(service):  # noqa: ANN001
    return TokenService(KeyStore(service.engine, rotate_after=3600), issuer="http://t", audience="http://t/fhir", ttl=60)


def _person() -> Principal:
    return Principal(PERSON, "32000000001", personal_code="32000000001", scopes=frozenset({"user/*.rs"}))


def test_tokens_round_trip_and_expire(tokens):  # noqa: ANN001
    issued = tokens.issue(_person())
    back = tokens.verify(issued.access_token)
    assert back.personal_code == "32000000001" and back.scopes == frozenset({"user/*.rs"})
    short = tokens.issue(_person(), ttl=1)
    time.sleep(0.05)
    claims = jwt.decode(short.access_token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 1
    forged = jwt.encode(dict(claims, exp=int(time.time()) + 60), "a-shared-secret-of-32-bytes-or-more", algorithm="HS256")
    with pytest.raises(AuthError):
        tokens.verify(forged)


def test_rotation_keeps_old_tokens_valid_and_publishes_both_keys(tokens):  # noqa: ANN001
    old = tokens.issue(_person()).access_token
    tokens.keys.rotate()
    new = tokens.issue(_person()).access_token
    kids = {k["kid"] for k in tokens.keys.jwks()["keys"]}
    assert {jwt.get_unverified_header(t)["kid"] for t in (old, new)} <= kids and len(kids) == 2
    assert tokens.verify(old).subject == tokens.verify(new).subject


def test_expired_signing_keys_stop_verifying(service):  # noqa: ANN001
    keys = KeyStore(service.engine, rotate_after=1, longest_token=0)
    svc = TokenService(keys, issuer="http://t", audience="http://t/fhir")
    token = svc.issue(_person()).access_token
    from sqlalchemy import update

    from ehr_core.access import schema
    with service.engine.begin() as c:
        c.execute(update(schema.signing_key).values(retire_after=0))
    keys._loaded_at = 0
    with pytest.raises(AuthError):
        svc.verify(token)
