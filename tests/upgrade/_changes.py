"""Changes of the schema a later release may make, applied by the tests of tests/upgrade through
``migrate()`` (they replace what :mod:`trigger_compat.core.migrations` reads as shipped)."""

from __future__ import annotations

from trigger_compat.core import sqlfiles
from trigger_compat.core.sqlfiles import Migration, SqlFunction, function_from_text


def changed(function: SqlFunction, old: str, new: str, count: int) -> SqlFunction:
    """``function`` with ``old`` replaced by ``new`` in its file (``count`` times)."""
    text = function.sql
    assert text.count(old) == count, (
        f"the simulated change of {function.name}.sql no longer matches the file "
        f"({old!r} occurs {text.count(old)} times, expected {count}): update this test"
    )
    return function_from_text(function.name, text.replace(old, new))


def future_release() -> tuple[tuple[Migration, ...], tuple[SqlFunction, ...]]:
    """The shipped migrations and functions, plus a change of the kind a later release makes
    while old workers run (an expand step)."""
    shipped_migrations = sqlfiles.migrations()
    version = shipped_migrations[-1].version + 1
    expand = Migration(
        version,
        "rolling_upgrade_expand",
        "alter table job_queues add column upgrade_note text not null default 'expanded';\n"
        "create table upgrade_notes (job_id bigint primary key, note text not null)",
        (version,),
    )
    functions = []
    for function in sqlfiles.functions():
        if function.name == "settle_and_fetch":
            function = changed(
                function,
                "    now              timestamptz default null\n) returns setof jobs",
                "    now              timestamptz default null,\n"
                "    note             text        default null\n) returns setof jobs",
                1,
            )
            function = changed(function, "begin\n", "begin\n    -- a new body\n", 1)
        elif function.name == "heartbeat":
            function = changed(function, "    hostname ", "    host_name ", 1)
            function = changed(function, "heartbeat.hostname", "heartbeat.host_name", 1)
        functions.append(function)
    return (*shipped_migrations, expand), tuple(functions)


def contract_too_early() -> tuple[tuple[Migration, ...], tuple[SqlFunction, ...]]:
    """A contract step made while workers of this version still run: a migration, and
    ``settle_and_fetch`` given a new required argument, so that this version's call of it
    no longer resolves."""
    shipped_migrations = sqlfiles.migrations()
    version = shipped_migrations[-1].version + 1
    contract = Migration(
        version, "contract_too_early", "create table contract_notes (id bigint)", (version,)
    )
    functions = tuple(
        changed(
            f,
            "    max_jobs         integer,\n",
            "    max_jobs         integer,\n    note             text,\n",
            1,
        )
        if f.name == "settle_and_fetch"
        else f
        for f in sqlfiles.functions()
    )
    return (*shipped_migrations, contract), functions
