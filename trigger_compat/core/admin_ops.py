"""The operations behind the admin CLI and the metrics: query name, parameters, row parser
(pure; reading arguments and formatting text for a terminal are the CLI's).

Job states, each job in exactly one (the jobs table has no state column):

* ``running``: locked by a worker;
* ``failed``: not locked, ``attempts >= max_attempts`` (will never run again by itself);
* ``waiting``: not locked, attempts left and ``run_at <= now`` (ready, a retry whose backoff
  has elapsed included);
* ``retrying``: not locked, ``0 < attempts < max_attempts`` and ``run_at > now`` (in backoff);
* ``scheduled``: not locked, ``attempts = 0`` and ``run_at > now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from ..errors import ConfigurationError, InvalidJobError
from .jobs import Job
from .ops import Op, Row, plain_text
from .pause import PausedRow
from .sqlfiles import ADVISORY_LOCK_CLASSES

JobState = Literal["waiting", "scheduled", "running", "retrying", "failed"]
JOB_STATES: tuple[str, ...] = get_args(JobState)

# -- JSON --------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# -- status ------------------------------------------------------------------------------


@dataclass
class Counts:
    waiting: int = 0
    scheduled: int = 0
    running: int = 0
    retrying: int = 0
    failed: int = 0
    oldest_waiting_run_at: datetime | None = None

    def add(self, other: Counts) -> None:
        for state in JOB_STATES:
            setattr(self, state, getattr(self, state) + getattr(other, state))
        if other.oldest_waiting_run_at is not None and (
            self.oldest_waiting_run_at is None
            or other.oldest_waiting_run_at < self.oldest_waiting_run_at
        ):
            self.oldest_waiting_run_at = other.oldest_waiting_run_at

    @property
    def total(self) -> int:
        return sum(getattr(self, s) for s in JOB_STATES)


@dataclass
class StatusGroup:
    task_identifier: str
    queue_name: str | None
    counts: Counts


@dataclass
class WorkerRow:
    worker_id: str
    name: str
    hostname: str | None
    pid: int | None
    task_identifiers: list[str] | None
    started_at: datetime
    last_heartbeat_at: datetime
    heartbeat_age_seconds: float
    running: int


@dataclass
class Status:
    groups: list[StatusGroup]
    db_now: datetime | None
    workers: list[WorkerRow] = field(default_factory=list)
    paused: list[PausedRow] = field(default_factory=list)
    #: None: every figure is exact (one pass over the table); else how they were estimated.
    estimate: Estimate | None = None

    def by(self, key: Literal["task", "queue"]) -> dict[str, Counts]:
        out: dict[str, Counts] = {}
        for g in self.groups:
            if key == "task":
                name = g.task_identifier
            elif g.queue_name is None:
                continue
            else:
                name = g.queue_name
            out.setdefault(name, Counts()).add(g.counts)
        return dict(sorted(out.items()))

    def totals(self) -> Counts:
        total = Counts()
        for g in self.groups:
            total.add(g.counts)
        return total

    def oldest_waiting_age(self, counts: Counts) -> float | None:
        if counts.oldest_waiting_run_at is None or self.db_now is None:
            return None
        return max(0.0, (self.db_now - counts.oldest_waiting_run_at).total_seconds())

    def counts_json(self, counts: Counts) -> dict[str, Any]:
        return {
            **{s: getattr(counts, s) for s in JOB_STATES},
            "total": counts.total,
            "oldest_waiting_age_seconds": self.oldest_waiting_age(counts),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "now": iso(self.db_now),
            "totals": self.counts_json(self.totals()),
            "tasks": [{"task": name, **self.counts_json(c)} for name, c in self.by("task").items()],
            "queues": [
                {"queue": name, **self.counts_json(c)} for name, c in self.by("queue").items()
            ],
            "workers": [worker_json(w) for w in self.workers],
            "paused": [p.to_json() for p in self.paused],
            "exact": self.estimate is None,
            "estimated": [] if self.estimate is None else self.estimate.estimated,
            "rows_estimate": None if self.estimate is None else self.estimate.rows,
            "sample_percent": None if self.estimate is None else self.estimate.percent,
        }


def worker_json(w: WorkerRow) -> dict[str, Any]:
    return {
        "worker_id": w.worker_id,
        "name": w.name,
        "hostname": w.hostname,
        "pid": w.pid,
        "tasks": w.task_identifiers,
        "started_at": iso(w.started_at),
        "last_heartbeat_at": iso(w.last_heartbeat_at),
        "heartbeat_age_seconds": round(w.heartbeat_age_seconds, 3),
        "running": w.running,
    }


def _groups(rows: list[Row]) -> tuple[list[StatusGroup], datetime | None]:
    groups = [
        StatusGroup(
            row["task_identifier"],
            row["queue_name"],
            Counts(
                waiting=int(row["waiting"]),
                scheduled=int(row["scheduled"]),
                running=int(row["running"]),
                retrying=int(row["retrying"]),
                failed=int(row["failed"]),
                oldest_waiting_run_at=row["oldest_waiting_run_at"],
            ),
        )
        for row in rows
    ]
    return groups, (rows[0]["db_now"] if rows else None)


def job_counts() -> Op[tuple[list[StatusGroup], datetime | None]]:
    return Op("admin_status", {}, _groups)


def jobs_estimate(schema: str) -> Op[int]:
    """The planner's estimate of the number of jobs in ``schema`` (-1 when unknown); reads
    no row of the table."""
    return Op("admin_jobs_estimate", {"schema": schema}, lambda rows: int(rows[0]["estimate"]))


def job_counts_sampled(percent: float) -> Op[tuple[list[StatusGroup], datetime | None]]:
    """:func:`job_counts` for a big table: waiting, scheduled and retrying estimated from
    ``percent`` % of its pages, running and failed exact (``admin_status_sampled.sql``)."""
    if isinstance(percent, bool) or not 0 < percent <= 100:
        raise ConfigurationError("percent", f"must be in (0, 100] (got {percent!r})")
    return Op("admin_status_sampled", {"percent": float(percent)}, _groups)


def status_size(schema: str) -> Op[int]:
    """How many jobs ``schema`` holds, as the planner reckons it (``admin_status_size.sql``:
    the density of the last vacuum or analyze times the table's pages now); reads no row."""
    return Op("admin_status_size", {"schema_name": schema}, lambda rows: int(rows[0]["estimate"]))


@dataclass(frozen=True)
class Estimate:
    """How the figures of an estimated :class:`Status` were obtained: the planner's number of
    jobs, the percentage of the table's pages sampled, and whether the failed counts are exact
    (at most ``failed_cap`` failed jobs) or sampled like waiting, scheduled and retrying."""

    rows: int
    percent: float
    failed_exact: bool

    @property
    def estimated(self) -> list[str]:
        """The figures of the status that are estimates (the others are exact)."""
        states = ["waiting", "scheduled", "retrying"]
        if not self.failed_exact:
            states.append("failed")
        return [*states, "total", "oldest_waiting_age_seconds"]


def sample_percent(estimate: int, sample_rows: int) -> float:
    """The percentage of pages to sample for about ``sample_rows`` of ``estimate`` jobs."""
    if estimate <= 0:
        return 100.0
    return round(min(100.0, max(0.001, 100.0 * sample_rows / estimate)), 3)


def job_counts_estimated(
    rows: int, percent: float, failed_cap: int
) -> Op[tuple[list[StatusGroup], datetime | None, bool]]:
    """:func:`job_counts` without a pass over the table (``admin_status_estimated.sql``):
    running exact, failed exact while at most ``failed_cap``, the rest from ``percent`` % of
    the table's pages, each state's share of the sample times ``rows`` (the planner's number
    of jobs, :func:`status_size`). The third value says whether the failed counts are exact."""
    if isinstance(percent, bool) or not 0 < percent <= 100:
        raise ConfigurationError("percent", f"must be in (0, 100] (got {percent!r})")
    if isinstance(failed_cap, bool) or not isinstance(failed_cap, int) or failed_cap < 0:
        raise ConfigurationError("failed_cap", f"must be an integer >= 0 (got {failed_cap!r})")

    def parse(rows: list[Row]) -> tuple[list[StatusGroup], datetime | None, bool]:
        groups, db_now = _groups(rows)
        return groups, db_now, bool(rows[0]["failed_exact"]) if rows else True

    return Op(
        "admin_status_estimated",
        {"rows": max(0, int(rows)), "percent": float(percent), "failed_cap": failed_cap},
        parse,
    )


def _workers(rows: list[Row]) -> list[WorkerRow]:
    return [
        WorkerRow(
            worker_id=row["worker_id"],
            name=row["name"],
            hostname=row["hostname"],
            pid=row["pid"],
            task_identifiers=row["task_identifiers"],
            started_at=row["started_at"],
            last_heartbeat_at=row["last_heartbeat_at"],
            heartbeat_age_seconds=float(row["heartbeat_age_seconds"]),
            running=int(row["running"]),
        )
        for row in rows
    ]


def workers() -> Op[list[WorkerRow]]:
    return Op("admin_workers", {}, _workers)


# -- metrics snapshot --------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSnapshot:
    """Jobs per task and state, each registered worker's heartbeat age (in seconds), and per
    task and queue (``""`` for jobs of no named queue) the waiting jobs and the age of the
    oldest of them in seconds (0 when none waits)."""

    jobs: dict[str, dict[str, int]]
    heartbeat_ages: dict[tuple[str, str], float]
    waiting: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)


