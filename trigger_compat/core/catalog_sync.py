"""A catalog compared with a database, and brought to it (pure): what ``catalog diff``,
``catalog apply`` and ``catalog validate --against-db`` compute.

What is compared:

* **queue limits**: ``queues`` of the catalog against ``job_queues`` (a stored limit the
  catalog does not declare differs when it is not 1, the limit of an undeclared queue);
* **recurring tasks** (and the ``cleanup`` task): the catalog's ``match`` against
  ``known_crontabs`` and the schedule ``catalog apply`` recorded there (added, removed,
  changed, or not recorded yet), with the next tick of each declared one;
* **undeclared tasks**: task identifiers with pending jobs that no worker of the catalog
  declares: no worker will run them;
* **drift**: per declared task, how many pending jobs have a priority, max attempts or
  queue other than the catalog gives (one grouped query, ``catalog_drift.sql``).

*Pending* is every job not running with attempts left: waiting, scheduled or retrying.

Every database step is an :class:`~trigger_compat.core.ops.Op`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem
from .catalog import CLEANUP_IDENTIFIER, Catalog, TaskSettings
from .cron import CronSchedule, parse_cron
from .jobs import DEFAULT_MAX_ATTEMPTS
from .ops import Op, Row
from .schedule import REPORTER_IDENTIFIER

#: Recurring identifiers a catalog never declares but workers may register (kept by apply).
INTERNAL_CRONTABS = (REPORTER_IDENTIFIER,)
#: Identifiers whose jobs a catalog runs without declaring them as tasks.
INTERNAL_TASKS = (REPORTER_IDENTIFIER, CLEANUP_IDENTIFIER)


# -- what a catalog declares -------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredTask:
    """The settings a waiting job of a task should have: ``queue`` is None (no queue) or
    the parts of its queueName template, as ``render_template`` reads them."""

    identifier: str
    worker: str
    priority: int
    max_attempts: int
    queue_name: str | None
    queue: list[Any] | None


def _queue_parts(settings: TaskSettings) -> list[Any] | None:
    template = settings.queue_template
    if template is None:
        return None
    return [p if isinstance(p, str) else list(p) for p in template.parts]


def declared_tasks(catalog: Catalog) -> list[DeclaredTask]:
    return [
        DeclaredTask(
            identifier,
            worker,
            settings.priority if settings.priority is not None else 0,
            settings.max_attempts if settings.max_attempts is not None else DEFAULT_MAX_ATTEMPTS,
            settings.queue_name or None,
            _queue_parts(settings),
        )
        for worker, ws in catalog.workers.items()
        for identifier, settings in ws.tasks.items()
    ]


@dataclass(frozen=True)
class DeclaredCrontab:
    identifier: str
    worker: str
    match: str
    key_path: tuple[str, ...]  # where the catalog declares it (for file:line)


def declared_crontabs(catalog: Catalog) -> dict[str, DeclaredCrontab]:
    out: dict[str, DeclaredCrontab] = {}
    for wname, ws in catalog.workers.items():
        if ws.cleanup is not None:
            out[CLEANUP_IDENTIFIER] = DeclaredCrontab(
                CLEANUP_IDENTIFIER,
                wname,
                ws.cleanup.frequency_expression,
                ("workers", wname, "cleanup", "frequencyExpression"),
            )
        for name, rt in ws.recurring_tasks.items():
            out[name] = DeclaredCrontab(
                name, wname, rt.match, ("workers", wname, "recurringTasks", name)
            )
    return out


def declared_identifiers(catalog: Catalog) -> set[str]:
    """Every identifier whose jobs some worker of the catalog runs."""
    return {*catalog.tasks, *catalog.recurring_tasks, *INTERNAL_TASKS}


def _task_params(catalog: Catalog) -> dict[str, Any]:
    tasks = declared_tasks(catalog)
    return {
        "identifiers": [t.identifier for t in tasks],
        "priorities": [t.priority for t in tasks],
        "max_attempts": [t.max_attempts for t in tasks],
        "queues": [None if t.queue is None else json.dumps(t.queue) for t in tasks],
    }


# -- schedules ---------------------------------------------------------------------------


def next_tick(schedule: CronSchedule | str, after: datetime) -> datetime | None:
    """The first tick of ``schedule`` strictly after ``after`` (UTC), or None within 5 years
    (a schedule such as February 30th never fires)."""
    if isinstance(schedule, str):
        schedule = parse_cron(schedule)
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(5 * 366):
        if _day_matches(schedule, day):
            for hour in sorted(schedule.hours):
                for minute in sorted(schedule.minutes):
                    t = day.replace(hour=hour, minute=minute)
                    if t >= start:
                        return t
        day += timedelta(days=1)
    return None


def _day_matches(s: CronSchedule, day: datetime) -> bool:
    if day.month not in s.months:
        return False
    date_ok = day.day in s.dates
    dow_ok = day.isoweekday() % 7 in s.dows
    if s.dates_restricted and s.dows_restricted:
        return date_ok or dow_ok
    if s.dates_restricted:
        return date_ok
    if s.dows_restricted:
        return dow_ok
    return True


# -- what the database holds -------------------------------------------------------------


@dataclass(frozen=True)
class StoredCrontab:
    identifier: str
    schedule: str | None
    known_since: datetime
    last_execution: datetime | None


@dataclass(frozen=True)
class DatabaseState:
    queues: dict[str, int]
    crontabs: dict[str, StoredCrontab]
    waiting: dict[str, int]
    db_now: datetime


def _ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _state(rows: list[Row]) -> DatabaseState:
    row = rows[0]
    crontabs = {}
    for c in row["crontabs"]:
        known_since = _ts(c["known_since"])
        assert known_since is not None
        crontabs[c["identifier"]] = StoredCrontab(
            c["identifier"], c["schedule"], known_since, _ts(c["last_execution"])
        )
    return DatabaseState(
        queues={q["queue_name"]: int(q["concurrency"]) for q in row["queues"]},
        crontabs=crontabs,
        waiting={w["task"]: int(w["waiting"]) for w in row["waiting"]},
        db_now=row["db_now"],
    )


def database_state() -> Op[DatabaseState]:
    return Op("catalog_db_state", {}, _state)


@dataclass(frozen=True)
class TaskDrift:
    """Waiting jobs of a task enqueued with settings the catalog no longer gives."""

    task: str
    waiting: int
    priority: int
    max_attempts: int
    queue: int
    differing: int
    max_id: int


def _drift(rows: list[Row]) -> list[TaskDrift]:
    return [
        TaskDrift(
            r["task"],
            int(r["waiting"]),
            int(r["priority"]),
            int(r["max_attempts"]),
            int(r["queue"]),
            int(r["differing"]),
            int(r["max_id"] or 0),
        )
        for r in rows
    ]


def drift(catalog: Catalog) -> Op[list[TaskDrift]]:
    return Op("catalog_drift", _task_params(catalog), _drift)


@dataclass(frozen=True)
class PendingBatch:
    """One statement of ``--update-pending``: the ids changed, the highest id looked at and
    how many were looked at."""

    ids: list[int]
    last_id: int
    scanned: int


def update_pending_batch(
    catalog: Catalog, after_id: int, max_id: int, batch_size: int
) -> Op[PendingBatch]:
    params = {
        **_task_params(catalog),
        "after_id": after_id,
        "max_id": max_id,
        "batch_size": batch_size,
    }

    def parse(rows: list[Row]) -> PendingBatch:
        r = rows[0]
        return PendingBatch([int(i) for i in r["ids"]], int(r["last_id"] or 0), int(r["scanned"]))

    return Op("catalog_update_pending", params, parse)


@dataclass(frozen=True)
class Change:
    """One change ``catalog apply`` made: kind ``queue``, ``recurring:added``,
    ``recurring:changed`` or ``recurring:removed``; old and new value as text."""

    kind: str
    name: str
    old: str | None
    new: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "old": self.old, "new": self.new}


def apply_catalog(catalog: Catalog, now: datetime | None = None) -> Op[list[Change]]:
    """Store the catalog's queue limits and recurring tasks (one statement, one transaction)
    and notify the listening workers to reload."""
    crontabs = declared_crontabs(catalog)
    return Op(
        "catalog_apply",
        {
            "queue_names": list(catalog.queues),
            "limits": list(catalog.queues.values()),
            "crontabs": list(crontabs),
            "schedules": [c.match for c in crontabs.values()],
            "keep": list(INTERNAL_CRONTABS),
            "now": now,
        },
        lambda rows: [Change(r["kind"], r["name"], r["old_value"], r["new_value"]) for r in rows],
    )


# -- the diff ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDiff:
    queue: str
    stored: int | None  # None: no row yet
    declared: int | None  # None: not declared (serial: 1)


@dataclass(frozen=True)
class CrontabDiff:
    identifier: str
    change: str  # added | removed | changed | unrecorded
    stored: str | None
    declared: str | None
    next_tick: datetime | None
    renamed_from: str | None = None


@dataclass
class CatalogDiff:
    schema: str
    queues: list[QueueDiff] = field(default_factory=list)
    crontabs: list[CrontabDiff] = field(default_factory=list)
    undeclared: dict[str, int] = field(default_factory=dict)
    drift: list[TaskDrift] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.queues or self.crontabs or self.undeclared or self.drift)

    @property
    def settings_differ(self) -> bool:
        """Whether ``catalog apply`` (without --update-pending) has something to store."""
        return bool(self.queues or self.crontabs)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "differs": self.differs,
            "queues": [
                {"queue": q.queue, "stored": q.stored, "declared": q.declared} for q in self.queues
            ],
            "recurringTasks": [
                {
                    "identifier": c.identifier,
                    "change": c.change,
                    "stored": c.stored,
                    "declared": c.declared,
                    "nextTick": None if c.next_tick is None else c.next_tick.isoformat(),
                    "renamedFrom": c.renamed_from,
                }
                for c in self.crontabs
            ],
            "undeclaredTasks": [{"task": t, "pending": n} for t, n in self.undeclared.items()],
            "pendingJobs": [
                {
                    "task": d.task,
                    "pending": d.waiting,
                    "differing": d.differing,
                    "priority": d.priority,
                    "maxAttempts": d.max_attempts,
                    "queue": d.queue,
                }
                for d in self.drift
            ],
        }


def compare(
    schema: str, catalog: Catalog, state: DatabaseState, drifts: Sequence[TaskDrift]
) -> CatalogDiff:
    diff = CatalogDiff(schema)
    for name in sorted({*catalog.queues, *state.queues}):
        declared = catalog.queues.get(name)
        stored = state.queues.get(name)
        if declared is not None and stored != declared:
            diff.queues.append(QueueDiff(name, stored, declared))
        elif declared is None and stored is not None and stored != 1:
            diff.queues.append(QueueDiff(name, stored, None))
    crontabs = declared_crontabs(catalog)
    removed = {
        i: c for i, c in state.crontabs.items() if i not in crontabs and i not in INTERNAL_CRONTABS
    }
    for identifier in sorted({*crontabs, *removed}):
        d = crontabs.get(identifier)
        s = state.crontabs.get(identifier)
        tick = next_tick(d.match, state.db_now) if d is not None else None
        if d is None and s is not None:
            diff.crontabs.append(CrontabDiff(identifier, "removed", s.schedule, None, None))
        elif d is not None and s is None:
            renamed = [
                r.identifier
                for r in removed.values()
                if r.schedule is not None and r.schedule == d.match
            ]
            diff.crontabs.append(
                CrontabDiff(
                    identifier,
                    "added",
                    None,
                    d.match,
                    tick,
                    renamed[0] if len(renamed) == 1 else None,
                )
            )
        elif d is not None and s is not None and s.schedule != d.match:
            change = "unrecorded" if s.schedule is None else "changed"
            diff.crontabs.append(CrontabDiff(identifier, change, s.schedule, d.match, tick))
    known = declared_identifiers(catalog)
    diff.undeclared = {t: n for t, n in sorted(state.waiting.items()) if t not in known}
    diff.drift = [d for d in drifts if d.differing]
    return diff


# -- locating keys of a catalog file -----------------------------------------------------


def key_position(file: str | Path, key_path: Iterable[str]) -> tuple[int, int]:
    """(line, column), 1-based, of the deepest key of ``key_path`` found in the YAML file
    (1, 1 when the file cannot be read)."""
    try:
        node = yaml.compose(Path(file).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 1, 1
    line, column = 1, 1
    for key in key_path:
        if not isinstance(node, yaml.MappingNode):
            break
        for knode, vnode in node.value:
            if isinstance(knode, yaml.ScalarNode) and knode.value == key:
                line, column = knode.start_mark.line + 1, knode.start_mark.column + 1
                node = vnode
                break
        else:
            break
    return line, column


def against_db_problems(file: str, catalog: Catalog, diff: CatalogDiff) -> list[Problem]:
    """The differences that would break running work, as errors located in ``file``: a task
    no longer declared while jobs of it wait; a recurring task renamed (it would lose its
    backfill position)."""
    problems: list[Problem] = []
    for task, waiting in diff.undeclared.items():
        line, column = key_position(file, ("workers",))
        problems.append(
            Problem(
                file,
                line,
                column,
                "workers",
                f"task {task!r} is not declared, but {waiting} job(s) of it are pending in schema "
                f"{diff.schema!r}: no worker would run them; keep the task until they are done "
                "(or remove them: trigger-compat jobs list --task, remove, clean)",
            )
        )
    crontabs = declared_crontabs(catalog)
    for c in diff.crontabs:
        if c.change == "added" and c.renamed_from is not None:
            key = crontabs[c.identifier].key_path
            line, column = key_position(file, key)
            problems.append(
                Problem(
                    file,
                    line,
                    column,
                    ".".join(key),
                    f"recurring task {c.identifier!r} looks like {c.renamed_from!r} renamed "
                    f"(same match {c.declared!r}; {c.renamed_from!r} is known to schema "
                    f"{diff.schema!r} and no longer declared): a renamed recurring task loses "
                    f"its backfill position; keep the name {c.renamed_from!r}",
                )
            )
    return problems


# -- what a reload changes ---------------------------------------------------------------


def _task_view(settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = settings.model_dump(by_alias=True, exclude_none=True)
    return out


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"{key} {old.get(key, '-')!r} -> {new.get(key, '-')!r}"
        for key in sorted({*old, *new})
        if old.get(key) != new.get(key)
    ]


def describe_changes(worker: str, old: Catalog, new: Catalog) -> list[str]:
    """What reloading ``new`` in place of ``old`` changes for the worker ``worker``, one line
    each (empty: nothing)."""
    changes: list[str] = []
    ow, nw = old.workers[worker], new.workers[worker]
    for key, label in (
        ("concurrency", "concurrency"),
        ("poll_interval", "pollInterval"),
        ("shutdown_timeout_in_ms", "shutdownTimeoutInMs"),
        ("rescue_after_in_ms", "rescueAfterInMs"),
        ("on_final_failure", "onFinalFailure"),
    ):
        if getattr(ow, key) != getattr(nw, key):
            changes.append(f"{label} {getattr(ow, key)} -> {getattr(nw, key)}")
    for name in sorted({*old.queues, *new.queues}):
        if old.queues.get(name) != new.queues.get(name):
            changes.append(
                f"queue {name}: limit {old.queues.get(name, '-')} -> {new.queues.get(name, '-')}"
            )
    for kind, o, n in (
        ("task", ow.tasks, nw.tasks),
        ("recurring task", ow.recurring_tasks, nw.recurring_tasks),
    ):
        for name in sorted({*o, *n}):
            if name not in n:
                changes.append(f"{kind} {name}: removed (its jobs are no longer fetched here)")
            elif name not in o:
                changes.append(f"{kind} {name}: added")
            else:
                diffs = _changed_keys(_task_view(o[name]), _task_view(n[name]))
                if diffs:
                    changes.append(f"{kind} {name}: {', '.join(diffs)}")
    oc = _task_view(ow.cleanup) if ow.cleanup is not None else {}
    nc = _task_view(nw.cleanup) if nw.cleanup is not None else {}
    if oc != nc:
        changes.append(f"cleanup: {', '.join(_changed_keys(oc, nc))}")
    return changes
