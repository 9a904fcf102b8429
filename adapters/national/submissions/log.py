"""``SubmissionLog``: what the core calls around a hospital submission and a sandbox run
(wired by ``ehr_core/service.py`` as ``Handler.submissions``).

A submission is a transaction Bundle POSTed by a system client of an organisation. The
transaction processor (``ehr_core/rest/bundle.py``) asks ``checks`` for the client's tier before
validating, calls ``Submission.write`` in its own unit of work when everything was stored
(the record commits with the data), and runs inside ``recording``, which writes a refusal in a
transaction of its own — the submission's was rolled back, its record must stay.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ehr_core import errors
from ehr_core.errors import Issue
from ehr_core.rest.messages import FhirRequest
from ehr_core.storage.repository import Repository, Session

from ..submission import envelope
from .record import ACCEPTED, REFUSED, Submission
from .tier import CLAIMED, STRICT, tier_of

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler


def _submitter(req: FhirRequest):  # noqa: ANN202 - the system Principal, or None
    p = req.principal
    return p if p is not None and p.is_system and p.organization_id else None


class SubmissionLog:
    def __init__(self, handler: Handler, repo: Repository):
        self.handler = handler
        self.repo = repo

    @contextmanager
    def recording(self, req: FhirRequest, bundle: dict) -> Iterator[Submission | None]:
        """The submission being processed (None: not a system's transaction, nothing recorded)."""
        p = _submitter(req)
        if p is None or bundle.get("type") != "transaction":
            yield None
            return
        sub = Submission.of(p, bundle, sandbox=False)
        sub.envelope = envelope(bundle, submission=True)
        try:
            yield sub
        except errors.FhirError as exc:
            with self.repo.session(write=True) as s:
                sub.write(s.conn, REFUSED, exc.status, exc.issues)
            raise

    def checks(self, sub: Submission, s: Session) -> tuple[object | None, list[Issue]]:
        """(the validator for the client's tier — None: the handler's own —, envelope issues)."""
        sub.tier = tier_of(s.conn, sub.client_id)
        if sub.tier == CLAIMED:
            return None, []
        from ..sandbox import submission_validator
        return submission_validator(self.handler), list(sub.envelope)

    def accepted(self, sub: Submission, s: Session) -> None:
        sub.write(s.conn, ACCEPTED, 200, [i for _, notes in sorted(sub.warnings.items()) for i in notes])

    def sandbox_run(self, req: FhirRequest, s: Session, body: object, issues: list[Issue]) -> None:
        """A ``$validate`` by a system: recorded in the run's own (write) unit of work."""
        p = _submitter(req)
        if p is None:
            return
        sub = Submission.of(p, body, sandbox=True)
        sub.tier = STRICT                          # the sandbox holds everything to the submission tier
        refused = any(i.severity in ("error", "fatal") for i in issues)
        sub.write(s.conn, REFUSED if refused else ACCEPTED, 200, issues)