def _snapshot(rows: list[Row]) -> DatabaseSnapshot:
    row = rows[0] if rows else {"tasks": [], "workers": []}
    jobs: dict[str, dict[str, int]] = {}
    waiting: dict[tuple[str, str], tuple[int, float]] = {}
    for t in row["tasks"] or []:
        states = jobs.setdefault(t["task_identifier"], dict.fromkeys(JOB_STATES, 0))
        for s in JOB_STATES:
            states[s] += int(t[s])
        oldest = t.get("oldest_waiting_seconds")
        waiting[(t["task_identifier"], t["queue_name"])] = (
            int(t["waiting"]),
            max(0.0, float(oldest)) if oldest is not None else 0.0,
        )
    ages = {
        (w["name"], w["worker_id"]): float(w["heartbeat_age_seconds"]) for w in row["workers"] or []
    }
    return DatabaseSnapshot(jobs, ages, waiting)


def metrics_snapshot() -> Op[DatabaseSnapshot]:
    return Op("admin_metrics_snapshot", {}, _snapshot)


def metrics_leader(schema: str) -> Op[bool]:
    """Take (or keep) the session-level lock that makes this connection's process the one
    that reports the schema's database gauges; whether it holds it."""
    return Op(
        "metrics_leader",
        {"lock_class": ADVISORY_LOCK_CLASSES["metrics_leader"], "schema_name": schema},
        lambda rows: bool(rows and rows[0]["leader"]),
    )


