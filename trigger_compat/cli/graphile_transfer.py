"""``trigger-compat graphile import|export``: move jobs out of a graphile-worker schema into
trigger-compat (the cut-over), or back again (a roll-back); see
:mod:`trigger_compat.cutover.transfer`.

Both run in one transaction, print one line per phase on stderr and the counts by task at the
end. Exit codes: 0 done (also when nothing was left to move), 2 bad input (an option, a schema
that is not graphile-worker's, values the other side cannot hold), 3 refused (the workers of
the side the jobs would leave look alive: stop them, or pass --force), 4 database
(unreachable, the trigger-compat schema not migrated, a lock not obtained in time).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg

from ..core.dberrors import MIGRATE_HINT, translate
from ..cutover.transfer import TransferReport, export_jobs, import_jobs
from ..errors import (
    DatabaseUnavailableError,
    SchemaError,
    TransactionConflictError,
    TransferRefusedError,
    TriggerCompatError,
)
from ._common import (
    EXIT_DATABASE,
    EXIT_REFUSED,
    EXIT_USAGE,
    F,
    chosen_database_url,
    database_options,
    exit_code_of,
    fail,
    one_line,
)
from ._format import table
from .graphile import graphile

_SHELL_MIGRATE_HINT = "run `trigger-compat migrate` (same --database-url and --schema) first"


@contextmanager
def _handled(schema: str, url: str) -> Iterator[None]:
    """trigger-compat and database errors as one line and a documented exit code."""
    try:
        yield
    except TransferRefusedError as exc:
        fail(str(exc), EXIT_REFUSED)
    except TransactionConflictError as exc:
        fail(
            f"{exc}; another transaction holds the jobs table (raise --lock-timeout, or run "
            "again when it is done)",
            EXIT_DATABASE,
        )
    except (SchemaError, DatabaseUnavailableError) as exc:
        fail(str(exc).replace(MIGRATE_HINT, _SHELL_MIGRATE_HINT), EXIT_DATABASE)
    except TriggerCompatError as exc:
        fail(str(exc), EXIT_USAGE)
    except psycopg.Error as exc:
        mapped = translate(exc, schema=schema, conninfo=url)
        if mapped is not None:
            fail(str(mapped).replace(MIGRATE_HINT, _SHELL_MIGRATE_HINT), exit_code_of(mapped))
        state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
        fail(f"the database refused: {one_line(str(exc))}{state}", EXIT_DATABASE)


def _options(fn: F) -> F:
    """What both commands take: the database, the trigger-compat schema, the conflict rule,
    --force, --dry-run, --json, --lock-timeout, --leave-failed."""
    for option in reversed(
        [
            click.option(
                "--schema",
                envvar="TRIGGER_COMPAT_SCHEMA",
                default=None,
                help="The trigger-compat schema (default: the catalog's databaseSchema, else "
                "trigger_compat; $TRIGGER_COMPAT_SCHEMA).",
            ),
            click.option(
                "--catalog",
                "catalog_path",
                default=None,
                type=click.Path(dir_okay=False),
                help="Catalog file whose databaseSchema is the default --schema (default: "
                "./catalog.yaml when it exists).",
            ),
            click.option(
                "--on-conflict",
                type=click.Choice(["keep", "replace"]),
                default="keep",
                show_default=True,
                help="A job whose key the receiving side already holds: keep = leave it where "
                "it is (reported); replace = move it and give it the key.",
            ),
            click.option(
                "--force",
                is_flag=True,
                help="Move even while the workers of the side the jobs leave look alive (their "
                "held jobs are released, the interrupted attempt counted).",
            ),
            click.option(
                "--leave-failed",
                is_flag=True,
                help="Leave the permanently failed jobs where they are (default: move them, "
                "still failed).",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Do everything in a transaction, print the counts, then roll it back.",
            ),
            click.option(
                "--lock-timeout",
                type=click.FloatRange(min=0.001),
                default=10.0,
                show_default=True,
                help="Seconds to wait for the lock on the jobs table being emptied.",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
        ]
    ):
        fn = option(fn)
    return database_options(fn)


def _url(database_url: str | None) -> str:
    try:
        return chosen_database_url(database_url)
    except TriggerCompatError as exc:
        fail(str(exc), EXIT_USAGE)


def _progress() -> Callable[[str], None]:
    started = time.monotonic()

    def say(line: str) -> None:
        click.echo(f"[{time.monotonic() - started:6.1f}s] {line}", err=True)

    return say


def _print(report: TransferReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return
    leaving, arriving = (
        (f"graphile-worker {report.graphile_schema}", f"trigger-compat {report.schema}")
        if report.direction == "import"
        else (f"trigger-compat {report.schema}", f"graphile-worker {report.graphile_schema}")
    )
    headers = [
        "TASK",
        "MOVED",
        "WAITING",
        "SCHEDULED",
        "RETRYING",
        "FAILED",
        "RELEASED",
        "KEY KEPT",
    ]
    rows = [
        [task, c.moved, c.waiting, c.scheduled, c.retrying, c.failed, c.released, c.key_kept]
        for task, c in report.by_task.items()
    ]
    if rows:
        t = report.totals()
        rows.append(
            ["total", t.moved, t.waiting, t.scheduled, t.retrying, t.failed, t.released, t.key_kept]
        )
        for line in table(headers, rows):
            click.echo(line)
    verb = "would move" if report.dry_run else "moved"
    click.echo(
        f"{verb} {report.moved} job(s) from {leaving} to {arriving} (graphile-worker "
        f"{report.graphile_version} layout, migration {report.graphile_migration})"
        + (" — dry run, nothing was changed" if report.dry_run else "")
    )
    if report.key_kept:
        click.echo(
            f"{report.key_kept} job(s) stayed in {leaving}: {arriving} already holds their key "
            "(--on-conflict replace moves them)"
        )
    if report.replaced or report.detached:
        click.echo(
            f"--on-conflict replace: {report.replaced} job(s) of {arriving} replaced, "
            f"{report.detached} running or failed one(s) gave up their key"
        )
    if report.crontabs:
        click.echo(f"recurring-task positions carried over: {', '.join(report.crontabs)}")


def _schema(schema: str | None, catalog_path: str | None) -> str:
    if schema:
        return schema
    from .admin import _schema_of_catalog_file

    return _schema_of_catalog_file(catalog_path)


def _run(
    move: Callable[..., TransferReport],
    database_url: str | None,
    schema: str,
    as_json: bool,
    **options: Any,
) -> None:
    """Run an import or an export on ``schema`` and print its report."""
    url = _url(database_url)
    with _handled(schema, url):
        report = move(url, schema=schema, progress=_progress(), **options)
    _print(report, as_json)
    sys.stdout.flush()


@graphile.command("import")
@_options
@click.option(
    "--from-schema",
    required=True,
    metavar="NAME",
    help="The graphile-worker schema (trigger.dev's WORKER_SCHEMA, e.g. graphile_worker).",
)
def import_command(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    on_conflict: str,
    force: bool,
    leave_failed: bool,
    dry_run: bool,
    lock_timeout: float,
    as_json: bool,
    from_schema: str,
) -> None:
    """Move every job out of a graphile-worker schema (0.13 to 0.16+) into trigger-compat,
    with the recurring tasks' positions, in one transaction. A second run moves nothing.
    Refused while graphile-worker jobs are locked (its workers look alive) unless --force."""
    _run(
        import_jobs,
        database_url,
        _schema(schema, catalog_path),
        as_json,
        from_schema=from_schema,
        on_conflict=on_conflict,
        force=force,
        include_failed=not leave_failed,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
    )


@graphile.command("export")
@_options
@click.option(
    "--to-schema",
    required=True,
    metavar="NAME",
    help="The graphile-worker schema the old workers run (migrated by graphile-worker).",
)
def export_command(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    on_conflict: str,
    force: bool,
    leave_failed: bool,
    dry_run: bool,
    lock_timeout: float,
    as_json: bool,
    to_schema: str,
) -> None:
    """The way back: move every job trigger-compat holds into a graphile-worker schema
    (0.13 or 0.16+) whose workers then run them, with the recurring tasks' positions, in one
    transaction. Refused while trigger-compat workers look alive unless --force."""
    _run(
        export_jobs,
        database_url,
        _schema(schema, catalog_path),
        as_json,
        to_schema=to_schema,
        on_conflict=on_conflict,
        force=force,
        include_failed=not leave_failed,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
    )
