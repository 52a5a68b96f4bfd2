"""Exceptions raised by trigger-compat. Every one derives from :class:`TriggerCompatError`."""

from __future__ import annotations


class TriggerCompatError(Exception):
    """Base class of every error raised by trigger-compat."""


class InvalidJobError(TriggerCompatError, ValueError):
    """A job specification or option is invalid. Nothing was written.

    ``field`` names the offending field (e.g. ``"max_attempts"`` or ``"specs[3].job_key"``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class DuplicateJobKeyError(InvalidJobError):
    """The same job key appears twice in one batch. Nothing was written."""


class DatabaseUnavailableError(TriggerCompatError, ConnectionError):
    """The database could not be reached. The message never contains the password."""


class SchemaError(TriggerCompatError):
    """The database schema is not usable by this version of trigger-compat."""


class SchemaAheadError(SchemaError):
    """The database has migrations this version of the code does not know."""


class SchemaNotMigratedError(SchemaError):
    """The schema has not been migrated (run ``Client.migrate()`` or ``trigger-compat migrate``)."""
