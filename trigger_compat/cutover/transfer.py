"""Moving jobs between a graphile-worker schema and trigger-compat: :func:`import_jobs` (out
of graphile-worker, for the cut-over) and :func:`export_jobs` (back again, for a roll-back).

Both directions follow one plan, in **one transaction** (statements in
``sql/cutover/transfer_*.sql``):

1. find graphile-worker's layout from its ``migrations`` table: migrations 1-10 are 0.13's
   (``jobs`` with the task and queue names in each row, ``job_queues``, ``known_crontabs``),
   11-15 0.14/0.15's (``jobs``, ``tasks``, ``job_queues``), 16 and later 0.16's
   (``_private_jobs``, ``_private_tasks``, ``_private_job_queues``,
   ``_private_known_crontabs``);
2. lock the jobs table of the side the jobs leave (``SHARE ROW EXCLUSIVE``: its workers and
   producers wait until the commit; readers do not), and refuse while its workers look alive
   (graphile-worker: a job locked less than its fixed 4-hour lock timeout ago;
   trigger-compat: a worker heartbeat within the last minute) unless ``force``;
3. refuse values trigger-compat cannot hold (graphile-worker 0.13 checks its limits in
   add_job only): the field, how many jobs and one id;
4. a key the receiving side already holds: ``on_conflict="keep"`` (the default) leaves that
   job where it was, reported as ``key_kept``; ``"replace"`` gives the key to the moved job by
   add_job's rule (an available holder is deleted; a running or failed one keeps its row
   without the key and cannot retry);
5. move, set-based (one ``INSERT ... SELECT`` in id order, one ``DELETE``, after one
   counting scan), every job of that side: graphile-worker and trigger-compat both keep only
   jobs that have not succeeded, so that is every waiting, scheduled, retrying and
   permanently failed job (``include_failed=False`` leaves the last where they are). Every
   field is kept (task identifier, payload, queue name, priority, run_at, attempts,
   max_attempts, last_error, key, revision, flags, created_at, updated_at; ids are new, in
   the original order). A job a worker held is released as graphile-worker releases a stale
   lock (run_at no earlier than now, the interrupted attempt counted). The named queues are
   created first. The moved jobs are **deleted** from the side they left: a second run finds
   nothing to move;
6. carry the recurring tasks' positions over (``known_crontabs``: the earlier
   ``known_since``, the later ``last_execution``), so a tick scheduled on one side is never
   scheduled again on the other and a backfill starts where the last one stopped;
7. wake the receiving side's workers, and count what moved per task.

``dry_run=True`` runs all of it and rolls back: the counts are what a real run would do.

What does not travel: job ids (new on the receiving side), and what graphile-worker has no
place for on the way back (a job's trace context, unique keys, pauses, queue concurrency).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..core.dberrors import MIGRATE_HINT, translate
from ..core.dsn import split_pooled
from ..core.migrations import latest_version
from ..core.sqlfiles import DEFAULT_SCHEMA, check_schema_name, notify_channel
from ..errors import (
    ConfigurationError,
    InvalidJobError,
    SchemaAheadError,
    SchemaNotMigratedError,
    TransactionConflictError,
    TransferRefusedError,
)

__all__ = [
    "GRAPHILE_LOCK_TIMEOUT_HOURS",
    "GraphileLayout",
    "TaskCounts",
    "TransferReport",
    "export_jobs",
    "graphile_layout",
    "import_jobs",
]

OnConflict = Literal["keep", "replace"]
Progress = Callable[[str], None]

#: graphile-worker's fixed lock timeout: a job locked longer ago than this is stale.
GRAPHILE_LOCK_TIMEOUT_HOURS = 4
#: A trigger-compat worker whose heartbeat is younger than this looks alive.
WORKER_ALIVE_SECONDS = 60.0
#: work_mem for the move's transaction: a million jobs sorted and buffered in memory.
WORK_MEM = "256MB"

_GRAPHILE_TABLES = (
    "migrations",
    "jobs",
    "job_queues",
    "tasks",
    "known_crontabs",
    "_private_jobs",
    "_private_job_queues",
    "_private_tasks",
    "_private_known_crontabs",
)
# graphile-worker's tables by layout: jobs, tasks (None: names inline), queues, known_crontabs.
_LAYOUTS: dict[str, tuple[str, str | None, str, str | None]] = {
    "0.13": ("jobs", None, "job_queues", "known_crontabs"),
    "0.14": ("jobs", "tasks", "job_queues", "known_crontabs"),
    "0.16": ("_private_jobs", "_private_tasks", "_private_job_queues", "_private_known_crontabs"),
}
_SCHEMA_TABLES = ("migrations", "jobs", "job_queues", "known_crontabs", "workers")


@cache
def _texts() -> dict[str, str]:
    folder = resources.files("trigger_compat").joinpath("sql", "cutover")
    return {
        entry.name[: -len(".sql")]: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.startswith("transfer_") and entry.name.endswith(".sql")
    }


def _statement(name: str, **identifiers: sql.Composable) -> sql.Composed:
    """The statement of ``sql/cutover/transfer_<name>.sql`` with its identifiers filled in."""
    return sql.SQL(_texts()[f"transfer_{name}"]).format(**identifiers)


@dataclass(frozen=True)
class GraphileLayout:
    """Where a graphile-worker schema keeps its jobs, as its migrations left it."""

    schema: str
    #: The last graphile-worker migration recorded in the schema.
    migration: int
    #: ``"0.13"`` (migrations 1-10), ``"0.14"`` (11-15: 0.14 and 0.15) or ``"0.16"`` (16+).
    version: str
    jobs: str
    tasks: str | None
    queues: str
    crontabs: str | None

    def ident(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    @property
    def names_inline(self) -> bool:
        """Whether a job row holds its task and queue names (0.13) rather than ids."""
        return self.tasks is None


@dataclass
class TaskCounts:
    """What a transfer did with one task's jobs."""

    #: Jobs moved (the sum of the four states).
    moved: int = 0
    waiting: int = 0
    scheduled: int = 0
    retrying: int = 0
    #: Permanently failed jobs moved (kept as failed: attempts = max_attempts).
    failed: int = 0
    #: Moved jobs that a worker held (released: run_at no earlier than now).
    released: int = 0
    #: Jobs left where they were: the receiving side holds their key (``on_conflict="keep"``).
    key_kept: int = 0


