"""Token signing keys: ES256, kept in the database, rotated without downtime.

The newest key signs. A key is rotated out after ``rotate_after`` seconds of signing, but it
keeps verifying until every token it signed has expired (``retire_after`` = end of signing +
the longest token lifetime), and it stays in the JWKS until then. All workers of a deployment
share the keys through the database; a worker that meets an unknown ``kid`` reloads.

Production note: the private keys are stored as PEM in the database. A deployment with an HSM
or KMS replaces ``KeyStore`` (same three methods: ``signer``, ``public_key``, ``jwks``).
"""
from __future__ import annotations

import json
import threading
import time
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import Engine, delete, insert, select

from ehr_core.access import schema

ALG = "ES256"

__all__ = ["KeyStore", "ALG"]


def _now() -> int:
    return int(time.time())


class KeyStore:
    def __init__(self, engine: Engine, *, rotate_after: int = 24 * 3600, longest_token: int = 4 * 3600):
        self.engine = engine
        self.rotate_after = rotate_after
        self.longest_token = longest_token
        self._lock = threading.Lock()
        self._public: dict[str, tuple[object, int]] = {}     # kid -> (public key, retire_after µs)
        self._signer: tuple[str, object, int] | None = None  # (kid, private key, created µs)
        self._loaded_at = 0.0

    # --- public surface ----------------------------------------------------------------------
    def signer(self) -> tuple[str, object]:
        """(kid, private key) of the key to sign with now; rotates when the current one is old."""
        with self._lock:
            if self._signer is None or time.time() - self._loaded_at > 60:
                self._load()
            if self._signer is None or _now() - self._signer[2] // 1_000_000 >= self.rotate_after:
                self._create()
                self._load()
            assert self._signer is not None
            return self._signer[0], self._signer[1]

    def public_key(self, kid: str) -> object | None:
        with self._lock:
            if kid not in self._public or time.time() - self._loaded_at > 60:
                self._load()
            found = self._public.get(kid)
        if found is None or found[1] < _now() * 1_000_000:
            return None
        return found[0]

    def jwks(self) -> dict:
        """Every key that may still verify a token (RFC 7517 JWK Set)."""
        with self._lock:
            self._load()
            rows = self._rows()
        now = _now() * 1_000_000
        return {"keys": [json.loads(r.public_jwk) for r in rows if r.retire_after >= now]}

    def rotate(self) -> str:
        """Start signing with a new key now (the old ones keep verifying)."""
        with self._lock:
            kid = self._create()
            self._load()
            return kid

    # --- storage -----------------------------------------------------------------------------
    def _rows(self) -> list:
        t = schema.signing_key
        with self.engine.connect() as c:
            return list(c.execute(select(t).order_by(t.c.created)).all())

    def _load(self) -> None:
        rows = self._rows()
        now = _now() * 1_000_000
        self._public = {}
        self._signer = None
        for r in rows:
            if r.retire_after < now:
                continue
            pub = ECAlgorithm(ECAlgorithm.SHA256).from_jwk(r.public_jwk)
            self._public[r.kid] = (pub, r.retire_after)
        signing = [r for r in rows if r.retire_after >= now]
        if signing:
            newest = signing[-1]
            key = serialization.load_pem_private_key(newest.private_pem.encode(), password=None)
            self._signer = (newest.kid, key, newest.created)
        self._loaded_at = time.time()

    def _create(self) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        kid = uuid.uuid4().hex
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": ALG, "use": "sig"})
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        created = _now() * 1_000_000
        retire = (_now() + self.rotate_after + self.longest_token + 300) * 1_000_000
        t = schema.signing_key
        with self.engine.begin() as c:
            c.execute(insert(t).values(kid=kid, alg=ALG, private_pem=pem, public_jwk=json.dumps(jwk),
                                       created=created, retire_after=retire))
            # Keys past their verification life are of no use to anyone: drop them.
            c.execute(delete(t).where(t.c.retire_after < created))
        return kid
