"""Hospital submissions and sandbox runs: recorded (``log``, ``record``, ``schema``), mapped to
the standard's data categories (``categories``), held to each client's conformance tier
(``tier``), and shown to the submitting organisation (``views``, guarded by ``access``)."""
from __future__ import annotations


def wire(handler, repo) -> None:  # noqa: ANN001 - ehr_core Handler (with its guard), Repository
    """Log submissions, serve ``$submissions``/``$conformance-report``, give them access policies."""
    from .access import policies
    from .log import SubmissionLog
    from .views import register
    handler.submissions = SubmissionLog(handler, repo)
    register(handler)
    handler.guard.operations.update(policies())