@dataclass
class TransferReport:
    """The outcome of :func:`import_jobs` or :func:`export_jobs`."""

    direction: Literal["import", "export"]
    graphile_schema: str
    schema: str
    #: graphile-worker's layout (``"0.13"``, ``"0.14"``, ``"0.16"``) and its last migration.
    graphile_version: str
    graphile_migration: int
    on_conflict: OnConflict
    dry_run: bool
    by_task: dict[str, TaskCounts] = field(default_factory=dict)
    #: ``on_conflict="replace"``: jobs of the receiving side deleted to give up their key,
    #: and running or failed ones that kept their row without it.
    replaced: int = 0
    detached: int = 0
    #: Recurring-task identifiers whose position was written on the receiving side.
    crontabs: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        return sum(c.moved for c in self.by_task.values())

    @property
    def key_kept(self) -> int:
        return sum(c.key_kept for c in self.by_task.values())

    def totals(self) -> TaskCounts:
        total = TaskCounts()
        for c in self.by_task.values():
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(c, name))
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "graphile_schema": self.graphile_schema,
            "schema": self.schema,
            "graphile_version": self.graphile_version,
            "graphile_migration": self.graphile_migration,
            "on_conflict": self.on_conflict,
            "dry_run": self.dry_run,
            "moved": self.moved,
            "key_kept": self.key_kept,
            "replaced": self.replaced,
            "detached": self.detached,
            "crontabs": list(self.crontabs),
            "by_task": {task: vars(c).copy() for task, c in self.by_task.items()},
        }


# -- the database ---------------------------------------------------------------------------


