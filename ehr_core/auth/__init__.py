"""Identities and tokens: who is calling (``Principal``), signed short-lived JWTs, SMART scopes."""
