"""The operator commands: ``migrate``, ``status``, ``jobs list|show``, ``retry``, ``remove``,
``fail``, ``reschedule``, ``clean``, ``enqueue``, ``pause``, ``resume`` and ``health``.

Each needs the database named (``--database-url``, ``DATABASE_URL`` or ``--embedded``). Exit
codes: see :mod:`trigger_compat.cli._common` (0 success, 1 nothing found or unhealthy, 2 bad
input, 3 refused, 4 database).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import psycopg

from ..client import Client
from ..core import admin_ops as ao
from ..core import ops
from ..core.dberrors import MIGRATE_HINT, translate
from ..core.dsn import split_pooled
from ..core.migrations import latest_version, moved_on, pending
from ..core.rates import Rates, Sample, last_job_id, rates
from ..core.sqlfiles import DEFAULT_SCHEMA, queries_for
from ..errors import (
    CatalogError,
    DatabaseUnavailableError,
    InvalidJobError,
    SchemaError,
    SchemaNotMigratedError,
    TriggerCompatError,
)
from . import main
from ._bulk import DEFAULT_BATCH_SIZE, by_ids, by_keyset, run_batches
from ._common import (
    EXIT_DATABASE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNHEALTHY,
    EXIT_USAGE,
    F,
    chosen_database_url,
    color,
    database_options,
    one_line,
)
from ._common import fail as _fail
from ._format import format_age, table, truncate
from ._parse import parse_duration, parse_ids, parse_when

if TYPE_CHECKING:
    from ..core.catalog import Catalog

EXIT_INVALID = EXIT_USAGE
#: What a shell user runs when the schema is not migrated.
_SHELL_MIGRATE_HINT = "run `trigger-compat migrate` (same --database-url and --schema) first"

# -- shared options and helpers ----------------------------------------------------------


def _db_options(fn: F) -> F:
    fn = click.option(
        "--catalog",
        "catalog_path",
        default=None,
        type=click.Path(dir_okay=False),
        help="Catalog file whose databaseSchema is the default schema (default: ./catalog.yaml "
        "when it exists).",
    )(fn)
    fn = click.option(
        "--schema",
        envvar="TRIGGER_COMPAT_SCHEMA",
        default=None,
        help=f"Database schema (default: the catalog's databaseSchema, else {DEFAULT_SCHEMA}).",
    )(fn)
    return database_options(fn)


def _json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


def _yes_option(fn: F) -> F:
    return click.option(
        "--yes", "-y", is_flag=True, help="Do not ask for confirmation (required without a TTY)."
    )(fn)


def _batch_option(fn: F) -> F:
    return click.option(
        "--batch-size",
        type=click.IntRange(1, ao.MAX_BATCH_SIZE),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Jobs per statement.",
    )(fn)


@contextmanager
def _handled() -> Iterator[None]:
    """trigger-compat errors as one line on stderr and a documented exit code."""
    try:
        yield
    except (InvalidJobError, CatalogError) as exc:
        _fail(str(exc), EXIT_INVALID)
    except (SchemaError, DatabaseUnavailableError) as exc:
        _fail(str(exc).replace(MIGRATE_HINT, _SHELL_MIGRATE_HINT), EXIT_DATABASE)
    except TriggerCompatError as exc:
        _fail(str(exc), EXIT_INVALID)
    except psycopg.Error as exc:
        state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
        _fail(f"the database refused: {one_line(str(exc))}{state}", EXIT_DATABASE)


def _check_catalog_file(path: str) -> None:
    if not Path(path).is_file():
        what = "is a directory" if Path(path).is_dir() else "does not exist"
        _fail(f"catalog {path} {what}: pass --catalog FILE", EXIT_INVALID)


def _load_catalog(path: str | None, *, required: bool = False) -> Catalog | None:
    if path is None:
        if not Path("catalog.yaml").is_file():
            if required:
                _fail(
                    "no catalog: pass --catalog FILE (./catalog.yaml does not exist)", EXIT_INVALID
                )
            return None
        path = "catalog.yaml"
    _check_catalog_file(path)
    from ..core.catalog_loader import inspect_catalog  # YAML and JSON Schema load only when needed

    report = inspect_catalog(path)
    if report.catalog is None:
        for p in report.errors:
            click.echo(str(p), err=True)
        _fail(
            f"{path}: invalid catalog; run 'trigger-compat catalog validate {path}'", EXIT_INVALID
        )
    return report.catalog


def _schema(schema: str | None, catalog: Catalog | None) -> str:
    if schema:
        return schema
    return (catalog.database_schema if catalog is not None else None) or DEFAULT_SCHEMA


def _schema_of_catalog_file(path: str | None) -> str:
    """The schema a catalog file names (``databaseSchema``), read from its YAML without
    loading the catalog (its JSON Schemas, templates and cron): all that the commands other
    than ``enqueue`` need of it. A file that cannot be read this way is loaded in full, so
    that its problems are reported as ever."""
    if path is None:
        if not Path("catalog.yaml").is_file():
            return DEFAULT_SCHEMA
        path = "catalog.yaml"
    _check_catalog_file(path)
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if isinstance(data, dict):
        value = data.get("databaseSchema")
        if value is None:
            return DEFAULT_SCHEMA
        if isinstance(value, str) and value:
            return value
    return _schema(None, _load_catalog(path))


@contextmanager
def _client(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    *,
    catalog_required: bool = False,
) -> Iterator[Client]:
    """A client on one connection of its own (a command runs a few statements one after the
    other: a pool would cost a second connection and its threads)."""
    catalog = _load_catalog(catalog_path, required=True) if catalog_required else None
    if schema:
        name = schema
    elif catalog is not None:
        name = _schema(None, catalog)
    else:
        name = _schema_of_catalog_file(catalog_path)
    with _handled():
        url, _ = split_pooled(chosen_database_url(database_url))
        try:
            # Never a server-side prepared statement: a command runs a few statements once
            # each (preparing never pays), and through PgBouncer in transaction mode a
            # statement prepared on one server connection is unknown to the next.
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10, prepare_threshold=None)
        except psycopg.ProgrammingError as exc:  # a conninfo libpq refuses at connect time
            _fail(f"--database-url (or DATABASE_URL): {exc}", EXIT_INVALID)
        except Exception as exc:
            mapped = translate(exc, schema=name, conninfo=url)
            if mapped is None:
                raise
            raise mapped from None
    with conn, Client(conn, schema=name, catalog=catalog) as client:
        yield client


def _echo(text: str = "", **style: Any) -> None:
    """A line on stdout; styled only when stdout is a terminal (click strips it otherwise)."""
    click.echo(click.style(text, **style) if style else text, color=color())


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirm(question: str, yes: bool) -> None:
    """Go on when ``--yes`` was given or the operator says yes at the terminal; else exit 3."""
    if yes:
        return
    if not _interactive():
        _fail(
            f"refusing to go on without confirmation ({question}): stdin is not a terminal; "
            "pass --yes",
            EXIT_REFUSED,
        )
    if not click.confirm(question, default=False, err=True):
        click.echo("aborted; nothing was changed", err=True)
        sys.exit(EXIT_REFUSED)


def _now() -> datetime:
    return datetime.now(UTC)


# -- migrate -----------------------------------------------------------------------------


@main.command()
@_db_options
@_json_option
@click.option("--dry-run", is_flag=True, help="Print the SQL of the pending migrations only.")
def migrate(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    dry_run: bool,
) -> None:
    """Apply the pending migrations (safe to run from several processes at once)."""
    with _client(database_url, schema, catalog_path) as client, _handled():
        if not dry_run:
            applied = client.migrate()
            if as_json:
                _print_json(
                    {"schema": client.schema, "applied": applied, "version": latest_version()}
                )
            elif applied:
                listed = ", ".join(str(v) for v in applied)
                click.echo(f"schema {client.schema}: applied migration(s) {listed}")
            else:
                click.echo(f"schema {client.schema}: up to date (version {latest_version()})")
            return
        try:
            done = client.execute(ao.applied_migrations(), None)
        except SchemaNotMigratedError:
            done = []
        todo = pending(client.schema, done)
        q = queries_for(client.schema)
        if as_json:
            _print_json(
                {
                    "schema": client.schema,
                    "pending": [m.version for m in todo],
                    "version": max(done, default=0),
                    "sql": [m.sql for m in todo],
                }
            )
            return
        if not todo:
            click.echo(f"-- schema {client.schema}: up to date (version {latest_version()})")
            return
        click.echo(f"-- schema {client.schema}: {len(todo)} pending migration(s); nothing was run")
        click.echo(q["migrate_bootstrap"].rstrip() + ";")
        for m in todo:
            click.echo(f"\n-- migration {m.version:04d}_{m.name} (in its own transaction)")
            click.echo("begin;")
            click.echo(q["migrate_search_path"].rstrip() + ";")
            click.echo(m.sql.rstrip())
            click.echo(f"-- recorded as version {m.version} in {client.schema}.migrations")
            click.echo("commit;")


# -- status ------------------------------------------------------------------------------

_STATE_HEADERS = ["WAITING", "SCHEDULED", "RUNNING", "RETRYING", "FAILED", "OLDEST WAITING"]

# `status` counts every job while the planner estimates at most this many (a pass over the
# table costs about 0.4 s per million jobs); above, it samples about SAMPLE_ROWS jobs' pages
# and counts failed jobs exactly while there are at most FAILED_EXACT_CAP of them.
EXACT_BELOW = 200_000
SAMPLE_ROWS = 50_000
FAILED_EXACT_CAP = 100_000


def _count_cells(status: ao.Status, c: ao.Counts) -> list[Any]:
    cells: list[Any] = [
        c.waiting,
        c.scheduled,
        c.running,
        c.retrying,
        c.failed,
        format_age(status.oldest_waiting_age(c)),
    ]
    if status.estimate is not None:
        # An estimated figure reads "~N" (the rest are exact).
        estimated = status.estimate.estimated
        for i, name in enumerate([*ao.JOB_STATES, "oldest_waiting_age_seconds"]):
            if name in estimated and cells[i] not in (0, "-"):
                cells[i] = f"~{cells[i]}"
    return cells


@main.command()
@_db_options
@_json_option
@click.option(
    "--stale-after",
    default="60s",
    show_default=True,
    help="A worker whose heartbeat is older than this is shown as stale.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Refresh in place every --interval seconds, with rates (Ctrl-C to stop); with "
    "--json, one JSON object per line per refresh.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes of --watch.",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=None,
    help="Stop --watch after this many refreshes (default: until interrupted).",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Count every job (one pass over the jobs table, about 0.4 s per million jobs), "
    "however big the table.",
)
@click.option(
    "--exact-below",
    type=click.IntRange(min=0),
    default=EXACT_BELOW,
    show_default=True,
    help="Count exactly while the planner estimates at most this many jobs; above it, "
    "waiting, scheduled and retrying jobs (and failed ones beyond "
    f"{FAILED_EXACT_CAP:,}) are estimated from a sample of the table's pages.",
)
def status(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    stale_after: str,
    watch: bool,
    interval: float,
    iterations: int | None,
    exact: bool,
    exact_below: int,
) -> None:
    """Jobs per task and per queue in each state, the age of the oldest waiting job, and the
    registered workers with their heartbeat age. --watch keeps it on screen, refreshed, with
    the jobs added, finished and failed per second. On a big table (above --exact-below jobs)
    the counts of waiting, scheduled and retrying jobs are estimates, marked with "~"."""
    with _handled():
        stale = parse_duration(stale_after, "--stale-after").total_seconds()
    threshold = None if exact else exact_below
    with _client(database_url, schema, catalog_path) as client, _handled():
        if not watch:
            st = _read_status(client, threshold)
            if as_json:
                _print_json({"schema": client.schema, **st.to_json()})
            else:
                _render_status(client.schema, st, stale)
            return
        before: Sample | None = None
        frame = 0
        try:
            while True:
                st = _read_status(client, threshold)
                totals = st.totals()
                now = Sample(
                    time.monotonic(),
                    client.execute(last_job_id(client.schema), None),
                    totals.total,
                    totals.failed,
                )
                speed = rates(before, now) if before is not None else None
                before = now
                frame += 1
                if as_json:
                    rates_json = _rates_json(speed)
                    if rates_json is not None and st.estimate is not None:
                        # Differences of estimated totals are noise, not rates.
                        rates_json["finished_per_second"] = None
                        rates_json["failed_per_second"] = None
                    data = {"schema": client.schema, **st.to_json(), "rates": rates_json}
                    click.echo(json.dumps(data, ensure_ascii=False, default=str))
                else:
                    # Home the cursor and clear the screen: the view refreshes in place.
                    click.echo("\x1b[H\x1b[2J", nl=False)
                    stamp = datetime.now(UTC).strftime("%H:%M:%S")
                    _echo(f"every {interval:g} s, {stamp} UTC (Ctrl-C to stop)")
                    _render_status(client.schema, st, stale, speed)
                if iterations is not None and frame >= iterations:
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            return


def _read_status(client: Client, exact_below: int | None = None) -> ao.Status:
    """The status; exact when ``exact_below`` is None or the table is no bigger."""
    estimate: ao.Estimate | None = None
    size = -1 if exact_below is None else client.execute(ao.status_size(client.schema), None)
    if exact_below is not None and size > exact_below:
        percent = ao.sample_percent(size, SAMPLE_ROWS)
        groups, db_now, failed_exact = client.execute(
            ao.job_counts_estimated(size, percent, FAILED_EXACT_CAP), None
        )
        estimate = ao.Estimate(size, percent, failed_exact)
    else:
        groups, db_now = client.execute(ao.job_counts(), None)
    return ao.Status(groups, db_now, client.execute(ao.workers(), None), client.paused(), estimate)


def _rates_json(speed: Rates | None) -> dict[str, float | None] | None:
    if speed is None:
        return None
    return {
        "added_per_second": round(speed.added, 3),
        "finished_per_second": round(speed.finished, 3),
        "failed_per_second": round(speed.failed, 3),
    }


def _render_status(schema: str, st: ao.Status, stale: float, speed: Rates | None = None) -> None:
    totals = st.totals()
    est = st.estimate
    if est is None:
        _echo(f"schema {schema}: {totals.total} job(s)", bold=True)
    else:
        _echo(f"schema {schema}: ~{totals.total} job(s) (estimated)", bold=True)
        exact = "running and failed jobs" if est.failed_exact else "running jobs"
        _echo(
            f"~ marks an estimate: the planner reckons {est.rows:,} jobs, so the figures come "
            f"from a sample of {est.percent:g}% of the table's pages; {exact} are counted "
            "exactly (--exact counts every job)"
        )
    if speed is not None and est is None:
        _echo(
            f"rates over {speed.seconds:.1f} s: {speed.added:.1f} added/s, "
            f"{speed.finished:.1f} finished/s, {speed.failed:.1f} failed/s"
        )
    elif speed is not None:
        _echo(
            f"rates over {speed.seconds:.1f} s: {speed.added:.1f} added/s "
            "(finished/s and failed/s need exact counts: --exact)"
        )
    for title, key in (("task", "task"), ("queue", "queue")):
        by = st.by("task" if key == "task" else "queue")
        _echo()
        _echo(f"Jobs by {title}", bold=True)
        if not by:
            _echo(f"  (no {'jobs' if key == 'task' else 'named queues'})")
            continue
        rows = [[name, *_count_cells(st, c)] for name, c in by.items()]
        if key == "task":
            rows.append(["(all)", *_count_cells(st, totals)])
        for i, line in enumerate(table([title.upper(), *_STATE_HEADERS], rows)):
            failed = i > 0 and rows[i - 1][5] != 0
            _echo("  " + line, **({"fg": "red"} if failed else {}))
    if st.paused:
        _echo()
        paused = ", ".join(f"{p.kind} {p.name}" for p in st.paused)
        _echo(f"Paused (no job of theirs starts): {paused}", bold=True, fg="yellow")
    _echo()
    live = [w for w in st.workers if w.heartbeat_age_seconds <= stale]
    _echo(f"Workers: {len(live)} live, {len(st.workers) - len(live)} stale", bold=True)
    if st.workers:
        wrows = [
            [
                w.name,
                w.worker_id,
                w.hostname,
                w.pid,
                w.running,
                format_age(w.heartbeat_age_seconds),
                "live" if w.heartbeat_age_seconds <= stale else "stale",
            ]
            for w in st.workers
        ]
        headers = ["NAME", "WORKER ID", "HOST", "PID", "RUNNING", "HEARTBEAT", "STATE"]
        for i, line in enumerate(table(headers, wrows)):
            is_stale = i > 0 and wrows[i - 1][6] == "stale"
            _echo("  " + line, **({"fg": "yellow"} if is_stale else {}))


# -- jobs list / show --------------------------------------------------------------------


@main.group()
def jobs() -> None:
    """List and inspect jobs."""


@jobs.command("list")
@_db_options
@_json_option
@click.option("--task", default=None, help="Only jobs of this task identifier.")
@click.option("--queue", default=None, help="Only jobs of this named queue.")
@click.option("--state", type=click.Choice(ao.JOB_STATES), default=None, help="Only this state.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def list_jobs(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    task: str | None,
    queue: str | None,
    state: str | None,
    limit: int,
) -> None:
    """Jobs in id order, filtered by task, queue and state."""
    with _client(database_url, schema, catalog_path) as client, _handled():
        found = client.execute(ao.list_jobs(task, queue, state, limit), None)
    if as_json:
        _print_json([ao.job_json(r.job, r.state) for r in found])
        return
    if not found:
        click.echo("no jobs match")
        return
    now = _now()
    rows = [
        [
            r.job.id,
            r.job.task_identifier,
            r.job.queue_name,
            r.state,
            f"{r.job.attempts}/{r.job.max_attempts}",
            r.job.run_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            format_age((now - r.job.created_at).total_seconds()),
            truncate(r.job.last_error, 50),
        ]
        for r in found
    ]
    headers = ["ID", "TASK", "QUEUE", "STATE", "ATTEMPTS", "RUN AT (UTC)", "AGE", "LAST ERROR"]
    colors = {"failed": "red", "running": "green", "retrying": "yellow"}
    for i, line in enumerate(table(headers, rows)):
        color = colors.get(str(rows[i - 1][3])) if i > 0 else None
        _echo(line, **({"fg": color} if color else {"bold": True} if i == 0 else {}))
    if len(found) == limit:
        click.echo(f"(first {limit}; use --limit for more)", err=True)


@jobs.command("show")
@_db_options
@_json_option
@click.argument("job_id", type=click.IntRange(min=1, max=2**63 - 1))
def show_job(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    job_id: int,
) -> None:
    """One job: every field, the payload pretty-printed and the last error. Exit 1 when
    there is no such job."""
    with _client(database_url, schema, catalog_path) as client, _handled():
        row = client.execute(ao.show_job(job_id), None)
    if row is None:
        if as_json:
            _print_json(None)
        _fail(f"no job {job_id} in schema {client.schema}", EXIT_NOT_FOUND)
    job = row.job
    if as_json:
        _print_json(ao.job_json(job, row.state))
        return
    _echo(f"job {job.id}  {job.task_identifier}  [{row.state}]", bold=True)
    fields: list[tuple[str, Any]] = [
        ("queue", job.queue_name),
        ("key", job.key),
        ("priority", job.priority),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("run at", ao.iso(job.run_at)),
        ("locked at", ao.iso(job.locked_at)),
        ("locked by", job.locked_by),
        ("flags", ", ".join(job.flags) if job.flags else None),
        ("revision", job.revision),
        ("created at", ao.iso(job.created_at)),
        ("updated at", ao.iso(job.updated_at)),
    ]
    for name, value in fields:
        _echo(f"  {name:<11} {'-' if value is None else value}")
    _echo("payload:", bold=True)
    for line in json.dumps(job.payload, indent=2, ensure_ascii=False).splitlines():
        _echo("  " + line)
    _echo("last error:", bold=True)
    if job.last_error is None:
        _echo("  -")
    else:
        for line in job.last_error.splitlines():
            _echo("  " + line, fg="red")


@jobs.command("cancel")
@_db_options
@_json_option
@_yes_option
@_batch_option
@click.argument("ids", nargs=-1, required=True)
@click.option(
    "--reason", "-m", default=None, help="Why; recorded after who cancelled, in last_error."
)
def cancel_jobs(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    batch_size: int,
    ids: tuple[str, ...],
    reason: str | None,
) -> None:
    """Cancel jobs, waiting or running: each fails for good now with last_error "cancelled
    by USER@HOST (pid N)[: REASON]"; the worker running one stops it within a second. Exit 1
    when none of them could be cancelled (no such job, or already failed for good)."""
    with _handled():
        job_ids = parse_ids(ids)
    with _client(database_url, schema, catalog_path) as client, _handled():
        _confirm(f"Cancel {_plural(len(job_ids), 'job')}?", yes)
        running: list[int] = []

        def run(chunk: list[int]) -> list[int]:
            cancelled = client.cancel_jobs(chunk, reason=reason)
            running.extend(j.id for j in cancelled if j.locked_at is not None)
            return [j.id for j in cancelled]

        done, statements = run_batches("cancelling", len(job_ids), by_ids(job_ids, batch_size, run))
    skipped = sorted(set(job_ids) - set(done))
    note = f" ({len(running)} running, their workers told)" if running else ""
    gone = f"; not found or already failed: {', '.join(map(str, skipped))}" if skipped else ""
    _summary(
        as_json,
        {
            "cancelled": len(done),
            "running": sorted(running),
            "skipped": skipped,
            "statements": statements,
        },
        f"cancelled {_plural(len(done), 'job')}{note}{gone}",
    )
    if not done:
        _fail(
            f"none of the jobs {', '.join(map(str, skipped))} exists or can still run; "
            "see `trigger-compat jobs list`",
            EXIT_NOT_FOUND,
        )


# -- bulk actions ------------------------------------------------------------------------


def _summary(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        _print_json(data)
    else:
        click.echo(text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _skipped_text(skipped: list[int]) -> str:
    return f"; not found or running: {', '.join(map(str, skipped))}" if skipped else ""


def _on_job_ids(
    job_ids: list[int],
    run: Callable[[list[int]], list[int]],
    batch_size: int,
    label: str,
    done_word: str,
    text: str,
    as_json: bool,
    **extra: Any,
) -> None:
    """Act on ``job_ids`` in batches (``run`` returns the ids it acted on) and report them and
    the ids skipped (not found, or running). ``text`` has a ``{}`` for "N jobs". Exit 1
    when none of them could be changed."""
    done, statements = run_batches(label, len(job_ids), by_ids(job_ids, batch_size, run))
    skipped = sorted(set(job_ids) - set(done))
    _summary(
        as_json,
        {done_word: len(done), **extra, "skipped": skipped, "statements": statements},
        text.format(_plural(len(done), "job")) + _skipped_text(skipped),
    )
    if not done:
        _fail(
            f"none of the jobs {', '.join(map(str, skipped))} exists or is waiting "
            "(running jobs are left alone); see `trigger-compat jobs list`",
            EXIT_NOT_FOUND,
        )


def _on_failed_jobs(
    client: Client,
    selection: ao.FailedSelection,
    batch_op: Callable[[ao.FailedSelection, int, int, int], ops.Op[list[int]]],
    question: str,
    doing: str,
    done_word: str,
    as_json: bool,
    yes: bool,
    batch_size: int,
) -> None:
    """Count the failed jobs of ``selection``, confirm, act on them in batches up to the
    highest id counted (never more than confirmed), and report."""
    total, max_id = client.execute(ao.count_failed(selection), None)
    if total == 0:
        _summary(as_json, {done_word: 0, "statements": 0}, "no failed jobs match; nothing to do")
        return
    _confirm(question.format(_plural(total, "failed job")), yes)
    steps = by_keyset(
        lambda after: client.execute(batch_op(selection, after, max_id, batch_size), None),
        max_id,
        batch_size,
    )
    done, statements = run_batches(doing, total, steps)
    _summary(
        as_json,
        {done_word: len(done), "matched": total, "statements": statements},
        f"{done_word} {_plural(len(done), 'failed job')} in {_plural(statements, 'batch')}",
    )


@main.command()
@_db_options
@_json_option
@_yes_option
@_batch_option
@click.argument("ids", nargs=-1)
@click.option("--failed", "failed", is_flag=True, help="Retry the failed jobs (see --task).")
@click.option("--task", default=None, help="With --failed: only jobs of this task.")
@click.option(
    "--older-than", default=None, help="With --failed: only jobs that failed this long ago (2h)."
)
def retry(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    batch_size: int,
    ids: tuple[str, ...],
    failed: bool,
    task: str | None,
    older_than: str | None,
) -> None:
    """Run jobs again now with their attempts reset: the jobs IDS (running ones are left
    alone), or every failed job with --failed [--task X] [--older-than 2h]."""
    if ids and failed:
        words = [i for i in ids if not i.replace(",", "").isdigit()]
        if words:
            raise click.UsageError(
                f"unexpected argument {words[0]!r}: write --older-than as one word, e.g. "
                f"--older-than 2h ('{older_than} {words[0]}' is not a duration)"
                if older_than
                else f"unexpected argument {words[0]!r}: job IDS are numbers"
            )
        raise click.UsageError("give job IDS or --failed, not both")
    if not ids and not failed:
        raise click.UsageError(
            "nothing to retry: give job IDS (retry 7 12,13) or --failed [--task T] "
            "[--older-than 2h]"
        )
    if (task or older_than) and not failed:
        raise click.UsageError("--task and --older-than go with --failed")
    with _handled():
        job_ids = parse_ids(ids)
        cutoff = _now() - parse_duration(older_than, "--older-than") if older_than else None
    with _client(database_url, schema, catalog_path) as client, _handled():
        if job_ids:
            _confirm(f"Retry {_plural(len(job_ids), 'job')} now, attempts reset?", yes)
            _on_job_ids(
                job_ids,
                lambda chunk: client.execute(ao.retry_ids(chunk), None),
                batch_size,
                "retrying",
                "retried",
                "retried {}",
                as_json,
            )
            return
        _on_failed_jobs(
            client, ao.FailedSelection(task, cutoff), ao.retry_failed_batch,
            "Retry {} now, attempts reset?", "retrying", "retried", as_json, yes, batch_size,
        )  # fmt: skip


def _pause_command(pause: bool) -> Callable[..., None]:
    verb = "pause" if pause else "resume"

    def command(
        database_url: str | None,
        schema: str | None,
        catalog_path: str | None,
        as_json: bool,
        tasks: tuple[str, ...],
        queues: tuple[str, ...],
    ) -> None:
        if not tasks and not queues:
            raise click.UsageError(f"nothing to {verb}: give --task T and/or --queue Q")
        with _client(database_url, schema, catalog_path) as client, _handled():
            change = client.pause if pause else client.resume
            changed = {
                "tasks": change(task=tasks) if tasks else [],
                "queues": change(queue=queues) if queues else [],
            }
            now_paused = client.paused()
        done = "paused" if pause else "resumed"
        parts = [f"{kind[:-1]} {name}" for kind, names in changed.items() for name in names]
        _summary(
            as_json,
            {"changed": changed, "paused": [p.to_json() for p in now_paused]},
            f"{done} {', '.join(parts)}" if parts else f"nothing to {verb}: no change",
        )

    return command


_PAUSE_HELP = (
    "Pause tasks (--task T) or named queues (--queue Q), both repeatable: once this returns no "
    "worker starts a job of theirs (running jobs finish); they still take new jobs. Undo with "
    "`resume`; `status` lists what is paused."
)
for _pausing in (True, False):
    main.command(
        "pause" if _pausing else "resume",
        help=_PAUSE_HELP if _pausing else "Resume tasks or named queues paused by `pause`.",
    )(
        _db_options(
            _json_option(
                click.option("--task", "tasks", multiple=True, help="A task identifier.")(
                    click.option("--queue", "queues", multiple=True, help="A named queue.")(
                        _pause_command(_pausing)
                    )
                )
            )
        )
    )


@main.command()
@_db_options
@_json_option
@_yes_option
@click.argument("job_key")
def remove(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    job_key: str,
) -> None:
    """Remove the job with this key (a running job finishes but never retries and releases
    its key). Exit 1 when no job has the key."""
    with _client(database_url, schema, catalog_path) as client, _handled():
        _confirm(f"Remove the job with key {job_key!r}?", yes)
        job = client.remove_job(job_key)
    if job is None:
        if as_json:
            _print_json({"removed": False, "running": False, "job": None})
        _fail(f"no job has key {job_key!r} in schema {client.schema}", EXIT_NOT_FOUND)
    running = job.locked_at is not None
    _summary(
        as_json,
        {"removed": not running, "running": running, "job": ao.job_json(job)},
        f"job {job.id} is running: it finishes, will not retry, and no longer holds the key"
        if running
        else f"removed job {job.id} ({job.task_identifier})",
    )


@main.command()
@_db_options
@_json_option
@_yes_option
@_batch_option
@click.argument("ids", nargs=-1, required=True)
@click.option("--message", "-m", required=True, help="Recorded as the jobs' last error.")
def fail(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    batch_size: int,
    ids: tuple[str, ...],
    message: str,
) -> None:
    """Fail jobs for good now (attempts = max attempts); running jobs are left alone."""
    with _handled():
        job_ids = parse_ids(ids)
    with _client(database_url, schema, catalog_path) as client, _handled():
        _confirm(f"Fail {_plural(len(job_ids), 'job')} permanently?", yes)
        _on_job_ids(
            job_ids,
            lambda chunk: [j.id for j in client.permanently_fail_jobs(chunk, message)],
            batch_size,
            "failing",
            "failed",
            "failed {}",
            as_json,
        )


@main.command()
@_db_options
@_json_option
@_yes_option
@_batch_option
@click.argument("ids", nargs=-1, required=True)
@click.option(
    "--run-at", required=True, help="now, +2h, 'in 30m' or ISO 8601 (UTC when no offset)."
)
@click.option("--priority", type=int, default=None, help="Also set the priority.")
def reschedule(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    batch_size: int,
    ids: tuple[str, ...],
    run_at: str,
    priority: int | None,
) -> None:
    """Move jobs to another run time (running jobs are left alone)."""
    with _handled():
        job_ids = parse_ids(ids)
        when = parse_when(run_at, _now(), "--run-at")
    with _client(database_url, schema, catalog_path) as client, _handled():
        _confirm(f"Reschedule {_plural(len(job_ids), 'job')} to {when.isoformat()}?", yes)
        _on_job_ids(
            job_ids,
            lambda chunk: [
                j.id for j in client.reschedule_jobs(chunk, run_at=when, priority=priority)
            ],
            batch_size,
            "rescheduling",
            "rescheduled",
            f"rescheduled {{}} to {when.isoformat()}",
            as_json,
            run_at=when.isoformat(),
        )


@main.command()
@_db_options
@_json_option
@_yes_option
@_batch_option
@click.option("--failed", "failed", is_flag=True, help="Delete failed jobs.")
@click.option("--older-than", default=None, help="Only jobs that failed this long ago (7d).")
@click.option("--task", default=None, help="Only jobs of this task.")
@click.option(
    "--empty-queues",
    is_flag=True,
    help="Delete the rows of named queues that have no job and the default concurrency "
    "(--batch-size per transaction); a later job recreates its queue's row.",
)
def clean(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    yes: bool,
    batch_size: int,
    failed: bool,
    older_than: str | None,
    task: str | None,
    empty_queues: bool,
) -> None:
    """Delete failed jobs that failed at least --older-than ago, in batches (--failed), and
    the rows of queues left without jobs (--empty-queues)."""
    if not failed and not empty_queues:
        raise click.UsageError(
            "clean deletes failed jobs (--failed --older-than 7d) or the rows of empty "
            "queues (--empty-queues): pass at least one"
        )
    if failed and older_than is None:
        raise click.UsageError("--failed needs --older-than (e.g. --older-than 7d)")
    if not failed and (older_than is not None or task is not None):
        raise click.UsageError("--older-than and --task select failed jobs: pass --failed too")
    cutoff = None
    if older_than is not None:
        with _handled():
            cutoff = _now() - parse_duration(older_than, "--older-than")
    with _client(database_url, schema, catalog_path) as client, _handled():
        if cutoff is not None:
            _on_failed_jobs(
                client, ao.FailedSelection(task, cutoff), ao.clean_failed_batch,
                "Delete {}?", "deleting", "deleted", as_json, yes, batch_size,
            )  # fmt: skip
        if empty_queues:
            # Imported here: cron_ops brings the catalog models, which `status` never needs.
            from ..core import cron_ops

            _confirm("Delete the rows of queues that have no job?", yes)
            deleted = batches = refused = 0
            while True:
                n = client.execute(cron_ops.collect_job_queues(batch_size), None)
                batches += 1
                if n < 0:  # adds in flight held job_queues: try again, a few times
                    refused += 1
                    if refused >= 3:
                        break
                    continue
                deleted += n
                if n < batch_size:
                    break
            if as_json:
                _print_json(
                    {
                        "empty_queue_rows_deleted": deleted,
                        "statements": batches,
                        "lock_refused": refused,
                    }
                )
            else:
                _echo(f"deleted {_plural(deleted, 'empty queue row')}")
                if refused >= 3:
                    _echo("stopped: adds in flight kept job_queues locked; run it again later")


# -- enqueue -----------------------------------------------------------------------------


def _payload(text: str) -> Any:
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidJobError("PAYLOAD", f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJobError("PAYLOAD", f"not valid JSON: {exc}") from None


@main.command()
@_db_options
@_json_option
@click.argument("identifier")
@click.argument("payload", default="{}")
@click.option("--run-at", default=None, help="now, +2h, 'in 30m' or ISO 8601.")
@click.option("--job-key", default=None)
@click.option(
    "--job-key-mode",
    type=click.Choice(["replace", "preserve_run_at", "unsafe_dedupe"]),
    default=None,
)
@click.option("--priority", type=int, default=None)
@click.option("--max-attempts", type=click.IntRange(min=1), default=None)
@click.option("--queue-name", default=None)
def enqueue(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    identifier: str,
    payload: str,
    run_at: str | None,
    job_key: str | None,
    job_key_mode: str | None,
    priority: int | None,
    max_attempts: int | None,
    queue_name: str | None,
) -> None:
    """Add a job of a catalog task. PAYLOAD is JSON ('{"id": "x"}'), @file.json or - (stdin);
    it is checked against the task's schema and the catalog settings apply as in enqueue()."""
    with _handled():
        data = _payload(payload)
        options: dict[str, Any] = {
            "runAt": parse_when(run_at, _now(), "--run-at") if run_at else None,
            "jobKey": job_key,
            "jobKeyMode": job_key_mode,
            "priority": priority,
            "maxAttempts": max_attempts,
            "queueName": queue_name,
        }
    with (
        _client(database_url, schema, catalog_path or "catalog.yaml", catalog_required=True) as c,
        _handled(),
    ):
        job = c.enqueue(identifier, data, {k: v for k, v in options.items() if v is not None})
    _summary(
        as_json,
        ao.job_json(job),
        f"enqueued job {job.id} ({job.task_identifier}) run at {job.run_at.isoformat()}"
        + (f", key {job.key}" if job.key else "")
        + (f", queue {job.queue_name}" if job.queue_name else ""),
    )


