"""Storage: one SQL schema and one repository over SQLite (embedded) and PostgreSQL (production)."""
