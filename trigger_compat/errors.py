"""Exceptions raised by trigger-compat. Every one derives from :class:`TriggerCompatError`,
with a class per kind a caller catches: an invalid job (:class:`InvalidJobError`), an invalid
setting (:class:`ConfigurationError`), a catalog, cron or template problem, the database
unavailable, a transaction conflict, a schema this code cannot use.

Those that were ``ValueError`` before they had a class of their own still are. A mistake in
the calling program (an argument of the wrong type, a naive datetime where an aware one is
needed) raises Python's own ``TypeError`` or ``ValueError``, as the standard library does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


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


class InvalidArgumentError(InvalidJobError):
    """An argument of an admin command is invalid (a duration, a time, job ids).

    A subclass of :class:`InvalidJobError`, which these arguments raised before they had a
    class of their own.
    """


class ConfigurationError(TriggerCompatError, ValueError):
    """A setting is invalid: a schema or role name, a batch size, a worker's options. Nothing
    was done.

    ``field`` names the offending setting when there is one (e.g. ``"schema"``).
    """

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class WorkerConfigError(ConfigurationError):
    """The worker cannot start as configured (unknown worker name, missing handler, …)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class CronError(TriggerCompatError, ValueError):
    """The cron expression is not valid in graphile's grammar. The message says why."""


class TemplateError(TriggerCompatError, ValueError):
    """A template is malformed, or a payload lacks a field the template needs."""


class DatabaseUnavailableError(TriggerCompatError, ConnectionError):
    """The database could not be reached. The message never contains the password."""


class TransactionConflictError(TriggerCompatError):
    """A deadlock or serialization failure rolled the transaction back; running it again is
    safe (SQLSTATE class 40)."""


class TransferRefusedError(TriggerCompatError):
    """A job transfer between graphile-worker and trigger-compat (``graphile import`` /
    ``graphile export``) refused to run: workers of the side the jobs would leave look alive.
    The message says what was seen and how to go on. Nothing was moved."""


class SchemaError(TriggerCompatError):
    """The database schema is not usable by this version of trigger-compat."""


class SchemaAheadError(SchemaError):
    """The database has migrations this version of the code does not know."""


class SchemaNotMigratedError(SchemaError):
    """The schema has not been migrated (run ``Client.migrate()`` or ``trigger-compat migrate``)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a catalog file, located by ``file:line:column`` and key path."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        label = "warning: " if self.severity == "warning" else ""
        return (
            f"{where} {self.path}: {label}{self.message}"
            if self.path
            else (f"{where} {label}{self.message}")
        )


class CatalogError(TriggerCompatError, ValueError):
    """A catalog is invalid. ``problems`` lists every problem found, not only the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        lines = "\n".join(str(p) for p in errors)
        super().__init__(f"the catalog has {len(errors)} error(s):\n{lines}")


class CatalogRequiredError(TriggerCompatError):
    """``enqueue`` was called on a client built without a catalog."""


class UnknownTaskError(InvalidJobError, LookupError):
    """The identifier is not a task of the catalog. Nothing was written."""


class PayloadValidationError(InvalidJobError):
    """The payload does not match the task's JSON Schema. Nothing was written.

    ``violations`` lists every ``(json_path, message)``, e.g. ``("$.id", "is required")``.
    """

    def __init__(self, field: str, identifier: str, violations: Sequence[tuple[str, str]]) -> None:
        self.identifier = identifier
        self.violations = list(violations)
        listed = "; ".join(f"{path}: {message}" for path, message in self.violations)
        n = len(self.violations)
        super().__init__(
            field,
            f"does not match the schema of {identifier!r} "
            f"({n} violation{'s' if n != 1 else ''}): {listed}",
        )
