"""Tests of the structural validator (adapters/validation)."""