# -- health ------------------------------------------------------------------------------


@main.command()
@_db_options
@_json_option
@click.option(
    "--max-heartbeat-age",
    default="60s",
    show_default=True,
    help="A worker counts as alive when its last heartbeat is at most this old.",
)
@click.option(
    "--require-worker/--no-require-worker",
    default=True,
    show_default=True,
    help="Whether a live worker is needed to be healthy.",
)
def health(
    database_url: str | None,
    schema: str | None,
    catalog_path: str | None,
    as_json: bool,
    max_heartbeat_age: str,
    require_worker: bool,
) -> None:
    """Exit 0 when the schema is up to date and a worker heartbeat is fresh, else 1 (4 when
    the database cannot be reached): usable as a container probe."""
    with _handled():
        max_age = parse_duration(max_heartbeat_age, "--max-heartbeat-age").total_seconds()
    problems: list[str] = []
    with _client(database_url, schema, catalog_path) as client, _handled():
        # A standby's tables (heartbeats included) are replicated: fresh-looking, yet no
        # worker can fetch a job there.
        read_only = client.execute(ao.server_read_only(), None)
        if read_only is not None:
            problems.append(
                f"the server takes no writes ({read_only}): connect to the primary (with "
                "several hosts in the URL, add target_session_attrs=read-write)"
            )
        try:
            done = client.execute(ao.applied_migrations(), None)
        except SchemaNotMigratedError:
            done = []
        # A schema a newer version migrated (a rolling upgrade): this version's workers run
        # on it until a later contract step; health depends on their heartbeats alone.
        ahead = moved_on(client.schema, done)
        todo = [] if ahead is not None else pending(client.schema, done)
        if todo:
            problems.append(
                f"schema {client.schema} is behind: {len(todo)} pending migration(s) "
                f"(run trigger-compat migrate)"
            )
        try:
            registered = client.execute(ao.workers(), None)
        except SchemaNotMigratedError:
            registered = []
    live = [w for w in registered if w.heartbeat_age_seconds <= max_age]
    if require_worker and not live:
        freshest = min((w.heartbeat_age_seconds for w in registered), default=None)
        problems.append(
            "no worker heartbeat in the last "
            f"{format_age(max_age)}"
            + (f" (freshest: {format_age(freshest)} ago)" if freshest is not None else "")
        )
    healthy = not problems
    if as_json:
        _print_json(
            {
                "healthy": healthy,
                "read_only": read_only,
                "schema": client.schema,
                "schema_version": max(done, default=0),
                "latest_version": latest_version(),
                "schema_ahead": ahead,
                "live_workers": len(live),
                "workers": [ao.worker_json(w) for w in registered],
                "problems": problems,
            }
        )
    elif healthy:
        _echo(
            f"healthy: schema {client.schema} at version {max(done, default=0)}, "
            f"{_plural(len(live), 'live worker')}",
            fg="green",
        )
    else:
        for p in problems:
            _echo(f"unhealthy: {p}", fg="red")
    if ahead is not None and not as_json:
        _echo(f"note: {ahead}; its workers run on it until a contract step", fg="yellow")
    sys.exit(EXIT_OK if healthy else EXIT_UNHEALTHY)
