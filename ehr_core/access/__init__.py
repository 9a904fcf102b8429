"""Access control: one guard (``guard.Guard``) for every FHIR interaction, deny by default.

The rules are ../shared/standards/access-rules.md; each decision names the rule that decided it.
"""
