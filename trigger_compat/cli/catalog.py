"""``trigger-compat catalog``: validate a catalog file, show its tasks' effective settings."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..core.catalog import CLEANUP_IDENTIFIER, Catalog, catalog_json_schema, effective_settings
from ..core.catalog_loader import CatalogReport, inspect_catalog
from ..errors import UnknownTaskError
from . import main
from ._common import EXIT_NOT_FOUND, EXIT_PROBLEMS, EXIT_USAGE, F, database_options, fail


def _json_option(fn: F) -> F:
    """``--json`` (as every command), with ``--format json`` kept as a hidden alias."""
    fn = click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default=None, hidden=True
    )(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


def _check_files(paths: tuple[str, ...]) -> None:
    for path in paths:
        if not Path(path).is_file():
            what = "is a directory" if Path(path).is_dir() else "does not exist"
            fail(f"catalog {path} {what}: pass the catalog file's path", EXIT_USAGE)


@main.group()
def catalog() -> None:
    """Check and inspect catalog files (catalog.yaml)."""


def _summary(report: CatalogReport) -> str:
    cat = report.catalog
    assert cat is not None
    n_warn = len(report.warnings)
    warn = f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else ""
    return (
        f"{report.file}: OK — {len(cat.workers)} worker(s), {len(cat.tasks)} task(s), "
        f"{len(cat.recurring_tasks)} recurring task(s), {len(cat.queues)} queue(s){warn}"
    )


@catalog.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
@_json_option
@click.option("--check-handlers", is_flag=True, help="Also import every handler 'module:function'.")
@click.option(
    "--against-db",
    is_flag=True,
    help="Also check against the database what would break running work (a task removed "
    "while jobs of it wait, a recurring task renamed).",
)
@click.option("--schema", envvar="TRIGGER_COMPAT_SCHEMA", default=None, help="With --against-db.")
@database_options
def validate(
    paths: tuple[str, ...],
    as_json: bool,
    fmt: str | None,
    check_handlers: bool,
    against_db: bool,
    schema: str | None,
    database_url: str | None,
) -> None:
    """Check catalog files (default: ./catalog.yaml); exit 1 listing every problem (a file
    that cannot be read included). --against-db also checks them against the database."""
    paths = paths or ("catalog.yaml",)
    if check_handlers and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    reports = [inspect_catalog(p, check_handlers=check_handlers) for p in paths]
    if against_db:
        from .catalog_sync import add_database_problems

        add_database_problems(reports, database_url, schema)
    failed = any(not r.ok for r in reports)
    if as_json or fmt == "json":
        out = {
            "valid": not failed,
            "files": [
                {
                    "file": r.file,
                    "valid": r.ok,
                    "errors": len(r.errors),
                    "warnings": len(r.warnings),
                    "problems": [asdict(p) for p in r.problems],
                }
                for r in reports
            ],
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for r in reports:
            for p in r.problems:
                click.echo(str(p))
            if r.ok:
                click.echo(_summary(r))
            else:
                n_err, n_warn = len(r.errors), len(r.warnings)
                click.echo(
                    f"{r.file}: {n_err} error{'s' if n_err != 1 else ''}"
                    + (f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else "")
                )
    sys.exit(EXIT_PROBLEMS if failed else 0)


def _load(path: str) -> Catalog:
    _check_files((path,))
    report = inspect_catalog(path)
    if report.catalog is None:
        for p in report.errors:
            click.echo(str(p), err=True)
        fail(f"{path}: invalid catalog; run 'trigger-compat catalog validate {path}'", EXIT_USAGE)
    return report.catalog


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@catalog.command()
@click.argument("path", default="catalog.yaml", type=click.Path(dir_okay=False))
@click.option("--task", "task", help="Only this task identifier.")
@_json_option
def show(path: str, task: str | None, as_json: bool, fmt: str | None) -> None:
    """Print each task's effective settings (catalog values with defaults filled in); exit 1
    when --task names no task of the catalog."""
    cat = _load(path)
    rows: list[dict[str, Any]] = []
    for wname, worker in cat.workers.items():
        for ident, settings in worker.tasks.items():
            if task is None or task == ident:
                rows.append({"worker": wname, **effective_settings(ident, settings)})
    recurring: list[dict[str, Any]] = []
    for wname, worker in cat.workers.items():
        for name, rt in worker.recurring_tasks.items():
            if task is None or task == name:
                recurring.append(
                    {
                        "worker": wname,
                        "identifier": name,
                        "match": rt.match,
                        "options": rt.options.model_dump(by_alias=True, exclude_none=True),
                        "handler": rt.handler,
                    }
                )
        cleanup = worker.cleanup
        if cleanup is not None and task in (None, CLEANUP_IDENTIFIER):
            recurring.append(
                {
                    "worker": wname,
                    "identifier": CLEANUP_IDENTIFIER,
                    "match": cleanup.frequency_expression,
                    "options": cleanup.task_options.model_dump(by_alias=True, exclude_none=True),
                    "handler": "(built in: deletes permanently failed jobs)",
                    "ttl": cleanup.ttl,
                    "maxCount": cleanup.max_count,
                }
            )
    if task is not None and not rows and not recurring:
        try:
            cat.task(task)
        except UnknownTaskError as exc:
            fail(str(exc), EXIT_NOT_FOUND)
        fail(f"--task {task}: no such task in {path}", EXIT_NOT_FOUND)
    if as_json or fmt == "json":
        click.echo(json.dumps({"tasks": rows, "recurringTasks": recurring}, indent=2))
        return
    for row in rows:
        click.echo(f"{row['identifier']}  (worker {row['worker']})")
        for key, value in row.items():
            if key not in ("identifier", "worker"):
                click.echo(f"  {key:<12} {_fmt(value)}")
    for row in recurring:
        click.echo(f"{row['identifier']}  (worker {row['worker']}, recurring)")
        click.echo(f"  {'match':<12} {row['match']}")
        click.echo(f"  {'options':<12} {_fmt(row['options'])}")
        click.echo(f"  {'handler':<12} {_fmt(row['handler'])}")
        for key in ("ttl", "maxCount"):
            if key in row:
                click.echo(f"  {key:<12} {_fmt(row[key])}")


@catalog.command("json-schema")
def json_schema() -> None:
    """Print the JSON Schema of catalog files (for editors; see schemas/catalog.schema.json)."""
    click.echo(json.dumps(catalog_json_schema(), indent=2, ensure_ascii=False))


# registers `catalog from-ts`, `catalog diff`, `catalog apply` and `catalog types`
from . import catalog_from_ts, catalog_sync, catalog_types  # noqa: E402, F401