@contextmanager
def _connection(
    database: str | psycopg.Connection[Any], schema: str
) -> Iterator[psycopg.Connection[Any]]:
    if isinstance(database, psycopg.Connection):
        yield database
        return
    if not isinstance(database, str):
        raise TypeError("database must be a connection string or a psycopg Connection")
    try:
        # a pooled URL's `pgbouncer=true` marker is for trigger-compat, not for libpq
        conn = psycopg.connect(
            split_pooled(database)[0],
            autocommit=True,
            connect_timeout=10,
            prepare_threshold=None,
        )
    except Exception as exc:
        mapped = translate(exc, schema=schema, conninfo=database)
        if mapped is None:
            raise
        raise mapped from None
    with conn:
        yield conn


def _rows(
    conn: psycopg.Connection[Any],
    statement: sql.Composed,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement, params or {})
        return cur.fetchall() if cur.description is not None else []


def _execute(
    conn: psycopg.Connection[Any], statement: sql.Composed, params: Mapping[str, Any]
) -> int:
    """Run a statement that returns no rows; how many rows it wrote."""
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.rowcount


def _owns(conn: psycopg.Connection[Any], table: sql.Identifier) -> bool:
    row = _rows(conn, _statement("owns"), {"table": table.as_string(conn)})[0]
    return bool(row["owns"])


@contextmanager
def _queue_triggers_off(
    conn: psycopg.Connection[Any], layout: GraphileLayout, which: str | None, bypass: bool
) -> Iterator[None]:
    """graphile-worker 0.13 keeps job_queues.job_count with a row trigger per inserted and
    deleted job, each updating its queue's row: within one transaction that costs more with
    every job of the same queue (20,000 jobs of one queue take seconds, 100,000 minutes). When
    the role owns graphile-worker's jobs table, the transfer switches the trigger
    (``which``: ``increase`` on insert, ``decrease`` on delete) off around its statement and
    sets job_queues right in one statement afterwards; otherwise the triggers run."""
    if which is None or not bypass:
        yield
        return
    jobs = layout.ident(layout.jobs)
    trigger = sql.Identifier(f"_500_{which}_job_queue_count")
    _execute(conn, _statement("trigger", jobs=jobs, action=sql.SQL("disable"), trigger=trigger), {})
    yield
    _execute(conn, _statement("trigger", jobs=jobs, action=sql.SQL("enable"), trigger=trigger), {})
    _execute(conn, _statement("queue_counts", jobs=jobs, queues=layout.ident(layout.queues)), {})


def _tables(conn: psycopg.Connection[Any], schema: str, names: tuple[str, ...]) -> dict[str, str]:
    rows = _rows(conn, _statement("tables"), {"schema": schema, "names": list(names)})
    return {r["name"]: r["kind"] for r in rows}


def graphile_layout(
    conn: psycopg.Connection[Any], schema: str, *, field: str = "graphile schema"
) -> GraphileLayout:
    """The layout of the graphile-worker schema ``schema``, read from graphile-worker's
    ``migrations`` table; a :class:`ConfigurationError` when it holds no graphile-worker
    schema this code knows."""
    check_schema_name(schema)
    found = _tables(conn, schema, _GRAPHILE_TABLES)
    fix = (
        "name the schema that graphile-worker (trigger.dev's WORKER_SCHEMA, "
        "graphile_worker by default) migrated"
    )
    if "migrations" not in found:
        raise ConfigurationError(
            field,
            f"schema {schema!r} has no graphile-worker migrations table; {fix}",
        )
    migration = _rows(
        conn,
        _statement("graphile_migration", migrations=sql.Identifier(schema, "migrations")),
    )[0]["version"]
    if migration is None or migration < 5:
        raise ConfigurationError(
            field,
            f"schema {schema!r} is at graphile-worker migration {migration}, older than any "
            "graphile-worker trigger.dev ran; run graphile-worker 0.13's migrations on it first "
            "(start a 0.13 worker once), or " + fix,
        )
    version = "0.16" if migration >= 16 else "0.14" if migration >= 11 else "0.13"
    jobs, tasks, queues, crontab = _LAYOUTS[version]
    needed = [t for t in (jobs, tasks, queues) if t is not None]
    missing = [t for t in needed if found.get(t) not in ("r", "p")]
    if missing:
        raise ConfigurationError(
            field,
            f"schema {schema!r} records graphile-worker migration {migration} but lacks its "
            f"table(s) {', '.join(missing)}; {fix}",
        )
    if crontab not in found:  # known_crontabs arrived with 0.13's migration 8
        crontab = None
    return GraphileLayout(schema, migration, version, jobs, tasks, queues, crontab)


