"""Runnable examples of trigger-compat (each is run by a test in tests/examples/)."""
