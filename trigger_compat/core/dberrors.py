"""Turning database driver errors into trigger-compat errors (pure)."""

from __future__ import annotations

import re

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

#: The advice of :class:`SchemaNotMigratedError` (the command line shows its own).
MIGRATE_HINT = "run Client.migrate() or `trigger-compat migrate` first"

# What libpq and psycopg say when a connection that was open is lost (not one never made).
_LOST = re.compile(
    r"server closed the connection unexpectedly|consuming input failed|sending query failed"
    r"|the connection is (?:lost|closed)|connection is bad|terminating connection"
    r"|SSL SYSCALL error|SSL connection has been closed|EOF detected",
    re.IGNORECASE,
)

# Why a connection that was open ended, by SQLSTATE: it is not a configuration problem.
_ENDED = {
    "57P01": "an administrator ended the session (pg_terminate_backend) or PostgreSQL is "
    "shutting down; connect again",
    "57P02": "PostgreSQL crashed and is restarting; connect again when it is back",
    "57P03": "PostgreSQL is starting up or shutting down; try again shortly",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _connection_error(exc: psycopg.OperationalError, conninfo: str | None) -> str:
    """The message of a connection problem, with the advice that fits it: a session the server
    ended or a connection lost is not fixed by checking DATABASE_URL."""
    detail = _one_line(redact_message(str(exc).strip(), conninfo))
    sqlstate = exc.sqlstate
    if sqlstate in _ENDED:
        return f"the database ended the connection: {detail} — {_ENDED[sqlstate]}"
    if _LOST.search(detail):
        return (
            f"lost the connection to the database: {detail} — the server or the network closed "
            "it; connect again (the server's log says why when it keeps happening)"
        )
    return (
        f"cannot reach the database: {detail} — check DATABASE_URL (host, port, credentials) "
        "and that PostgreSQL is running"
    )


def translate(exc: Exception, *, schema: str, conninfo: str | None) -> TriggerCompatError | None:
    """The trigger-compat error for a driver error, or None to let it through unchanged."""
    if isinstance(
        exc, (pg_errors.UndefinedFunction, pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)
    ):
        return SchemaNotMigratedError(
            f"schema {schema!r} is not migrated ({exc.diag.message_primary}); {MIGRATE_HINT}"
        )
    if isinstance(exc, pg_errors.InvalidParameterValue) and "job_key_mode" in str(exc):
        return InvalidJobError(
            "job_key_mode", "must be one of replace, preserve_run_at, unsafe_dedupe"
        )
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        # A standby (or a failed-over primary that came back as one), or read-only sessions.
        return DatabaseUnavailableError(
            f"the database server takes no writes ({exc.diag.message_primary}): it is a standby "
            "or its sessions are read-only — connect to the primary (with several hosts in the "
            "URL, add target_session_attrs=read-write)"
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
    from psycopg_pool import PoolTimeout

    # Before the OperationalError branch (PoolTimeout is one): a busy pool is not a wrong URL.
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailableError(
            "no connection of the client's pool was free or could be opened in time ("
            + redact_message(str(exc), conninfo)
            + "): more calls at once than pool_size for that long (raise pool_size or "
            "pool_timeout, or bound the callers' concurrency), or the database is unreachable"
        )
    if isinstance(exc, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GONE
    ):
        return DatabaseUnavailableError(_connection_error(exc, conninfo))
    return None
