"""Turning database driver errors into trigger-compat errors (pure)."""

from __future__ import annotations

import psycopg
from psycopg import errors as pg_errors

from ..errors import (
    DatabaseUnavailableError,
    InvalidJobError,
    SchemaNotMigratedError,
    TransactionConflictError,
    TriggerCompatError,
)
from .dsn import redact_message

# admin_shutdown, crash_shutdown, cannot_connect_now: the server went away or is not there yet.
_SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})


def translate(exc: Exception, *, schema: str, conninfo: str | None) -> TriggerCompatError | None:
    """The trigger-compat error for a driver error, or None to let it through unchanged."""
    if isinstance(
        exc, (pg_errors.UndefinedFunction, pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)
    ):
        return SchemaNotMigratedError(
            f"schema {schema!r} is not migrated ({exc.diag.message_primary}); "
            "run Client.migrate() or `trigger-compat migrate` first"
        )
    if isinstance(exc, pg_errors.InvalidParameterValue) and "job_key_mode" in str(exc):
        return InvalidJobError(
            "job_key_mode", "must be one of replace, preserve_run_at, unsafe_dedupe"
        )
    sqlstate = getattr(exc, "sqlstate", None)
    # Class 40: serialization failure, deadlock; 55P03: a lock wait gave up (lock_timeout).
    if (
        isinstance(exc, psycopg.Error)
        and sqlstate is not None
        and (sqlstate.startswith("40") or sqlstate == "55P03")
    ):
        return TransactionConflictError(
            f"the transaction was rolled back by a conflict ({exc.diag.message_primary}, "
            f"SQLSTATE {sqlstate}); nothing was written — run the transaction again"
        )
    if isinstance(exc, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GONE
    ):
        return DatabaseUnavailableError(
            "cannot reach the database: "
            + redact_message(str(exc).strip(), conninfo)
            + " — check DATABASE_URL (host, port, credentials) and that PostgreSQL is running"
        )
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - the pool extra is a dependency
        return None
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailableError(
            "no database connection could be had in time: " + redact_message(str(exc), conninfo)
        )
    return None
