"""The operations behind the admin CLI and the metrics, and their formatting helpers (pure).

Job states, each job in exactly one (the jobs table has no state column):

* ``running``: locked by a worker;
* ``failed``: not locked, ``attempts >= max_attempts`` (will never run again by itself);
* ``waiting``: not locked, attempts left and ``run_at <= now`` (ready, a retry whose backoff
  has elapsed included);
* ``retrying``: not locked, ``0 < attempts < max_attempts`` and ``run_at > now`` (in backoff);
* ``scheduled``: not locked, ``attempts = 0`` and ``run_at > now``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from ..errors import InvalidJobError
from .jobs import Job
from .ops import Op, Row, plain_text

JobState = Literal["waiting", "scheduled", "running", "retrying", "failed"]
JOB_STATES: tuple[str, ...] = get_args(JobState)

#: Ids per statement in bulk actions: no statement ever touches more rows than this.
DEFAULT_BATCH_SIZE = 1000
#: Bulk actions over more jobs than this show a progress bar.
PROGRESS_THRESHOLD = 1000

# -- parsing -----------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"``, ``"1h30m"``; a bare number is
    seconds."""
    raw = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return _duration(float(raw), text, field)
    pos = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match[1]) * _UNIT_SECONDS[match[2]]
        pos = match.end()
    if not raw or pos != len(raw):
        raise InvalidJobError(
            field,
            f"{text!r} is not a duration; use a number and a unit, "
            "e.g. 90s, 15m, 2h, 7d, 1w, 1h30m",
        )
    return _duration(seconds, text, field)


def _duration(seconds: float, text: str, field: str) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidJobError(field, f"{text!r} is too long a duration") from None


def parse_when(text: str, now: datetime, field: str = "run_at") -> datetime:
    """An instant: ``now``, ``+2h`` / ``in 2h`` (from now), or ISO 8601 (a time without an
    offset is UTC)."""
    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        return now
    if lowered.startswith("+") or lowered.startswith("in "):
        return now + parse_duration(lowered.removeprefix("+").removeprefix("in "), field)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise InvalidJobError(
            field,
            f"{text!r} is not a time; use now, +2h, 'in 30m' or ISO 8601 "
            "(2030-01-01T09:00:00+00:00)",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_ids(texts: Iterable[str], field: str = "IDS") -> list[int]:
    """Job ids from arguments; each may also be a comma-separated list (``1,2,3``)."""
    out: list[int] = []
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1 or int(part) > 2**63 - 1:
                raise InvalidJobError(field, f"{part!r} is not a job id (a positive integer)")
            out.append(int(part))
    return list(dict.fromkeys(out))


def batches(items: Sequence[int], size: int = DEFAULT_BATCH_SIZE) -> Iterator[list[int]]:
    """``items`` in consecutive chunks of at most ``size``."""
    if size < 1:
        raise InvalidJobError("batch_size", f"must be ≥ 1 (got {size})")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# -- formatting --------------------------------------------------------------------------


def format_age(seconds: float | None) -> str:
    """``"-"``, ``"850ms"``, ``"42s"``, ``"3m12s"``, ``"2h05m"``, ``"3d04h"``."""
    if seconds is None:
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Plain aligned text columns (numbers right-aligned); one string per line."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    numeric = []
    for i in range(len(headers)):
        given = [row[i] for row in rows if row[i] is not None]
        numeric.append(
            bool(given)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in given)
        )

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(r) for r in cells)]


def truncate(text: str | None, width: int = 60) -> str | None:
    if text is None:
        return None
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"


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
    """Jobs per task and state, and each registered worker's heartbeat age (in seconds)."""

    jobs: dict[str, dict[str, int]]
    heartbeat_ages: dict[tuple[str, str], float]


def _snapshot(rows: list[Row]) -> DatabaseSnapshot:
    row = rows[0] if rows else {"tasks": [], "workers": []}
    jobs = {t["task_identifier"]: {s: int(t[s]) for s in JOB_STATES} for t in row["tasks"] or []}
    ages = {
        (w["name"], w["worker_id"]): float(w["heartbeat_age_seconds"]) for w in row["workers"] or []
    }
    return DatabaseSnapshot(jobs, ages)


def metrics_snapshot() -> Op[DatabaseSnapshot]:
    return Op("admin_metrics_snapshot", {}, _snapshot)


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


def _batch_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
        raise InvalidJobError("batch_size", f"must be between 1 and 100000 (got {size!r})")
    return size


def retry_failed_batch(
    selection: FailedSelection, after_id: int, max_id: int, batch_size: int
) -> Op[list[int]]:
    return Op(
        "admin_retry_failed",
        {
            **selection.params(),
            "after_id": after_id,
            "max_id": max_id,
            "batch_size": _batch_size(batch_size),
        },
        _ids,
    )


def clean_failed_batch(
    selection: FailedSelection, after_id: int, max_id: int, batch_size: int
) -> Op[list[int]]:
    return Op(
        "admin_clean_failed",
        {
            **selection.params(),
            "after_id": after_id,
            "max_id": max_id,
            "batch_size": _batch_size(batch_size),
        },
        _ids,
    )


def retry_ids(job_ids: Sequence[int]) -> Op[list[int]]:
    if len(job_ids) > 100_000:
        raise InvalidJobError("job_ids", "at most 100000 ids per statement; split the batch")
    return Op("admin_retry_ids", {"job_ids": list(job_ids)}, _ids)


def applied_migrations() -> Op[list[int]]:
    return Op("admin_applied_migrations", {}, lambda rows: [int(r["version"]) for r in rows])