def _check_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    check_schema_name(schema)
    found = _tables(conn, schema, _SCHEMA_TABLES)
    version = None
    if "migrations" in found:
        version = _rows(
            conn,
            _statement("schema_version", migrations=sql.Identifier(schema, "migrations")),
        )[0]["version"]
    missing = [t for t in _SCHEMA_TABLES if t not in found]
    if version is None or missing:
        raise SchemaNotMigratedError(
            f"schema {schema!r} is not a migrated trigger-compat schema; {MIGRATE_HINT}"
        )
    if version < latest_version():
        raise SchemaNotMigratedError(
            f"schema {schema!r} is at migration {version}, this version needs "
            f"{latest_version()}; {MIGRATE_HINT}"
        )
    if version > latest_version():
        raise SchemaAheadError(
            f"schema {schema!r} is at migration {version}, newer than this version of "
            f"trigger-compat knows ({latest_version()}); upgrade trigger-compat"
        )


def _check_on_conflict(on_conflict: str) -> OnConflict:
    if on_conflict not in ("keep", "replace"):
        raise ConfigurationError(
            "on_conflict", f"must be 'keep' or 'replace' (got {on_conflict!r})"
        )
    return on_conflict  # type: ignore[return-value]


_LIMITS = {
    "task_identifier": "1 to 128 characters",
    "queue_name": "1 to 128 characters",
    "key": "1 to 512 characters",
    "priority": "from -32768 to 32767",
    "attempts": "from 0 to 32767",
    "max_attempts": "from 1 to 32767",
}


def _check_values(
    conn: psycopg.Connection[Any], jobs: sql.Identifier, include_failed: bool
) -> None:
    row = _rows(conn, _statement("check", jobs=jobs), {"include_failed": include_failed})[0]
    problems = [
        f"{row[name]} job(s) with a {name} outside {limit} (e.g. graphile-worker job id "
        f"{row[name + '_id']})"
        for name, limit in _LIMITS.items()
        if row[name]
    ]
    if problems:
        first = next(name for name in _LIMITS if row[name])
        raise InvalidJobError(
            first,
            f"{'; '.join(problems)}: trigger-compat cannot hold them; fix or remove those jobs "
            "in graphile-worker first. Nothing was moved",
        )


@dataclass(frozen=True)
class _Side:
    """One side of a transfer, as the shared statements see it."""

    jobs: sql.Identifier
    queues: sql.Identifier
    tasks: sql.Identifier | None
    crontabs: sql.Identifier | None


def _graphile_side(layout: GraphileLayout) -> _Side:
    return _Side(
        jobs=layout.ident(layout.jobs),
        queues=layout.ident(layout.queues),
        tasks=layout.ident(layout.tasks) if layout.tasks else None,
        crontabs=layout.ident(layout.crontabs) if layout.crontabs else None,
    )


def _schema_side(schema: str) -> _Side:
    return _Side(
        jobs=sql.Identifier(schema, "jobs"),
        queues=sql.Identifier(schema, "job_queues"),
        tasks=None,
        crontabs=sql.Identifier(schema, "known_crontabs"),
    )