# -- jobs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    job: Job
    state: str


def _job_rows(rows: list[Row]) -> list[JobRow]:
    return [JobRow(Job.model_validate(r), r["state"]) for r in rows]


def list_jobs(
    task: str | None, queue: str | None, state: str | None, limit: int
) -> Op[list[JobRow]]:
    if state is not None and state not in JOB_STATES:
        raise InvalidJobError("state", f"{state!r} is not one of {', '.join(JOB_STATES)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 2**31 - 1:
        raise InvalidJobError("limit", f"must be a positive integer (got {limit!r})")
    for name, value in (("task", task), ("queue", queue)):
        if value is not None:
            plain_text(name, value)
    return Op(
        "admin_list_jobs",
        {"task": task, "queue": queue, "state": state, "row_limit": limit},
        _job_rows,
    )


def show_job(job_id: int) -> Op[JobRow | None]:
    def first(rows: list[Row]) -> JobRow | None:
        found = _job_rows(rows)
        return found[0] if found else None

    return Op("admin_get_job", {"job_id": job_id}, first)


def job_json(job: Job, state: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = job.model_dump(mode="json")
    if state is not None:
        out["state"] = state
    return out


# -- bulk actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedSelection:
    """Which failed jobs a bulk action covers: those of ``task`` (None = any) that failed
    (were last updated) at or before ``cutoff`` (None = any)."""

    task: str | None = None
    cutoff: datetime | None = None

    def __post_init__(self) -> None:
        if self.task is not None:
            plain_text("task", self.task)

    def params(self) -> dict[str, Any]:
        return {"task": self.task, "cutoff": self.cutoff}


def count_failed(selection: FailedSelection) -> Op[tuple[int, int]]:
    """(how many, the highest id) of the failed jobs selected."""
    return Op(
        "admin_count_failed",
        selection.params(),
        lambda rows: (int(rows[0]["total"]), int(rows[0]["max_id"] or 0)),
    )


def _ids(rows: list[Row]) -> list[int]:
    return [int(r["id"]) for r in rows]


#: The most ids one bulk statement may cover.
MAX_BATCH_SIZE = 100_000


def _failed_batch(
    query: str, selection: FailedSelection, after_id: int, max_id: int, batch_size: int
) -> Op[list[int]]:
    """One batch of a bulk action over failed jobs: the ids above ``after_id`` (up to
    ``max_id``), at most ``batch_size`` of them; the ids acted on."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise ConfigurationError(
            "batch_size", f"must be between 1 and {MAX_BATCH_SIZE} (got {batch_size!r})"
        )
    params = {"after_id": after_id, "max_id": max_id, "batch_size": batch_size}
    return Op(query, {**selection.params(), **params}, _ids)


def retry_failed_batch(
    selection: FailedSelection, after_id: int, max_id: int, batch_size: int
) -> Op[list[int]]:
    return _failed_batch("admin_retry_failed", selection, after_id, max_id, batch_size)


def clean_failed_batch(
    selection: FailedSelection, after_id: int, max_id: int, batch_size: int
) -> Op[list[int]]:
    return _failed_batch("admin_clean_failed", selection, after_id, max_id, batch_size)


def retry_ids(job_ids: Sequence[int]) -> Op[list[int]]:
    if len(job_ids) > MAX_BATCH_SIZE:
        raise ConfigurationError(
            "job_ids", f"at most {MAX_BATCH_SIZE} ids per statement; split the batch"
        )
    return Op("admin_retry_ids", {"job_ids": list(job_ids)}, _ids)


def applied_migrations() -> Op[list[int]]:
    return Op("admin_applied_migrations", {}, lambda rows: [int(r["version"]) for r in rows])


def server_read_only() -> Op[str | None]:
    """Why this connection's server cannot take writes ("a standby in recovery", "read-only
    sessions"), or None when it can."""

    def parse(rows: Sequence[Row]) -> str | None:
        if rows and rows[0]["in_recovery"]:
            return "a standby in recovery"
        if rows and rows[0]["read_only"]:
            return "read-only sessions (default_transaction_read_only)"
        return None

    return Op("admin_server_role", {}, parse)


def remove_ids(job_ids: Sequence[int]) -> Op[list[int]]:
    """Delete these jobs (running ones are left alone); the ids deleted."""
    if len(job_ids) > MAX_BATCH_SIZE:
        raise ConfigurationError(
            "job_ids", f"at most {MAX_BATCH_SIZE} ids per statement; split the batch"
        )
    return Op("admin_remove_ids", {"job_ids": list(job_ids)}, _ids)


# -- the dashboard's reads -----------------------------------------------------------------


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a page of the jobs list shows (None = any): ``key`` exactly, ``error`` as a
    case-insensitive text within ``last_error``."""

    task: str | None = None
    queue: str | None = None
    state: str | None = None
    key: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in JOB_STATES:
            raise InvalidJobError("state", f"{self.state!r} is not one of {', '.join(JOB_STATES)}")
        for name in ("task", "queue", "key", "error"):
            value = getattr(self, name)
            if value is not None:
                plain_text(name, value)

    def params(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "queue": self.queue,
            "state": self.state,
            "key": self.key,
            "error": self.error,
        }


def jobs_page(selection: JobFilter, before_id: int | None, limit: int) -> Op[list[JobRow]]:
    """Up to ``limit`` jobs of ``selection``, newest first, with ids below ``before_id``
    (None = from the newest): keyset pagination over the primary key."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidJobError("limit", f"must be between 1 and 1000 (got {limit!r})")
    if before_id is not None and (isinstance(before_id, bool) or not isinstance(before_id, int)):
        raise InvalidJobError("before_id", f"must be a job id (got {before_id!r})")
    return Op(
        "admin_jobs_page",
        {**selection.params(), "before_id": before_id, "row_limit": limit},
        _job_rows,
    )


@dataclass(frozen=True)
class QueueRow:
    queue_name: str
    concurrency: int
    running: int


def queues() -> Op[list[QueueRow]]:
    """The named queues, their concurrency limit and their running jobs."""
    return Op(
        "admin_queues",
        {},
        lambda rows: [
            QueueRow(r["queue_name"], int(r["concurrency"]), int(r["running"])) for r in rows
        ],
    )


@dataclass(frozen=True)
class CrontabRow:
    identifier: str
    known_since: datetime
    last_execution: datetime | None
    db_now: datetime


def crontabs() -> Op[list[CrontabRow]]:
    """The recurring tasks the scheduler knows and the last tick each one scheduled."""
    return Op(
        "admin_crontabs",
        {},
        lambda rows: [
            CrontabRow(r["identifier"], r["known_since"], r["last_execution"], r["db_now"])
            for r in rows
        ],
    )


@dataclass(frozen=True)
class ThroughputPoint:
    minute: datetime
    completed: int
    failed: int


def throughput(minutes: int = 60) -> Op[list[ThroughputPoint]]:
    """Completed and failed job runs per minute over the last ``minutes`` (from the
    ``job_stats`` table the workers write, never the jobs table), oldest first."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
        raise ConfigurationError("minutes", f"must be between 1 and 1440 (got {minutes!r})")
    return Op(
        "admin_throughput",
        {"minutes": minutes},
        lambda rows: [
            ThroughputPoint(r["minute"], int(r["completed"]), int(r["failed"])) for r in rows
        ],
    )


def prune_throughput(before: datetime) -> Op[int]:
    """Delete the throughput rows of the minutes before ``before``; how many went."""
    return Op("prune_throughput", {"before": before}, lambda rows: int(rows[0]["pruned"]))
