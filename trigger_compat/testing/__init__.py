"""Helpers for testing code that uses trigger-compat."""