def _transfer(
    database: str | psycopg.Connection[Any],
    *,
    direction: Literal["import", "export"],
    graphile_schema: str,
    schema: str,
    on_conflict: str,
    force: bool,
    include_failed: bool,
    dry_run: bool,
    lock_timeout: float,
    progress: Progress | None,
) -> TransferReport:
    settled = _check_on_conflict(on_conflict)
    check_schema_name(graphile_schema)
    check_schema_name(schema)
    if graphile_schema == schema:
        raise ConfigurationError(
            "from_schema" if direction == "import" else "to_schema",
            f"is the trigger-compat schema {schema!r}; name graphile-worker's",
        )
    if lock_timeout <= 0:
        raise ConfigurationError("lock_timeout", "must be a positive number of seconds")
    say = progress or (lambda _message: None)
    with _connection(database, schema) as conn:
        try:
            with conn.transaction(force_rollback=dry_run):
                return _run(
                    conn,
                    direction=direction,
                    graphile_schema=graphile_schema,
                    schema=schema,
                    on_conflict=settled,
                    force=force,
                    include_failed=include_failed,
                    dry_run=dry_run,
                    lock_timeout=lock_timeout,
                    say=say,
                )
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.errors.UntranslatableCharacter):
                raise InvalidJobError(
                    "payload",
                    f"a payload cannot be stored as jsonb ({exc.diag.message_primary}); "
                    "fix or remove that job first. Nothing was moved",
                ) from None
            if isinstance(exc, psycopg.errors.CheckViolation):
                raise InvalidJobError(
                    exc.diag.constraint_name or "job",
                    f"a job the receiving side cannot hold ({exc.diag.message_primary}); "
                    "fix or remove that job first. Nothing was moved",
                ) from None
            mapped = translate(exc, schema=schema, conninfo=None)
            if mapped is None:
                raise
            raise mapped from None


