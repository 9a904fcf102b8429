"""Adapters: pluggable implementations behind the core's small interfaces (validation, ...)."""
