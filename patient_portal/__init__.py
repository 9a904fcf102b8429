"""The patient portal (not started: no issue has been filed for it yet).

It will be a thin web edge over the same core as ``/fhir``: every page a person opens goes
through ``ehr_core.access.guard.Guard`` with the person's token (dev sign-in: ``POST
/auth/dev/token``; production: ``/auth/oidc/login``), so the portal can show a ward's or a
grantor's card only where the access rules already allow it. What it builds on exists today:
proxies and future authorisations as ``Consent`` (docs/access.md), declarations, the patient's
own ``AuditEvent`` view and the mailbox notices (``ehr_core/access/mailbox.py``).
"""