def _run(
    conn: psycopg.Connection[Any],
    *,
    direction: Literal["import", "export"],
    graphile_schema: str,
    schema: str,
    on_conflict: OnConflict,
    force: bool,
    include_failed: bool,
    dry_run: bool,
    lock_timeout: float,
    say: Progress,
) -> TransferReport:
    _check_schema(conn, schema)
    layout = graphile_layout(
        conn, graphile_schema, field="from_schema" if direction == "import" else "to_schema"
    )
    graphile = _graphile_side(layout)
    ours = _schema_side(schema)
    source, target = (graphile, ours) if direction == "import" else (ours, graphile)
    leaving = "graphile-worker" if direction == "import" else "trigger-compat"
    report = TransferReport(
        direction=direction,
        graphile_schema=graphile_schema,
        schema=schema,
        graphile_version=layout.version,
        graphile_migration=layout.migration,
        on_conflict=on_conflict,
        dry_run=dry_run,
    )
    say(
        f"{direction}: graphile-worker schema {graphile_schema!r} "
        f"({layout.version} layout, migration {layout.migration}), "
        f"trigger-compat schema {schema!r}"
    )
    params = {"include_failed": include_failed}

    _rows(conn, _statement("lock_timeout"), {"lock_timeout": f"{int(lock_timeout * 1000)}ms"})
    _rows(conn, _statement("work_mem"), {"work_mem": WORK_MEM})
    say(f"locking {leaving}'s jobs")
    _rows(conn, _statement("lock", jobs=source.jobs))
    if direction == "import":
        _refuse_live_graphile(conn, source, graphile_schema, force)
    else:
        _refuse_live_workers(conn, schema, force)

    if direction == "import" and layout.names_inline:
        say("checking the jobs' values")
        _check_values(conn, source.jobs, include_failed)

    say("checking job keys")
    _rows(conn, _statement("unkeep"))
    if direction == "import" and not layout.names_inline:
        assert source.tasks is not None
        kept = _statement("kept_ids", source=source.jobs, tasks=source.tasks, target=target.jobs)
    else:
        kept = _statement("kept_flat", source=source.jobs, target=target.jobs)
    _rows(conn, kept, params)
    if on_conflict == "replace":
        row = _rows(conn, _statement("replace", jobs=target.jobs))[0]
        report.replaced, report.detached = row["deleted"], row["detached"]
    for r in _rows(conn, _statement("kept_counts")):
        report.by_task[r["task_identifier"]] = TaskCounts(key_kept=r["key_kept"])

    job_state = sql.Identifier(schema, "job_state")
    if direction == "import" and not layout.names_inline:
        assert source.tasks is not None
        count = _statement(
            "counts_ids", source=source.jobs, tasks=source.tasks, job_state=job_state
        )
    else:
        count = _statement("counts_flat", source=source.jobs, job_state=job_state)
    for r in _rows(conn, count, params):
        counts = report.by_task.setdefault(r["task_identifier"], TaskCounts())
        for name in ("moved", "waiting", "scheduled", "retrying", "failed", "released"):
            setattr(counts, name, r[name])
    report.by_task = dict(sorted(report.by_task.items()))

    say(f"moving {report.moved} job(s) from {leaving}")
    if direction == "export" and not layout.names_inline:
        assert target.tasks is not None
        _rows(conn, _statement("tasks", tasks=target.tasks, jobs=source.jobs))
    if direction == "import" or not layout.names_inline:
        # graphile-worker 0.13 keeps its job_queues itself (row triggers on jobs).
        _rows(conn, _statement("queues", source=source.queues, target=target.queues))
    if direction == "import" and not layout.names_inline:
        assert source.tasks is not None
        insert = _statement(
            "insert_from_ids",
            source=source.jobs,
            tasks=source.tasks,
            queues=source.queues,
            target=target.jobs,
        )
    elif direction == "export" and not layout.names_inline:
        assert target.tasks is not None
        insert = _statement(
            "insert_to_ids",
            source=source.jobs,
            tasks=target.tasks,
            queues=target.queues,
            target=target.jobs,
        )
    else:
        insert = _statement("insert_flat", source=source.jobs, target=target.jobs)
    bypass = layout.names_inline and _owns(conn, graphile.jobs)
    with _queue_triggers_off(conn, layout, "increase" if direction == "export" else None, bypass):
        inserted = _execute(conn, insert, params)
    if inserted != report.moved:
        raise TransactionConflictError(
            f"{report.moved - inserted} job key(s) were taken on the receiving side while the "
            "jobs moved (a producer added jobs with those keys meanwhile); nothing was moved — "
            "run the transfer again"
        )
    say(f"deleting the moved jobs from {leaving}")
    with _queue_triggers_off(conn, layout, "decrease" if direction == "import" else None, bypass):
        deleted = _execute(conn, _statement("delete", source=source.jobs), params)
    if deleted != report.moved:  # the lock of transfer_lock.sql makes this impossible
        raise TransactionConflictError(
            f"{deleted} job(s) left {leaving} but {report.moved} were counted; nothing was "
            "moved — run the transfer again"
        )

    if source.crontabs is not None and target.crontabs is not None:
        say("carrying the recurring tasks' positions over")
        report.crontabs = [
            r["identifier"]
            for r in _rows(
                conn, _statement("crontabs", source=source.crontabs, target=target.crontabs)
            )
        ]
    _rows(conn, _statement("unkeep"))

    moved = report.moved
    if moved and not dry_run:
        if direction == "import":
            _rows(
                conn,
                _statement("notify"),
                {"channel": notify_channel(schema), "payload": str(moved)},
            )
        else:
            # graphile-worker 0.16 reads how many jobs arrived; 0.13 ignores the payload.
            payload = json.dumps({"r": secrets.randbelow(2**31), "count": moved})
            _rows(conn, _statement("notify"), {"channel": "jobs:insert", "payload": payload})
    say(
        f"{'would move' if dry_run else 'moved'} {moved} job(s)"
        + (f", {report.key_kept} left (key held on the other side)" if report.key_kept else "")
    )
    return report


def _refuse_live_graphile(
    conn: psycopg.Connection[Any], side: _Side, graphile_schema: str, force: bool
) -> None:
    row = _rows(conn, _statement("graphile_live", jobs=side.jobs))[0]
    if not row["jobs"] or force:
        return
    workers = ", ".join(w for w in row["workers"] or [] if w)
    raise TransferRefusedError(
        f"graphile-worker workers look alive: {row['jobs']} job(s) in schema "
        f"{graphile_schema!r} were locked less than {GRAPHILE_LOCK_TIMEOUT_HOURS} hours ago "
        f"(graphile-worker's lock timeout), the newest at {row['newest']:%Y-%m-%d %H:%M:%S%z}"
        + (f" by {workers}" if workers else "")
        + ". Stop the graphile-worker runners (trigger.dev: WORKER_ENABLED=false and its "
        "siblings) and let their jobs finish, then run again; or, if those workers are gone "
        "for good, pass --force (force=True): their jobs are imported as released, the "
        "interrupted attempt counted. Nothing was moved"
    )


