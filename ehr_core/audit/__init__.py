"""The audit trail: one AuditEvent (IHE Basic Audit Log Patterns) per patient touched per request."""
