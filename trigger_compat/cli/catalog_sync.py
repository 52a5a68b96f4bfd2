"""``trigger-compat catalog diff`` and ``catalog apply``: a catalog file against the database
it runs on, and the database (and the running workers) brought to the file.

The comparison itself is :mod:`trigger_compat.core.catalog_sync`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime

import click

from ..client import Client
from ..core import catalog_sync as cs
from ..core.catalog import Catalog
from ..core.catalog_loader import CatalogReport
from . import admin
from ._bulk import DEFAULT_BATCH_SIZE, Step, run_batches
from ._common import EXIT_PROBLEMS, F, database_options
from .catalog import catalog


def _path_argument(fn: F) -> F:
    return click.argument("path", default="catalog.yaml", type=click.Path(dir_okay=False))(fn)


def _db_options(fn: F) -> F:
    """``--database-url``/``--embedded`` and ``--schema`` (default: the catalog's
    databaseSchema): the catalog is the PATH argument here."""
    fn = click.option(
        "--schema",
        envvar="TRIGGER_COMPAT_SCHEMA",
        default=None,
        help="Database schema (default: the catalog's databaseSchema, else trigger_compat).",
    )(fn)
    return database_options(fn)


def compute_diff(client: Client, cat: Catalog) -> cs.CatalogDiff:
    state = client.execute(cs.database_state(), None)
    drifts = client.execute(cs.drift(cat), None)
    return cs.compare(client.schema, cat, state, drifts)


def _when(t: datetime | None) -> str:
    return "never" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def diff_lines(diff: cs.CatalogDiff) -> list[str]:
    """The text of a diff, one line each."""
    lines: list[str] = []
    if diff.queues:
        lines.append("Queue limits")
        for q in diff.queues:
            stored = "no row" if q.stored is None else str(q.stored)
            declared = "not declared (1)" if q.declared is None else str(q.declared)
            lines.append(f"  ~ {q.queue}: stored {stored}, declared {declared}")
    if diff.crontabs:
        lines.append("Recurring tasks")
        for c in diff.crontabs:
            if c.change == "added":
                note = f"; looks like {c.renamed_from} renamed" if c.renamed_from else ""
                lines.append(f"  + {c.identifier}: {c.declared!r} (added{note})")
            elif c.change == "removed":
                lines.append(f"  - {c.identifier}: {c.stored!r} (no longer declared)")
            elif c.change == "unrecorded":
                lines.append(f"  ~ {c.identifier}: {c.declared!r} (schedule not recorded yet)")
            else:
                lines.append(f"  ~ {c.identifier}: {c.stored!r} -> {c.declared!r}")
            if c.change != "removed":
                lines.append(f"      next tick {_when(c.next_tick)}")
    if diff.undeclared:
        lines.append("Tasks not declared, with jobs pending (no worker will run them)")
        for task, n in diff.undeclared.items():
            lines.append(f"  ! {task}: {n} pending")
    if diff.drift:
        lines.append("Pending jobs enqueued with other settings (apply --update-pending)")
        width = max(len("TASK"), *(len(d.task) for d in diff.drift))
        lines.append(f"  {'TASK':<{width}}  PENDING  DIFFERING  PRIORITY  MAX ATTEMPTS  QUEUE")
        for d in diff.drift:
            lines.append(
                f"  {d.task:<{width}}  {d.waiting:>7}  {d.differing:>9}  {d.priority:>8}"
                f"  {d.max_attempts:>12}  {d.queue:>5}"
            )
    return lines


@catalog.command()
@_path_argument
@_db_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def diff(path: str, database_url: str | None, schema: str | None, as_json: bool) -> None:
    """Compare the catalog file with the database: queue limits, recurring tasks, tasks
    with pending jobs the catalog no longer declares, pending (not running) jobs enqueued
    with other settings. Exit 0 when nothing differs, 1 when something does."""
    with (
        admin._client(database_url, schema, path, catalog_required=True) as client,
        admin._handled(),
    ):
        assert client.catalog is not None
        result = compute_diff(client, client.catalog)
    if as_json:
        admin._print_json({"catalog": path, **result.to_json()})
    elif not result.differs:
        click.echo(f"{path} matches schema {result.schema}: nothing differs")
    else:
        click.echo(f"{path} differs from schema {result.schema}:")
        for line in diff_lines(result):
            click.echo(line)
    sys.exit(EXIT_PROBLEMS if result.differs else 0)


def _pending_steps(client: Client, cat: Catalog, max_id: int, batch_size: int) -> Iterator[Step]:
    after = 0
    while True:
        batch = client.execute(cs.update_pending_batch(cat, after, max_id, batch_size), None)
        yield batch.ids, batch.scanned
        if batch.scanned < batch_size or batch.last_id >= max_id:
            return
        after = batch.last_id


def _change_line(c: cs.Change) -> str:
    if c.kind == "queue":
        return f"queue {c.name}: limit {c.old or '-'} -> {c.new}"
    if c.kind == "recurring:added":
        return f"recurring task {c.name}: added ({c.new!r})"
    if c.kind == "recurring:removed":
        return f"recurring task {c.name}: forgotten (was {c.old!r})"
    if c.old is None:
        return f"recurring task {c.name}: schedule recorded ({c.new!r})"
    return f"recurring task {c.name}: schedule {c.old!r} -> {c.new!r}"


@catalog.command("apply")
@_path_argument
@_db_options
@click.option(
    "--update-pending",
    is_flag=True,
    help="Also give pending (not running) jobs of changed tasks the catalog's priority, "
    "max attempts and queue (running jobs are never touched).",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (required without a TTY)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Jobs per statement (--update-pending).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def apply_command(
    path: str,
    database_url: str | None,
    schema: str | None,
    update_pending: bool,
    dry_run: bool,
    yes: bool,
    batch_size: int,
    as_json: bool,
) -> None:
    """Store the catalog's queue limits and recurring tasks (one transaction), tell running
    workers to reload the catalog, and with --update-pending rewrite the pending jobs of
    changed tasks in batches. A second run changes nothing."""
    with (
        admin._client(database_url, schema, path, catalog_required=True) as client,
        admin._handled(),
    ):
        cat = client.catalog
        assert cat is not None
        before = compute_diff(client, cat)
        pending = sum(d.differing for d in before.drift) if update_pending else 0
        if dry_run:
            if as_json:
                admin._print_json(
                    {
                        "catalog": path,
                        "dryRun": True,
                        "wouldUpdatePending": pending,
                        **before.to_json(),
                    }
                )
                return
            if not before.settings_differ and not pending:
                click.echo(f"{path}: nothing to apply to schema {before.schema}")
            else:
                click.echo(f"would apply {path} to schema {before.schema}:")
                for line in diff_lines(before):
                    click.echo(line)
                if pending:
                    click.echo(f"would update {pending} pending job(s)")
            return
        if before.settings_differ or pending:
            what = [f"{len(before.queues) + len(before.crontabs)} setting change(s)"]
            if pending:
                what.append(f"{pending} pending job(s)")
            admin._confirm(
                f"Apply {' and '.join(what)} from {path} to schema {before.schema}?", yes
            )
        changes = client.execute(cs.apply_catalog(cat), None)
        updated: list[int] = []
        statements = 0
        if pending:
            max_id = max(d.max_id for d in before.drift)
            updated, statements = run_batches(
                "updating pending jobs", pending, _pending_steps(client, cat, max_id, batch_size)
            )
    if as_json:
        admin._print_json(
            {
                "catalog": path,
                "schema": before.schema,
                "changes": [c.to_json() for c in changes],
                "updatedPending": len(updated),
                "statements": statements,
                "workersNotified": True,
            }
        )
        return
    for c in changes:
        click.echo(_change_line(c))
    if update_pending:
        click.echo(f"updated {len(updated)} pending job(s) in {statements} batch(es)")
    if not changes and not updated:
        click.echo(f"schema {before.schema} already matches {path}: nothing changed")
    waiting = sum(d.differing for d in before.drift)
    if waiting and not update_pending:
        click.echo(
            f"{waiting} pending job(s) keep the settings they were enqueued with; "
            "--update-pending rewrites them"
        )
    click.echo("running workers were told to reload the catalog")


def add_database_problems(
    reports: list[CatalogReport], database_url: str | None, schema: str | None
) -> None:
    """``catalog validate --against-db``: add to each valid report the differences with the
    database that would break running work, as errors with file:line."""
    for report in reports:
        if report.catalog is None:
            continue
        with (
            admin._client(database_url, schema, report.file) as client,
            admin._handled(),
        ):
            found = compute_diff(client, report.catalog)
        report.problems += cs.against_db_problems(report.file, report.catalog, found)