def _refuse_live_workers(conn: psycopg.Connection[Any], schema: str, force: bool) -> None:
    row = _rows(
        conn,
        _statement(
            "workers_live",
            workers=sql.Identifier(schema, "workers"),
            jobs=sql.Identifier(schema, "jobs"),
        ),
        {"alive_seconds": WORKER_ALIVE_SECONDS},
    )[0]
    if not row["workers"] or force:
        return
    names = ", ".join(row["names"] or [])
    raise TransferRefusedError(
        f"trigger-compat workers look alive: {row['workers']} worker(s) of schema {schema!r} "
        f"sent a heartbeat in the last {WORKER_ALIVE_SECONDS:.0f} s ({names}), "
        f"{row['running']} job(s) running. Stop them (their jobs finish or are released), "
        "then run again; or pass --force (force=True) to move the running jobs too, released "
        "with the interrupted attempt counted (a job still running may then run twice). "
        "Nothing was moved"
    )


# -- the two directions ---------------------------------------------------------------------


def import_jobs(
    database: str | psycopg.Connection[Any],
    *,
    from_schema: str = "graphile_worker",
    schema: str = DEFAULT_SCHEMA,
    on_conflict: OnConflict = "keep",
    force: bool = False,
    include_failed: bool = True,
    dry_run: bool = False,
    lock_timeout: float = 10.0,
    progress: Progress | None = None,
) -> TransferReport:
    """Move every job out of the graphile-worker schema ``from_schema`` (0.13 to 0.16+ layouts)
    into the trigger-compat schema ``schema``, with the recurring tasks' positions, in one
    transaction (see the module's documentation for the rules).

    ``database``: a connection string, or a psycopg connection (in autocommit mode the
    transfer commits itself; inside a transaction of the caller it is a savepoint and the
    caller commits). ``on_conflict``: ``"keep"`` leaves a graphile-worker job whose key
    trigger-compat already holds where it is (counted as ``key_kept``); ``"replace"`` moves
    it, taking the key over. ``force``: import even while graphile-worker jobs are locked
    (its workers look alive); their jobs are released. ``include_failed=False`` leaves the
    permanently failed jobs in graphile-worker. ``dry_run``: do it all, then roll back.
    ``lock_timeout``: seconds to wait for the lock on graphile-worker's jobs table.
    ``progress`` is called with a line per phase.

    Raises :class:`TransferRefusedError` while graphile-worker workers look alive,
    :class:`ConfigurationError` when ``from_schema`` is no graphile-worker schema,
    :class:`InvalidJobError` for values trigger-compat cannot hold,
    :class:`SchemaNotMigratedError` when ``schema`` is not migrated; nothing is moved then.
    """
    return _transfer(
        database,
        direction="import",
        graphile_schema=from_schema,
        schema=schema,
        on_conflict=on_conflict,
        force=force,
        include_failed=include_failed,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        progress=progress,
    )


def export_jobs(
    database: str | psycopg.Connection[Any],
    *,
    to_schema: str = "graphile_worker",
    schema: str = DEFAULT_SCHEMA,
    on_conflict: OnConflict = "keep",
    force: bool = False,
    include_failed: bool = True,
    dry_run: bool = False,
    lock_timeout: float = 10.0,
    progress: Progress | None = None,
) -> TransferReport:
    """The way back: move every job of the trigger-compat schema ``schema`` into the
    graphile-worker schema ``to_schema`` (migrated by graphile-worker 0.13 or 0.16+, whose
    workers then run them), with the recurring tasks' positions, in one transaction.

    Refuses (:class:`TransferRefusedError`) while trigger-compat workers look alive (a
    heartbeat within the last minute) unless ``force``; jobs held by workers that are gone
    are released. Other arguments as :func:`import_jobs`.
    """
    return _transfer(
        database,
        direction="export",
        graphile_schema=to_schema,
        schema=schema,
        on_conflict=on_conflict,
        force=force,
        include_failed=include_failed,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        progress=progress,
    )
